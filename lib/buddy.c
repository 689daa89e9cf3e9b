/* SPDX-License-Identifier: MIT */
/*
 * buddy.c - the global free lists: a buddy allocator under one lock, and
 * the lock-free pending-free list.
 *
 * Owns: what pp_g.lock guards (free lists by order, coalescing, the
 * free-page count, the arena's growth into the lists), and the pending list
 * through which a free that cannot get the lock hands its pages over
 * without blocking; whoever next takes the lock absorbs them (lock.c's
 * pp_lock_for()).  Every *_locked function here expects the lock held.
 *
 * The lists are doubly linked through the descriptors by page index (see
 * struct pp_desc).  The pending list is a Treiber stack with push and
 * take-all only, which is ABA-free; it is written here rather than taken
 * from liburcu's lfstack because its links are 32-bit descriptor indices and
 * its atomics must be visible to ThreadSanitizer.
 */
#include "config.h"

#include "internal.h"

static void list_add(unsigned order, size_t idx)
{
	struct pp_desc *d = &pp_g.desc[idx];
	uint32_t h = pp_g.head[order];

	d->next = h;
	d->prev = PP_NIL;
	if (h != PP_NIL)
		pp_g.desc[h].prev = (uint32_t)idx;
	pp_g.head[order] = (uint32_t)idx;
	store_relaxed(&d->order, (uint8_t)order);
	pp_set_state(d, PP_PG_FREE);
}

static void list_del(unsigned order, size_t idx)
{
	struct pp_desc *d = &pp_g.desc[idx];

	if (d->prev != PP_NIL)
		pp_g.desc[d->prev].next = d->next;
	else
		pp_g.head[order] = d->next;
	if (d->next != PP_NIL)
		pp_g.desc[d->next].prev = d->prev;
}

/*
 * pp_buddy_alloc_locked() - take a block of @order from the free lists,
 * splitting a larger one if needed; with flags 0 grow the arena when none is
 * free.  The block's head is left in state USED.  NULL when nothing can be
 * had (errno ENOMEM from a refused growth).
 */
void *pp_buddy_alloc_locked(unsigned order, unsigned flags)
{
	unsigned k;
	size_t idx;

	for (;;) {
		for (k = order; k <= PP_MAX_ORDER; k++)
			if (pp_g.head[k] != PP_NIL)
				break;
		if (k <= PP_MAX_ORDER)
			break;
		if ((flags & (PP_TRY | PP_NOWAIT)) || !pp_buddy_grow_locked(order))
			return NULL;
	}
	idx = pp_g.head[k];
	list_del(k, idx);
	while (k > order) {			/* split: keep the lower half */
		k--;
		list_add(k, idx + ((size_t)1 << k));
	}
	store_relaxed(&pp_g.desc[idx].order, (uint8_t)order);
	pp_set_state(&pp_g.desc[idx], PP_PG_USED);
	free_pages_add(-((size_t)1 << order));
	return pp_addr(idx);
}

/*
 * pp_buddy_alloc_many_locked() - up to @want blocks of @order into @out,
 * each marked @state.  A refill takes its batch this way: each free block
 * found is cut into as many blocks of @order as are wanted at once, and only
 * what is left goes back on the lists, instead of one split down the lists
 * per block.  May grow the arena as pp_buddy_alloc_locked() does, but only
 * while nothing has been taken.  Return: the number of blocks in @out.
 */
size_t pp_buddy_alloc_many_locked(unsigned order, unsigned flags, size_t want,
				  void **out, unsigned state)
{
	size_t got = 0;

	while (got < want) {
		size_t idx, nblocks, take;
		unsigned k;

		for (k = order; k <= PP_MAX_ORDER; k++)
			if (pp_g.head[k] != PP_NIL)
				break;
		if (k > PP_MAX_ORDER) {
			if (got || (flags & (PP_TRY | PP_NOWAIT)) ||
			    !pp_buddy_grow_locked(order))
				break;
			continue;
		}
		idx = pp_g.head[k];
		list_del(k, idx);
		pp_set_state(&pp_g.desc[idx], PP_PG_NONE);
		free_pages_add(-((size_t)1 << k));
		nblocks = (size_t)1 << (k - order);
		take = nblocks < want - got ? nblocks : want - got;
		for (size_t i = 0; i < take; i++) {
			struct pp_desc *d = &pp_g.desc[idx + (i << order)];

			store_relaxed(&d->order, (uint8_t)order);
			pp_set_state(d, state);
			out[got++] = pp_addr(idx + (i << order));
		}
		if (take < nblocks)
			pp_buddy_add_range_locked(idx + (take << order),
						  (nblocks - take) << order);
	}
	return got;
}

