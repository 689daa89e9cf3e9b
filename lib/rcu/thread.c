/* SPDX-License-Identifier: MIT */
/*
 * thread.c - per-thread queueing state and its supply of empty blocks.
 *
 * Owns: making (or reusing) a thread's state, the spare blocks a thread
 * keeps so that the common case allocates nothing, the return of emptied
 * blocks to their owner, the hand-on of a partly filled block at thread
 * exit, and the orphaned states of a fork child.
 */
#include "config.h"

#include <stdlib.h>

#include "rcu-internal.h"

__thread struct ppr_thread *ppr_self __attribute__((tls_model("initial-exec")));
__thread bool ppr_exited __attribute__((tls_model("initial-exec")));

/*
 * A state for this thread: one whose thread exited, or a new one.  NULL when
 * the thread is exiting or no memory can be had (the callers fall back).
 */
struct ppr_thread *ppr_thread_slow(void)
{
	struct ppr_thread *t = NULL, *it;

	if (ppr_exited)
		return NULL;
	pthread_mutex_lock(&ppr.lock);
	cds_list_for_each_entry(it, &ppr.threads, link)
		if (load_acquire(&it->reusable)) {	/* its exit is over and visible */
			store_relaxed(&it->reusable, false);
			t = it;
			break;
		}
	if (!t) {
		/* calloc, not a pool page: a state is small and never freed. */
		t = calloc(1, sizeof(*t));
		if (t) {
			t->cur = PPR_EMPTY;
			cds_list_add(&t->link, &ppr.threads);
		}
	}
	if (t)
		store_relaxed(&t->alive, true);
	pthread_mutex_unlock(&ppr.lock);
	if (t) {
		ppr_self = t;
		pthread_setspecific(ppr.key, t);	/* arms ppr_thread_exit() */
	}
	return t;
}

static void free_list(struct ppr_block *b)
{
	while (b) {
		struct ppr_block *next = b->next;

		pp_free_page(b);
		b = next;
	}
}

/* Give back every block on @t's returned list. */
static void drain_returned(struct ppr_thread *t)
{
	struct ppr_block *b = exchange_acq_rel(&t->returned, NULL);

	while (b) {
		struct ppr_block *next = b->next;

		__atomic_fetch_sub(&t->nreturned, 1, __ATOMIC_RELAXED);
		pp_free_page(b);
		b = next;
	}
}

/* Keep an empty block as one of @t's spares, or give it back to the pool. */
void ppr_keep_spare(struct ppr_thread *t, struct ppr_block *b)
{
	if (t->nspare < ppr.spares) {
		b->next = t->spare;
		t->spare = b;
		t->nspare++;
	} else {
		pp_free_page(b);
	}
}

/*
 * An empty block for @t: a spare, the head of its drain list or one of its
 * expired blocks (whose remaining pointers it frees now, into its own
 * caches), a returned one, or a pool page.  Called owning @t (busy), so
 * pp_rcu_barrier() waits for the frees.
 */
struct ppr_block *ppr_block_get_slow(struct ppr_thread *t, unsigned flags)
{
	struct ppr_block *b, *r, *next;

	if ((b = t->spare)) {
		t->spare = b->next;
		t->nspare--;
	} else if ((b = load_relaxed(&t->drain))) {
		store_relaxed(&t->drain, b->next);
		ppr_reclaim_contents(b);
	} else if ((b = ppr_take_expired(t))) {
		if (b->next) {		/* the rest is drained call by call */
			store_relaxed(&t->drain_at, ppr_now_ms());
			store_relaxed(&t->drain, b->next);
		}
		ppr_reclaim_contents(b);
	} else if ((b = exchange_acq_rel(&t->returned, NULL))) {
		/* Keep up to rcu_spares of them (one is about to be used). */
		__atomic_fetch_sub(&t->nreturned, 1, __ATOMIC_RELAXED);
		for (r = b->next; r; r = next) {
			next = r->next;
			__atomic_fetch_sub(&t->nreturned, 1, __ATOMIC_RELAXED);
			ppr_keep_spare(t, r);
		}
	} else if (ppr.blocks) {
		b = pp_alloc_page(flags);
	}
	if (b) {
		b->owner = t;
		b->count = 0;
		b->sealed = 0;
		b->pages = 0;
		b->next = NULL;
	}
	return b;
}

/* Take @t's expired blocks (their pointers still to be freed). */
struct ppr_block *ppr_take_expired(struct ppr_thread *t)
{
	struct ppr_block *b = load_relaxed(&t->expired) ? exchange_acq_rel(&t->expired, NULL) : NULL;
	size_t n = 0;

	for (struct ppr_block *r = b; r; r = r->next)
		n++;
	if (n)
		__atomic_fetch_sub(&ppr.expired, n, __ATOMIC_RELAXED);
	return b;
}

/*
 * Grace period over: hand @b back to its thread to free (see reclaim.c).
 * False when the thread has exited: the caller frees it.
 */
