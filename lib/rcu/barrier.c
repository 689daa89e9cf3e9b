/* SPDX-License-Identifier: MIT */
/*
 * barrier.c - pp_rcu_barrier(), and the rules for a call that waits.
 *
 * Owns: when a thread may wait for a grace period.  Inside a read-side
 * critical section it may not (it would wait for itself); a urcu-qsbr
 * thread that is merely online is taken offline for a wait it needs, as
 * liburcu's own synchronize_rcu() and rcu_barrier() do; for an optional
 * wait (helping the monitor, ppr_may_wait()) it does not wait at all.
 */
#include "config.h"

#include "rcu-internal.h"

/*
 * Before waiting: true when the caller was an online qsbr thread (now
 * offline).  Inside a read-side section it reports @fn and aborts.
 */
bool ppr_wait_enter(const char *fn, const void *ptr)
{
	const struct rcu_flavor_struct *f = ppr.flavor;

	if (!f->read_ongoing())
		return false;
	f->thread_offline();		/* qsbr: online is not a read-side section */
	if (!f->read_ongoing())
		return true;
	f->thread_online();
	ppr_die("%s(%p): called inside an RCU read-side critical section: waiting "
		"for a grace period here would deadlock", fn, ptr);
}

/*
 * For an optional wait: true only when read_ongoing() is false.  Unlike
 * ppr_wait_enter() it never takes an online urcu-qsbr thread offline: the
 * caller did not ask to wait, and going offline would end the read-side
 * section an online qsbr thread is in (pointers it holds could be freed).
 */
bool ppr_may_wait(void)
{
	return !ppr.flavor->read_ongoing();
}

void ppr_wait_leave(bool was_online)
{
	if (was_online)
		ppr.flavor->thread_online();
}

/*
 * After the flavour's barrier every block is past its grace period: free
 * those still on their threads' expired lists - waiting for a thread that
 * is freeing its own (busy meanwhile), and for a callback freeing an exited
 * thread's (ppr.reclaiming).  Each thread is held off only while its list is
 * taken.
 */
static void free_expired(void)
{
	struct ppr_block *all = NULL, *b, *last;
	struct ppr_thread *t;

	pthread_mutex_lock(&ppr.work);	/* the monitor may be freeing some */
	pthread_mutex_lock(&ppr.lock);
	cds_list_for_each_entry(t, &ppr.threads, link)
		ppr_mark_steal(t);
	ppr_fence_others();
	cds_list_for_each_entry(t, &ppr.threads, link) {
		while (ppr_is_busy(t))
			ppr_pause_briefly();
		for (int i = 0; i < 2; i++) {	/* its expired list and its drain list */
			if (i == 0) {
				b = ppr_take_expired(t);
			} else {
				b = load_relaxed(&t->drain);
				store_relaxed(&t->drain, NULL);
			}
			if (b) {
				for (last = b; last->next; last = last->next)
					;
				last->next = all;
				all = b;
			}
		}
		store_release(&t->steal, 0);
	}
	pthread_mutex_unlock(&ppr.lock);
	ppr_reclaim_list(all);
	pthread_mutex_unlock(&ppr.work);
	while (__atomic_load_n(&ppr.reclaiming, __ATOMIC_SEQ_CST))
		ppr_pause_briefly();
}

PP_API void pp_rcu_barrier(void)
{
	bool was_online;

	ppr_check_init("pp_rcu_barrier");
	was_online = ppr_wait_enter("pp_rcu_barrier", NULL);
	/* What the monitor took before us is freed before we get the lock. */
	pthread_mutex_lock(&ppr.work);
	ppr_flush_all_locked(true, NULL);
	pthread_mutex_unlock(&ppr.work);
	ppr.flavor->barrier();		/* every block handed to call_rcu() */
	free_expired();
	ppr_wait_leave(was_online);
}
