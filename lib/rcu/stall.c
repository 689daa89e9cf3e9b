/* SPDX-License-Identifier: MIT */
/*
 * stall.c - watching grace periods: what waits for one, since when, and a
 * warning when none comes (as the kernel's RCU CPU stall warning).
 *
 * Owns: the count of blocks and pool pages waiting for a grace period, when
 * the current wait began, the stall warning (rcu_stall_ms, rcu_stall_bytes)
 * and pp_rcu_stats().
 *
 * A grace period cannot end while a reader stays inside a read-side
 * critical section - with urcu-qsbr, while a registered thread stays online
 * without a quiescent state - and nothing this library does can shorten
 * it.  The bound that exists: each thread's share in liburcu's call_rcu()
 * queue is rcu_inflight.  The one that does not: blocks past it wait for
 * the helper thread, whose grace period does not end either, so the memory
 * waiting grows with every free; and a pp_rcu_free() caller that helps the
 * helper thread (offline, PPR_HELP_BLOCKS behind) waits until the reader
 * lets go.  So the library says so, once per process, when the wait is
 * older than rcu_stall_ms or the memory waiting passes rcu_stall_bytes, and
 * counts such waits in pp_rcu_stats().
 *
 * Who notices: a thread queueing a block (ppr_gp_queued(), from ppr_seal(),
 * never blocking), and a watch thread that sleeps until the deadline of
 * every grace period the helper thread or a helping caller waits for
 * (ppr_synchronize()), so the warning comes even while every thread that
 * frees is blocked.
 *
 * The counters are signed: in a fork child, callbacks the parent had queued
 * may be carried by liburcu's fork hooks and counted out again; they are
 * read as 0 below 0.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "rcu-internal.h"

static size_t clamp(long v)
{
	return v > 0 ? (size_t)v : 0;
}

/*
 * A block of @pages pool pages (and its own page) starts waiting; @check:
 * see whether the wait has stalled (not in a fork child's handler).
 */
void ppr_gp_queued(const struct ppr_block *b, bool check)
{
	uint64_t now = ppr_now_ms();

	__atomic_fetch_add(&ppr.gp_pages, (long)b->pages + 1, __ATOMIC_RELAXED);
	if (__atomic_fetch_add(&ppr.gp_blocks, 1, __ATOMIC_SEQ_CST) <= 0)
		__atomic_store_n(&ppr.gp_since, now, __ATOMIC_RELAXED);	/* a wait begins */
	if (check)
		ppr_stall_check(now);
}

/* A block's grace period is over: a wait ended, the next one starts now. */
void ppr_gp_passed(const struct ppr_block *b)
{
	__atomic_store_n(&ppr.gp_since, ppr_now_ms(), __ATOMIC_RELAXED);
	__atomic_fetch_sub(&ppr.gp_pages, (long)b->pages + 1, __ATOMIC_RELAXED);
	__atomic_fetch_sub(&ppr.gp_blocks, 1, __ATOMIC_SEQ_CST);
}

/*
 * How long the current wait has lasted at @now: since the oldest queued
 * block began to wait (or a grace period last ended), or since a watched
 * synchronize_rcu() began (objects queued through their own rcu_head wait
 * there, uncounted); 0 when nothing waits.
 */
static uint64_t pending_ms(uint64_t now)
{
	uint64_t since = load_relaxed(&ppr.gp_since), sync = load_relaxed(&ppr.sync_since);
	uint64_t age = 0;

	if (__atomic_load_n(&ppr.gp_blocks, __ATOMIC_SEQ_CST) > 0 && since <= now)
		age = now - since;
	if (sync && sync <= now && now - sync > age)
		age = now - sync;
	return age;
}

/*
 * ppr_stall_init() - the flavour's name for the message, from its
 * synchronize_rcu's symbol ("urcu_qsbr"), looked up once at pp_rcu_init():
 * dladdr() takes the dynamic loader's lock, which a pp_rcu_free() inside a
 * read-side section must not wait for.
 */
void ppr_stall_init(const struct rcu_flavor_struct *f)
{
	Dl_info info;
	const char *end;

	snprintf(ppr.flavor_name, sizeof(ppr.flavor_name), "at %p", (const void *)f);
	if (!dladdr((void *)f->update_synchronize_rcu, &info) || !info.dli_sname)
		return;
	end = strstr(info.dli_sname, "_synchronize_rcu");
	snprintf(ppr.flavor_name, sizeof(ppr.flavor_name), "%.*s",
		 end ? (int)(end - info.dli_sname) : 40, info.dli_sname);
}

/*
 * ppr_stall_check() - is the current wait past rcu_stall_ms, or the memory
 * waiting past rcu_stall_bytes?  A stretch of checks that find it so is
 * counted once (it ends at a check that does not); said once per process.
 * Any thread; no lock.
 */
void ppr_stall_check(uint64_t now)
{
	uint64_t age = pending_ms(now);
	size_t bytes = clamp(load_relaxed(&ppr.gp_pages)) * pp_page_size();

	if (!(ppr.stall_ms && age >= ppr.stall_ms) &&
	    !(ppr.stall_bytes && bytes >= ppr.stall_bytes)) {
		if (load_relaxed(&ppr.stalled))
			__atomic_store_n(&ppr.stalled, false, __ATOMIC_RELAXED);
		return;
	}
	if (!__atomic_exchange_n(&ppr.stalled, true, __ATOMIC_RELAXED))
		__atomic_fetch_add(&ppr.stalls, 1, __ATOMIC_RELAXED);
	if (__atomic_exchange_n(&ppr.stall_said, true, __ATOMIC_RELAXED))
		return;
	ppr_msg("grace periods stall (flavour %s): the current wait is %llu ms old and "
		"%zu bytes in %zu blocks wait for it, more with every pp_rcu_free(); is a "
		"reader not reaching a quiescent state (urcu-qsbr: a thread online without "
		"rcu_quiescent_state(); a read-side critical section that does not end)?  "
		"A caller that helps the helper thread waits for it "
		"(rcu_stall_ms=%llu rcu_stall_bytes=%zu; said once)",
		ppr.flavor_name, (unsigned long long)age, bytes, clamp(load_relaxed(&ppr.gp_blocks)),
		(unsigned long long)ppr.stall_ms, ppr.stall_bytes);
}

