/* SPDX-License-Identifier: MIT */
/*
 * tcache.c - per-thread caches: the userspace pcp lists.
 *
 * Owns: the thread-local pointer, creating a thread's cache, refill and
 * drain (one lock hold per batch), pp_thread_drain(), the thread-exit
 * destructor and the registry of caches that pp_stats() and fork() walk.
 * The pop and push themselves are inline in hot.h.
 *
 * A cache lives in pool pages taken from the buddy lists while the lock is
 * held, so making one needs neither malloc nor a system call.  Its mark per
 * order k < PP_CACHE_ORDERS starts at high >> 2k blocks (at least 2) and
 * may grow to high_max >> 2k (Sizing, below); it moves batch >> 2k (at
 * least 1) per refill or drain: the same bytes per
 * batch fall by half per order, so large blocks cannot hoard memory.
 *
 * Sizing: a cache that refills after it drained (a thread whose working set
 * is larger than its cache, so it would take the lock twice per burst for
 * ever) raises its mark by one batch, up to high_max >> 2k; one that drains
 * more than its largest size's worth in a row without a refill (a thread
 * that only frees, such as a consumer of pages made elsewhere) lowers it a
 * batch per drain back towards high.  tcmalloc sizes its thread caches by the same two
 * signals.  The storage is made for high_max from the start, so a change of
 * mark is one store.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "internal.h"

__thread struct pp_tls pp_tls __attribute__((tls_model("initial-exec")));

/*
 * glibc's pthread_setspecific() allocates for keys past its first-level
 * array (32 keys) and is then unsafe where malloc is (a signal handler, a
 * free called from inside malloc).  With such a key, caches are made only by
 * calls that may block; calls that may not run uncached instead.
 */
#define PP_KEY_STATIC_LIMIT 32

/* Blocks of order @k a cache holds at a mark of @pages order-0 pages. */
static size_t mark(size_t pages, unsigned k)
{
	size_t n = pages >> (2 * k);

	return n < 2 ? 2 : n;
}

/* Pages a cache holds at most at the marks @high[0..PP_CACHE_ORDERS). */
static size_t marks_pages(const uint32_t *high)
{
	size_t pages = 0;

	for (unsigned k = 0; k < PP_CACHE_ORDERS; k++)
		pages += (size_t)high[k] << k;
	return pages;
}

/* pp_tcache_marks_pages() - pages @tc holds at most at its marks now. */
size_t pp_tcache_marks_pages(const struct pp_tcache *tc)
{
	return marks_pages(tc->high);
}

/*
 * pp_tcache_high_max() - the most a mark grows to, in order-0 pages:
 * high_max, or high when high_max <= high (a fixed mark).
 */
size_t pp_tcache_high_max(void)
{
	return pp_g.opt.high_max < pp_g.opt.high ? pp_g.opt.high : pp_g.opt.high_max;
}

/*
 * pp_tcache_capacity() - blocks of @order a cache can hold at most: its
 * storage, made for pp_tcache_high_max().
 */
uint32_t pp_tcache_capacity(unsigned order)
{
	return (uint32_t)mark(pp_tcache_high_max(), order);
}

/*
 * The owner, holding the lock: once a prefill's guarantee is all taken,
 * reclaimers may take this cache again (struct pp_tcache.guarded).
 */
static void unguard_locked(struct pp_tcache *tc)
{
	if (!tc->guarded)
		return;
	for (unsigned k = 0; k < PP_CACHE_ORDERS; k++)
		if (pp_tcache_owed(tc, k))
			return;
	tc->guarded = false;
}

/*
 * pp_tcache_init_bound() - resolve cache_max= at start-up.  The kernel
 * bounds its per-CPU lists by CPUs, not tasks: only as many threads as
 * CPUs run at once, so by default every CPU's thread may grow a whole
 * cache (high_max: 7.5 MiB of marks with the defaults) and the rest keep
 * their configured mark (high).  A new cache always starts at high: a
 * thread is never left without one.
 *
 * Measured (pagepool-bench --quick --workload threads, 2 CPUs, 3 runs
 * each, 256 threads bursting 1,024 pages): with this default (15 MiB here)
 * 264-284 MiB resident when the threads stop and 1.83-3.00x jemalloc's
 * pages/s; with cache_max=64M 295-333 MiB and 1.15-3.54x; unbounded
 * (cache_max=1G) 654-663 MiB and 0.78-1.13x - every cache grown to 4 MiB
 * is memory first touched, so the bound is faster as well as smaller.  The
 * latency workload's one thread still grows its whole cache.
 */
