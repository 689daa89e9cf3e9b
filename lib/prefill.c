/* SPDX-License-Identifier: MIT */
/*
 * prefill.c - pp_thread_prefill(): a supply of blocks in this thread's
 * cache that the next n allocations of an order are guaranteed to find.
 *
 * Owns: filling the cache up to the asked count under one lock hold, and
 * the floor that keeps it there.  The kernel's answer to the same need is
 * slab sheaf prefilling (kmem_cache_prefill_sheaf(): a sheaf that cannot
 * fail until depleted, for a section whose allocations are bounded).
 *
 * The guarantee is a floor: floor[k] blocks owed from the moment the
 * cache had served hits[k] of order k (floor_hits[k]).  The hit path
 * counts hits per order anyway, so what is still owed is known on every
 * slow path at no cost to it (pp_tcache_owed(), global.h): drains
 * (tcache.c) and reclaim, this thread's or another's (reclaim.c), never
 * take the cache below it.  What is owed falls by one per block taken
 * while the count falls by the same one, and frees only raise the count,
 * so the count stays at or above what is owed.  It ends when all is taken,
 * or at pp_thread_drain().  The floor is the owner's.
 *
 * Keeping the blocks is not enough: a reclaimer clears the owner's pointer
 * to its cache for the length of a round, and a try call then finds no
 * cache.  So a prefill marks its cache guarded, under the global lock, and
 * reclaimers - which hold the lock - pass guarded caches by; the owner
 * clears the mark under the lock on its next refill or drain once nothing
 * is owed (tcache.c).  The lock-free path below is taken only by a cache
 * already guarded.
 */
#include "config.h"

#include <errno.h>

#include "internal.h"

/* errno @err, and -1. */
static int fail(int err)
{
	errno = err;
	return -1;
}

/* Owe @n blocks of @order from now on (read racily by pp_stats()). */
static void owe(struct pp_tcache *tc, unsigned order, uint32_t n)
{
	store_relaxed(&tc->floor_hits[order], load_relaxed(&tc->hits[order]));
	store_relaxed(&tc->floor[order], n);
}

/*
 * Fill @tc's stack of @order to @target blocks, raising its mark to hold
 * them (counted in cache_marks, against cache_max=: a guarantee asked for
 * is kept even past the bound).  Growth, and with flags 0 reclaim, as a
 * refill's; what it has so far is owed meanwhile, so that reclaim does not
 * flush it back.  On failure what was owed before is owed.  Lock held.
 * Return: true when it has @target.
 */
static bool fill_locked(struct pp_tcache *tc, unsigned order, unsigned flags,
			uint32_t owed, uint32_t target)
{
	uint32_t n = load_relaxed(&tc->count[order]);

	if (tc->high[order] < target) {
		pp_event(cache_marks, (size_t)(target - tc->high[order]) << order);
		store_relaxed(&tc->high[order], target);
	}
	while (n < target) {
		size_t got = pp_buddy_alloc_many_locked(order, flags, target - n,
							tc->stack[order] + n, PP_PG_CACHED);
		void *q;

		n += (uint32_t)got;
		store_relaxed(&tc->count[order], n);
		if (got)
			continue;
		if (flags & PP_NOWAIT)
			break;			/* growth is a system call */
		/* Nothing free and no growth (cap=, the OS): reclaim, as a refill. */
		owe(tc, order, n);
		q = pp_tcache_alloc_reclaim_locked(tc, order, flags);
		if (!q)
			break;
		pp_set_state(pp_desc_of(q), PP_PG_CACHED);
		tc->stack[order][n++] = q;
		store_relaxed(&tc->count[order], n);
	}
	owe(tc, order, n >= target ? target : owed);
	return n >= target;
}

/*
 * pp_prefill_spoken_for() - does pp_thread_prefill() still owe this thread
 * order-0 blocks?  pp_reserve_alloc() then takes from its reserve first: a
 * reserve must not raid the supply that this thread's own try and NOWAIT
 * calls are promised (each block it took would be one the promise lost,
 * however many more the cache holds).
 * Context: any; no lock, no system call.
 */
bool pp_prefill_spoken_for(void)
{
	struct pp_tcache *tc;
	bool spoken = false;

	if (!pp_enter())
		return false;
	tc = pp_own_cache();
	if (tc)
		spoken = pp_tcache_owed(tc, 0) != 0;
	pp_leave();
	return spoken;
}

PP_API int pp_thread_prefill(unsigned order, size_t n, unsigned flags)
{
	struct pp_tcache *tc;
	uint32_t cap, owed = 0, target;
	int ret = 0;

	if (flags & ~PP_NOWAIT) {
		pp_msg("pp_thread_prefill: flags %#x: %s; only 0 or PP_NOWAIT", flags,
		       (flags & PP_TRY) ? "PP_TRY cannot fill a cache" :
		       (flags & PP_ZERO) ? "PP_ZERO is for the allocation that takes a block" :
		       "unknown flags");
		return fail(EINVAL);
	}
	if (order >= PP_CACHE_ORDERS) {
		pp_msg("pp_thread_prefill: order %u is not cached per thread (orders 0..%d are)",
		       order, PP_CACHE_ORDERS - 1);
		return fail(EINVAL);
	}
	if (!pp_ready_for(flags))
		return -1;		/* EAGAIN (PP_NOWAIT: no start-up) or ENOMEM, said */
	if (!pp_enter())
		return fail(EAGAIN);	/* a handler that interrupted pagepool */
	/*
	 * NULL: no cache yet, or a reclaimer holds it - and then nothing is
	 * owed, since a cache that owes is guarded and never taken.
	 */
	tc = pp_own_cache();
	if (tc)
		owed = pp_tcache_owed(tc, order);
	cap = pp_tcache_capacity(order);
	if (n > (size_t)(cap - owed)) {
		pp_msg("pp_thread_prefill: n=%zu blocks of order %u is more than this thread's "
		       "cache can hold: %u (high_max=%zu pages of order 0%s)%s", n, order,
		       cap - owed, pp_tcache_high_max(), order ? ", a quarter per order above" : "",
		       owed ? " beyond what an earlier prefill still guarantees" : "");
		ret = fail(EINVAL);
		goto out;
	}
	if (!n)
		goto out;
	target = owed + (uint32_t)n;
	/*
	 * Guarded already, and the blocks are there at a mark that holds them
	 * (a loop's frees brought its last period's back): the guarantee is
	 * this thread's own word - no lock.  No reclaimer takes a guarded
	 * cache, and the guard is cleared only by this thread.
	 */
	if (tc && tc->guarded && load_relaxed(&tc->count[order]) >= target &&
	    tc->high[order] >= target) {
		owe(tc, order, target);
		goto out;
	}
	if (!pp_lock_for(flags)) {
		ret = fail(EAGAIN);
		goto out;
	}
	tc = pp_tcache_get_locked(flags);	/* a reclaimer is done with it: we hold the lock */
	if (!tc) {
		pp_unlock();
		ret = fail((flags & PP_NOWAIT) ? EAGAIN : ENOMEM);	/* no storage for it */
		goto out;
	}
	tc->guarded = true;		/* under the lock: from now on reclaimers leave it */
	if (!fill_locked(tc, order, flags, owed, target))
		ret = fail((flags & PP_NOWAIT) ? EAGAIN : ENOMEM);
	pp_unlock();
out:
	pp_leave();
	return ret;
}
