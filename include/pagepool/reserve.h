/* SPDX-License-Identifier: MIT */
/*
 * pagepool/reserve.h - reserves: pages set aside for one critical user
 * (the kernel's mempool), served lock-free when the normal paths fail.
 *
 * A reserve is filled where blocking is allowed (pp_reserve_create(),
 * pp_reserve_resize()).  pp_reserve_alloc() first tries the pool without
 * blocking (this thread's cache, then a trylock of the global lists) and
 * takes one of the reserve's pages only when that fails; taking one takes no
 * lock, makes no system call and never blocks.  While pp_thread_prefill()
 * still owes this thread order-0 blocks, the reserve comes first: a reserve
 * does not take the supply promised to this thread's own try and NOWAIT
 * calls (the pool's cache is its last resort then).  pp_reserve_free() tops the
 * reserve up to its min_pages first and gives the rest back to the pool, so a
 * user that frees what it allocated always finds its reserve full again.
 *
 * The reserve's pages are ordinary pool pages: pp_stats() counts them in
 * reserved while the reserve holds them and in in_use once handed out.  A
 * page from pp_reserve_alloc() may also be freed with pp_free_page() (it then
 * does not top the reserve up), and any order-0 page of the pool may be given
 * to pp_reserve_free().  The reserve's own bookkeeping lives in pool pages
 * too (counted in in_use): one page for a reserve of up to page_size/16
 * pages, a few more for larger ones.  No C-library allocation is made, so it
 * works under the LD_PRELOAD shim, and with mlock=1 it is locked memory.
 * Included by <pagepool.h>.
 */
#ifndef PAGEPOOL_RESERVE_H
#define PAGEPOOL_RESERVE_H

#include <pagepool.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pp_reserve;

/**
 * pp_reserve_create() - make a reserve and fill it with @min_pages pages.
 * @min_pages: pages the reserve holds when none of it is in use;
 *             1 .. what the pool can ever commit (cap, or the arena).
 *
 * Initialises the pool if needed.  All or nothing: on failure no page is kept.
 *
 * Context: may block on the global lock and grow the arena (mmap); not
 * async-signal-safe.
 * Return: the reserve, or NULL with errno ENOMEM (the pages cannot be had:
 * cap reached or the OS refused) or EINVAL (@min_pages 0 or more than the
 * pool can ever hold, with a message naming pp_reserve_create).
 */
PP_API struct pp_reserve *pp_reserve_create(size_t min_pages);

/**
 * pp_reserve_alloc() - one page: from the pool if that needs no waiting,
 * else from the reserve.
 * @r: the reserve.
 * @flags: PP_TRY, PP_NOWAIT or 0, optionally or'ed with PP_ZERO.
 *
 * PP_TRY: this thread's cache, then the reserve.  PP_NOWAIT: the cache, a
 * trylock of the global lists, then the reserve.  0: as PP_NOWAIT; with the
 * reserve empty, the pool with blocking allowed (may grow the arena); when
 * that fails too (cap reached), waits until a page is given to the reserve
 * with pp_reserve_free() (woken at once) or to the global lists (seen within
 * 10 ms; a page in another thread's cache is not seen until that thread
 * drains it).  Called from a signal handler that interrupted a pagepool call
 * on the same thread, 0 acts as PP_NOWAIT.
 *
 * Context: PP_TRY and PP_NOWAIT, and 0 while the reserve has a page: never
 * blocks, no system call but (from the normal path's trylock) the futex
 * wake of a thread waiting for the global lock, and the reserve itself
 * takes no lock (lock-free; async-signal-safe for PP_TRY).  0 with the reserve empty may
 * block and make system calls.
 * Return: a page (zero-filled with PP_ZERO); with 0 never NULL; with PP_TRY
 * or PP_NOWAIT NULL and errno EAGAIN when the pool and the reserve have no
 * page at once; NULL and errno EINVAL for a NULL @r or unknown flags (with a
 * message naming pp_reserve_alloc).  A destroyed reserve is reported and
 * aborts.
 */
PP_API void *pp_reserve_alloc(struct pp_reserve *r, unsigned flags);

/**
 * pp_reserve_free() - give a page to @r, or to the pool when @r is full.
 * @r: the reserve.
 * @page: an order-0 page of the pool in use (from pp_reserve_alloc() of any
 *        reserve, or pp_alloc_page()), or NULL (nothing happens).
 *
 * The page goes to the reserve while it holds fewer than its min_pages,
 * waking a thread waiting in pp_reserve_alloc(@r, 0); otherwise it is freed
 * as pp_free_page() would.  Bad input - a NULL or destroyed @r, a pointer the
 * pool never handed out, a block of another order, a page already free or
 * already in a reserve - is reported with the call's name and aborts.
 *
 * Context: any context; never blocks, lock-free, async-signal-safe; makes a
 * system call only to wake a thread waiting in pp_reserve_alloc(@r, 0), or,
 * with the reserve full, as pp_free_page() may (a futex wake).
 */
PP_API void pp_reserve_free(struct pp_reserve *r, void *page);

/**
 * pp_reserve_resize() - change the number of pages @r holds when full.
 * @r: the reserve.
 * @min_pages: the new number, as for pp_reserve_create().
 *
 * Growing fills the reserve to @min_pages pages now (as mempool_resize()
 * does, pages handed out from it no longer count), all or nothing: on
 * failure the reserve is as before.  Shrinking gives the pages above
 * @min_pages back to the pool at once, and later frees top it up to the new
 * size only.  Safe while other threads allocate from and free to @r.
 *
 * Context: may block (a mutex of @r, the global lock) and grow the arena;
 * not async-signal-safe.
 * Return: 0; or -1 with errno ENOMEM (growing: the pages cannot be had) or
 * EINVAL (NULL @r, @min_pages 0 or more than the pool can ever hold; with a
 * message naming pp_reserve_resize).  A destroyed reserve aborts.
 */
PP_API int pp_reserve_resize(struct pp_reserve *r, size_t min_pages);

/**
 * pp_reserve_destroy() - give every page of @r back to the pool, and @r too.
 * @r: the reserve, or NULL (nothing happens).
 *
 * No other call on @r may be in flight or follow.  Pages handed out from @r
 * stay valid: free them with pp_free_page() or to another reserve.
 *
 * Context: no system call beyond what pp_free_page() may make (a futex
 * wake, see there); waits only while another thread creates or destroys a
 * reserve or is in fork()'s prepare handler (the reserves' lock, held across
 * fork(): see pagepool.h); not async-signal-safe.  A destroyed @r is
 * reported and aborts.
 */
PP_API void pp_reserve_destroy(struct pp_reserve *r);

#ifdef __cplusplus
}
#endif

#endif /* PAGEPOOL_RESERVE_H */
