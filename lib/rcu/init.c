/* SPDX-License-Identifier: MIT */
/*
 * init.c - libpagepool-rcu's global state, pp_rcu_init() and diagnostics.
 *
 * Owns: the flavour (set once), the settings read from libpagepool's
 * options (rcu_delay_ms, rcu_spares, rcu_blocks, rcu_inflight, rcu_stall_ms,
 * rcu_stall_bytes), the thread-exit key, the
 * fork handlers, and the wording of every message this library prints.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rcu-internal.h"

struct ppr_global ppr = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.start_lock = PTHREAD_MUTEX_INITIALIZER,
	.work = PTHREAD_MUTEX_INITIALIZER,
	.threads = CDS_LIST_HEAD_INIT(ppr.threads),
};
struct ppr_block ppr_empty_block;

static void vmsg(const char *fmt, va_list ap)
{
	char buf[512];
	int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);

	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	/* One write per message, so lines from several threads do not mix. */
	if (write(STDERR_FILENO, "pagepool-rcu: ", 14) < 0 ||
	    write(STDERR_FILENO, buf, (size_t)n) < 0)
		return;
}

void ppr_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

/*
 * errno's name for a message ("EAGAIN"): a pp_rcu_free() caller may hold a
 * C library lock, and strerror() may take the locale lock (lib/error.c).
 */
const char *ppr_errname(int err)
{
#ifdef HAVE_STRERRORNAME_NP
	const char *name = strerrorname_np(err);

	if (name)
		return name;
#endif
	return err == EAGAIN ? "EAGAIN" : err == ENOMEM ? "ENOMEM" : "an error";
}

void ppr_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	abort();
}

void ppr_not_init_slow(const char *fn)
{
	ppr_die("%s: pp_rcu_init() has not been called", fn);
}

uint64_t ppr_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);	/* vDSO: no system call */
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Fork: hold ppr.work across it, so that no work taken by the monitor (or a
 * barrier) is in flight, and the monitor is not inside synchronize_rcu(),
 * whose locks the child would inherit held.  Waiting for the monitor needs
 * this thread quiescent: an online qsbr thread goes offline for it; inside
 * a read-side critical section it cannot wait, and only tries.
 */
/* Per thread: two threads may fork at once. */
static __thread bool fork_work_held;

static void atfork_prepare(void)
{
	const struct rcu_flavor_struct *f = load_acquire(&ppr.flavor);
	bool was_online = false, in_section = false;

	if (f && f->read_ongoing()) {
		f->thread_offline();
		if (f->read_ongoing()) {
			f->thread_online();
			in_section = true;
		} else {
			was_online = true;
		}
	}
	if (in_section) {
		fork_work_held = !pthread_mutex_trylock(&ppr.work);
	} else {
		pthread_mutex_lock(&ppr.work);
		fork_work_held = true;
	}
	if (was_online)
		f->thread_online();
	pthread_mutex_lock(&ppr.lock);
	pthread_mutex_lock(&ppr.start_lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&ppr.start_lock);
	pthread_mutex_unlock(&ppr.lock);
	if (fork_work_held)
		pthread_mutex_unlock(&ppr.work);
}

/* Only this thread survives: the monitor is gone, other states are orphans. */
static void atfork_child(void)
{
	/* Held since atfork_prepare(): unlocked, not re-made (see lib/fork.c). */
	pthread_mutex_unlock(&ppr.start_lock);
	pthread_mutex_unlock(&ppr.lock);
	if (fork_work_held)
		pthread_mutex_unlock(&ppr.work);
	else	/* the monitor may have held it: best effort */
		pthread_mutex_init(&ppr.work, NULL);
	ppr_fence_init();
	ppr_monitor_atfork_child();
	ppr_stall_atfork_child();
	ppr_threads_atfork_child();
	if (ppr.partials || ppr.expired || ppr.handoff || ppr.heads)
		ppr_monitor_start();	/* inherited work must not wait for a call */
}

static int read_options(void)
{
	size_t delay, spares, blocks, inflight, stall_ms, stall_bytes;

	if (pp_option("rcu_delay_ms", &delay) || pp_option("rcu_spares", &spares) ||
	    pp_option("rcu_blocks", &blocks) || pp_option("rcu_inflight", &inflight) ||
	    pp_option("rcu_stall_ms", &stall_ms) || pp_option("rcu_stall_bytes", &stall_bytes))
		return -1;
	ppr.stall_ms = stall_ms;
	ppr.stall_bytes = stall_bytes;
	ppr.inflight_max = (long)(inflight / pp_page_size());
	if (inflight && !ppr.inflight_max)
		ppr.inflight_max = 1;
	ppr.delay_ms = delay;
	ppr.spares = spares;
	ppr.blocks = blocks != 0;
	ppr.cap = (pp_page_size() - sizeof(struct ppr_block)) / sizeof(void *);
	return 0;
}

static bool flavor_complete(const struct rcu_flavor_struct *f)
{
	return f->read_ongoing && f->update_call_rcu && f->update_synchronize_rcu &&
	       f->thread_offline && f->thread_online && f->barrier;
}

PP_API int pp_rcu_init(const struct rcu_flavor_struct *flavor)
{
	int ret = 0;

	if (!flavor || !flavor_complete(flavor)) {
		ppr_msg("pp_rcu_init: %s", flavor ? "the flavour lacks an entry point"
						  : "flavor is NULL");
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&ppr.lock);
	if (ppr.flavor) {
		if (ppr.flavor != flavor) {
			ppr_msg("pp_rcu_init: already initialised with another flavour");
			errno = EBUSY;
			ret = -1;
		}
		goto out;
	}
	if (read_options()) {
		ret = -1;			/* errno and message from pp_option() */
		goto out;
	}
	if (sem_init(&ppr.wake, 0, 0)) {
		ppr_msg("pp_rcu_init: cannot make the helper's semaphore: %s", ppr_errname(errno));
		ret = -1;
		goto out;
	}
	if (pthread_key_create(&ppr.key, ppr_thread_exit)) {
		ppr_msg("pp_rcu_init: cannot create the thread-exit key");
		sem_destroy(&ppr.wake);
		errno = EAGAIN;
		ret = -1;
		goto out;
	}
	ppr_fence_init();
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
	ppr_stall_init(flavor);		/* before any call can say a stall */
	store_release(&ppr.flavor, flavor);
out:
	pthread_mutex_unlock(&ppr.lock);
	return ret;
}
