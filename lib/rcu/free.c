/* SPDX-License-Identifier: MIT */
/*
 * free.c - the queueing entry points: pp_rcu_free() and pp_rcu_free_head().
 *
 * Owns: validating a pointer, appending it to this thread's block (the
 * common path: plain loads and stores, see rcu-internal.h), handing a full
 * block to ppr_seal() (reclaim.c) and, when the helper thread is
 * PPR_HELP_BLOCKS behind, helping it (pp_rcu_free() only), and the
 * fallbacks when no block can be had without blocking:
 * the object's own rcu_head (two-argument form) or waiting for a grace
 * period (single-argument form), as the kernel's kvfree_rcu() does.
 */
#include "config.h"

#include <string.h>

#include "rcu-internal.h"

_Static_assert(sizeof(struct ppr_hnode) <= sizeof(struct rcu_head),
	       "the fallback node must fit in a struct rcu_head");

/*
 * Before anything is written: the library is initialised, and a pool
 * pointer is the first page of an allocated block.  Return: its order, or
 * -1 for a heap pointer.
 */
static inline int validate(const char *fn, const void *ptr)
{
	int order;

	ppr_check_init(fn);
	if (!pp_owns(ptr))
		return -1;
	order = pp_block_order(ptr);
	if (unlikely(order < 0))
		ppr_die("%s(%p): a pool address that is not an allocated block "
			"(interior page, already free, or never handed out)", fn, ptr);
	return order;
}

/*
 * The two-argument fallback: the object's rcu_head carries it (link and
 * pointer, copied in with memcpy: the head's own type is liburcu's).  The
 * monitor frees the list after a grace period.  Never blocks.
 */
static void queue_head(void *ptr, struct rcu_head *head)
{
	struct ppr_hnode node = { .ptr = ptr };
	struct rcu_head *old = load_relaxed(&ppr.heads);

	do {
		node.next = old;
		memcpy(head, &node, sizeof(node));
	} while (!__atomic_compare_exchange_n(&ppr.heads, &old, head, true,
					      __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
	ppr_monitor_kick();
}

/*
 * The single-argument fallback: a block from a blocking allocation (the pool
 * lock and mmap never wait for a grace period, so this is safe even inside a
 * read-side section), else wait for a grace period and free @ptr now.
 */
static struct ppr_block *wait_or_block(struct ppr_thread *t, void *ptr)
{
	struct ppr_block *b;

	if (t && (b = ppr_block_get_slow(t, 0)))
		return b;
	if (ppr.flavor->read_ongoing())
		ppr_die("pp_rcu_free(%p): no block for the pointer and called inside an "
			"RCU read-side critical section (or, with urcu-qsbr, while online): "
			"waiting for a grace period here would deadlock; use "
			"pp_rcu_free_head() in read-side sections", ptr);
	/*
	 * Not busy while waiting: a taker (pp_rcu_barrier()) waiting for us
	 * would hold up readers spinning in ppr_own(), and so our grace period.
	 * Nothing of ours is in flight: cur is EMPTY and only we fill it.
	 */
	if (t)
		ppr_unown(t);
	ppr.flavor->update_synchronize_rcu();
	if (t)
		ppr_own(t);
	ppr_free_now("pp_rcu_free", ptr);
	return NULL;
}

/* A fresh block for @t, now counted as partly filled; NULL: fell back. */
static struct ppr_block *start_block_slow(struct ppr_thread *t, void *ptr,
					  struct rcu_head *head)
{
	struct ppr_block *b = t ? ppr_block_get_slow(t, PP_NOWAIT) : NULL;

	if (!b) {
		if (head) {
			queue_head(ptr, head);
			return NULL;
		}
		b = wait_or_block(t, ptr);
		if (!b)
			return NULL;
	}
	store_relaxed(&t->cur_birth, ppr_now_ms());
	__atomic_fetch_add(&ppr.partials, 1, __ATOMIC_SEQ_CST);
	ppr_monitor_kick_if_idle();
	return b;
}

/*
 * Queue a validated pointer (@head: the two-argument form's, or NULL; @order:
 * its pool block's, or -1 for a heap object).
 */
static void queue(void *ptr, struct rcu_head *head, int order)
{
	struct ppr_thread *t = ppr_self;
	struct ppr_block *b;
	bool help = false;

	if (unlikely(!t)) {
		t = ppr_thread_slow();		/* NULL: exiting, or no memory */
		if (!t) {
			start_block_slow(NULL, ptr, head);	/* a fallback */
			return;
		}
	}
	ppr_own(t);
	b = load_relaxed(&t->cur);
	if (unlikely(b == PPR_EMPTY)) {
		b = start_block_slow(t, ptr, head);
		if (!b) {
			ppr_unown(t);
			return;			/* queued through @head, or freed */
		}
		store_release(&t->cur, b);		/* after cur_birth, for the monitor */
	}
	b->ptrs[b->count++] = ptr;
	if (order >= 0)
		b->pages += 1u << order;
	if (unlikely(b->count == ppr.cap)) {
		help = ppr_seal(t, b);
		__atomic_fetch_sub(&ppr.partials, 1, __ATOMIC_RELAXED);
		store_relaxed(&t->cur, PPR_EMPTY);
	}
	if (load_relaxed(&t->drain) || load_relaxed(&t->expired))
		ppr_drain_one(t);		/* one in, one out */
	ppr_unown(t);
	if (unlikely(help) && !head)
		ppr_help_slow();		/* pp_rcu_free may wait; _head never */
}

PP_API void pp_rcu_free(void *ptr)
{
	if (!ptr)
		return;
	queue(ptr, NULL, validate("pp_rcu_free", ptr));
}

PP_API void pp_rcu_free_head(void *ptr, struct rcu_head *head)
{
	int order;

	if (!ptr)
		return;
	order = validate("pp_rcu_free_head", ptr);
	if (!head || (char *)head < (char *)ptr)
		ppr_die("pp_rcu_free_head(%p, %p): the rcu_head must lie inside the object",
			ptr, (void *)head);
	if (order >= 0 && (size_t)((char *)(head + 1) - (char *)ptr) > (pp_page_size() << order))
		ppr_die("pp_rcu_free_head(%p, %p): the rcu_head lies beyond the block (order %d)",
			ptr, (void *)head, order);
	queue(ptr, head, order);
}
