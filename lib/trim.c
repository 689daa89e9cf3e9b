/* SPDX-License-Identifier: MIT */
/*
 * trim.c - giving free memory back to the OS: pp_trim() and the automatic
 * trim (retain=, trim_ms=).
 *
 * Owns: choosing the free blocks to release and releasing them.  Blocks are
 * taken off the buddy lists a batch per hold of the global lock (largest
 * first, so the runs released are as long as the lists have), released
 * with the lock dropped (MADV_DONTNEED, or MADV_FREE with madv_free=1), and
 * put back when the trim is done, again a batch per hold: the pages stay
 * committed and free, and fault back in, zero-filled, when used again.
 * While a block is out (state TRIM: nothing coalesces with it, a fork
 * child's repair puts it back) it is counted in pp_g.trimming, so that
 * pp_stats() still calls it free; other threads cannot have it until the
 * trim ends, so a large trim is best made when the pool is quiet.  Nothing is released
 * with mlock=1: locked memory stays locked.  Only paths that may block trim:
 * pp_trim(), flags-0 allocations and thread exit (the automatic trim, at
 * most once per trim_ms, when more than retain bytes are free - 32 MiB by
 * default, see pp_trim_auto()).
 */
#include "config.h"

#include <errno.h>

#include "internal.h"

#define TRIM_BATCH 64		/* blocks taken or put back per lock hold */

/*
 * Take up to TRIM_BATCH blocks, at most @want pages (no block larger than
 * what is still wanted, so @keep is kept), onto @chain.
 */
static size_t take_batch_locked(size_t want, uint32_t *chain)
{
	size_t got = 0;
	unsigned n = 0;

	for (int k = PP_MAX_ORDER; k >= 0 && n < TRIM_BATCH && got < want; k--) {
		while (n < TRIM_BATCH && ((size_t)1 << k) <= want - got &&
		       pp_g.head[k] != PP_NIL) {
			uint32_t idx = pp_g.head[k];
			struct pp_desc *d = &pp_g.desc[idx];

			pp_buddy_unlist_locked(idx, (unsigned)k);
			pp_set_state(d, PP_PG_TRIM);	/* off the lists: nothing coalesces with it */
			d->next = *chain;
			*chain = idx;
			got += (size_t)1 << k;
			n++;
		}
	}
	free_pages_add(-(got));
	pp_event(trimming, got);
	return got;
}

/*
 * Put the blocks of @chain back on the lists, a batch per lock hold; in a
 * shim call that gives the lock way to a fork() (buddy.c), through the
 * pending list instead.
 */
static void put_back(uint32_t chain)
{
	while (chain != PP_NIL) {
		bool locked = pp_lock_for(0);

		for (unsigned n = 0; n < TRIM_BATCH && chain != PP_NIL; n++) {
			struct pp_desc *d = &pp_g.desc[chain];
			uint32_t next = d->next;
			unsigned order = load_relaxed(&d->order);

			if (locked)
				pp_buddy_free_locked(chain, order);
			else		/* counted pending first: free never dips */
				pp_pending_push(pp_addr(chain), d);
			pp_event(trimming, -((size_t)1 << order));
			chain = next;
		}
		if (locked)
			pp_unlock();
	}
}

/*
 * Give the block at @idx of @order back to the OS; false, said once per
 * process, when the OS refused (the pages stay resident and free).
 */
static bool release(size_t idx, unsigned order)
{
	static bool said;
	size_t bytes = pp_g.page_size << order;

	if (pp_os_release(pp_addr(idx), bytes, pp_g.opt.madv_free) == 0)
		return true;
	if (!__atomic_exchange_n(&said, true, __ATOMIC_RELAXED))
		pp_msg("trim: the OS kept %zu bytes at %p (%s: %s); they stay resident, "
		       "free, and are not counted as released", bytes, pp_addr(idx),
		       pp_g.opt.madv_free ? "MADV_FREE" : "MADV_DONTNEED", pp_errname(errno));
	return false;
}

/* Release free pages beyond @keep; the caller may block.  Pages released. */
static size_t trim_slow(size_t keep)
{
	uint32_t chain = PP_NIL, done = PP_NIL;
	size_t released = 0, got;

	if (pp_lock_for(0)) {		/* first, what idle threads' caches hold */
		pp_reclaim_idle_locked();
		pp_unlock();
	}
	do {
		if (!pp_lock_for(0))
			break;		/* a shim call gives way to fork(): trim later */
		/* free_pages no longer counts what this trim holds off the lists. */
		got = pp_g.free_pages > keep ? take_batch_locked(pp_g.free_pages - keep, &chain) : 0;
		pp_unlock();
		/* Released outside the lock; then onto the done chain. */
		while (chain != PP_NIL) {
			struct pp_desc *d = &pp_g.desc[chain];
			uint32_t next = d->next;
			unsigned order = load_relaxed(&d->order);

			if (release(chain, order))
				released += (size_t)1 << order;
			d->next = done;
			done = chain;
			chain = next;
		}
	} while (got);
	put_back(done);
	return released;
}

/* pp_trim(): see include/pagepool.h. */
PP_API long pp_trim(size_t keep_pages)
{
	long released;

	if (!__atomic_load_n(&pp_g.ready, __ATOMIC_ACQUIRE))
		return 0;			/* nothing committed yet */
	if (!pp_enter()) {
		pp_msg("pp_trim: called from a signal handler that interrupted pagepool");
		errno = EBUSY;
		return -1;
	}
	released = pp_g.opt.mlock ? 0 : (long)trim_slow(keep_pages);
	pp_leave();
	return released;
}

/*
 * pp_trim_auto() - the automatic trim, from a path that may block (a flags-0
 * allocation's slow path, thread exit): with retain= set, when more than
 * retain bytes are free and trim_ms have passed since the last trim.
 * Caller holds pp_tls.busy and not the lock.
 *
 * It is on by default, retain=32M (lib/options.h), because that is what a
 * general-purpose allocator does: glibc unmaps large blocks on free and
 * trims the top of its heap, jemalloc decays dirty pages in ten seconds.
 * Measured (256 threads each touching and freeing 1,024 pages four times,
 * then idle; the main thread's flags-0 slow paths past reclaim_ms and
 * trim_ms): resident memory 655 MiB with no automatic trim, 43 MiB with
 * retain=32M, 74 MiB with 64M - jemalloc's is 77 (issue 17).  32 MiB holds
 * the latency workload of bench/pagepool-bench (about 8 MiB free at most),
 * so it never trims there.  What it costs where it runs: one membarrier
 * (reclaim of idle caches) and a madvise per 64 blocks, at most once per
 * trim_ms, on a flags-0 slow path only - never PP_TRY, PP_NOWAIT or a free;
 * the blocks being released are out of reach of other threads meanwhile,
 * but retain bytes stay on the lists.  Never with mlock=1 (the real-time
 * recipe sets it): locked memory stays locked and faults no more.
 */
void pp_trim_auto(void)
{
	size_t keep = pp_g.opt.retain >> pp_g.page_shift, now, last;

	if (!pp_g.opt.retain || pp_g.opt.mlock || load_relaxed(&pp_g.free_pages) <= keep)
		return;
	now = pp_os_now_ms();
	last = load_relaxed(&pp_g.last_trim_ms);
	if (now - last < pp_g.opt.trim_ms ||
	    !__atomic_compare_exchange_n(&pp_g.last_trim_ms, &last, now, false,
					 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return;			/* too soon, or another thread trims */
	trim_slow(keep);
}
