/* SPDX-License-Identifier: MIT */
/*
 * init.c - the global state and first-use initialisation.
 *
 * Owns: pp_g and pp_init(), run from the first call that may make a system
 * call, and again from a later one if it failed: options frozen, arena
 * reserved, thread-exit key and fork handlers installed, each once.
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

/* stats=1: what runs at exit; the preload shim prints its own summary. */
void (*pp_stats_at_exit)(void) = pp_stats_print;

/* To the stderr the program started with, if it is still there. */
static void stats_at_exit(void)
{
	if (pp_os_to_kept_stderr(true))
		pp_stats_at_exit();
	pp_os_to_kept_stderr(false);
}

/*
 * Start-up state.  Each step that registers something or reserves the
 * arena is done once per process, so a start-up that failed half way (the
 * prefault, say) and is tried again repeats only what did not happen.
 */
static bool lock_done, arena_done, key_done, handlers_done;
static bool failed, said;		/* a start-up failed; its message printed */
static size_t retry_ms;			/* when a failed start-up may run again */
static int owner;			/* pid of the process starting the pool, 0: none */

/* Say the first start-up failure of the process, once: later tries are quiet. */
#define init_fail(...) do {		\
		if (!said)		\
			pp_msg(__VA_ARGS__);	\
		said = true;		\
	} while (0)

static bool try_init(void)
{
	unsigned k;

	pp_options_freeze();
	if (pp_g.opt.stats)
		pp_os_keep_stderr();	/* once, of the first try */
	pp_g.page_shift = (unsigned)__builtin_ctzl(pp_os_page_size());
	if (pp_g.page_shift != PP_SHIFT) {	/* hot.h fixes it on x86 */
		init_fail("the system page size is %zu bytes; this build assumes %zu",
			  pp_os_page_size(), (size_t)1 << PP_SHIFT);
		return false;
	}
	store_relaxed(&pp_g.page_size, pp_os_page_size());	/* pp_page_size() reads it */
	pp_tcache_init_bound();
	if (!arena_done) {
		for (k = 0; k <= PP_MAX_ORDER; k++)
			pp_g.head[k] = PP_NIL;
		CDS_INIT_LIST_HEAD(&pp_g.caches);
		/* Nothing takes the lock before ready is set (every path checks it). */
		if (!lock_done) {
			lock_done = true;
			pp_lock_init();
		}
		if (pp_arena_init()) {
			if (pp_g.opt.arena_set)
				init_fail("cannot reserve arena=%zu bytes: %s; set a smaller arena=, "
					  "or leave it out to fit what the OS allows",
					  pp_g.opt.arena, pp_errname(errno));
			else
				init_fail("cannot reserve an arena of even %zu bytes: %s",
					  pp_g.page_size << PP_MAX_ORDER, pp_errname(errno));
			return false;
		}
		arena_done = true;
	}
	if (!key_done) {
		if (pthread_key_create(&pp_g.key, pp_tcache_thread_exit)) {
			init_fail("cannot create the thread-exit key");
			return false;
		}
		key_done = true;
	}
	if (pp_g.opt.prefault) {
		bool ok;

		pp_lock();
		ok = true;
		while (ok && pp_g.committed_bytes < pp_g.opt.prefault)
			ok = pp_buddy_grow_locked(0);
		if (ok)
			pp_arena_populate();
		pp_unlock();
		if (!ok) {
			init_fail("prefault=%zu: cannot commit that much: %s", pp_g.opt.prefault,
				  pp_errname(errno));
			return false;
		}
	}
	if (!handlers_done) {
		/* Set first: a fork() child of this instant must not register again. */
		handlers_done = true;
		pp_reclaim_init();
		pp_fork_init();
		if (pp_g.opt.stats)
			atexit(stats_at_exit);
	}
	if (pp_g.opt.verbose)
		pp_options_print(&pp_g.opt, pp_g.npages_max << pp_g.page_shift);
	return true;
}

/*
 * pp_init() - start the pool, or say why it cannot (once per process).  A
 * failed start-up is tried again by a later call, at most once per trim_ms:
 * a transient ENOMEM must not disable the pool for good.  One thread starts
 * it while the others wait - but a call of the shim's malloc family fails
 * at once, and the C library serves it; a fork() child whose parent was
 * starting it (the thread that did is not in the child) starts it itself,
 * with fresh locks.  A call from inside this thread's own start-up (a
 * signal handler) fails rather than wait.  Cancellation is held off: a
 * cancelled starter would leave the others waiting for ever.
 * Context: may block; the first call makes system calls.
 */
bool pp_init(void)
{
	int me, was, cancel;
	bool ok, took_over = false;

	if (__atomic_load_n(&pp_g.ready, __ATOMIC_ACQUIRE))
		return true;
	/* open(), write(), nanosleep() are cancellation points: the owner mark must not leak. */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
	pp_tls.starting++;		/* before the claim: a signal handler here must not wait */
	signal_barrier();
	for (;;) {
		if (__atomic_load_n(&pp_g.ready, __ATOMIC_ACQUIRE))
			goto out;
		if (pp_tls.starting > 1 ||	/* a handler inside this thread's start-up */
		    (__atomic_load_n(&failed, __ATOMIC_ACQUIRE) &&
		     pp_os_now_ms() < load_relaxed(&retry_ms)))
			goto out;
		me = pp_os_getpid();
		was = 0;
		if (__atomic_compare_exchange_n(&owner, &was, me, false, __ATOMIC_ACQUIRE,
						__ATOMIC_ACQUIRE))
			break;
		if (was != me) {	/* a fork() child: its starter is not here */
			took_over |= __atomic_compare_exchange_n(&owner, &was, 0, false,
								 __ATOMIC_RELAXED,
								 __ATOMIC_RELAXED);
			continue;
		}
		if (pp_tls.yield)	/* the shim's malloc never waits: the C library serves */
			goto out;
		pp_os_sleep_ms(1);	/* another thread is starting it */
	}
	if (took_over) {
		/*
		 * A fork() child took over from a starter lost to the fork, which
		 * may have held these locks then (no fork handler was in place).
		 */
		pp_options_atfork_child();
		if (lock_done)
			pp_lock_init();
	}
	if (try_init()) {
		__atomic_store_n(&pp_g.ready, true, __ATOMIC_RELEASE);
	} else {
		size_t now = pp_os_now_ms(), t = now + pp_g.opt.trim_ms;

		store_relaxed(&retry_ms, t < now ? SIZE_MAX : t);	/* saturating */
		__atomic_store_n(&failed, true, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&owner, 0, __ATOMIC_RELEASE);
out:
	signal_barrier();
	pp_tls.starting--;
	pthread_setcancelstate(cancel, NULL);
	ok = __atomic_load_n(&pp_g.ready, __ATOMIC_ACQUIRE);
	if (!ok)
		errno = ENOMEM;
	return ok;
}
