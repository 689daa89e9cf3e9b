/* SPDX-License-Identifier: MIT */
/*
 * exact.c - runs of an exact number of pages, as the kernel's
 * alloc_pages_exact() makes them: the preload shim's malloc of 5 pages
 * holds 5, not 8.
 *
 * Owns: carving a buddy block into a run and the blocks behind it, taking
 * a run apart again, and shrinking or growing it in place.  A run of n
 * pages, allocated as one block of order k >= log2(n), is re-marked as the
 * aligned buddy blocks that cut [start, start + n) from its start - largest
 * first for a fresh run (5 pages: orders 2 and 0) - each an ordinary USED
 * block with its own descriptor; the pages behind it are marked the same way
 * and freed at once.  The run's first descriptor records n (span), so a free
 * needs no size, and the cut is recomputed from the start and n alone.
 *
 * Two policies.  A run from a block the per-thread caches hold (order < 4:
 * up to 8 pages, small alignment) is cut from a block through
 * pp_alloc_pages(), and a run of up to 8 pages goes back piece by piece
 * through pp_free_pages(): the cache serves them.  Larger runs are cut and
 * given back under the global lock, one hold each, so that the pieces
 * coalesce at once with the pages behind them: sent through the caches,
 * they would sit there as small blocks and the next large run would need
 * fresh memory.
 *
 * The pages of a run belong to its owner alone, and none of them is ever
 * FREE while it is re-marked, so re-marking needs no lock: the buddy
 * coalescing only ever looks for FREE buddies.
 */
#include "config.h"

#include <errno.h>

#include "internal.h"

static unsigned floor_log2(size_t n)
{
	return (unsigned)(8 * sizeof(n) - 1) - (unsigned)__builtin_clzl(n);
}

/*
 * Order of the largest block at page index @i, aligned to its size in the
 * arena, that ends by page index @end.  A run [i, end) is cut into such
 * blocks from its start: largest first for a run at a block's start.
 */
static unsigned piece_order(size_t i, size_t end)
{
	unsigned j = floor_log2(end - i);

	if (i && (unsigned)__builtin_ctzl(i) < j)
		j = (unsigned)__builtin_ctzl(i);
	return j;
}

#define for_each_piece(i, lo, hi) \
	for (size_t i = (lo); i < (hi); i += (size_t)1 << piece_order(i, (hi)))

/*
 * Mark pages [@lo, @hi) as the USED blocks of their cut.
 *
 * When a block is cut into smaller ones, the marks are written from the
 * last block back to the first, each a release: the old block's first page
 * is re-marked only after the blocks behind it are.  So at every instant
 * the descriptors, read head by head skipping each block's length (fork.c's
 * repair in a child forked meanwhile), cover each page once.
 */
static void mark_range(size_t lo, size_t hi)
{
	size_t at[2 * PP_MAX_ORDER + 2];
	unsigned n = 0;

	for_each_piece(i, lo, hi)
		at[n++] = i;
	while (n--) {
		struct pp_desc *d = &pp_g.desc[at[n]];

		pp_set_state(d, PP_PG_USED);
		__atomic_store_n(&d->order, (uint8_t)piece_order(at[n], hi), __ATOMIC_RELEASE);
	}
}

/* Small runs: free the blocks of [@lo, @hi) through the caches. */
static void free_range(size_t lo, size_t hi)
{
	for_each_piece(i, lo, hi)
		PP_FAST(pp_free_pages)(pp_addr(i), piece_order(i, hi));	/* untracked pieces */
}

/* Does a run of @npages go back around the caches (see the top comment)? */
static bool run_is_large(size_t npages)
{
	return npages > ((size_t)1 << (PP_CACHE_ORDERS - 1));
}

/* Large runs: the block, cut under one hold of the global lock. */
static void *alloc_large(size_t npages, unsigned order, unsigned flags)
{
	bool entered = pp_enter();
	struct pp_tcache *tc = entered ? pp_own_cache() : NULL;
	void *p = NULL;
	size_t idx;

	if (!entered && !(flags & PP_TRY))
		flags |= PP_NOWAIT;	/* re-entrant: never block on our own lock */
	if (!pp_ready_for(flags))
		goto out;		/* errno set */
	if (!pp_lock_for(flags)) {
		errno = EAGAIN;
		goto out;
	}
	p = pp_tcache_alloc_reclaim_locked(tc, order, flags);
	if (p) {
		idx = pp_index(p);
		mark_range(idx, idx + npages);
		for_each_piece(i, idx + npages, idx + ((size_t)1 << order))
			pp_buddy_free_locked(i, piece_order(i, idx + ((size_t)1 << order)));
	}
	pp_unlock();
	if (p)
		pp_account(tc, npages);
	else if (flags & (PP_TRY | PP_NOWAIT))
		errno = EAGAIN;
out:
	if (entered)
		pp_leave();
	return p;
}

