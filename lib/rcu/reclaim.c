/* SPDX-License-Identifier: MIT */
/*
 * reclaim.c - what happens after the grace period: pointers are freed.
 *
 * Owns: handing a full block to call_rcu() and its callback (or, past
 * rcu_inflight, to the monitor), freeing one
 * pointer by its origin (pool block of any order, or C-library heap), and
 * freeing a block's pointers in bulk: order-0 pool pages go back through
 * pp_free_pages_bulk() in groups, heap pointers to free().
 *
 * Where: the callback does not free a block's pointers itself when the
 * block's thread is alive.  It hands the block back to that thread
 * (ppr_thread.expired), which frees them one per call (ppr_drain_one()):
 * pool pages then land in its own page cache for its next pp_alloc_page(),
 * and heap pointers in its own malloc cache, instead of being freed on
 * liburcu's callback thread.  A thread that has gone
 * quiet has its expired blocks freed by the monitor (rcu_delay_ms / 2), an
 * exited one by the callback itself.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <urcu/compiler.h>

#include "rcu-internal.h"

#define BULK	64	/* order-0 pages freed per pp_free_pages_bulk() call */
#define AHEAD	8	/* pointers prefetched ahead: a heap free reads a header */
#define DRAIN_AHEAD 16	/* pointers prefetched ahead by ppr_drain_one() */

static PP_NORETURN void not_queued(const char *fn, void *ptr)
{
	ppr_die("%s(%p): the block was freed while queued for RCU "
		"(queued twice, or freed directly)", fn, ptr);
}

void ppr_free_now(const char *fn, void *ptr)
{
	int order;

	if (!pp_owns(ptr)) {
		free(ptr);
		return;
	}
	order = pp_block_order(ptr);
	if (order < 0)
		not_queued(fn, ptr);
	/*
	 * Order 0 through pp_free_page(): its descriptor check compares with
	 * a constant, where pp_free_pages() builds the key of a variable order
	 * on the stack and reloads it (a store-forwarding stall per page).
	 */
	if (!order)
		pp_free_page(ptr);
	else
		pp_free_pages(ptr, (unsigned)order);
}

/* Free the pointers of a block whose grace period has passed. */
void ppr_reclaim_contents(struct ppr_block *b)
{
	void *pages[BULK];
	size_t n = 0;
	uint32_t count = b->count;

	for (uint32_t i = 0; i < count; i++) {
		void *p = b->ptrs[i];

		if (!pp_owns(p)) {
			if (i + AHEAD < count)	/* free() reads the chunk header */
				__builtin_prefetch((char *)b->ptrs[i + AHEAD] - 16);
			free(p);
			continue;
		}
		int order = pp_block_order(p);

		if (order < 0)
			not_queued("pp_rcu_free", p);
		if (order) {
			pp_free_pages(p, (unsigned)order);
			continue;
		}
		pages[n++] = p;
		if (n == BULK) {
			pp_free_pages_bulk(n, pages);
			n = 0;
		}
	}
	if (n)
		pp_free_pages_bulk(n, pages);
	b->count = 0;
}

void ppr_reclaim_block(struct ppr_block *b)
{
	ppr_reclaim_contents(b);
	ppr_block_put(b);
}

/*
 * Free one pointer of this thread's drain list (its expired blocks), so
 * that frees keep pace with the queueing one for one: the freed page or
 * chunk is on top of the thread's cache for its next allocation, instead
 * of ~500 arriving at once and overflowing it (glibc's per-thread cache
 * holds 7 chunks per size).  Exactly one: freeing two per call while a
 * backlog waits was measured 4x slower for 64-byte heap objects, every
 * second free overflowing that cache.  A backlog still shrinks each time
 * the thread needs a block (ppr_block_get_slow() frees a whole one) and
 * the monitor takes what waits longer than rcu_delay_ms / 2.
 *
 * The drain order is known in advance, so the object DRAIN_AHEAD frees on
 * is prefetched: the page (or chunk) freed now is handed out by the very
 * next allocation, too soon for a prefetch of its own, and at full speed
 * the pages in flight span ~1 GB, so each comes back cold, its TLB entry
 * long gone (pp-rcu-bench, page: ~4 ns of the ~25 ns the thread spends in
 * user mode per page).  Caller owns @t (busy).
 */
