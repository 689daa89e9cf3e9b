/* SPDX-License-Identifier: MIT */
/*
 * pagepool.h - public interface of libpagepool, a userspace page pool.
 *
 * Pages come from one virtual reservation (the arena) committed on demand.
 * Each thread keeps a small cache of free pages per order (0..PP_CACHE_ORDERS-1);
 * the cache is refilled and drained in batches from global buddy free lists
 * guarded by one lock.  Three allocation modes say how far a call may go:
 *
 *   PP_TRY     this thread's cache only: no lock, no system call, never blocks
 *   PP_NOWAIT  cache, then a trylock of the global lists: never blocks (its
 *              only system call: waking a thread that waits for the lock
 *              when it releases it, a futex wake)
 *   0          may block on the global lock and may grow the arena (mmap)
 *
 * PP_ZERO combines with any of them.  Frees never block and never fail on
 * valid input; the only system call one can make is that futex wake, when it
 * drains a batch to the global lists under a trylock while another thread
 * waits for the lock.  Bad input (a pointer the pool never
 * handed out, a misaligned or interior pointer, a double free, a wrong order)
 * is reported on stderr with the call's name and the address, then abort().
 * (A double free that races with the first free of the same page, from
 * another thread or from a signal handler interrupting it, may escape: the
 * checks are plain loads, to keep atomic read-modify-writes off the fast path.)
 *
 * fork(): the pool's pthread_atfork handlers hold its lock, and every
 * reserve's, across fork(); the child can allocate and free, use and resize
 * the reserves it inherited, and takes back what the parent's other threads
 * held in their caches.  One rule remains: glibc's fork() takes its stdio
 * locks only after every prepare handler has run, so a call that may wait
 * for the pool's lock - flags 0, pp_thread_drain(), pp_trim(), pp_stats(),
 * pp_reserve_create(), pp_reserve_resize() and pp_reserve_destroy() - must
 * not be made while
 * holding a stdio lock (flockfile(), or inside a stdio callback such as a
 * fopencookie() function) if another thread may fork() meanwhile: that
 * deadlocks.  PP_TRY, PP_NOWAIT and the frees never wait, and are safe
 * there.  The LD_PRELOAD shim's malloc family keeps no such rule: its
 * waits give way to a fork(), and the C library serves the call instead.
 */
#ifndef PAGEPOOL_H
#define PAGEPOOL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Symbols of the library's interface; everything else is hidden. */
#if defined(__GNUC__) && !defined(PP_API)
#define PP_API __attribute__((visibility("default")))
#elif !defined(PP_API)
#define PP_API
#endif

#define PAGEPOOL_VERSION_MAJOR 0
#define PAGEPOOL_VERSION_MINOR 1
#define PAGEPOOL_VERSION_PATCH 0

/* Allocation flags. */
#define PP_TRY    0x1u	/* this thread's cache only */
#define PP_NOWAIT 0x2u	/* cache, then trylock on the global lists; never blocks */
#define PP_ZERO   0x4u	/* zero-filled; combines with any mode */

/* Largest order pp_alloc_pages() accepts: 2^10 pages (4 MiB with 4 KiB pages). */
#define PP_MAX_ORDER 10
/* Orders 0 .. PP_CACHE_ORDERS-1 are cached per thread. */
#define PP_CACHE_ORDERS 4

/**
 * struct pp_stats - a snapshot of the pool, from pp_stats().
 *
 * The first six fields are counted in pages (page_size excepted) and, at any
 * quiescent point (no pagepool call in flight),
 * committed == in_use + cached + free + reserved.
 * New fields are only ever appended; pass sizeof(struct pp_stats) as you
 * compiled it and an older or newer library copies what both know.
 */
struct pp_stats {
	size_t page_size;	/* bytes in a page */
	size_t committed;	/* pages committed from the OS */
	size_t in_use;		/* handed out, not yet freed */
	size_t cached;		/* in per-thread caches, all threads (incl. cache_meta) */
	size_t free;		/* on the global free lists, pending frees included */
	size_t reserved;	/* held by reserves (pp_reserve_create()) */

