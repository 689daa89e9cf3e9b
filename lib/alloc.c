/* SPDX-License-Identifier: MIT */
/*
 * alloc.c - the single-block entry points: pp_alloc_page_try(),
 * pp_alloc_page(), pp_alloc_pages(), pp_free_page(), pp_free_pages().
 *
 * Owns: routing a call by order, flags and context.  Orders below
 * PP_CACHE_ORDERS go through this thread's cache (inline pop/push from
 * hot.h) and fall back to tcache.c's refill and drain; larger orders
 * and re-entrant calls (a signal handler that interrupted pagepool on this
 * thread) go to the global lists directly, never blocking when re-entrant.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "internal.h"

/* Initialise if @flags allow it: PP_TRY and PP_NOWAIT make no system call. */
bool pp_ready_for(unsigned flags)
{
	if (likely(__atomic_load_n(&pp_g.ready, __ATOMIC_ACQUIRE)))
		return true;
	if (flags & (PP_TRY | PP_NOWAIT)) {
		errno = EAGAIN;
		return false;
	}
	return pp_init();
}

/*
 * alloc_global() - a block straight from the global lists (no cache).
 * @tc: this call's cache for accounting, or NULL when re-entrant.
 */
static void *alloc_global(struct pp_tcache *tc, unsigned order, unsigned flags)
{
	void *p;

	if (flags & PP_TRY)
		goto again;			/* nothing cached above order 3 */
	if (!pp_ready_for(flags))
		return NULL;			/* errno from pp_ready_for() */
	if (!pp_lock_for(flags))
		goto again;
	p = pp_tcache_alloc_reclaim_locked(tc, order, flags);
	pp_unlock();
	if (!p) {
		if (flags & PP_NOWAIT)
			goto again;
		return NULL;			/* errno ENOMEM from the arena */
	}
	pp_account(tc, (size_t)1 << order);
	return p;
again:
	errno = EAGAIN;
	return NULL;
}

/* Zero a block just allocated (PP_ZERO); out of line: the hit stays small. */
static __attribute__((noinline)) void *zero_block(void *p, unsigned order)
{
	if (p)
		memset(p, 0, pp_g.page_size << order);
	return p;
}

/*
 * The cache of @order had nothing: refill it (initialising if allowed).
 * Called entered; it leaves, so that the fast path ends in a tail call.
 */
static __attribute__((noinline)) void *
alloc_miss_slow(struct pp_tcache *tc, unsigned order, unsigned flags)
{
	void *p = NULL;

	if (!(flags & PP_TRY) && !pp_ready_for(flags))
		pp_event(misses, 1);
	else
		p = pp_tcache_refill_slow(tc, order, flags);	/* and retain='s trim */
	pp_leave();			/* after: a handler must not find the lock held */
	return flags & PP_ZERO ? zero_block(p, order) : p;
}

/* Large orders, bad arguments and re-entrant calls; @fn names the call. */
static void *alloc_pages_slow(const char *fn, unsigned order, unsigned flags)
{
	bool entered;
	void *p;

	if (!pp_check_flags(fn, flags)) {
		errno = EINVAL;
		return NULL;
	}
	if (order > PP_MAX_ORDER) {
		pp_msg("%s: order %u is larger than PP_MAX_ORDER (%d)",
		       fn, order, PP_MAX_ORDER);
		errno = EINVAL;
		return NULL;
	}
	/* A large order, or re-entrant (then the cache is not ours to touch). */
	entered = pp_enter();
	if (!entered && !(flags & PP_TRY))
		flags |= PP_NOWAIT;	/* re-entrant: never block on our own lock */
	p = alloc_global(entered ? pp_own_cache() : NULL, order, flags);
	if (entered)
		pp_leave();
	return flags & PP_ZERO ? zero_block(p, order) : p;
}

static inline __attribute__((always_inline)) void *
alloc_pages(const char *fn, unsigned order, unsigned flags)
{
	struct pp_tcache *tc;
	void *p;

	if (unlikely(order >= PP_CACHE_ORDERS || (flags & ~PP_FLAGS_ALL) ||
		     !pp_enter()))
		return alloc_pages_slow(fn, order, flags);
	tc = pp_own_cache();
	if (unlikely(!tc) || unlikely((p = pp_tcache_pop(tc, order)) == NULL))
		return alloc_miss_slow(tc, order, flags);	/* leaves */
	pp_leave();
	return unlikely(flags & PP_ZERO) ? zero_block(p, order) : p;
}

void *PP_FAST(pp_alloc_pages)(unsigned order, unsigned flags)
{
	return alloc_pages("pp_alloc_pages", order, flags);
}

void *PP_FAST(pp_alloc_page)(unsigned flags)
{
	return alloc_pages("pp_alloc_page", 0, flags);
}

void *PP_FAST(pp_alloc_page_try)(void)
{
	struct pp_tcache *tc;
	void *p;

	if (likely(pp_enter())) {
		tc = pp_own_cache();	/* read after entering: see struct pp_tls */
		if (likely(tc) && likely((p = pp_tcache_pop(tc, 0)) != NULL)) {
			pp_leave();
			return p;
		}
		pp_leave();
		pp_event(misses, 1);
	}
	errno = EAGAIN;
	return NULL;
}

/*
 * free_global_slow() - free a validated block to the global lists without
 * blocking: under a trylock, or through the pending list.
 * @tc: this call's cache for accounting, or NULL.
 */