bool ppr_block_expire(struct ppr_block *b)
{
	struct ppr_thread *t = b->owner;

	if (!t || !__atomic_load_n(&t->alive, __ATOMIC_SEQ_CST))
		return false;
	__atomic_fetch_add(&ppr.expired, 1, __ATOMIC_SEQ_CST);
	if (!load_relaxed(&t->expired))
		store_relaxed(&t->expired_at, ppr_now_ms());
	ppr_push(&t->expired, b, next);
	/* The owner may have exited between the check and the push. */
	if (!__atomic_load_n(&t->alive, __ATOMIC_SEQ_CST)) {
		/* Counted before the take: pp_rcu_barrier() waits for it. */
		__atomic_fetch_add(&ppr.reclaiming, 1, __ATOMIC_SEQ_CST);
		ppr_reclaim_list(ppr_take_expired(t));
		__atomic_fetch_sub(&ppr.reclaiming, 1, __ATOMIC_RELEASE);
	}
	ppr_monitor_kick_if_idle();	/* a quiet owner may never take it */
	return true;
}

/* An emptied block goes back to its owner, or to the pool. */
void ppr_block_put(struct ppr_block *b)
{
	struct ppr_thread *t = b->owner;

	if (!t || !load_acquire(&t->alive)) {
		pp_free_page(b);
		return;
	}
	if (__atomic_add_fetch(&t->nreturned, 1, __ATOMIC_RELAXED) > ppr.spares) {
		__atomic_fetch_sub(&t->nreturned, 1, __ATOMIC_RELAXED);
		pp_free_page(b);		/* the owner has enough */
		return;
	}
	ppr_push(&t->returned, b, next);
	/* The owner may have exited between the check and the push. */
	if (!__atomic_load_n(&t->alive, __ATOMIC_SEQ_CST))
		drain_returned(t);
}

/* Thread exit: hand on the partly filled block, give back the empty ones. */
void ppr_thread_exit(void *arg)
{
	struct ppr_thread *t = arg;
	struct ppr_block *b;

	ppr_own(t);
	b = load_relaxed(&t->cur);
	ppr_exited = true;
	ppr_self = NULL;
	if (b != PPR_EMPTY) {
		store_relaxed(&t->cur, PPR_EMPTY);	/* before the push: never in two places */
		ppr_gp_queued(b, true);
		ppr_push(&ppr.handoff, b, next);
		__atomic_fetch_sub(&ppr.partials, 1, __ATOMIC_RELAXED);
		ppr_monitor_kick();
	}
	/*
	 * Every list is unlinked before what it held is freed: another thread
	 * may fork meanwhile (liburcu allows it once this thread unregistered),
	 * and the child gives back whatever the state still links
	 * (ppr_threads_atfork_child()) - it must not find a block freed here.
	 */
	b = t->spare;
	t->spare = NULL;
	t->nspare = 0;
	free_list(b);
	/* See ppr_block_put() and ppr_block_expire(): after this, no more come. */
	__atomic_store_n(&t->alive, false, __ATOMIC_SEQ_CST);
	drain_returned(t);
	b = ppr_take_expired(t);		/* onto the drain list, freed a block at a time */
	if (b) {
		struct ppr_block *last = b;

		while (last->next)
			last = last->next;
		last->next = load_relaxed(&t->drain);
		store_relaxed(&t->drain, b);
	}
	while ((b = load_relaxed(&t->drain))) {
		store_relaxed(&t->drain, b->next);
		ppr_reclaim_block(b);
	}
	ppr_unown(t);
	store_release(&t->reusable, true);		/* last: a new thread may take it */
}

/*
 * Fork child: every state but this thread's lost its thread (or its exit).
 * Their partly filled blocks are handed on (what another thread held in a
 * local variable at the instant of the fork is lost to the child, never
 * freed twice) and they become reusable.
 */
void ppr_threads_atfork_child(void)
{
	struct ppr_thread *t;
	struct ppr_block *b;

	cds_list_for_each_entry(t, &ppr.threads, link) {
		if (t == ppr_self)
			continue;
		b = t->cur;
		t->cur = PPR_EMPTY;
		/* Sealed: in call_rcu() (liburcu's fork hooks carry it) or on handoff. */
		if (b != PPR_EMPTY && !b->sealed) {
			ppr_gp_queued(b, false);
			b->next = ppr.handoff;
			ppr.handoff = b;
		}
		t->busy = 0;			/* its thread may have been in a call */
		t->steal = 0;
		free_list(t->spare);
		t->spare = NULL;
		t->nspare = 0;
		t->alive = false;
		free_list(t->returned);
		t->returned = NULL;
		t->nreturned = 0;
		while ((b = t->expired) || (b = t->drain)) {	/* an extra grace period is harmless */
			if (b == t->expired)
				t->expired = b->next;
			else
				t->drain = b->next;
			ppr_gp_queued(b, false);
			b->next = ppr.handoff;
			ppr.handoff = b;
		}
		t->reusable = true;		/* inflight stays: liburcu carries the callbacks */
	}
	/* Counted afresh: other threads may have been between count and slot. */
	ppr.partials = ppr_self && ppr_self->cur != PPR_EMPTY;
	ppr.handed = 0;		/* the next push past rcu_inflight kicks the helper */
	ppr.reclaiming = 0;	/* a callback freeing an exited thread's blocks is gone */
	ppr.expired = 0;
	if (ppr_self) {		/* a put in flight at the fork may have counted */
		ppr_self->nreturned = 0;
		for (b = ppr_self->returned; b; b = b->next)
			ppr_self->nreturned++;
		for (b = ppr_self->expired; b; b = b->next)
			ppr.expired++;
	}
}
