/* SPDX-License-Identifier: MIT */
/*
 * track.h - what debugging tools are told about pool pages: memcheck
 * (valgrind), AddressSanitizer, ThreadSanitizer.  The inline hooks the
 * files below track.c call at the few places where the pool itself makes
 * a page visible or invisible (the arena's growth, a cache's storage, a
 * reserve's pages, a run of the shim's malloc); the public entry points'
 * tracked versions and the quarantine are in track.c.
 *
 * Owns: the tracking backend chosen at build time, pp_track_on, and the
 * hooks.  One backend per build:
 *   PP_TRACK_MEMCHECK  valgrind/memcheck.h was found (the default library):
 *                      the hooks are client requests, made only when
 *                      pp_track_on - set at load time when the process runs
 *                      under valgrind (track.c's resolvers).
 *   PP_TRACK_ASAN      --enable-sanitizer=address: poisoning, always on.
 *   PP_TRACK_TSAN      --enable-sanitizer=thread: happens-before
 *                      annotations, always on.
 *   none               every hook compiles to nothing.
 * A hook is out of every hot path (hot.h): the fast paths are never
 * instrumented; in tracking mode the public entry points are other
 * functions (track.c), chosen once when the library is loaded.
 */
#ifndef PP_TRACK_H
#define PP_TRACK_H

#include <stdbool.h>
#include <stddef.h>

#include "compiler.h"

#if defined(__SANITIZE_ADDRESS__)
#define PP_TRACK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PP_TRACK_ASAN 1
#endif
#endif

#if defined(PP_TRACK_ASAN)
#include <sanitizer/asan_interface.h>
#elif defined(PP_TSAN)
#define PP_TRACK_TSAN 1
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#elif defined(HAVE_VALGRIND_MEMCHECK_H)
#define PP_TRACK_MEMCHECK 1
#include <valgrind/memcheck.h>
#endif

/* desc.prev of a USED block held in the quarantine (track.c): free. */
#define PP_QUARANTINED	0xfffffffdu

/* A sanitizer build tracks always: its entry points are the tracked ones. */
#if defined(PP_TRACK_ASAN) || defined(PP_TRACK_TSAN)
#define PP_TRACK_STATIC 1
#define pp_track_on 1
#else
/* Set once, at load time, before any call (track.c); read-only after. */
extern bool pp_track_on PP_HIDDEN;
#endif

/* @bytes at @p are now the user's (a block handed out): undefined. */
static inline void pp_track_out(void *p, size_t bytes)
{
	if (!pp_track_on)
		return;
#if defined(PP_TRACK_MEMCHECK)
	VALGRIND_MALLOCLIKE_BLOCK(p, bytes, 0, 0);
#elif defined(PP_TRACK_ASAN)
	ASAN_UNPOISON_MEMORY_REGION(p, bytes);
#elif defined(PP_TRACK_TSAN)
	(void)bytes;
	__tsan_acquire(p);	/* after the __tsan_release() of its last free */
#else
	(void)p, (void)bytes;
#endif
}

/* The block at @p (@bytes) came back from the user: no access until out. */
static inline void pp_track_in(void *p, size_t bytes)
{
	if (!pp_track_on)
		return;
#if defined(PP_TRACK_MEMCHECK)
	(void)bytes;
	VALGRIND_FREELIKE_BLOCK(p, 0);
#elif defined(PP_TRACK_ASAN)
	ASAN_POISON_MEMORY_REGION(p, bytes);
#elif defined(PP_TRACK_TSAN)
	(void)bytes;
	__tsan_release(p);
#else
	(void)p, (void)bytes;
#endif
}

/* The block at @p changed size in place, @old to @now bytes (a run). */
static inline void pp_track_resize(void *p, size_t old, size_t now)
{
	if (!pp_track_on)
		return;
#if defined(PP_TRACK_MEMCHECK)
	VALGRIND_RESIZEINPLACE_BLOCK(p, old, now, 0);
#elif defined(PP_TRACK_ASAN)
	if (now > old)
		ASAN_UNPOISON_MEMORY_REGION((char *)p + old, now - old);
	else
		ASAN_POISON_MEMORY_REGION((char *)p + now, old - now);
#else
	(void)p, (void)old, (void)now;
#endif
}

/* Free pages no block covers (new in the arena, a cache's storage given back). */
static inline void pp_track_hide(void *p, size_t bytes)
{
	if (!pp_track_on)
		return;
#if defined(PP_TRACK_MEMCHECK)
	VALGRIND_MAKE_MEM_NOACCESS(p, bytes);
#elif defined(PP_TRACK_ASAN)
	ASAN_POISON_MEMORY_REGION(p, bytes);
#else
	(void)p, (void)bytes;
#endif
}

/*
 * Pages the pool itself uses (a cache's storage): accessible and defined
 * (track.c reads the stack slots above a cache's count).
 */
static inline void pp_track_show(void *p, size_t bytes)
{
	if (!pp_track_on)
		return;
#if defined(PP_TRACK_MEMCHECK)
	VALGRIND_MAKE_MEM_DEFINED(p, bytes);
#elif defined(PP_TRACK_ASAN)
	ASAN_UNPOISON_MEMORY_REGION(p, bytes);
#else
	(void)p, (void)bytes;
#endif
}

/*
 * A function of the pool that reads or writes free pages or freed
 * structures on purpose (a prefault's touch, a check of a destroyed
 * reserve's magic): not checked by ASan; pp_track_quiet() brackets such
 * accesses for memcheck.
 */
#ifdef PP_TRACK_ASAN
#define PP_TRACK_UNCHECKED	__attribute__((no_sanitize_address))
#else
#define PP_TRACK_UNCHECKED
#endif

static inline void pp_track_quiet(bool on)
{
#if defined(PP_TRACK_MEMCHECK)
	if (!pp_track_on)
		return;
	if (on)
		VALGRIND_DISABLE_ERROR_REPORTING;
	else
		VALGRIND_ENABLE_ERROR_REPORTING;
#else
	(void)on;
#endif
}

/*
 * The public entry points the inline fast paths are built into (alloc.c,
 * bulk.c) are these hidden *_fast functions; the exported names are
 * track.c's, each bound at load time to the fast function or, in tracking
 * mode, to its tracked version.
 */
#define PP_FAST(name)	name##_fast

PP_HIDDEN void *pp_alloc_page_try_fast(void);
PP_HIDDEN void *pp_alloc_page_fast(unsigned flags);
PP_HIDDEN void *pp_alloc_pages_fast(unsigned order, unsigned flags);
PP_HIDDEN void pp_free_page_fast(void *page);
PP_HIDDEN void pp_free_pages_fast(void *addr, unsigned order);
PP_HIDDEN size_t pp_alloc_pages_bulk_fast(unsigned flags, size_t nr, void **pages);
PP_HIDDEN void pp_free_pages_bulk_fast(size_t nr, void *const *pages);

#endif /* PP_TRACK_H */