/* pp_buddy_free_locked() - return a block and coalesce it with free buddies. */
void pp_buddy_free_locked(size_t idx, unsigned order)
{
	size_t npages = pp_g.committed;

	free_pages_add((size_t)1 << order);
	pp_set_state(&pp_g.desc[idx], PP_PG_NONE);
	while (order < PP_MAX_ORDER) {
		size_t buddy = idx ^ ((size_t)1 << order);
		struct pp_desc *b = &pp_g.desc[buddy];

		if (buddy >= npages || pp_state(b) != PP_PG_FREE ||
		    load_relaxed(&b->order) != order)
			break;
		list_del(order, buddy);
		pp_set_state(b, PP_PG_NONE);	/* merged: no longer a head */
		idx &= ~((size_t)1 << order);
		order++;
	}
	list_add(order, idx);
}

/*
 * pp_buddy_grow_locked() - grow the arena for a block of @order and put
 * the new pages on the lists.  False, errno ENOMEM, when it cannot grow.
 */
bool pp_buddy_grow_locked(unsigned order)
{
	size_t idx, npages;

	if (!pp_arena_grow_locked(order, &idx, &npages))
		return false;
	pp_track_hide(pp_addr(idx), npages << pp_g.page_shift);	/* free: no access */
	pp_buddy_add_range_locked(idx, npages);
	return true;
}

/* Hand [@idx, @idx+@npages) to the lists as maximal aligned blocks. */
void pp_buddy_add_range_locked(size_t idx, size_t npages)
{
	size_t end = idx + npages;

	while (idx < end) {
		unsigned order = PP_MAX_ORDER;

		while (order > 0 && ((idx & (((size_t)1 << order) - 1)) ||
				     idx + ((size_t)1 << order) > end))
			order--;
		free_pages_add((size_t)1 << order);
		list_add(order, idx);
		idx += (size_t)1 << order;
	}
}

/* Take the FREE block at @idx of @order off its list (trim.c). */
void pp_buddy_unlist_locked(size_t idx, unsigned order)
{
	list_del(order, idx);
}

/* The FREE block holding page @i, if there is one. */
static bool free_block_of(size_t i, size_t *head, unsigned *order)
{
	for (unsigned k = 0; k <= PP_MAX_ORDER; k++) {
		size_t h = i & ~(((size_t)1 << k) - 1);
		const struct pp_desc *d = &pp_g.desc[h];

		if (pp_state(d) == PP_PG_FREE && load_relaxed(&d->order) == k) {
			*head = h;
			*order = k;
			return true;
		}
	}
	return false;
}

/*
 * pp_buddy_take_range_locked() - take pages [@idx, @idx + @npages) off the
 * lists if every one of them is free there (the parts of their blocks
 * outside the range go back as aligned blocks); false, with nothing
 * changed, if any is not.  For growing a run in place (exact.c).
 */
bool pp_buddy_take_range_locked(size_t idx, size_t npages)
{
	size_t end = idx + npages, h, bend;
	unsigned k;

	if (end > pp_g.committed)
		return false;
	for (size_t i = idx; i < end; i = h + ((size_t)1 << k))
		if (!free_block_of(i, &h, &k))
			return false;
	for (size_t i = idx; i < end; i = bend) {
		free_block_of(i, &h, &k);
		bend = h + ((size_t)1 << k);
		list_del(k, h);
		pp_set_state(&pp_g.desc[h], PP_PG_NONE);
		free_pages_add(-((size_t)1 << k));
		if (h < idx)
			pp_buddy_add_range_locked(h, idx - h);
		if (bend > end)
			pp_buddy_add_range_locked(end, bend - end);
	}
	return true;
}

/*
 * pp_pending_push() - hand a validated block over without the lock.
 * Lock-free, bounded by contention only; async-signal-safe.
 */
void pp_pending_push(void *p, struct pp_desc *d)
{
	uint32_t idx = (uint32_t)pp_index(p);
	uint32_t head = __atomic_load_n(&pp_g.pending_head, __ATOMIC_RELAXED);

	pp_seen();
	pp_set_state(d, PP_PG_PENDING);
	/* Count first, so the absorber never subtracts before we add. */
	pp_event(pending_pages, (size_t)1 << load_relaxed(&d->order));
	pp_event(pending_frees, 1);
	do {
		d->next = head;
	} while (!__atomic_compare_exchange_n(&pp_g.pending_head, &head, idx, true,
					      __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

void pp_pending_absorb_locked(void)
{
	uint32_t idx;

	if (__atomic_load_n(&pp_g.pending_head, __ATOMIC_RELAXED) == PP_NIL)
		return;
	idx = __atomic_exchange_n(&pp_g.pending_head, PP_NIL, __ATOMIC_ACQUIRE);
	while (idx != PP_NIL) {
		struct pp_desc *d = &pp_g.desc[idx];
		uint32_t next = d->next;
		unsigned order = load_relaxed(&d->order);

		__atomic_fetch_sub(&pp_g.pending_pages, (size_t)1 << order,
				   __ATOMIC_RELAXED);
		pp_buddy_free_locked(idx, order);
		idx = next;
	}
}