/* Large runs: give back the blocks of [@lo, @hi) in one lock hold. */
static void free_large(size_t lo, size_t hi)
{
	bool entered = pp_enter();
	bool locked;

	pp_account(entered ? pp_own_cache() : NULL, -(hi - lo));
	locked = pp_lock_for(PP_NOWAIT);	/* frees never block */
	for_each_piece(i, lo, hi) {
		if (locked)
			pp_buddy_free_locked(i, piece_order(i, hi));
		else
			pp_pending_push(pp_addr(i), &pp_g.desc[i]);
	}
	if (locked)
		pp_unlock();
	if (entered)
		pp_leave();
}

/* Give back [@lo, @hi), the end of a run of @npages, by its policy. */
static void free_pieces(size_t npages, size_t lo, size_t hi)
{
	if (run_is_large(npages))
		free_large(lo, hi);
	else
		free_range(lo, hi);
}

/**
 * pp_exact_alloc() - allocate @npages pages, aligned to 2^@align_order pages.
 * @npages: 1 .. PP_EXACT_MAX.
 * @align_order: 0 .. PP_MAX_ORDER.
 * @flags: as pp_alloc_pages(); PP_ZERO zeroes the run only.
 *
 * Context: as pp_alloc_pages() for @flags.
 * Return: the run, or NULL with errno as pp_alloc_pages() sets it.
 */
void *pp_exact_alloc(size_t npages, unsigned align_order, unsigned flags)
{
	unsigned order;
	size_t idx, end;
	void *p;

	if (npages == 0 || npages > PP_EXACT_MAX || align_order > PP_MAX_ORDER ||
	    !pp_check_flags("pp_exact_alloc", flags)) {
		errno = EINVAL;
		return NULL;
	}
	order = floor_log2(npages);
	if (((size_t)1 << order) < npages)
		order++;
	if (order < align_order)
		order = align_order;
	if (order >= PP_CACHE_ORDERS) {		/* a block the caches do not hold */
		p = alloc_large(npages, order, flags & ~PP_ZERO);
	} else {
		p = PP_FAST(pp_alloc_pages)(order, flags & ~PP_ZERO);	/* tracked below */
		idx = p ? pp_index(p) : 0;
		end = idx + ((size_t)1 << order);
		if (p && idx + npages < end) {
			mark_range(idx + npages, end);
			mark_range(idx, idx + npages);	/* the block's head last */
			free_range(idx + npages, end);
		}
	}
	if (!p)
		return NULL;
	store_relaxed(&pp_desc_of(p)->span, (uint16_t)npages);
	pp_track_out(p, npages << pp_g.page_shift);
	if (flags & PP_ZERO)
		__builtin_memset(p, 0, npages << pp_g.page_shift);
	return p;
}

/* The run's first descriptor, or a report naming @fn and abort. */
static struct pp_desc *run_head(const char *fn, const void *p)
{
	struct pp_desc *d = pp_desc_at(p);

	if (!d || pp_state(d) != PP_PG_USED)
		pp_bad_free_slow(fn, p, 0);
	if (!load_relaxed(&d->span)) {
		pp_msg("%s(%p): not the start of a block from malloc (a page inside one, "
		       "or a block from pp_alloc_pages())", fn, p);
		pp_os_abort();
	}
	return d;
}

/* Check every block of the run at @p before anything is written. */
static size_t validate_run(const char *fn, const void *p)
{
	struct pp_desc *d = run_head(fn, p);
	size_t n = load_relaxed(&d->span), idx = pp_index(p);

	if (load_relaxed(&d->order) != piece_order(idx, idx + n))
		pp_bad_free_slow(fn, p, piece_order(idx, idx + n));
	/* The first block carries the span; the others are plain blocks. */
	for_each_piece(i, idx + ((size_t)1 << piece_order(idx, idx + n)), idx + n)
		pp_validate(fn, pp_addr(i), piece_order(i, idx + n));
	return n;
}