void ppr_drain_one(struct ppr_thread *t)
{
	struct ppr_block *d = load_relaxed(&t->drain);

	if (!d) {
		d = ppr_take_expired(t);
		if (!d)
			return;
		store_relaxed(&t->drain_at, ppr_now_ms());
		store_relaxed(&t->drain, d);
	}
	if (d->count) {
		uint32_t c = --d->count;

		if (c >= DRAIN_AHEAD)
			__builtin_prefetch(d->ptrs[c - DRAIN_AHEAD], 1);
		ppr_free_now("pp_rcu_free", d->ptrs[c]);
	}
	if (!d->count) {
		store_relaxed(&t->drain, d->next);
		ppr_keep_spare(t, d);
	}
}

/* Reclaim a list of blocks linked through ->next. */
void ppr_reclaim_list(struct ppr_block *b)
{
	while (b) {
		struct ppr_block *next = b->next;

		ppr_reclaim_block(b);
		b = next;
	}
}

/* Objects queued through their own rcu_head (struct ppr_hnode inside). */
void ppr_reclaim_heads(struct rcu_head *h)
{
	while (h) {
		struct ppr_hnode node;

		memcpy(&node, h, sizeof(node));		/* see free.c: queue_head() */
		ppr_free_now("pp_rcu_free_head", node.ptr);
		h = node.next;
	}
}

static void block_cb(struct rcu_head *head)
{
	struct ppr_block *b = caa_container_of(head, struct ppr_block, head);

	(void)load_acquire(&b->sealed);		/* pairs with ppr_seal() */
	ppr_gp_passed(b);
	if (b->pages)
		__atomic_fetch_sub(&b->owner->inflight, (long)b->pages, __ATOMIC_RELAXED);
	if (!ppr_block_expire(b))
		ppr_reclaim_block(b);		/* its thread has exited */
}

/*
 * ppr_seal() - a full block of @t: one call_rcu(), unless @t already has
 * rcu_inflight bytes of pool pages waiting for liburcu's callbacks.
 * liburcu's callback thread runs a batch every ~10 ms, so a thread freeing
 * pages at full speed keeps rate x 10 ms of them in flight, each one
 * faulted in (doc/rcu.md); past the limit the block goes to the
 * monitor instead, which waits for grace periods back to back (monitor.c),
 * so what is in flight stays bounded.  Never blocks; the caller owns @t
 * and is an RCU-registered thread.  Return: the monitor has fallen
 * PPR_HELP_BLOCKS behind, and a caller that may wait should help it
 * (ppr_help_slow()).
 */
bool ppr_seal(struct ppr_thread *t, struct ppr_block *b)
{
	long pages = (long)b->pages;

	store_release(&b->sealed, 1);	/* a fork child leaves it where it goes */
	ppr_gp_queued(b, true);		/* and says so if grace periods stall */
	if (pages && ppr.inflight_max &&
	    load_relaxed(&t->inflight) + pages > ppr.inflight_max) {
		size_t n;

		ppr_push(&ppr.handoff, b, next);
		n = __atomic_add_fetch(&ppr.handed, 1, __ATOMIC_SEQ_CST);
		if (n == 1)		/* the first since the monitor took the list */
			ppr_monitor_kick();
		return n >= PPR_HELP_BLOCKS;
	}
	if (pages)
		__atomic_fetch_add(&t->inflight, pages, __ATOMIC_RELAXED);
	ppr.flavor->update_call_rcu(&b->head, block_cb);
	return false;
}
