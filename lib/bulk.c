/* SPDX-License-Identifier: MIT */
/*
 * bulk.c - pp_alloc_pages_bulk() and pp_free_pages_bulk().
 *
 * Owns: moving many single pages per call.  Allocation takes what this
 * thread's cache holds, then the rest in ONE hold of the global lock (the
 * kernel's alloc_pages_bulk idea); pages taken under the lock are cut in
 * runs into the cache's spare stack slots (past those, chained through their
 * descriptors) and only written into the caller's array, and zeroed, after
 * the lock is dropped.  Freeing validates every entry before
 * freeing any, fills the cache to its high mark and hands the rest over
 * under one trylock hold, or through the pending list.
 *
 * The common case - the cache holds enough for every slot, or has room for
 * every entry - is one sweep each way with no per-page bound check and the
 * counters bumped once per call (pop_all, push_all); a free's validation is
 * one compare and one descriptor-key compare per entry, with anything odd
 * (NULL entries, runs, bad input) handled out of line.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "internal.h"

/*
 * Fill the NULL slots of @pages from @tc's order-0 stack, in order, until
 * either runs out (zeroing what it fills when @zero); return the index of
 * the first slot left unfilled.  The
 * loop of pp_tcache_pop() with its bookkeeping done once.  Caller holds
 * pp_tls.busy.  (Slots filled before the call are skipped, not counted.)
 */
static size_t pop_many(struct pp_tcache *tc, size_t nr, void **pages, bool zero)
{
	uint32_t n = load_relaxed(&tc->count[0]), n0 = n;
	void **stack = tc->stack[0];
	size_t i;

	for (i = 0; i < nr; i++) {
		void *p;

		if (pages[i])
			continue;
		if (!n)
			break;
		p = stack[--n];
		pp_set_state(pp_desc_of(p), PP_PG_USED);
		pages[i] = p;
		if (zero)
			memset(p, 0, pp_g.page_size);
	}
	store_relaxed(&tc->count[0], n);
	bump(&tc->hits[0], n0 - n);
	bump(&tc->pages_out, n0 - n);
	return i;
}

/*
 * The cache holds at least @nr pages: every NULL slot of @pages is filled
 * from it in one tight pass, with no bound check per slot and the
 * bookkeeping done once; the same pages in the same order as pop_many().
 * Return: @nr.  Caller holds pp_tls.busy.
 */
static size_t pop_all(struct pp_tcache *tc, uint32_t n0, size_t nr, void **pages,
		      bool zero)
{
	void **stack = tc->stack[0], **top = stack + n0, **const end = top;
	uint32_t taken;

	for (void **slot = pages; slot < pages + nr; slot++) {
		void *p;

		if (unlikely(*slot))
			continue;
		p = *--top;
		pp_set_state(pp_desc_of(p), PP_PG_USED);
		*slot = p;
	}
	if (unlikely(zero))	/* stack[n..n0) is what was handed out */
		for (void **q = top; q < end; q++)
			memset(*q, 0, pp_g.page_size);
	taken = (uint32_t)(end - top);
	store_relaxed(&tc->count[0], n0 - taken);
	bump(&tc->hits[0], taken);
	bump(&tc->pages_out, taken);
	return nr;
}