	/* Counters since start-up (events, not pages, unless said). */
	size_t cache_meta;	/* pages holding the per-thread caches' own arrays */
	size_t pending;		/* pages on the lock-free pending-free list now */
	size_t threads;		/* threads that have a cache now */
	size_t try_hits;	/* allocations served by a thread cache */
	size_t try_misses;	/* allocations that found the thread cache empty */
	size_t refills;		/* batches moved from the global lists to a cache */
	size_t drains;		/* batches moved from a cache to the global lists */
	size_t trylock_fails;	/* NOWAIT allocations and frees that found the lock busy */
	size_t pending_frees;	/* pages handed over through the pending-free list */
	size_t grows;		/* times the arena was grown */
	size_t grow_fails;	/* growths refused (cap or OS) */
	size_t arena_bytes;	/* size of the virtual reservation */
	size_t cap_bytes;	/* configured hard limit on committed memory */
	size_t peak_committed;	/* highest value of committed, in pages */
	size_t desc_bytes;	/* bytes of metadata per page (descriptor) */
	size_t reclaim_runs;	/* times other threads' caches were taken back (cap, idle) */
	size_t reclaimed_pages;	/* pages taken back from other threads' caches */
	size_t reclaim_busy;	/* caches left alone: their owner was inside a call */
	size_t idle_cached;	/* pages in caches idle for reclaim_ms when last looked at */
	size_t cache_marks;	/* the caches' marks added up, pages (bounded by cache_max=) */
	size_t lock_holds;	/* global lock holds timed (stats=1 only; else 0) */
	size_t lock_hold_ns;	/* their total duration, ns (stats=1 only) */
	size_t prefilled;	/* pages under a pp_thread_prefill() floor, all threads */
};

/**
 * pp_page_size() - the size of one page of the pool.
 *
 * Context: any context; async-signal-safe; does not initialise the pool.
 * Return: the page size in bytes (the system page size).
 */
PP_API size_t pp_page_size(void);

/**
 * pp_alloc_page_try() - take one page from this thread's cache.
 *
 * The same as pp_alloc_page(PP_TRY).  Looks at this thread's cache only.
 *
 * Context: any context, including a signal handler that interrupted another
 * pagepool call on the same thread.  Takes no lock, makes no system call,
 * never blocks; bounded work.  Async-signal-safe.
 * Return: a page, or NULL (errno EAGAIN) when the cache is empty - or, for
 * an instant, while another thread takes it back (reclaim_ms=, cap=).  A
 * new thread's cache starts empty.
 */
PP_API void *pp_alloc_page_try(void);

/**
 * pp_alloc_page() - allocate one page.
 * @flags: PP_TRY, PP_NOWAIT or 0, optionally or'ed with PP_ZERO.
 *
 * Context: as pp_alloc_pages().
 * Return: a page-aligned page, or NULL with errno set (see pp_alloc_pages()).
 */
PP_API void *pp_alloc_page(unsigned flags);

/**
 * pp_alloc_pages() - allocate 2^@order contiguous pages aligned to their size.
 * @order: 0 .. PP_MAX_ORDER.  Orders below PP_CACHE_ORDERS are cached per thread.
 * @flags: PP_TRY, PP_NOWAIT or 0, optionally or'ed with PP_ZERO.
 *
 * Context: PP_TRY: no lock, no system call, async-signal-safe.
 * PP_NOWAIT: may trylock the global lock, never blocks; no system call but
 * the futex wake of a thread waiting for the lock when it releases it.
 * 0: may block on the global lock and may grow the arena with mmap; when
 * nothing is free and the arena cannot grow, and at most once per
 * reclaim_ms, takes other threads' cached pages back (membarrier(2), under
 * the lock); not async-signal-safe (called from a handler that interrupted
 * pagepool on the same thread it degrades to PP_NOWAIT rather than
 * deadlock).
 * Return: the first page, or NULL with errno: EAGAIN when PP_TRY/PP_NOWAIT
 * found no memory at once, ENOMEM when the arena cannot grow (cap reached or
 * the OS refused), EINVAL for a bad order or unknown flags (with a message).
 */
