/* SPDX-License-Identifier: MIT */
/*
 * lock.c - the global lock: made per the options, taken by a call's mode.
 *
 * Owns: pp_g.lock itself - an adaptive mutex, or a priority-inheriting
 * one with pi=1 - and the ways to take it: blocking, by trylock (PP_NOWAIT),
 * never (PP_TRY), or, in a call of the preload shim's malloc family, until
 * a fork() wants it.  Whoever takes it for a call absorbs the pending list
 * (buddy.c) first.  What it guards is buddy.c's.  With stats=1 it also
 * times every hold (pp_g.lock_holds, pp_g.lock_hold_ns).
 */
#include "config.h"

#include <errno.h>
#include <time.h>

#include "internal.h"

/*
 * The global lock spins briefly before it sleeps (glibc's adaptive mutex):
 * it is held for a few list operations, less than a futex sleep and wake-up.
 * bench/preload-bench (4 threads, 2 CPUs, median of 3): 440-465 ms against
 * 497-523 ms with a plain mutex.
 */
static bool lock_attr(pthread_mutexattr_t *attr)
{
	if (pthread_mutexattr_init(attr))
		return false;	/* the lock keeps its static initialiser */
	if (!pp_g.opt.pi) {
		pthread_mutexattr_settype(attr, PTHREAD_MUTEX_ADAPTIVE_NP);
		return true;
	}
	/* pi=1: a holder inherits the priority of its highest waiter. */
	if (pthread_mutexattr_setprotocol(attr, PTHREAD_PRIO_INHERIT)) {
		pp_msg("pi=1: this system has no priority-inheritance mutexes");
		pthread_mutexattr_destroy(attr);
		return false;
	}
	return true;
}

/*
 * hold_begin() - the global lock was just taken: with stats=1, note when.
 *
 * Every way of taking the lock ends here (pp_lock(), pp_trylock() that
 * succeeded, lock_or_yield_slow()).  The option is read once per hold;
 * with stats=0 this is one load of a read-mostly field and one predictable
 * branch, and pp_unlock() adds the load of pp_g.lock_t0 (next to the lock,
 * on a line the holder has just written) and another.  The start is
 * stored with its lowest bit set so that 0 always means "not timed" (the
 * clock may read near 0 in a time namespace); the error is under 1 ns.
 * Context: the global lock held by the caller.
 */
static inline void hold_begin(void)
{
	if (unlikely(pp_g.opt.stats))
		pp_g.lock_t0 = pp_os_now_ns() | 1;
}

/*
 * hold_end() - a timed hold ends: count it and its duration, from the
 * acquisition to now, which includes about one clock read's cost.
 * Context: the global lock held by the caller, pp_g.lock_t0 != 0.
 */
static void hold_end(void)
{
	uint64_t now = pp_os_now_ns();

	pp_g.lock_holds++;
	pp_g.lock_hold_ns += (size_t)(now - (pp_g.lock_t0 & ~(uint64_t)1));
	pp_g.lock_t0 = 0;
}

/*
 * pp_lock_init() - make the global lock: adaptive, or priority-inheriting
 * with pi=1.  A lock re-made while held - in a fork child with pi=1
 * (fork.c), or by one taking over from a starter lost to a fork (init.c) -
 * ends that hold here, counted with stats=1.
 */
void pp_lock_init(void)
{
	pthread_mutexattr_t attr;
	int err;

	if (unlikely(pp_g.lock_t0))
		hold_end();
	if (!lock_attr(&attr))
		return;
	err = pthread_mutex_init(&pp_g.lock, &attr);
	pthread_mutexattr_destroy(&attr);
	pp_g.lock_pi = pp_g.opt.pi && !err;
	if (err) {
		pp_msg("pi=1: cannot make a priority-inheritance lock (%s); using a plain one",
		       pp_errname(err));
		pthread_mutex_init(&pp_g.lock, NULL);
	}
}

/* Take the global lock, waiting as long as it takes. */
void pp_lock(void)
{
	pthread_mutex_lock(&pp_g.lock);
	hold_begin();
}

/* Take the global lock if it is free; false: it is not, nothing taken. */
bool pp_trylock(void)
{
	if (pthread_mutex_trylock(&pp_g.lock))
		return false;
	hold_begin();
	return true;
}

/* Release the global lock; with stats=1 the hold is counted and timed. */
void pp_unlock(void)
{
	if (unlikely(pp_g.lock_t0))
		hold_end();
	pthread_mutex_unlock(&pp_g.lock);
}

/*
 * lock_or_yield_slow() - wait for the lock, unless a fork() is taking it:
 * for a call of the LD_PRELOAD shim's malloc family (pp_tls.yield), whose
 * caller may hold a C library lock that fork() takes after its prepare
 * handlers have run - a stdio stream lock under getline(), say.  fork.c's
 * prepare handler holds the pool lock while glibc then waits for that stdio
 * lock; a waiter that kept waiting for the pool lock would deadlock all
 * three.  So the waiter sleeps in slices of YIELD_POLL_MS and gives up as
 * soon as pp_g.forking is set; the shim then serves the call from the C
 * library (a free goes through the pending list, a realloc moves).
 *
 * Why slices: glibc's mutex cannot be woken to recheck a flag, and one of
 * our own (a futex word holding the fork bit) would have to redo the
 * adaptive spinning and priority inheritance that pi=1 relies on.  A slice
 * costs one clock read per YIELD_POLL_MS of waiting and nothing while the
 * lock is free: the lock is held for microseconds, so a slice that times
 * out means a preempted holder or a fork.  pthread_mutex_timedlock() works
 * for the adaptive and the priority-inheriting lock alike (and is seen by
 * ThreadSanitizer); its clock is CLOCK_REALTIME, so a clock stepped back
 * lengthens one slice by the step (pthread_mutex_clocklock() would take
 * CLOCK_MONOTONIC, but older glibc refuses it for a PI mutex, and older
 * ThreadSanitizers do not know it).
 */
#define YIELD_POLL_MS 1

static bool lock_or_yield_slow(void)
{
	for (;;) {
		struct timespec until;
		int err;

		if (__atomic_load_n(&pp_g.forking, __ATOMIC_SEQ_CST))
			return false;
		pp_os_deadline(&until, YIELD_POLL_MS);
		err = pthread_mutex_timedlock(&pp_g.lock, &until);
		if (err == 0) {
			hold_begin();
			return true;
		}
		if (err != ETIMEDOUT)	/* cannot happen with our mutex types */
			pp_os_sleep_ms(YIELD_POLL_MS);	/* poll: never an unbounded wait */
	}
}

/*
 * pp_lock_for() - take the global lock as @flags allow: PP_TRY never,
 * PP_NOWAIT by trylock, 0 by blocking - or, in a call of the shim's malloc
 * family, until a fork() wants it.  On success the pending list has been
 * absorbed.  A refused trylock is counted.  errno is left alone.
 */
bool pp_lock_for(unsigned flags)
{
	if (flags & PP_TRY)
		return false;
	pp_seen();
	if (flags & PP_NOWAIT) {
		if (!pp_trylock()) {
			pp_event(trylock_fails, 1);
			return false;
		}
	} else if (unlikely(pp_tls.yield)) {
		if (!pp_trylock() && !lock_or_yield_slow())
			return false;	/* errno untouched: a realloc that moves succeeds */
	} else {
		pp_lock();
	}
	pp_pending_absorb_locked();
	return true;
}

/* Take the lock, however long it takes, and absorb the pending list. */
void pp_lock_absorb(void)
{
	pp_seen();
	pp_lock();
	pp_pending_absorb_locked();
}
