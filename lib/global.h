/* SPDX-License-Identifier: MIT */
/*
 * global.h - the pool's state: the global part under its lock, and the
 * per-thread part.
 *
 * Owns: struct pp_global (pp_g, defined in init.c), struct pp_tcache (one
 * thread's cache, tcache.c), struct pp_tls (the thread-local word every
 * call starts from) and the counters' update rules (pp_event(),
 * pp_account(), pp_seen()).
 */
#ifndef PP_GLOBAL_H
#define PP_GLOBAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <urcu/list.h>

#include "pagepool.h"
#include "compiler.h"
#include "desc.h"
#include "options.h"

/*
 * struct pp_tcache - one thread's cache of free blocks, orders 0..3.
 *
 * Lives in pool pages (state PP_PG_META) taken from the buddy lists, so that
 * creating one needs no C-library allocation and no system call; only a
 * pointer to it is thread-local (initial-exec TLS stays tiny, so the library
 * can also be dlopen()ed).  stack[k][0..count[k]) are the cached blocks of
 * order k, the most recently freed on top.
 */
struct pp_tcache {
	uint32_t count[PP_CACHE_ORDERS];
	uint32_t high[PP_CACHE_ORDERS];		/* the mark now (tcache.c) */
	uint32_t batch[PP_CACHE_ORDERS];
	void **stack[PP_CACHE_ORDERS];

	/* Fast-path counters: written by the owner only, read relaxed. */
	size_t pages_out;	/* pages allocated minus pages freed (wraps) */
	size_t hits[PP_CACHE_ORDERS];	/* allocations served, per order (wraps) */

	/* Sizing (tcache.c): slow paths only. */
	uint32_t high_min[PP_CACHE_ORDERS];	/* the configured mark */
	uint32_t high_max[PP_CACHE_ORDERS];	/* the most it grows to */
	uint32_t drain_run[PP_CACHE_ORDERS];	/* drains since the last refill */
	/*
	 * pp_thread_prefill()'s guarantee (prefill.c): floor[k] blocks of
	 * order k owed from when hits[k] was floor_hits[k]; what is still
	 * owed is pp_tcache_owed().  Written by the owner only.
	 */
	uint32_t floor[PP_CACHE_ORDERS];
	size_t floor_hits[PP_CACHE_ORDERS];
	/*
	 * Set under the global lock by a prefill, cleared under it by the
	 * owner once nothing is owed: a reclaimer (which holds the lock) never
	 * takes a guarded cache's pointer, so its owner's calls always find it.
	 */
	bool guarded;

	struct cds_list_head link;	/* the registry, under the global lock */
	unsigned storage_order;		/* order of the block this lives in */
	struct pp_tls *owner;		/* its thread's pp_tls (reclaim.c) */
	bool stolen;			/* reclaim.c has its owner's pointer; lock held */
	size_t seen_hits, seen_out;	/* the counters at the last look (reclaim.c) */
	size_t moved_ms;		/* when a look last found them moved */
	size_t slow_hits, slow_ms;	/* hits and coarse time at the owner's last slow path (atomic) */
};

/* Allocations @tc served, all orders. */
static inline size_t pp_tcache_hits(const struct pp_tcache *tc)
{
	size_t n = 0;

	for (unsigned k = 0; k < PP_CACHE_ORDERS; k++)
		n += __atomic_load_n(&tc->hits[k], __ATOMIC_RELAXED);
	return n;
}

/*
 * Blocks of @order pp_thread_prefill() still guarantees @tc's owner: no
 * drain or reclaim takes the cache below this.  Read by the owner, or by a
 * reclaimer while the owner is outside any call.
 */
static inline uint32_t pp_tcache_owed(const struct pp_tcache *tc, unsigned order)
{
	uint32_t floor = __atomic_load_n(&tc->floor[order], __ATOMIC_RELAXED);
	size_t taken = __atomic_load_n(&tc->hits[order], __ATOMIC_RELAXED) -
		       __atomic_load_n(&tc->floor_hits[order], __ATOMIC_RELAXED);

	return taken < floor ? floor - (uint32_t)taken : 0;
}

/*
 * struct pp_tls - the thread-local part: 16 bytes, initial-exec model, so
 * the first access never allocates and a signal handler can use it.
 * @busy is set for the duration of every pagepool call on this thread; a
 * call that finds it set is re-entrant (a signal handler) and must not touch
 * the cache nor block on the lock.  @tc is the owner's, but another thread
 * may clear it, under the global lock, while the owner is outside a call,
 * and put it back before it unlocks (reclaim.c): a call reads it once,
 * after entering (pp_own_cache()), and finding it NULL goes around the
 * cache until it holds the lock.
 */