PP_API void *pp_alloc_pages(unsigned order, unsigned flags);

/**
 * pp_alloc_pages_bulk() - fill the NULL slots of an array with single pages.
 * @flags: PP_TRY, PP_NOWAIT or 0, optionally or'ed with PP_ZERO.
 * @nr: number of slots in @pages.
 * @pages: array of @nr slots; non-NULL slots are left untouched.
 *
 * Fills NULL slots in index order: first from this thread's cache, then the
 * rest in one hold of the global lock (PP_NOWAIT: a trylock; PP_TRY: none).
 * It may fill fewer than asked; an array that started all NULL comes back
 * with a filled prefix.
 *
 * Context: as pp_alloc_pages() for the same flags.
 * Return: the number of non-NULL slots in @pages[0..@nr).
 */
PP_API size_t pp_alloc_pages_bulk(unsigned flags, size_t nr, void **pages);

/**
 * pp_free_page() - free one page from pp_alloc_page().
 * @page: the page, or NULL (nothing happens).
 *
 * Context: any context; never blocks, async-signal-safe; no system call but
 * a futex wake of a thread waiting for the global lock after a drain.
 * Bad input (see the file comment) is reported and aborts.
 */
PP_API void pp_free_page(void *page);

/**
 * pp_free_pages() - free 2^@order pages from pp_alloc_pages().
 * @addr: the first page, or NULL (nothing happens).
 * @order: the order it was allocated with.
 *
 * Context: any context; never blocks, async-signal-safe; no system call but
 * a futex wake of a thread waiting for the global lock after a drain.
 * Bad input, including a wrong @order, is reported and aborts.
 */
PP_API void pp_free_pages(void *addr, unsigned order);

/**
 * pp_free_pages_bulk() - free single pages; NULL entries are skipped.
 * @nr: number of entries.
 * @pages: the pages, as filled by pp_alloc_pages_bulk().
 *
 * Every entry is validated before any is freed.  Pages go to this thread's
 * cache up to its high mark, the rest to the global lists under one trylock
 * hold, or to the lock-free pending list when the lock is busy.
 *
 * Context: any context; never blocks, async-signal-safe; no system call but
 * a futex wake of a thread waiting for the global lock after a drain.
 */
PP_API void pp_free_pages_bulk(size_t nr, void *const *pages);

/**
 * pp_thread_drain() - return this thread's cache to the global lists.
 *
 * The cache's own storage is released too; the next allocation that misses
 * the cache makes a new one.  A thread's exit does this automatically.
 *
 * Context: may block on the global lock (a futex wait); not
 * async-signal-safe (from a handler that interrupted pagepool it does nothing).
 */
PP_API void pp_thread_drain(void);