/**
 * pp_exact_pages() - the page count of the run starting at @p.
 * @fn: the caller, named in the report of a bad pointer.
 *
 * Context: no lock, no system call.  Aborts with a message naming @fn when
 * @p does not start a live run.
 */
size_t pp_exact_pages(const char *fn, const void *p)
{
	return validate_run(fn, p);
}

/* Free the validated run of @n pages at @p. */
static void free_run(void *p, size_t n)
{
	size_t idx = pp_index(p);

	pp_track_in(p, n << pp_g.page_shift);
	store_relaxed(&pp_g.desc[idx].span, 0);
	free_pieces(n, idx, idx + n);
}

/**
 * pp_exact_free() - free the run starting at @p.
 * @fn: the caller, named in the report of a bad pointer.
 *
 * Context: as pp_free_pages(): never blocks, no system call.
 */
void pp_exact_free(const char *fn, void *p)
{
	free_run(p, validate_run(fn, p));
}

/**
 * pp_exact_run_slow() - a free of a run's start reached the core (alloc.c):
 * its descriptor's span kept it off the fast path.  The core's one call up
 * into this file: the core knows that a run is there, not how it is cut.
 * @fn: the caller, named in the report of a bad pointer.
 * @free: free the run; else only validate it (a bulk free, before it
 *        writes anything).
 *
 * Context: as pp_free_pages(): never blocks, no system call.  Aborts with a
 * message naming @fn when @p does not start a live run.
 * Return: the run's page count.
 */
size_t pp_exact_run_slow(const char *fn, void *p, bool free)
{
	size_t n = validate_run(fn, p);

	if (free)
		free_run(p, n);
	return n;
}

/**
 * pp_exact_shrink() - give back the pages of a run beyond its first @npages.
 * @fn: the caller, named in the report of a bad pointer.
 * @npages: 1 .. the run's length.
 *
 * Context: as pp_free_pages(): never blocks, no system call.
 */
void pp_exact_shrink(const char *fn, void *p, size_t npages)
{
	size_t n = validate_run(fn, p), idx = pp_index(p);

	if (npages == 0 || npages >= n)
		return;
	/* The new blocks lie inside the old ones: marking them only cuts. */
	mark_range(idx + npages, idx + n);
	mark_range(idx, idx + npages);
	store_relaxed(&pp_g.desc[idx].span, (uint16_t)npages);
	pp_track_resize(p, n << pp_g.page_shift, npages << pp_g.page_shift);
	free_pieces(n, idx + npages, idx + n);
}

/**
 * pp_exact_grow() - extend a run in place to @npages, if the pages right
 * behind it are free on the global lists.
 * @fn: the caller, named in the report of a bad pointer.
 * @npages: the new length, up to PP_EXACT_MAX.
 *
 * Context: takes the global lock (may block); no system call.
 * Return: true when the run now has @npages pages (contents kept); false,
 * with nothing changed, when those pages are not all free there, or when
 * a shim call (pp_tls.yield) gave the lock way to a fork().
 */
bool pp_exact_grow(const char *fn, void *p, size_t npages)
{
	size_t n = validate_run(fn, p), idx = pp_index(p);
	bool entered, ok = false;

	if (npages <= n)
		return npages == n;
	if (npages > PP_EXACT_MAX || !(entered = pp_enter()))
		return false;	/* re-entrant: the lock may be ours already */
	if (!pp_lock_for(0)) {	/* a shim call giving way to fork(): it moves */
		pp_leave();
		return false;
	}
	if (pp_buddy_take_range_locked(idx + n, npages - n)) {
		/* Merges as well as cuts: under the lock, which fork waits for. */
		for (size_t i = idx + 1; i < idx + npages; i++)
			pp_set_state(&pp_g.desc[i], PP_PG_NONE);
		mark_range(idx, idx + npages);
		store_relaxed(&pp_g.desc[idx].span, (uint16_t)npages);
		ok = true;
	}
	pp_unlock();
	if (ok) {
		pp_account(pp_own_cache(), npages - n);
		pp_track_resize(p, n << pp_g.page_shift, npages << pp_g.page_shift);
	}
	pp_leave();
	return ok;
}
