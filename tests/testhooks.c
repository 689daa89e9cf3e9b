/* SPDX-License-Identifier: MIT */
/*
 * testhooks.c - white-box hooks for the test suites; linked into the test
 * binaries only, never into the installed library.
 *
 * Owns: taking the global lock from a test (and reading its futex word),
 * and the audit: a walk over
 * every committed descriptor that counts pages by state, a ledger kept
 * apart from the counters behind pp_stats().
 */
#include "config.h"

#include <string.h>

#include "internal.h"
#include "testhooks.h"

/*
 * The global lock's futex word (glibc's public mutex layout), read while
 * the caller holds the lock: 1 for a normal or adaptive mutex, the owner's
 * thread id for a priority-inheritance one (the kernel's PI futex protocol).
 */
unsigned pp_test_lock_word(void)
{
	return (unsigned)__atomic_load_n(&pp_g.lock.__data.__lock, __ATOMIC_RELAXED);
}

/* Initialises the pool first: nothing takes the lock before pp_init(). */
void pp_test_lock(void)
{
	pp_init();
	pp_lock();
}

void pp_test_unlock(void)
{
	pp_unlock();
}

void pp_test_audit(struct pp_audit *a)
{
	size_t idx, n;

	memset(a, 0, sizeof(*a));
	if (!__atomic_load_n(&pp_g.ready, __ATOMIC_ACQUIRE))
		return;
	pp_lock();
	n = pp_g.committed;
	a->committed = n;
	for (idx = 0; idx < n; idx++) {
		const struct pp_desc *d = &pp_g.desc[idx];
		size_t pages = (size_t)1 << load_relaxed(&d->order);

		switch (pp_state(d)) {
		case PP_PG_NONE:
			continue;
		case PP_PG_FREE:
		case PP_PG_TRIM:	/* free, off the lists during a trim */
			a->free += pages;
			break;
		case PP_PG_CACHED:
			a->cached += pages;
			break;
		case PP_PG_USED:	/* a quarantined block is free (track.c) */
			if (load_relaxed(&d->prev) == PP_QUARANTINED)
				a->pending += pages;
			else
				a->used += pages;
			break;
		case PP_PG_PENDING:
			a->pending += pages;
			break;
		case PP_PG_META:
			a->meta += pages;
			break;
		default:
			a->bad++;
			continue;
		}
		if (idx & (pages - 1) || idx + pages > n)
			a->bad++;		/* misaligned or overhanging block */
	}
	for (unsigned k = 0; k <= PP_MAX_ORDER; k++) {
		uint32_t i = pp_g.head[k], prev = PP_NIL;

		while (i != PP_NIL) {
			const struct pp_desc *d = &pp_g.desc[i];

			if (pp_state(d) != PP_PG_FREE || d->order != k || d->prev != prev)
				a->bad++;
			a->listed += (size_t)1 << k;
			prev = i;
			i = d->next;
		}
	}
	pp_unlock();
}

/* Reclaim every other thread's cache that is not inside a call (reclaim.c). */
size_t pp_test_reclaim(void)
{
	size_t pages;

	pp_init();
	pp_lock();
	pages = pp_reclaim_others_locked(NULL);
	pp_unlock();
	return pages;
}