void pp_tcache_init_bound(void)
{
	size_t one = 0;

	if (pp_g.opt.cache_max) {
		pp_g.cache_max_pages = pp_g.opt.cache_max >> pp_g.page_shift;
		return;
	}
	for (unsigned k = 0; k < PP_CACHE_ORDERS; k++)
		one += (size_t)pp_tcache_capacity(k) << k;
	pp_g.cache_max_pages = pp_os_ncpus() * one;
}

/*
 * pp_tcache_get_locked() - this thread's cache, made now if it has none.
 * Called with the lock held and not re-entrant.  @flags says whether the
 * arena may grow for the cache's storage.  NULL for an exiting thread or
 * when no storage can be had.
 */
struct pp_tcache *pp_tcache_get_locked(unsigned flags)
{
	struct pp_tcache *tc = pp_tls.tc;
	size_t size = sizeof(*tc);
	unsigned order = 0, k;
	void **slot;

	if (tc || pp_tls.dead || !__atomic_load_n(&pp_g.ready, __ATOMIC_ACQUIRE))
		return tc;
	if ((flags & (PP_TRY | PP_NOWAIT)) && (unsigned)pp_g.key >= PP_KEY_STATIC_LIMIT)
		return NULL;
	for (k = 0; k < PP_CACHE_ORDERS; k++)
		size += pp_tcache_capacity(k) * sizeof(void *);
	while ((pp_g.page_size << order) < size)
		order++;
	tc = pp_buddy_alloc_locked(order, flags);
	if (!tc)
		return NULL;
	pp_set_state(pp_desc_of(tc), PP_PG_META);
	pp_g.cache_meta += (size_t)1 << order;
	pp_track_show(tc, pp_g.page_size << order);	/* the pool's own, not a block */

	memset(tc, 0, sizeof(*tc));
	slot = (void **)(tc + 1);
	for (k = 0; k < PP_CACHE_ORDERS; k++) {
		size_t batch = pp_g.opt.batch >> (2 * k), high = mark(pp_g.opt.high, k);

		tc->high[k] = tc->high_min[k] = (uint32_t)high;
		tc->high_max[k] = pp_tcache_capacity(k);
		tc->batch[k] = (uint32_t)(batch < 1 ? 1 : batch > high ? high : batch);
		tc->stack[k] = slot;
		slot += tc->high_max[k];
	}
	tc->storage_order = order;
	tc->owner = &pp_tls;
	pp_event(cache_marks, marks_pages(tc->high));
	cds_list_add(&tc->link, &pp_g.caches);
	pp_g.nthreads++;
	store_release(&pp_tls.tc, tc);
	/*
	 * Arms the exit destructor, and is how release_own() finds the cache
	 * (pp_tls.tc may be a reclaimer's NULL then).  Without it the cache
	 * would outlive its thread, and a reclaimer would write to the dead
	 * thread's pp_tls: no cache then.
	 */
	if (pthread_setspecific(pp_g.key, tc)) {
		pp_tcache_release_locked(tc);
		store_release(&pp_tls.tc, NULL);
		return NULL;
	}
	return tc;
}

/*
 * may_block_done() - the slow-path hook: what a path of the caches that may
 * block does last, with the lock dropped - the automatic trim (retain=,
 * trim.c).  Called by a flags-0 refill and by a thread's exit; errno kept.
 */
static void may_block_done(void)
{
	int err = errno;

	pp_trim_auto();
	errno = err;
}

/*
 * Raise @tc's mark of @order by a batch, up to its high_max - unless the
 * caches' marks added up would pass cache_max=.  Lock held (the sum is
 * atomic only because drains lower it without the lock).
 */
static void grow_mark(struct pp_tcache *tc, unsigned order)
{
	uint32_t high = tc->high[order];
	uint32_t grown = min_u32(high + tc->batch[order], tc->high_max[order]);
	size_t more = (size_t)(grown - high) << order;

	if (!more || __atomic_load_n(&pp_g.cache_marks, __ATOMIC_RELAXED) + more >
		     pp_g.cache_max_pages)
		return;
	pp_event(cache_marks, more);
	store_relaxed(&tc->high[order], grown);
}