size_t PP_FAST(pp_alloc_pages_bulk)(unsigned flags, size_t nr, void **pages)
{
	struct pp_tcache *tc = NULL;
	size_t i, need = 0, got = 0, in_scratch = 0, filled = 0;
	uint32_t chain = PP_NIL, tail = PP_NIL, cached;
	void **scratch = NULL;
	bool entered;

	if (nr == 0)
		return 0;
	if (!pages) {
		pp_msg("pp_alloc_pages_bulk: pages is NULL (nr=%zu)", nr);
		errno = EINVAL;
		return 0;
	}
	if (!pp_check_flags("pp_alloc_pages_bulk", flags)) {
		errno = EINVAL;
		return 0;
	}
	entered = pp_enter();
	if (entered)
		tc = pp_own_cache();
	else if (!(flags & PP_TRY))
		flags |= PP_NOWAIT;	/* re-entrant: never block on our own lock */

	/* 1: the cache, lock-free; in one sweep when it holds enough. */
	cached = tc ? load_relaxed(&tc->count[0]) : 0;
	if (likely(cached >= nr))
		i = pop_all(tc, cached, nr, pages, flags & PP_ZERO);
	else
		i = tc ? pop_many(tc, nr, pages, flags & PP_ZERO) : 0;
	for (size_t j = i; j < nr; j++)
		need += !pages[j];

	/*
	 * 2: the rest in one lock hold.  Cut from the free lists in runs into
	 * the cache's empty slots above its count (this call's scratch while
	 * it holds pp_tls.busy); what those cannot hold is chained through the
	 * descriptors.  The caller's array is written after the unlock.
	 */
	if (need && !(flags & PP_TRY)) {
		bool ok = __atomic_load_n(&pp_g.ready, __ATOMIC_ACQUIRE) ||
			  (!(flags & PP_NOWAIT) && pp_init());

		if (ok && pp_lock_for(flags)) {
			if (entered && !tc)	/* so that the frees can be cached */
				tc = pp_tcache_get_locked(flags);
			if (tc) {
				uint32_t n = load_relaxed(&tc->count[0]);
				/* the storage holds high_max (tcache.c) */
				size_t room = tc->high_max[0] - n;
				size_t want = need < room ? need : room;

				scratch = tc->stack[0] + n;
				while (got < want) {	/* a later round may grow the arena */
					size_t k = pp_buddy_alloc_many_locked(0, flags, want - got,
									    scratch + got,
									    PP_PG_USED);

					if (!k)
						break;
					got += k;
				}
				in_scratch = got;
			}
			for (bool again = !(flags & PP_NOWAIT); got < need; got++) {
				void *p = pp_buddy_alloc_locked(0, flags);
				uint32_t idx;

				if (!p && again) {	/* cap reached: idle caches first */
					again = false;
					if (pp_reclaim_others_locked(tc))
						p = pp_buddy_alloc_locked(0, PP_NOWAIT);
				}
				if (!p)
					break;
				idx = (uint32_t)pp_index(p);
				pp_g.desc[idx].next = PP_NIL;
				if (tail == PP_NIL)
					chain = idx;
				else
					pp_g.desc[tail].next = idx;
				tail = idx;
			}
			pp_unlock();
			pp_account(tc, got);
		}
	}
	for (size_t j = 0; j < in_scratch; i++) {	/* in_scratch <= NULL slots left */
		if (pages[i])
			continue;
		pages[i] = scratch[j++];
		if (flags & PP_ZERO)
			memset(pages[i], 0, pp_g.page_size);
	}
	if (entered)
		pp_leave();

	for (; i < nr && chain != PP_NIL; i++) {
		if (pages[i])
			continue;
		pages[i] = pp_addr(chain);
		chain = pp_g.desc[chain].next;
		if (flags & PP_ZERO)
			memset(pages[i], 0, pp_g.page_size);
	}
	if (need == 0)
		return nr;			/* every slot was or is now filled */
	for (i = 0; i < nr; i++)
		filled += !!pages[i];
	if (filled < nr && got < need)
		errno = (flags & (PP_TRY | PP_NOWAIT)) ? EAGAIN : ENOMEM;
	return filled;
}

/*
 * A validated entry's descriptor, checked again as it is freed: the only
 * way it can have changed is the same page earlier in the array.
 */
static struct pp_desc *recheck(void *p)
{
	struct pp_desc *d = pp_desc_of(p);

	if (unlikely(pp_state(d) != PP_PG_USED))
		pp_bad_free_slow("pp_free_pages_bulk", p, 0);
	return d;
}

/*
 * The page number of byte offset @off in the arena, rotated right: the bits
 * of a misaligned offset land on top, so one compare against the committed
 * page count checks both that it is in the arena and that it is aligned.
 */
static inline size_t page_rot(size_t off, unsigned shift)
{
	return (off >> shift) | (off << (-shift & (8 * sizeof(off) - 1)));
}

/*
 * Is @p a plain USED page of order 0?  One compare (page_rot) and one load
 * and compare of its descriptor's key.  A NULL fails the first: its offset
 * from the arena wraps far beyond it (the arena ends below the top of the
 * address space).
 */
static inline bool quick_ok(const void *p, uintptr_t base, unsigned shift,
			    size_t npages, const struct pp_desc *desc)
{
	size_t idx = page_rot((uintptr_t)p - base, shift);

	return likely(idx < npages && load_relaxed(&desc[idx].key) == pp_used_key(0));
}

/*
 * validate_all()'s loop from @e, an entry that failed quick_ok(), to @end:
 * NULLs are counted, other failures go to validate_slow().  Out of line, so
 * that the loop in validate_all() makes no call.  Return: the NULLs counted.
 */
static __attribute__((noinline)) size_t
validate_rest_slow(void *const *e, void *const *end, bool *runs)
{
	uintptr_t base = (uintptr_t)pp_g.base;
	unsigned shift = pp_g.page_shift;
	size_t nulls = 0, npages = load_relaxed(&pp_g.committed_bytes) >> shift;

	for (; e < end; e++) {
		if (!*e)
			nulls++;
		else if (!quick_ok(*e, base, shift, npages, pp_g.desc))
			*runs |= pp_free_check_slow("pp_free_pages_bulk", *e, false);
	}
	return nulls;
}

/* Validate every entry before writing anything; return the non-NULL count. */
static size_t validate_all(size_t nr, void *const *pages, bool *runs)
{
	void *const *e = pages, *const *const end = pages + nr;
	size_t nulls = 0, npages;
	const struct pp_desc *desc;
	uintptr_t base;
	unsigned shift;

	while (e < end && !*e)
		e++;
	if (e == end)
		return 0;	/* nothing but NULLs: the pool may not even exist */
	/* A page was handed out, so the geometry was set before: read it once. */
	desc = pp_g.desc;
	base = (uintptr_t)pp_g.base;
	shift = pp_g.page_shift;
	npages = load_relaxed(&pp_g.committed_bytes) >> shift;
	for (void *const *q = e; q < end; q++) {
		if (unlikely(!quick_ok(*q, base, shift, npages, desc))) {
			nulls = validate_rest_slow(q, end, runs);
			break;
		}
	}
	return (size_t)(end - e) - nulls;
}

