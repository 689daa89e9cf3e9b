/* SPDX-License-Identifier: MIT */
/*
 * init.c - the global state and first-use initialisation.
 *
 * Owns: pp_g and pp_init(), run once, from the first call that may make a
 * system call: options frozen, arena reserved, thread-exit key and fork
 * handlers installed.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct pp_global pp_g = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.pending_head = PP_NIL,
};

static pthread_once_t init_once_ctl = PTHREAD_ONCE_INIT;
static bool init_ok;

/* stats=1: what runs at exit; the preload shim prints its own summary. */
void (*pp_stats_at_exit)(void) = pp_stats_print;

static void stats_at_exit(void)
{
	pp_stats_at_exit();
}

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

/* The global lock, made now: adaptive, or priority-inheriting with pi=1. */
void pp_lock_init(void)
{
	pthread_mutexattr_t attr;
	int err;

	if (!lock_attr(&attr))
		return;
	err = pthread_mutex_init(&pp_g.lock, &attr);
	pthread_mutexattr_destroy(&attr);
	pp_g.lock_pi = pp_g.opt.pi && !err;
	if (err) {
		pp_msg("pi=1: cannot make a priority-inheritance lock (%s); using a plain one",
		       strerror(err));
		pthread_mutex_init(&pp_g.lock, NULL);
	}
}

static void init_once(void)
{
	unsigned k;

	pp_options_freeze();
	pp_g.page_shift = (unsigned)__builtin_ctzl(pp_os_page_size());
	if (pp_g.page_shift != PP_SHIFT) {	/* internal.h fixes it on x86 */
		pp_msg("the system page size is %zu bytes; this build assumes %zu",
		       pp_os_page_size(), (size_t)1 << PP_SHIFT);
		return;
	}
	store_relaxed(&pp_g.page_size, pp_os_page_size());	/* pp_page_size() reads it */
	for (k = 0; k <= PP_MAX_ORDER; k++)
		pp_g.head[k] = PP_NIL;
	CDS_INIT_LIST_HEAD(&pp_g.caches);
	/* Nothing takes the lock before ready is set (every path checks it). */
	pp_lock_init();
	if (pp_arena_init()) {
		pp_msg("cannot reserve the arena (%zu bytes): %s; set a smaller arena=",
		       pp_g.opt.arena, strerror(errno));
		return;
	}
	if (pthread_key_create(&pp_g.key, pp_tcache_thread_exit)) {
		pp_msg("cannot create the thread-exit key");
		return;
	}
	if (pp_g.opt.prefault) {
		bool ok;

		pp_lock();
		ok = pp_arena_prefault_locked(pp_g.opt.prefault);
		pp_unlock();
		if (!ok) {
			pp_msg("prefault=%zu: cannot commit that much: %s", pp_g.opt.prefault,
			       strerror(errno));
			return;
		}
	}
	pp_fork_init();
	if (pp_g.opt.stats)
		atexit(stats_at_exit);
	if (pp_g.opt.verbose)
		pp_options_print(&pp_g.opt);
	init_ok = true;
	__atomic_store_n(&pp_g.ready, true, __ATOMIC_RELEASE);
}

bool pp_init(void)
{
	pthread_once(&init_once_ctl, init_once);
	if (!init_ok)
		errno = ENOMEM;
	return init_ok;
}