/**
 * pp_thread_prefill() - guarantee this thread's next @n blocks of @order.
 * @order: 0 .. PP_CACHE_ORDERS - 1 (the orders cached per thread).
 * @n: blocks this thread will take; added to what an earlier prefill of
 *     the same order still guarantees.
 * @flags: 0 (may block and grow the arena) or PP_NOWAIT (a trylock; no
 *     growth).
 *
 * On return 0 this thread's cache holds at least @n blocks of @order (on
 * top of an earlier guarantee), and until this thread has taken @n blocks
 * of that order from its cache - by any call: the try, NOWAIT, flags-0
 * and bulk allocations, the LD_PRELOAD shim's page-sized mallocs, a
 * signal handler's calls - its own frees do not drain them and other
 * threads' reclaim (reclaim_ms=, cap=) leaves its cache alone: the next @n
 * pp_alloc_page_try() / PP_TRY calls of @order on this thread succeed,
 * with no lock and no system call.  A try call from a handler that
 * interrupted a pagepool call on this thread cannot use the cache: it
 * fails with EAGAIN and takes nothing from the guarantee (other flags go
 * to the global lists).  pp_reserve_alloc() takes from its reserve first
 * while order-0 blocks are owed.  The guarantee ends when @n blocks were
 * taken, at pp_thread_drain(), or at the thread's exit; until this
 * thread's next refill or drain after that, its cache is not reclaimed.
 * Prefilled blocks count in the caches' marks (cache_max=, which they may
 * pass) and, while owed, in pp_stats' prefilled.
 *
 * Context: when the cache already holds the blocks (a loop whose frees
 * brought the last ones back), no lock and no system call.  Otherwise
 * flags 0: may block on the global lock and grow the arena (mmap), and,
 * when memory is short, take other threads' caches back (membarrier(2));
 * PP_NOWAIT: a trylock, never blocks, no system call (before the pool has
 * started: EAGAIN).  Not async-signal-safe (from a handler that
 * interrupted pagepool it fails with EAGAIN).
 * Return: 0, or -1 with errno ENOMEM (the pages cannot be had: cap= or the
 * OS), EAGAIN (PP_NOWAIT would have to wait for the lock or grow the
 * arena), EINVAL (an order not cached, flags other than 0 or PP_NOWAIT, or
 * @n beyond what this thread's cache can hold - the message names the
 * limit).  A failed call may leave blocks in the cache, guaranteed only as
 * before.
 */
PP_API int pp_thread_prefill(unsigned order, size_t n, unsigned flags);

/**
 * pp_configure() - set options before the pool is first used.
 * @conf: "key=value,key=value", the syntax of PAGEPOOL_CONF.
 *
 * Keys: high, batch, high_max (per-thread cache marks, in pages: the
 * starting high mark, the pages moved per lock hold, and the mark a cache
 * whose bursts overflow it may grow to), arena (size of the
 * virtual reservation, bytes), cap (hard limit on committed memory, bytes;
 * 0 = none), grow (bytes committed per arena growth), stats (0/1: print
 * statistics at exit, and time each hold of the global lock for
 * pp_stats() with the vDSO's clock, which faults under strict seccomp),
 * verbose (0/1: print the effective settings);
 * real time: pi (0/1: a priority-inheriting lock), mlock (0/1: lock
 * committed memory), prefault (bytes committed and touched at start-up),
 * hugepages (0/1: back the arena with huge pages); giving memory back:
 * retain (free bytes the automatic trim keeps, default 32 MiB; 0 = no
 * automatic trim; nothing is released with mlock=1),
 * trim_ms (the automatic trim runs at most this often), madv_free (0/1:
 * release with MADV_FREE), reclaim_ms (a thread's cache untouched this long
 * is taken back by another thread's refill, pp_trim() or the automatic
 * trim; 0 = never), cache_max (bytes: the caches' marks added up stop
 * growing there; 0 = CPUs x one fully grown cache); libpagepool-rcu's rcu_delay_ms, rcu_spares,
 * rcu_blocks, rcu_inflight, rcu_stall_ms, rcu_stall_bytes (pagepool/rcu.h);
 * and the LD_PRELOAD shim's
 * preload_min (requests of at least this many bytes go to the pool) and
 * preload_fit (percent of its whole pages such a request must fill, default
 * 87; 0 = any; page-aligned requests go to the pool regardless).  Byte
 * sizes take a K, M, G or T suffix (either case, powers of 1024); booleans
 * are 0/1, yes/no, true/false or on/off; blanks around a key or a value
 * are skipped ("stats=1, verbose=1").  Settings given here override PAGEPOOL_CONF,
 * which overrides the defaults.  The string is applied only if all of it is
 * valid.
 *
 * Context: may block; not async-signal-safe.
 * Return: 0; or -1 with errno EINVAL and a message on stderr naming the bad
 * key or value; or -1 with errno EBUSY once the pool is in use.
 */