/*
 * The watch: a thread of ours that sleeps until the deadline of the grace
 * period being waited for (ppr_synchronize()), then checks.  Not a POSIX
 * timer with SIGEV_THREAD: the C library starts that thread itself, behind
 * the sanitizers' backs, and they crash in it.  The thread is started by
 * the first watched wait and sleeps untimed while no wait is watched; a
 * wait that ends first costs it nothing (it wakes at the old deadline, sees
 * the wait gone, and sleeps again).
 */
static sem_t watch_wake;
static uint64_t watch_until;		/* ms: the deadline; 0: nothing watched */
static bool watch_idle;			/* in its untimed sleep: arming posts */
static bool watch_running;		/* under ppr.work */

static void *watch_main(void *arg)
{
	uint64_t fired = 0;

	(void)arg;
	for (;;) {
		uint64_t until = __atomic_load_n(&watch_until, __ATOMIC_SEQ_CST);
		struct timespec ts;

		if (!until || until == fired) {
			__atomic_store_n(&watch_idle, true, __ATOMIC_SEQ_CST);
			if (__atomic_load_n(&watch_until, __ATOMIC_SEQ_CST) == until)
				while (sem_wait(&watch_wake) && errno == EINTR)
					;
			__atomic_store_n(&watch_idle, false, __ATOMIC_SEQ_CST);
			continue;
		}
		ts.tv_sec = (time_t)(until / 1000);
		ts.tv_nsec = (long)(until % 1000) * 1000000L;
		if (sem_clockwait(&watch_wake, CLOCK_MONOTONIC, &ts) == 0 || errno != ETIMEDOUT)
			continue;
		if (__atomic_load_n(&watch_until, __ATOMIC_SEQ_CST) == until) {
			uint64_t now = ppr_now_ms(), age = pending_ms(now);

			ppr_stall_check(now);
			if (load_relaxed(&ppr.stalled) || age >= ppr.stall_ms)
				fired = until;	/* said (or counted): sleep until re-armed */
			else	/* a grace period ended meanwhile: watch the wait now */
				__atomic_compare_exchange_n(&watch_until, &until,
							    now + ppr.stall_ms - age, false,
							    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		}
	}
	return NULL;
}

/* Start the watch thread (caller holds ppr.work); false if it cannot be. */
static bool watch_start(void)
{
	pthread_attr_t attr;
	pthread_t thread;
	sigset_t all, old;
	int err;

	if (watch_running)
		return true;
	if (sem_init(&watch_wake, 0, 0))
		return false;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);	/* no signal meant for the program */
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&thread, &attr, watch_main, NULL);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		sem_destroy(&watch_wake);
		return false;		/* queueing threads still check */
	}
	watch_running = true;
	return true;
}

/* Watch the grace period about to be waited for (@on), or stop. */
static void watch(bool on)
{
	uint64_t age, now;

	if (!ppr.stall_ms || (on && !watch_start()) || !watch_running)
		return;
	if (!on) {
		__atomic_store_n(&watch_until, 0, __ATOMIC_SEQ_CST);
		return;
	}
	now = ppr_now_ms();
	age = pending_ms(now);
	__atomic_store_n(&watch_until, now + (age < ppr.stall_ms ? ppr.stall_ms - age : 1),
			 __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&watch_idle, __ATOMIC_SEQ_CST))
		sem_post(&watch_wake);
}

/*
 * ppr_synchronize() - wait for a grace period, watched: said once if it
 * takes longer than rcu_stall_ms.  Caller holds ppr.work.
 */
void ppr_synchronize(void)
{
	store_relaxed(&ppr.sync_since, ppr_now_ms());
	watch(true);
	ppr.flavor->update_synchronize_rcu();
	watch(false);
	store_relaxed(&ppr.sync_since, 0);
}

/*
 * Fork child: the watch thread is not here (ppr.work was held: no wait
 * watched).  A new process: its own stalls, said again.  Blocks another
 * thread held in hand at the fork stay counted as waiting: the counts are
 * approximate in a child, and a new wait starts now.
 */
void ppr_stall_atfork_child(void)
{
	if (watch_running)
		sem_destroy(&watch_wake);
	watch_running = false;
	watch_idle = false;
	watch_until = 0;
	ppr.sync_since = 0;
	ppr.gp_since = ppr_now_ms();
	ppr.stalled = false;
	ppr.stall_said = false;
}

PP_API void pp_rcu_stats(struct pp_rcu_stats *out, size_t out_size)
{
	struct pp_rcu_stats s;

	if (!out)
		return;
	memset(&s, 0, sizeof(s));
	s.waiting_blocks = clamp(load_relaxed(&ppr.gp_blocks));
	s.waiting_bytes = clamp(load_relaxed(&ppr.gp_pages)) * pp_page_size();
	s.pending_ms = pending_ms(ppr_now_ms());
	s.stalls = load_relaxed(&ppr.stalls);
	memcpy(out, &s, out_size < sizeof(s) ? out_size : sizeof(s));
}
