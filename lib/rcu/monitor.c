/* SPDX-License-Identifier: MIT */
/*
 * monitor.c - the helper thread that bounds how long a pointer waits, and
 * how much waits.
 *
 * Owns: handing on partly filled blocks once they are rcu_delay_ms / 2 old,
 * blocks of exited threads, objects queued through their own rcu_head, and
 * full blocks past rcu_inflight (ppr_seal()); each round takes all of that,
 * waits for one grace period, and frees it (full blocks of live threads go
 * back to them, as a callback sends them).  It also frees the expired
 * blocks of threads that have not come for them (reclaim.c).  A caller that
 * may wait helps when it falls behind (ppr_help_slow()).
 *
 * Why a thread of our own: liburcu's call_rcu machinery has no timer, and a
 * callback that re-queues itself to poll would force a grace period every
 * few milliseconds for as long as anything is queued.  This thread sleeps on
 * a semaphore while no block is partly filled, so an idle process pays
 * nothing; a new partly filled block wakes it only from its untimed sleep,
 * full blocks past rcu_inflight and rcu_head fallbacks wake it at once.  It
 * is started by the first call that has work for it (in a fork child, by the
 * fork handler when work was inherited).  It never registers with the
 * flavour: it only calls synchronize_rcu(), which any thread may, watched
 * for stalls (stall.c).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "rcu-internal.h"

/* While the owner of a slot is between its exchange and its store. */
void ppr_pause_briefly(void)
{
	struct timespec ts = { 0, 50 * 1000 };	/* not sched_yield(): see RT */

	nanosleep(&ts, NULL);
}

/* Is the time @at past?  Else note it in *@due_min. */
static bool past(uint64_t at, uint64_t now, uint64_t *due_min)
{
	if (at <= now)
		return true;
	*due_min = *due_min && *due_min < at ? *due_min : at;
	return false;
}

/*
 * Is @t's current block or drain list one to take now (anything with
 * @force)?  A drain list is taken when its owner has not freed it within
 * rcu_delay_ms / 2 (it frees one pointer per call: a slow caller).
 */
static bool due(struct ppr_thread *t, bool force, uint64_t now, uint64_t *due_min)
{
	uint64_t half = ppr.delay_ms / 2;
	bool cur_due = false, drain_due = false;

	if (force)
		return true;		/* a barrier also waits for a call in progress */
	if (load_acquire(&t->cur) != PPR_EMPTY)
		cur_due = past(load_relaxed(&t->cur_birth) + half, now, due_min);
	if (load_relaxed(&t->drain))
		drain_due = past(load_relaxed(&t->drain_at) + half, now, due_min);
	return cur_due || drain_due;
}

/* Has @t left its expired blocks for rcu_delay_ms / 2?  Else note when. */
static bool expired_due(struct ppr_thread *t, uint64_t now, uint64_t *due_min)
{
	uint64_t at;

	if (!load_relaxed(&t->expired))
		return false;
	at = load_relaxed(&t->expired_at) + ppr.delay_ms / 2;
	if (at <= now)
		return true;
	*due_min = *due_min && *due_min < at ? *due_min : at;
	return false;
}

/*
 * Take the current blocks and drain lists of the threads marked in @steal
 * (see rcu-internal.h): one asymmetric fence for all of them, then each
 * owner is waited for (@force) or skipped while busy.  Current blocks are
 * returned (they need a grace period), drain lists go to *@drained (past
 * theirs).  Caller holds ppr.lock.
 */
static struct ppr_block *take_marked(bool force, uint64_t now, uint64_t *due_min,
				     struct ppr_block **drained)
{
	struct ppr_block *taken = NULL, *b, *last;
	struct ppr_thread *t;

	ppr_fence_others();
	cds_list_for_each_entry(t, &ppr.threads, link) {
		if (!load_relaxed(&t->steal))
			continue;
		while (ppr_is_busy(t)) {
			if (!force) {
				*due_min = now + 1;	/* appending: look again soon */
				goto next;
			}
			ppr_pause_briefly();
		}
		b = load_relaxed(&t->cur);
		if (b != PPR_EMPTY) {
			store_relaxed(&t->cur, PPR_EMPTY);
			__atomic_fetch_sub(&ppr.partials, 1, __ATOMIC_RELAXED);
			b->next = taken;
			taken = b;
		}
		b = load_relaxed(&t->drain);
		if (b && (force || load_relaxed(&t->drain_at) + ppr.delay_ms / 2 <= now)) {
			store_relaxed(&t->drain, NULL);
			for (last = b; last->next; last = last->next)
				;
			last->next = *drained;
			*drained = b;
		}
next:
		store_release(&t->steal, 0);
	}
	return taken;
}

/*
 * Take every block that is due (all of them with @force) from the threads'
 * slots, then the hand-off list and the head list, wait for a grace period,
 * and free it all.  The lists are taken after the slots: a thread exiting
 * is busy until its block is on the hand-off list.  *@next gets the time
 * (ms) the next partly filled block is due, or 0 when there is none.
 * Caller holds ppr.work.
 */
