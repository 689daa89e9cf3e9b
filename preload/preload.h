/* SPDX-License-Identifier: MIT */
/*
 * preload.h - private interface of the LD_PRELOAD shim (libpagepool-preload).
 *
 * Owns: the routing decision's inline fast path and the shim's internal
 * calls.  A request goes to the pool when it asks for page alignment, or
 * is at least preload_min bytes (default one page) and fills preload_fit
 * percent (default 87) of its whole pages, and fits in the largest block
 * (PP_EXACT_MAX pages); everything else goes to the C library's own
 * allocator through its __libc_* entry points (libc.c).  Pool memory is
 * told from the C library's by the arena range check alone.
 */
#ifndef PP_PRELOAD_H
#define PP_PRELOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* The malloc family is exported unversioned, like the C library's own. */
#define PP_PRELOAD_API	__attribute__((visibility("default")))

/*
 * Smallest request served by the pool.  0 until the first call has read
 * the settings (route.c), so that every request takes the slow path until
 * then.
 */
extern size_t ppl_pool_min PP_HIDDEN;

/* route.c */
PP_HIDDEN void *ppl_alloc_slow(size_t size, size_t align, bool zero);
PP_HIDDEN void *ppl_pool_alloc(size_t size, size_t align, bool zero);
PP_HIDDEN bool ppl_routes_to_pool(size_t size, size_t align);

/* libc.c: the C library's allocator, reached without dlsym at start-up. */
void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);
void *__libc_memalign(size_t align, size_t size);
void __libc_free(void *p);
PP_HIDDEN size_t ppl_libc_usable_size(void *p);

/* stats.c: counted only with stats=1 (ppl_counting). */
enum ppl_counter { PPL_POOL, PPL_POOL_BYTES, PPL_LIBC, PPL_LIBC_BYTES, PPL_FALLBACK,
		   PPL_NR_COUNTERS };
extern bool ppl_counting PP_HIDDEN;
PP_HIDDEN void ppl_count_slow(enum ppl_counter c, size_t bytes);
PP_HIDDEN void ppl_stats_start(void);

static inline void ppl_count(enum ppl_counter c, size_t bytes)
{
	if (unlikely(load_relaxed(&ppl_counting)))
		ppl_count_slow(c, bytes);
}

/*
 * Might @size be for the pool?  True for every size until the settings are
 * read, so that the first call reaches route.c, which reads them.
 */
static inline bool ppl_big(size_t size)
{
	return size >= load_relaxed(&ppl_pool_min);
}

/*
 * Around a pool call of the malloc family: a wait for the pool's lock gives
 * way to a fork() in another thread (lib/buddy.c, lib/fork.c), and the call
 * fails instead, to be served by the C library.  The caller of malloc() may
 * hold a stdio lock that fork() takes after its prepare handlers, which
 * hold the pool's lock: waiting on would deadlock the three of them.
 */
static inline uint8_t ppl_yield_begin(void)
{
	uint8_t was = pp_tls.yield;

	pp_tls.yield = 1;
	signal_barrier();
	return was;	/* a nested call (a signal handler) restores it */
}

static inline void ppl_yield_end(uint8_t was)
{
	signal_barrier();
	pp_tls.yield = was;
}

#endif /* PP_PRELOAD_H */
