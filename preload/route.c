/* SPDX-License-Identifier: MIT */
/*
 * route.c - where a request of the malloc family is served.
 *
 * Owns: reading the shim's settings on the first call, and the slow paths
 * of routing: a request for the pool (at least preload_min bytes, filling
 * preload_fit percent of its pages; or page-aligned) is rounded up to whole pages and
 * served as an exact run (lib/exact.c: 5 pages hold 5, not 8); when the
 * pool cannot serve it (cap reached, arena full) the C library does.
 *
 * Start-up: the first call of any size reads the settings, which starts the
 * pool (an arena reservation, a thread key, fork handlers, atexit).  Calls
 * made meanwhile - by that start-up itself on this thread, or by other
 * threads - go to the C library rather than wait or recurse, which is
 * always correct: free() tells the two apart by address.  A start-up that
 * failed is tried again from a later pool-sized request (lib/init.c, at
 * most once per trim_ms), which never waits for another thread's try.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "preload.h"

size_t ppl_pool_min;		/* 0: settings not read yet */
static size_t pool_fit;		/* preload_fit, percent */

enum { START_NONE, START_RUNNING, START_DONE };
static int start_state;

/* True once the settings are read and the pool is usable. */
static bool started(void)
{
	int s = __atomic_load_n(&start_state, __ATOMIC_ACQUIRE), saved;
	size_t min = SIZE_MAX, stats = 0, fit = 0;

	if (likely(s == START_DONE))
		return load_relaxed(&ppl_pool_min) != SIZE_MAX;
	if (s == START_RUNNING ||
	    !__atomic_compare_exchange_n(&start_state, &s, START_RUNNING, false,
					 __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE))
		return false;	/* being read, here (recursion) or elsewhere */
	/*
	 * The settings are read (frozen) even when the pool cannot start now:
	 * requests for it keep coming to ppl_pool_alloc(), whose flags-0 call
	 * starts the pool again later (lib/init.c: at most once per trim_ms),
	 * and are the C library's meanwhile.
	 */
	saved = errno;		/* a malloc() that succeeds leaves errno alone */
	if (pp_option("preload_min", &min) || pp_option("stats", &stats) ||
	    pp_option("preload_fit", &fit)) {
		min = pp_g.opt.preload_min;
		stats = pp_g.opt.stats;
		fit = pp_g.opt.preload_fit;
	}
	errno = saved;
	if (stats)
		ppl_stats_start();
	pool_fit = fit;			/* published by the release below */
	store_relaxed(&ppl_pool_min, min);
	__atomic_store_n(&start_state, START_DONE, __ATOMIC_RELEASE);
	return min != SIZE_MAX;
}

/* Pages for @size bytes, or 0 when @size is 0 or beyond the largest run. */
static size_t pages_for(size_t size)
{
	if (size == 0 || size > (PP_EXACT_MAX << pp_g.page_shift))
		return 0;
	return (size + pp_g.page_size - 1) >> pp_g.page_shift;
}

/*
 * Does @size fill at least preload_fit percent of its whole pages?  A
 * request that would leave more of them unused - a page and a header, say
 * - costs less memory in the C library's chunks.
 */
static bool fits(size_t size, size_t pages)
{
	return size * 100 >= (pages << pp_g.page_shift) * pool_fit;
}

/**
 * ppl_routes_to_pool() - is a request for the pool?
 * @size: bytes.
 * @align: a power of two, or 0 for the C library's default alignment.
 *
 * A request with page alignment or more is the pool's (up to the largest
 * block); any other, when it is at least preload_min bytes and fills at
 * least preload_fit percent of its whole pages.
 *
 * Context: the first call of the process reads the settings, which starts
 * the pool (may block, makes system calls); later calls read three variables.
 * Return: true when the pool should serve it.
 */
bool ppl_routes_to_pool(size_t size, size_t align)
{
	size_t pages;

	if (!started())
		return false;
	if (align > (pp_g.page_size << PP_MAX_ORDER))
		return false;
	pages = pages_for(size);
	if (pages == 0)
		return false;
	if (align >= pp_g.page_size)
		return true;
	return size >= ppl_pool_min && fits(size, pages);
}

/**
 * ppl_pool_alloc() - a run for a request ppl_routes_to_pool() accepted.
 * @size: bytes, rounded up to pages.
 * @align: a power of two, or 0.
 * @zero: zero-fill the run.
 *
 * Context: may block and grow the arena, as malloc() may; gives the pool's
 * lock way to a fork() in another thread (preload.h, ppl_yield_begin()).
 * Return: the run, or NULL with errno unchanged: the caller falls back to
 * the C library, and a malloc() that succeeds leaves errno alone.
 */
void *ppl_pool_alloc(size_t size, size_t align, bool zero)
{
	unsigned align_order = 0;
	int saved = errno;
	uint8_t was;
	void *p;

	if (align > pp_g.page_size)
		align_order = (unsigned)__builtin_ctzl(align >> pp_g.page_shift);
	was = ppl_yield_begin();
	p = pp_exact_alloc(pages_for(size), align_order, zero ? PP_ZERO : 0);
	ppl_yield_end(was);
	if (p) {
		ppl_count(PPL_POOL, size);
	} else {
		ppl_count(PPL_FALLBACK, size);
		errno = saved;
	}
	return p;
}

/* The C library's allocation for the same request. */
static void *libc_alloc(size_t size, size_t align, bool zero)
{
	void *p;

	ppl_count(PPL_LIBC, size);
	if (align)
		p = __libc_memalign(align, size);
	else
		p = zero ? __libc_calloc(1, size) : __libc_malloc(size);
	if (p && align && zero)
		memset(p, 0, size);
	return p;
}

/**
 * ppl_alloc_slow() - serve a request that may be for the pool.
 * @size: bytes.
 * @align: a power of two, or 0 for the C library's default alignment.
 * @zero: zero-fill (calloc).
 *
 * Context: may block on the pool's lock and grow the arena (mmap), as
 * malloc may; the first call of the process starts the pool.
 * Return: the memory, or NULL with errno ENOMEM.
 */
void *ppl_alloc_slow(size_t size, size_t align, bool zero)
{
	void *p = NULL;

	if (ppl_routes_to_pool(size, align))
		p = ppl_pool_alloc(size, align, zero);
	if (!p)
		p = libc_alloc(size, align, zero);
	if (!p)
		errno = ENOMEM;
	return p;
}