void ppr_flush_all_locked(bool force, uint64_t *next)
{
	struct ppr_block *taken = NULL, *expired = NULL, *handed, *b, *last;
	struct rcu_head *heads;
	uint64_t now = ppr_now_ms(), due_min = 0;
	struct ppr_thread *t;
	bool marked = false;

	pthread_mutex_lock(&ppr.lock);
	cds_list_for_each_entry(t, &ppr.threads, link) {
		if (due(t, force, now, &due_min)) {
			ppr_mark_steal(t);
			marked = true;
		}
		/* Expired blocks their thread has not come for (already past a GP). */
		if (!force && expired_due(t, now, &due_min) && (b = ppr_take_expired(t))) {
			for (last = b; last->next; last = last->next)
				;
			last->next = expired;
			expired = b;
		}
	}
	if (marked)
		taken = take_marked(force, now, &due_min, &expired);
	pthread_mutex_unlock(&ppr.lock);
	ppr_reclaim_list(expired);
	/*
	 * Reset before the take: a block pushed after the reset finds 0 and
	 * kicks for itself (ppr_seal()), or follows one that did, whose wake
	 * comes after this round - none waits for a timed wake-up.
	 */
	__atomic_store_n(&ppr.handed, 0, __ATOMIC_SEQ_CST);
	handed = exchange_acq_rel(&ppr.handoff, NULL);
	heads = exchange_acq_rel(&ppr.heads, NULL);
	/* A block counted but not yet in its slot, or expired ones: look again. */
	if (!due_min && (load_relaxed(&ppr.partials) || load_relaxed(&ppr.expired)))
		due_min = now + (ppr.delay_ms / 2 ? ppr.delay_ms / 2 : 1);
	if (next)
		*next = due_min;
	if (!taken && !handed && !heads)
		return;
	for (b = taken; b; b = b->next)
		ppr_gp_queued(b, true);
	ppr_synchronize();		/* watched: said if it stalls */
	while (taken) {
		b = taken;
		taken = b->next;
		ppr_gp_passed(b);
		ppr_reclaim_block(b);
	}
	/*
	 * Handed on: blocks of exited threads (freed here) and full blocks
	 * past rcu_inflight (ppr_seal()), which go back to their live owner as
	 * a callback would send them, to be freed into its own caches.
	 */
	while (handed) {
		b = handed;
		handed = b->next;
		ppr_gp_passed(b);
		if (!ppr_block_expire(b))
			ppr_reclaim_block(b);
	}
	ppr_reclaim_heads(heads);
}

static bool has_work(void)
{
	return __atomic_load_n(&ppr.partials, __ATOMIC_SEQ_CST) ||
	       __atomic_load_n(&ppr.expired, __ATOMIC_SEQ_CST) ||
	       load_relaxed(&ppr.handoff) || load_relaxed(&ppr.heads);
}

static void wait_until(uint64_t next)
{
	struct timespec ts;

	if (!next) {
		/* Announce the untimed sleep, then look once more (see kick). */
		__atomic_store_n(&ppr.monitor_idle, true, __ATOMIC_SEQ_CST);
		if (!has_work())
			while (sem_wait(&ppr.wake) && errno == EINTR)
				;
		__atomic_store_n(&ppr.monitor_idle, false, __ATOMIC_SEQ_CST);
		return;
	}
	ts.tv_sec = (time_t)(next / 1000);
	ts.tv_nsec = (long)(next % 1000) * 1000000L;
	/* The monotonic clock: stepping the wall clock does not stretch the bound. */
	while (sem_clockwait(&ppr.wake, CLOCK_MONOTONIC, &ts) && errno == EINTR)
		;
}

static void *monitor_main(void *arg)
{
	uint64_t next = 0;

	(void)arg;
	for (;;) {
		wait_until(next);
		pthread_mutex_lock(&ppr.work);
		ppr_flush_all_locked(false, &next);
		pthread_mutex_unlock(&ppr.work);
	}
	return NULL;
}

int ppr_monitor_start(void)
{
	pthread_attr_t attr;
	pthread_t thread;
	sigset_t all, old;
	int err = 0;

	if (load_acquire(&ppr.monitor_running))
		return 0;
	pthread_mutex_lock(&ppr.start_lock);
	if (!ppr.monitor_running) {
		/* The helper takes no signal meant for the program's threads. */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		err = pthread_create(&thread, &attr, monitor_main, NULL);
		pthread_attr_destroy(&attr);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (err)
			ppr_msg("cannot start the helper thread: %s; partly filled blocks "
				"wait for pp_rcu_barrier() or a later call", ppr_errname(err));
		else
			store_release(&ppr.monitor_running, true);
	}
	pthread_mutex_unlock(&ppr.start_lock);
	return err ? -1 : 0;
}

/*
 * ppr_help_slow() - the monitor has fallen behind on full blocks past
 * rcu_inflight (it competes for the CPU with the threads that make them):
 * a pp_rcu_free() caller outside any read-side section (with urcu-qsbr:
 * offline) does a round of its work itself, as the kernel's direct reclaim
 * helps kswapd.  Blocks for a grace period.
 */
void ppr_help_slow(void)
{
	if (!ppr_may_wait())
		return;		/* in a read-side section (qsbr: online): the helper will */
	pthread_mutex_lock(&ppr.work);
	ppr_flush_all_locked(false, NULL);
	pthread_mutex_unlock(&ppr.work);
}

/* Work has arrived that should not wait: wake the monitor, starting it. */
void ppr_monitor_kick(void)
{
	if (unlikely(!load_acquire(&ppr.monitor_running)) && ppr_monitor_start())
		return;
	sem_post(&ppr.wake);
}

/*
 * A new partly filled block (the caller has counted it in ppr.partials,
 * sequentially consistent): the monitor needs waking only from its untimed
 * sleep; while it sleeps timed, the new block is due after the ones it
 * knows.  Pairs with wait_until(): one of the two sees the other's store.
 */
void ppr_monitor_kick_if_idle(void)
{
	if (!load_acquire(&ppr.monitor_running) ||
	    __atomic_load_n(&ppr.monitor_idle, __ATOMIC_SEQ_CST))
		ppr_monitor_kick();
}

/* Fork child: the helper is gone (ppr.work was held across the fork). */
void ppr_monitor_atfork_child(void)
{
	sem_destroy(&ppr.wake);
	sem_init(&ppr.wake, 0, 0);
	ppr.monitor_running = false;
	ppr.monitor_idle = false;
}