/* pp_tcache_refill_slow() without the hook. */
static void *refill(struct pp_tcache *tc, unsigned order, unsigned flags)
{
	uint32_t n, want;
	size_t got;
	void *p;

	pp_event(misses, 1);
	if (flags & PP_TRY)
		goto again;
	if (!pp_lock_for(flags))
		goto again;
	if (!tc)
		tc = pp_tcache_get_locked(flags);
	if (!tc) {				/* exiting thread, or no storage */
		p = pp_buddy_alloc_locked(order, flags);
		pp_unlock();
		if (p)
			pp_account(NULL, (size_t)1 << order);
		else if (flags & PP_NOWAIT)
			errno = EAGAIN;
		return p;
	}
	if (!(flags & PP_NOWAIT))	/* it may make system calls (membarrier) */
		pp_reclaim_tick_locked();	/* reclaim_ms=: idle threads' caches */
	unguard_locked(tc);
	if (tc->drain_run[order]) {
		/* It drained since its last refill: the working set is larger. */
		tc->drain_run[order] = 0;
		grow_mark(tc, order);
	}
	n = load_relaxed(&tc->count[order]);
	want = tc->batch[order];
	if (want > tc->high[order] - n)
		want = tc->high[order] - n;
	got = pp_buddy_alloc_many_locked(order, flags, want, tc->stack[order] + n,
					 PP_PG_CACHED);
	if (got == 0 && n == 0) {
		/* Nothing free and no growth: this cache's other orders may help. */
		void *q = pp_tcache_alloc_reclaim_locked(tc, order, flags);

		if (q) {
			pp_set_state(pp_desc_of(q), PP_PG_CACHED);
			tc->stack[order][0] = q;
			got = 1;
		}
	}
	n += (uint32_t)got;
	pp_unlock();
	if (n == 0) {
		if (flags & PP_NOWAIT)
			errno = EAGAIN;
		return NULL;			/* errno ENOMEM from the arena */
	}
	pp_event(refills, 1);
	pp_reclaim_note_slow(tc);
	p = tc->stack[order][--n];
	store_relaxed(&tc->count[order], n);
	pp_set_state(pp_desc_of(p), PP_PG_USED);
	pp_account(tc, (size_t)1 << order);
	return p;
again:
	errno = EAGAIN;
	return NULL;
}

/*
 * pp_tcache_refill_slow() - the cache of @order is empty: count the miss,
 * then (unless PP_TRY) take one batch from the global lists under one lock
 * hold and return one block of it.  @tc may be NULL (no cache yet).  A
 * flags-0 call then runs the slow-path hook.
 * Context: not re-entrant (pp_tls.busy held by this call).
 */
void *pp_tcache_refill_slow(struct pp_tcache *tc, unsigned order, unsigned flags)
{
	void *p = refill(tc, order, flags);

	if (!(flags & (PP_TRY | PP_NOWAIT)))
		may_block_done();	/* retain=: a flags-0 allocation may block */
	return p;
}

/*
 * pp_tcache_drain_slow() - the cache of @order is at its high mark: move
 * its oldest blocks down to a batch below the mark (one batch, two when the
 * mark falls now), but not below what pp_thread_prefill() still guarantees
 * (pp_tcache_owed()), to the global lists
 * under a trylock, or onto the pending list if the lock is busy.  Never
 * blocks, no system call.
 * Context: not re-entrant (pp_tls.busy held by this call).
 */
void pp_tcache_drain_slow(struct pp_tcache *tc, unsigned order)
{
	uint32_t count = load_relaxed(&tc->count[order]), high = tc->high[order];
	uint32_t owed = pp_tcache_owed(tc, order);
	void **s = tc->stack[order];
	uint32_t i, n;
	uint32_t low = tc->high_min[order] > owed ? tc->high_min[order] : owed;

	if (++tc->drain_run[order] > tc->high_max[order] / tc->batch[order] && high > low) {
		/* More than a whole grown cache freed, no refill: give it back. */
		uint32_t less = min_u32(tc->batch[order], high - low);

		high -= less;
		store_relaxed(&tc->high[order], high);
		pp_event(cache_marks, -((size_t)less << order));
	}
	/* Down to a batch below the mark, so the caller's block fits (count
	 * >= the old mark >= high, and batch <= high) - but never below what
	 * a prefill owes: then the caller's block may not fit (alloc.c). */
	n = min_u32(count + tc->batch[order] - high, count);
	n = min_u32(n, count - min_u32(owed, count));
	if (!n)
		return;			/* all owed: the caller's block goes around */

	if (pp_lock_for(PP_NOWAIT)) {
		for (i = 0; i < n; i++)
			pp_buddy_free_locked(pp_index(s[i]), order);
		unguard_locked(tc);
		pp_unlock();
	} else {
		for (i = 0; i < n; i++)
			pp_pending_push(s[i], pp_desc_of(s[i]));
	}
	memmove(s, s + n, (count - n) * sizeof(*s));
	store_relaxed(&tc->count[order], count - n);
	pp_event(drains, 1);
	pp_reclaim_note_slow(tc);
}