struct pp_tls {
	struct pp_tcache *tc;
	unsigned busy;
	uint8_t dead;		/* thread is exiting: never make a new cache */
	uint8_t seen;		/* counted in pp_g.threads_seen */
	uint8_t yield;		/* a shim call: a lock wait gives way to fork() (buddy.c) */
	uint8_t starting;	/* this thread is starting the pool (init.c) */
};

extern __thread struct pp_tls pp_tls PP_HIDDEN
	__attribute__((tls_model("initial-exec")));

/* The global state: arena, buddy lists, pending list, registry, counters. */
struct pp_global {
	/* Read-mostly: the arena geometry (fixed after init). */
	char *base;			/* first byte of the arena */
	struct pp_desc *desc;		/* descriptor array, one per page */
	uintptr_t desc_bias;		/* desc less base's page number (pp_desc_of) */
	size_t npages_max;		/* pages in the reservation */
	size_t committed_bytes;		/* bytes committed; grows under lock */
	unsigned page_shift;
	size_t page_size;
	bool ready;			/* init finished */
	bool lock_pi;			/* the global lock is priority-inheriting (pi=1 took) */
	unsigned forking;		/* fork()s waiting for the lock in prepare (atomic) */

	pthread_mutex_t lock;		/* guards everything below */
	uint64_t lock_t0;		/* stats=1: when this hold began (lock.c); else 0 */
	uint32_t head[PP_MAX_ORDER + 1];	/* buddy free lists */
	size_t free_pages;		/* pages on the buddy lists (free_pages_add()) */
	size_t committed;		/* pages committed (== committed_bytes >> shift) */
	size_t peak_committed;
	size_t cache_meta;		/* pages holding tcache storage */
	size_t grows, grow_fails;
	struct cds_list_head caches;	/* registry of live pp_tcache */
	size_t nthreads;
	size_t threads_seen;		/* threads that ever took a slow path (atomic) */
	size_t retired_hits;		/* hits of caches since released */

	/* Lock-free: pending list and slow-path event counters (atomic). */
	uint32_t pending_head;		/* pending-free list (push / take-all) */
	size_t pending_pages;		/* pages on it */
	size_t stray_pages_out;		/* pages_out not counted in any cache */
	size_t reserved;		/* pages held by reserves (reserve.c) */
	size_t trimming;		/* free pages off the lists being released (trim.c) */
	size_t last_trim_ms;		/* when the automatic trim last ran (trim.c) */
	size_t misses, refills, drains, trylock_fails, pending_frees;
	size_t quarantined;		/* freed pages held back, tracking mode (track.c) */

	/* Other threads' caches given back (reclaim.c); under the lock. */
	bool membarrier;		/* registered: reclaim is possible */
	size_t reclaim_runs, reclaimed_pages, reclaim_busy;
	size_t last_tick_ms;		/* the last idle tick (reclaim_ms=) */
	size_t cache_marks;		/* sum of the caches' marks, pages (tcache.c; atomic) */
	size_t cache_max_pages;		/* cache_max=, resolved at start-up (tcache.c) */

	/* Lock hold time, with stats=1 (lock.c); under the lock. */
	size_t lock_holds, lock_hold_ns;

	struct pp_options opt;
	pthread_key_t key;		/* runs the exit destructor */
};

extern struct pp_global pp_g PP_HIDDEN;

/*
 * Pages onto (@n > 0) or off the buddy lists; lock held.  A relaxed
 * atomic store: the automatic trim glances at the count without the lock
 * (trim.c) before it decides to take it.
 */
static inline void free_pages_add(size_t n)
{
	__atomic_store_n(&pp_g.free_pages, pp_g.free_pages + n, __ATOMIC_RELAXED);
}


/* Slow-path event counter: shared, so atomic. */
#define pp_event(field, n) \
	__atomic_fetch_add(&pp_g.field, (n), __ATOMIC_RELAXED)

/*
 * @n pages (negative: back) move between handed out (in_use) and held by a
 * reserve (reserved); lock-free, async-signal-safe.
 */
static inline void pp_reserved_move(long n)
{
	pp_event(reserved, (size_t)n);
	pp_event(stray_pages_out, -(size_t)n);
}

/*
 * Count this thread once in pp_g.threads_seen, from every slow path (the
 * lock and the pending list): a fork child repairs its ledger when another
 * thread may have been inside a lock-free window at the fork.
 */
static inline void pp_seen(void)
{
	if (unlikely(!pp_tls.seen)) {
		pp_tls.seen = 1;
		pp_event(threads_seen, 1);
	}
}

/*
 * Count pages handed out (+) or back (-).  @tc only when this call owns it
 * (not re-entrant); otherwise the shared atomic counter.
 */
static inline void pp_account(struct pp_tcache *tc, size_t pages)
{
	if (tc)
		bump(&tc->pages_out, pages);
	else
		pp_event(stray_pages_out, pages);
}

#endif /* PP_GLOBAL_H */