PP_API int pp_configure(const char *conf);

/**
 * pp_option() - the effective value of an option.
 * @key: a key pp_configure() accepts.
 * @value: where to store it (booleans as 0/1, byte sizes in bytes).
 *
 * Initialises the pool if it is not yet, which fixes the options.  Companion
 * libraries (libpagepool-rcu: rcu_delay_ms, rcu_spares, rcu_blocks,
 * rcu_inflight, rcu_stall_ms, rcu_stall_bytes; the LD_PRELOAD shim:
 * preload_min, preload_fit) read their settings here.
 *
 * Context: may block and make system calls on first use; not
 * async-signal-safe.
 * Return: 0; or -1 with errno ENOENT (unknown key), EINVAL (NULL argument)
 * or ENOMEM (the pool cannot initialise), with a message on stderr.
 */
PP_API int pp_option(const char *key, size_t *value);

/**
 * pp_owns() - tell whether an address lies in the pool's arena.
 * @addr: any address.
 *
 * A range check only: true for every address of the arena's reservation,
 * whether or not it is allocated.  Before the pool is initialised nothing
 * is the pool's.
 *
 * Context: any context; no lock, no system call, async-signal-safe.
 * Return: 1 if @addr is in the arena, else 0.
 */
PP_API int pp_owns(const void *addr);

/**
 * pp_block_order() - the order an allocated block was allocated with.
 * @addr: the first page of a block from pp_alloc_pages() (or its kin).
 *
 * Context: any context; no lock, no system call, async-signal-safe (it
 * sets errno on failure).  The answer is only stable while the caller owns
 * the block.
 * Return: the order (0 .. PP_MAX_ORDER); or -1 with errno EINVAL when @addr
 * is not the first page of an allocated block (outside the arena, interior,
 * free or never handed out).  Nothing is printed.
 */
PP_API int pp_block_order(const void *addr);

/**
 * pp_trim() - give free pages back to the OS, keeping @keep_pages resident.
 * @keep_pages: free pages on the global lists to keep.
 *
 * Free blocks on the global lists beyond @keep_pages are released
 * (MADV_DONTNEED, or MADV_FREE with madv_free=1) in runs as long as the
 * lists hold, a batch per hold of the global lock; they stay in the pool
 * and fault back in, zero-filled, when used.  The caches of other threads
 * that made no call for reclaim_ms are taken back to the lists first
 * (reclaim_ms=0: none); this thread's is not (call pp_thread_drain() first
 * for it).  Beyond retain bytes free (default 32 MiB; retain=0: never)
 * the pool does this itself, at most once per trim_ms, from the slow path
 * of flags-0 allocations and when a thread with a cache exits - never from
 * PP_TRY, PP_NOWAIT or a free, and never with mlock=1.
 *
 * Context: may block; takes the global lock; makes system calls.  Not
 * async-signal-safe.
 * Return: the pages released (the pool does not record what it gave back:
 * free pages released before are released, and counted, again; pages the
 * OS refused to release are not counted, and the first refusal is said on
 * stderr); 0 before
 * first use and with mlock=1 (locked memory stays locked); -1 with errno
 * EBUSY from a signal handler that interrupted a pagepool call.
 */
PP_API long pp_trim(size_t keep_pages);

/**
 * pp_stats() - copy a snapshot of the pool's statistics.
 * @out: where to write.
 * @out_size: sizeof(*out) as the caller knows it; at most that much is copied.
 *
 * Context: takes the global lock (may block); not async-signal-safe.
 */
PP_API void pp_stats(struct pp_stats *out, size_t out_size);

#ifdef __cplusplus
}
#endif

#include "pagepool/reserve.h"	/* reserves: after the flags and PP_API */

#endif /* PAGEPOOL_H */