/*
 * push_all() - the cache has room for all @rest non-NULL entries of @pages:
 * push them with no bound check per entry (and no NULL test when there is
 * none: @rest == @nr).  Each is checked again as it goes: the same page
 * earlier in the array is the only way its state can have changed since
 * validate_all().  Caller holds pp_tls.busy.
 */
static inline __attribute__((always_inline)) void
push_all_loop(struct pp_tcache *tc, uint32_t n0, size_t nr, void *const *pages,
	      bool nulls)
{
	void **top = tc->stack[0] + n0;
	size_t k = 0;

	for (size_t i = 0; i < nr; i++) {
		void *p = pages[i];
		struct pp_desc *d;

		if (nulls && !p)
			continue;
		d = pp_desc_of(p);
		if (unlikely(pp_state(d) != PP_PG_USED))	/* repeated in the array */
			pp_bad_free_slow("pp_free_pages_bulk", p, 0);
		pp_set_state(d, PP_PG_CACHED);
		top[nulls ? k++ : i] = p;
	}
	store_relaxed(&tc->count[0], n0 + (uint32_t)(nulls ? k : nr));
}

static void push_all(struct pp_tcache *tc, uint32_t n0, size_t nr,
		     void *const *pages, size_t rest)
{
	if (rest == nr)
		push_all_loop(tc, n0, nr, pages, false);
	else
		push_all_loop(tc, n0, nr, pages, true);
	bump(&tc->pages_out, -rest);
}

/*
 * Push validated entries of @pages onto @tc's order-0 stack, in order,
 * until it is full; return the index of the first entry not pushed.  The
 * loop of pp_tcache_push() with its bookkeeping done once; each entry is
 * checked again as it goes, for a page repeated in the array.
 */
static size_t push_many(struct pp_tcache *tc, size_t nr, void *const *pages)
{
	uint32_t n = load_relaxed(&tc->count[0]), n0 = n, high = tc->high[0];
	void **stack = tc->stack[0];
	size_t i;

	for (i = 0; i < nr; i++) {
		void *p = pages[i];
		struct pp_desc *d;

		if (!p)
			continue;
		if (n >= high)
			break;
		d = pp_desc_of(p);
		if (unlikely(pp_state(d) != PP_PG_USED))	/* repeated in the array */
			pp_bad_free_slow("pp_free_pages_bulk", p, 0);
		pp_set_state(d, PP_PG_CACHED);
		stack[n++] = p;
	}
	store_relaxed(&tc->count[0], n);
	bump(&tc->pages_out, -(size_t)(n - n0));
	return i;
}

void PP_FAST(pp_free_pages_bulk)(size_t nr, void *const *pages)
{
	struct pp_tcache *tc = NULL;
	size_t i, rest;
	uint32_t cached;
	bool entered, runs = false;

	if (nr && !pages) {
		pp_msg("pp_free_pages_bulk: pages is NULL (nr=%zu)", nr);
		pp_os_abort();
	}
	rest = validate_all(nr, pages, &runs);	/* before writing anything */
	if (!rest)
		return;				/* nothing but NULLs */
	if (runs) {
		/* Runs (the shim's malloc) among them, freed whole: one at a time. */
		for (i = 0; i < nr; i++)
			if (pages[i] && !pp_free_check_slow("pp_free_pages_bulk", pages[i], true))
				pp_free_block("pp_free_pages_bulk", pages[i], 0);
		return;
	}

	entered = pp_enter();
	if (entered) {
		tc = pp_own_cache();
		if (!tc && !pp_tls.dead && pp_lock_for(PP_NOWAIT)) {
			tc = pp_tcache_get_locked(PP_NOWAIT);	/* as a first free does */
			pp_unlock();
		}
	}
	/* 1: the cache, lock-free; in one sweep when it has room for all. */
	cached = tc ? load_relaxed(&tc->count[0]) : 0;
	if (likely(tc && cached <= tc->high[0] && rest <= tc->high[0] - cached)) {
		push_all(tc, cached, nr, pages, rest);
		i = nr;
	} else {
		i = tc ? push_many(tc, nr, pages) : 0;
	}
	/* 2: the rest to the global lists, or the pending list. */
	rest = 0;
	for (size_t j = i; j < nr; j++)
		rest += !!pages[j];
	if (rest) {
		pp_account(tc, -rest);
		if (pp_lock_for(PP_NOWAIT)) {
			for (; i < nr; i++)
				if (pages[i] && recheck(pages[i]))
					pp_buddy_free_locked(pp_index(pages[i]), 0);
			pp_unlock();
		} else {
			for (; i < nr; i++)
				if (pages[i])
					pp_pending_push(pages[i], recheck(pages[i]));
		}
	}
	if (entered)
		pp_leave();
}