static void free_global_slow(struct pp_tcache *tc, void *p, struct pp_desc *d,
			     unsigned order)
{
	pp_account(tc, -((size_t)1 << order));
	if (pp_lock_for(PP_NOWAIT)) {
		pp_buddy_free_locked(pp_index(p), order);
		pp_unlock();
	} else {
		pp_pending_push(p, d);
	}
}

/*
 * free_slow() - the cache @tc (read once, by the caller, after entering)
 * is full, absent (none yet, or a reclaimer holds it), or this call is
 * re-entrant (!@entered).  Never blocks: drain under a trylock, else the
 * pending list.  An @entered call leaves here, so that the fast path ends
 * in a tail call.
 */
static __attribute__((noinline)) void
free_slow(struct pp_tcache *tc, bool entered, void *p, struct pp_desc *d, unsigned order)
{
	if (tc) {
		pp_tcache_drain_slow(tc, order);
		if (!pp_tcache_push(tc, p, d, order))	/* full of prefilled blocks */
			free_global_slow(tc, p, d, order);
	} else if (entered && order < PP_CACHE_ORDERS && !pp_tls.dead &&
		   pp_lock_for(PP_NOWAIT)) {
		/*
		 * First free on this thread: make its cache, no growth.  Or a
		 * reclaimer held it when the caller looked: it is back now, and
		 * may be full.
		 */
		tc = pp_tcache_get_locked(PP_NOWAIT);
		if (tc && pp_tcache_push(tc, p, d, order)) {
			pp_unlock();
		} else {
			pp_account(tc, -((size_t)1 << order));
			pp_buddy_free_locked(pp_index(p), order);
			pp_unlock();
		}
	} else {
		free_global_slow(NULL, p, d, order);
	}
	if (entered)
		pp_leave();
}

/*
 * run_slow() - @p starts a run of the LD_PRELOAD shim's malloc (exact.c):
 * a USED head whose key carries a span, so that no free takes the fast
 * path.  Hand it to exact.c, which alone knows how a run is cut: validated
 * whole and, if @free, freed whole, as free() would.  This is the core's
 * one call up the layers (scripts/layers.sh allows it, and only it).
 */
static void run_slow(const char *fn, void *p, bool free)
{
	pp_exact_run_slow(fn, p, free);
}

/* Is @d the head of a run (USED, with a span)? */
static bool run_head(const struct pp_desc *d)
{
	return d && pp_state(d) == PP_PG_USED && load_relaxed(&d->span);
}

/*
 * The descriptor did not match a USED block of @order.  The start of a run
 * freed by its first block's order - libpagepool-rcu does that with
 * pp_block_order() - is freed whole; anything else is a bad free.
 */
static void free_mismatch_slow(const char *fn, void *p, struct pp_desc *d, unsigned order)
{
	if (run_head(d) && load_relaxed(&d->order) == order) {
		run_slow(fn, p, true);
		return;
	}
	pp_bad_free_slow(fn, p, order);
}

/*
 * pp_free_check_slow() - an entry of a bulk free that is not a plain USED
 * page, or (@free) one being freed after all were checked: true for a
 * run's start, validated whole and, if @free, freed whole - whatever the
 * order of its first block; false for a plain USED page of order 0, left
 * to the caller; anything else is reported, naming @fn, and aborts.
 */
bool pp_free_check_slow(const char *fn, void *p, bool free)
{
	struct pp_desc *d = pp_desc_at(p);

	if (run_head(d)) {
		run_slow(fn, p, free);
		return true;
	}
	pp_validate(fn, p, 0);		/* reports, aborts - unless a plain page */
	return false;
}

static inline __attribute__((always_inline)) void
free_block(const char *fn, void *p, unsigned order)
{
	struct pp_desc *d;
	struct pp_tcache *tc;
	size_t off;

	/* pp_validate(), except that NULL is a no-op (outside the arena: one
	 * test for both) and the start of a run is freed whole. */
	if (unlikely(!pp_page_off(p, &off))) {
		if (p)
			pp_bad_free_slow(fn, p, order);
		return;
	}
	d = &pp_g.desc[off >> PP_SHIFT];
	if (unlikely(load_relaxed(&d->key) != pp_used_key(order))) {
		free_mismatch_slow(fn, p, d, order);
		return;
	}
	if (unlikely(order >= PP_CACHE_ORDERS)) {
		bool entered;

		if (order > PP_MAX_ORDER)	/* 1 << 24 would pass the key check */
			pp_bad_free_slow(fn, p, order);
		entered = pp_enter();

		free_global_slow(entered ? pp_own_cache() : NULL, p, d, order);
		if (entered)
			pp_leave();
		return;
	}
	if (unlikely(!pp_enter())) {
		free_slow(NULL, false, p, d, order);
		return;
	}
	tc = pp_own_cache();
	if (unlikely(!tc || !pp_tcache_push(tc, p, d, order))) {
		free_slow(tc, true, p, d, order);	/* leaves */
		return;
	}
	pp_leave();
}

/* free_block() for bulk.c, naming @fn in reports. */
void pp_free_block(const char *fn, void *p, unsigned order)
{
	free_block(fn, p, order);
}

void PP_FAST(pp_free_page)(void *page)
{
	free_block("pp_free_page", page, 0);
}

void PP_FAST(pp_free_pages)(void *addr, unsigned order)
{
	free_block("pp_free_pages", addr, order);
}
