/* SPDX-License-Identifier: MIT */
/*
 * options.h - the one table of settings: every key of PAGEPOOL_CONF and
 * pp_configure(), declared once.
 *
 * Owns: PP_OPTIONS(X), one row per key - X(name, kind, default, min, max,
 * doc) - from which options.c derives struct pp_options, the defaults, the
 * parser, the range checks, pp_option() and the verbose=1 line, and
 * man/options2man.awk the keys of the pp_configure(3) man page;
 * tests/test_docs.c checks the key lists of pagepool.h, of
 * doc/configuration.md and of that page.
 *   name     the key, and its field in struct pp_options;
 *   kind     COUNT (a whole number), BYTES (a K, M, G or T suffix allowed)
 *            or BOOL (0/1, yes/no, true/false, on/off);
 *   default  the value when no one sets it (an expression: evaluated when
 *            the defaults are made);
 *   min, max the range a value must be in (SIZE_MAX: no upper bound);
 *            checks between keys (batch <= high, ...) are in options.c;
 *   doc      one line for the key's documentation.
 * libpagepool-rcu's and the shim's keys are rows of their own files
 * (rcu/rcu-options.h, preload/preload-options.h) compiled into this table:
 * PAGEPOOL_CONF is parsed whole, possibly before those libraries are loaded.
 */
#ifndef PP_OPTIONS_H
#define PP_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rcu/rcu-options.h"
#include "../preload/preload-options.h"

/*
 * Cache marks, from bench/tune-cache.sh (doc/benchmarks.md, "Tuning the
 * caches"):
 * moving 128 pages per lock hold halves the cost of a page freed on
 * another thread against 64, at the same memory; high = 512 is faster
 * again but (with the mark fixed, high_max = high) doubles what an idle
 * thread can hoard (high pages of order 0, ~1.9 * high over all cached
 * orders).  A cache that alternates between refills and drains grows
 * towards high_max (tcache.c): 1024 pages hold a 512-page burst and its
 * refill batch, so the latency workload of bench/pagepool-bench stops
 * taking the lock; tcmalloc sizes its thread caches the same way (slow
 * start, bounded).
 */
#define PP_MAX_HIGH	65536
/* The arena holds whole largest blocks, and page indices are 32-bit with
 * UINT32_MAX ending a list: fewer than 2^32 pages. */
#define PP_ARENA_MIN	(pp_os_page_size() << PP_MAX_ORDER)
#define PP_ARENA_MAX	((((size_t)1 << 32) - ((size_t)1 << PP_MAX_ORDER)) * pp_os_page_size())

#define PP_CORE_OPTIONS(X)							\
	X(high, COUNT, 256, 1, PP_MAX_HIGH,					\
	  "per-thread cache high mark, order-0 pages (order k: high >> 2k, at least 2)") \
	X(high_max, COUNT, 1024, 0, PP_MAX_HIGH,				\
	  "the mark a cache whose bursts overflow it grows to; <= high: a fixed mark") \
	X(batch, COUNT, 128, 1, PP_MAX_HIGH,					\
	  "pages moved per refill or drain, one lock hold (at most high)")	\
	X(arena, BYTES, (size_t)64 << 30, PP_ARENA_MIN, PP_ARENA_MAX,		\
	  "virtual reservation; unset, it shrinks to fit ulimit -v and the OS") \
	X(cap, BYTES, 0, 0, SIZE_MAX,						\
	  "hard limit on committed memory (0: none)")				\
	X(grow, BYTES, (size_t)4 << 20, 1, SIZE_MAX,				\
	  "bytes committed per arena growth")					\
	X(stats, BOOL, 0, 0, 1, "print statistics on stderr at exit")		\
	X(verbose, BOOL, 0, 0, 1, "print the effective settings at start-up")	\
	X(pi, BOOL, 0, 0, 1, "the global lock inherits priority")		\
	X(mlock, BOOL, 0, 0, 1, "committed memory is locked as it is committed") \
	X(prefault, BYTES, 0, 0, SIZE_MAX,					\
	  "bytes committed and faulted in at start-up")				\
	X(hugepages, BOOL, 0, 0, 1, "back the arena with huge pages")		\
	/* On by default: 256 idle threads' reclaimed pages fall from 655 to 43 \
	 * MiB resident (jemalloc 77); no release with mlock=1 (trim.c). */	\
	X(retain, BYTES, (size_t)32 << 20, 0, SIZE_MAX,			\
	  "free bytes the automatic trim keeps resident (0: no automatic trim)") \
	X(trim_ms, COUNT, 1000, 0, SIZE_MAX,					\
	  "the automatic trim runs at most this often (ms)")			\
	X(madv_free, BOOL, 0, 0, 1,						\
	  "release with MADV_FREE instead of MADV_DONTNEED")			\
	X(reclaim_ms, COUNT, 1000, 0, SIZE_MAX,					\
	  "a cache idle this long is taken back by another thread (ms; 0: never)") \
	X(cache_max, BYTES, 0, 0, SIZE_MAX,					\
	  "bound on the caches' marks added up: marks stop growing there (0: CPUs x one grown cache)")

#define PP_OPTIONS(X)	PP_CORE_OPTIONS(X) PPR_OPTIONS(X) PPL_OPTIONS(X)

#define PP_OPTION_TYPE_COUNT	size_t
#define PP_OPTION_TYPE_BYTES	size_t
#define PP_OPTION_TYPE_BOOL	bool
#define PP_OPTION_FIELD(name, kind, def, min, max, doc)	PP_OPTION_TYPE_##kind name;

/* Settings; fixed once the pool is initialised. */
struct pp_options {
	PP_OPTIONS(PP_OPTION_FIELD)
	bool arena_set;		/* arena= was given: reserved as it is, or not at all */
};

#endif /* PP_OPTIONS_H */