/*
 * pp_tcache_alloc_reclaim_locked() - pp_buddy_alloc_locked(), and when a
 * flags-0 allocation finds nothing free and the arena cannot grow (cap=,
 * or the OS refuses), flush this thread's own cache (@tc, may be NULL) and
 * every other thread's that is not inside a call (reclaim.c) to the lists,
 * so that their blocks can coalesce, and try once more.
 */
void *pp_tcache_alloc_reclaim_locked(struct pp_tcache *tc, unsigned order,
				     unsigned flags)
{
	void *p = pp_buddy_alloc_locked(order, flags);

	if (p || (flags & (PP_TRY | PP_NOWAIT)))
		return p;
	if (!tc)		/* flags 0: the caller is entered; a reclaimer's NULL is gone */
		tc = load_relaxed(&pp_tls.tc);
	if (tc)
		pp_reclaim_flush_locked(tc, true);	/* a prefilled supply stays */
	pp_reclaim_others_locked(tc);	/* idle threads' caches: reclaim.c */
	p = pp_buddy_alloc_locked(order, PP_NOWAIT);	/* growth was refused */
	if (!p)
		errno = ENOMEM;
	return p;
}

/* Return everything @tc holds, and its storage; unregister it. */
void pp_tcache_release_locked(struct pp_tcache *tc)
{
	unsigned order = tc->storage_order;

	pp_reclaim_flush_locked(tc, false);
	pp_event(cache_marks, -marks_pages(tc->high));
	cds_list_del(&tc->link);
	pp_g.nthreads--;
	pp_g.retired_hits += pp_tcache_hits(tc);
	pp_event(stray_pages_out, load_relaxed(&tc->pages_out));
	pp_g.cache_meta -= (size_t)1 << order;
	pp_track_hide(tc, pp_g.page_size << order);	/* free again */
	pp_buddy_free_locked(pp_index(tc), order);
}

/* Detach and release this thread's cache; caller is not re-entrant. */
/*
 * Release this thread's cache @tc: the key's value (not pp_tls.tc, which a
 * reclaimer may hold, NULL, until it unlocks).
 */
static void release_own(struct pp_tcache *tc)
{
	if (!tc)
		return;
	pp_lock_absorb();
	pp_tcache_release_locked(tc);
	store_release(&pp_tls.tc, NULL);
	pp_unlock();
	pthread_setspecific(pp_g.key, NULL);
}

PP_API void pp_thread_drain(void)
{
	if (!pp_enter())
		return;			/* a handler interrupted pagepool: not now */
	release_own(pthread_getspecific(pp_g.key));
	pp_leave();
}

/* The pthread key's destructor: the thread is exiting. */
void pp_tcache_thread_exit(void *arg)
{
	pp_tls.dead = 1;	/* later frees (other destructors) bypass the cache */
	if (!pp_enter()) {
		/*
		 * Exiting from a handler that interrupted pagepool: the lock may
		 * be this thread's, so the cache is not released - but no
		 * reclaimer may touch this dying thread's pp_tls again.
		 */
		if (arg)
			__atomic_store_n(&((struct pp_tcache *)arg)->owner, NULL, __ATOMIC_SEQ_CST);
		return;
	}
	release_own(arg);	/* the key's value: glibc has cleared the key itself */
	may_block_done();	/* retain=: a thread exit may block */
	pp_leave();
}

/*
 * pp_tcache_forget_others() - in a fork child only this thread exists:
 * unregister the caches of the parent's other threads.  Their blocks and
 * storage are given back by the child's repair walk (fork.c), which can
 * tell from the descriptors which blocks they really held.  Lock held.
 */
void pp_tcache_forget_others(void)
{
	struct pp_tcache *tc, *tmp;

	cds_list_for_each_entry_safe(tc, tmp, &pp_g.caches, link) {
		if (tc == pp_tls.tc)
			continue;
		cds_list_del(&tc->link);
		pp_g.nthreads--;
		pp_g.retired_hits += pp_tcache_hits(tc);
		pp_event(cache_marks, -marks_pages(tc->high));
	}
}
