/* SPDX-License-Identifier: MIT */
/*
 * reclaim.c - giving caches' blocks back to the global lists: a thread's
 * own, and other threads' without slowing them.
 *
 * Owns: the flush of a cache, and reclaim - the kernel's drain_all_pages()
 * for userspace.  Another thread's cache is its owner's, which pops and
 * pushes without a lock or an atomic read-modify-write; the reclaimer takes
 * it from under it by an asymmetric Dekker pair, as liburcu's memb flavour
 * does: under the global lock it clears the owner's pointer to its cache
 * (pp_tls.tc), runs membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) - a full
 * barrier on every running thread of the process - and loads the owner's
 * busy mark.  The owner stores busy, then loads the pointer (hot.h: no
 * fence and no instruction added on the hit path).  So either the reclaimer
 * sees the owner inside a call and leaves that cache alone (it tries again
 * RECLAIM_TRIES times, then skips it), or the owner's next call finds no
 * cache and goes around it: PP_TRY fails with EAGAIN, a free that cannot
 * take the lock uses the pending list, and the other calls take the lock,
 * which the reclaimer holds until the pointer is back.  An owner never
 * waits for a reclaimer longer than its flags allow it to wait for the lock.
 *
 * One membarrier per round, for every cache the round takes.  It interrupts
 * every CPU running a thread of the process, so reclaim runs only when
 * memory is short: a flags-0 allocation that finds nothing free and cannot
 * grow the arena (cap=, or the OS refuses).  Without membarrier (Linux <
 * 4.14, a seccomp filter, valgrind) there is no cross-thread reclaim, said
 * once.  ThreadSanitizer cannot see the fence: its builds make both sides
 * of the pair sequentially consistent (hot.h), which needs none.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "internal.h"

#define RECLAIM_TRIES 3		/* rounds for a cache whose owner is inside a call */

/*
 * pp_reclaim_flush_locked() - return the blocks @tc holds to the global
 * lists (they may coalesce there): all of them, or with @keep_prefilled
 * all but what pp_thread_prefill() still guarantees (pp_tcache_owed()).  The cache
 * itself stays.  Its owner is this thread, or outside any call with its
 * pointer taken.  Return: the pages given back.
 */
size_t pp_reclaim_flush_locked(struct pp_tcache *tc, bool keep_prefilled)
{
	size_t pages = 0;

	for (unsigned k = 0; k < PP_CACHE_ORDERS; k++) {
		uint32_t i, n = load_relaxed(&tc->count[k]);
		uint32_t keep = keep_prefilled ? pp_tcache_owed(tc, k) : 0;
		uint32_t m = keep < n ? n - keep : 0;	/* the oldest go */

		for (i = 0; i < m; i++)
			pp_buddy_free_locked(pp_index(tc->stack[k][i]), k);
		memmove(tc->stack[k], tc->stack[k] + m, (n - m) * sizeof(void *));
		store_relaxed(&tc->count[k], n - m);
		pages += (size_t)m << k;
	}
	return pages;
}

/*
 * pp_reclaim_init() - register for membarrier, at start-up and in a fork
 * child (a registration is the process's, and a child is a new process).
 */
void pp_reclaim_init(void)
{
	pp_g.membarrier = pp_os_membarrier_register() == 0;
}

static bool cached_any(const struct pp_tcache *tc)
{
	for (unsigned k = 0; k < PP_CACHE_ORDERS; k++)
		if (load_relaxed(&tc->count[k]))
			return true;
	return false;
}

/*
 * A cache taken back starts again from its configured marks (or what a
 * prefill still guarantees, which it keeps), as the kernel
 * decays an idle CPU's high mark: its growth goes back to cache_max= for
 * threads that are running.  Its owner is outside any call.
 */
static void decay_marks(struct pp_tcache *tc)
{
	size_t less = 0;

	for (unsigned k = 0; k < PP_CACHE_ORDERS; k++) {
		uint32_t owed = pp_tcache_owed(tc, k);
		uint32_t to = tc->high_min[k] > owed ? tc->high_min[k] : owed;

		if (tc->high[k] > to) {
			less += (size_t)(tc->high[k] - to) << k;
			store_relaxed(&tc->high[k], to);
		}
		tc->drain_run[k] = 0;
	}
	pp_event(cache_marks, -less);
}

/* No membarrier: other threads' caches cannot be taken.  Said once. */
static void impossible(void)
{
	static bool said;

	if (!said) {
		said = true;
		pp_msg("cannot reclaim other threads' caches: membarrier(2) is not available; "
		       "their pages stay cached until those threads free, drain or exit");
	}
}

/*
 * pp_reclaim_note_slow() - the owner's refill or drain notes the cache's
 * hits and the coarse time (pp_os_coarse_ms(): no system call, no TSC): a
 * cache that has served no allocation since a slow path reclaim_ms ago is
 * idle, with no look needed at the start of the interval.  Nothing with
 * reclaim_ms=0.
 */
void pp_reclaim_note_slow(struct pp_tcache *tc)
{
	if (!pp_g.opt.reclaim_ms)
		return;
	__atomic_store_n(&tc->slow_hits, pp_tcache_hits(tc), __ATOMIC_RELAXED);
	__atomic_store_n(&tc->slow_ms, pp_os_coarse_ms(), __ATOMIC_RELAXED);
}

/*
 * Has @tc served no allocation since its owner's last slow path, which
 * was reclaim_ms ago or more (pp_reclaim_note_slow())?  A thread whose
 * last calls were frees after its last drain counts as idle: what it
 * freed comes back with the rest.
 */
static bool idle_since_slow(const struct pp_tcache *tc, size_t now)
{
	size_t ms = __atomic_load_n(&tc->slow_ms, __ATOMIC_RELAXED);

	return ms && pp_tcache_hits(tc) == __atomic_load_n(&tc->slow_hits, __ATOMIC_RELAXED) &&
	       now - ms >= pp_g.opt.reclaim_ms;
}

/*
 * Has @tc's owner left its counters alone for reclaim_ms - by its last
 * slow path, or between two looks?  A look that finds them moved notes
 * the time; the first look at a cache counts as moved.  Lock held.
 */
static bool idle_for(struct pp_tcache *tc, size_t now)
{
	size_t hits = pp_tcache_hits(tc), out = load_relaxed(&tc->pages_out);

	if (idle_since_slow(tc, now))
		return true;
	if (!tc->moved_ms || hits != tc->seen_hits || out != tc->seen_out) {
		tc->seen_hits = hits;
		tc->seen_out = out;
		tc->moved_ms = now;
		return false;
	}
	return now - tc->moved_ms >= pp_g.opt.reclaim_ms;
}

/*
 * pp_reclaim_idle_now() - is @tc idle by its last slow path, or by the
 * last look and still?  For pp_stats(); changes nothing.  Lock held.
 */
bool pp_reclaim_idle_now(const struct pp_tcache *tc, size_t now)
{
	return pp_g.opt.reclaim_ms &&
	       (idle_since_slow(tc, now) ||
		(tc->moved_ms && pp_tcache_hits(tc) == tc->seen_hits &&
		 load_relaxed(&tc->pages_out) == tc->seen_out &&
		 now - tc->moved_ms >= pp_g.opt.reclaim_ms));
}

/* The cache's owner's pp_tls, or NULL (an owner gone from a handler). */
static struct pp_tls *owner_of(const struct pp_tcache *tc)
{
	struct pp_tls *o = __atomic_load_n(&tc->owner, __ATOMIC_SEQ_CST);

	return o == &pp_tls ? NULL : o;		/* never the caller's own */
}

/*
 * Take back the cached blocks of every other thread whose owner is not
 * inside a call - with @idle_only, of those idle for reclaim_ms.  Lock held
 * throughout.  Pages given back.
 */
static size_t reclaim_locked(const struct pp_tcache *self, bool idle_only)
{
	size_t pages = 0, busy = 0, now = idle_only ? pp_os_coarse_ms() : 0;
	struct pp_tcache *tc;
	struct pp_tls *o;
	unsigned marked = 0;

	for (unsigned round = 0; round < RECLAIM_TRIES; round++) {
		marked = 0;
		cds_list_for_each_entry(tc, &pp_g.caches, link) {
			if (tc == self || tc->guarded || !(o = owner_of(tc)))
				continue;	/* guarded: a prefill's owner must find its cache */
			if (round ? !tc->stolen :
			    (idle_only && !idle_for(tc, now)) || !cached_any(tc))
				continue;
			if (!pp_g.membarrier) {
				if (!idle_only)
					impossible();
				return 0;
			}
			tc->stolen = true;
			__atomic_store_n(&o->tc, NULL, __ATOMIC_SEQ_CST);
			marked++;
		}
		if (!marked)
			break;
		if (pp_os_membarrier()) {	/* registered: it cannot fail, but if it does */
			pp_g.membarrier = false;
			pp_msg("membarrier(2) failed after registration (%s): no more reclaim",
			       pp_errname(errno));
		}
		busy = 0;
		cds_list_for_each_entry(tc, &pp_g.caches, link) {
			if (!tc->stolen)
				continue;
			o = owner_of(tc);
			if (!pp_g.membarrier || !o || __atomic_load_n(&o->busy, __ATOMIC_SEQ_CST)) {
				busy++;		/* inside a call: it keeps its cache */
			} else {
				pages += pp_reclaim_flush_locked(tc, true);
				decay_marks(tc);
				tc->stolen = false;
			}
			if (o)
				store_release(&o->tc, tc);
		}
		if (!busy || !pp_g.membarrier)
			break;
	}
	cds_list_for_each_entry(tc, &pp_g.caches, link)
		tc->stolen = false;
	if (marked) {
		pp_g.reclaim_runs++;
		pp_g.reclaimed_pages += pages;
		pp_g.reclaim_busy += busy;
	}
	return pages;
}

/*
 * pp_reclaim_others_locked() - memory is short (a flags-0 allocation at
 * cap=, or where the arena cannot grow): take back every other thread's
 * cache whose owner is not inside a call (@self: the caller's, left to it).
 * Return: the pages given back to the lists.
 */
size_t pp_reclaim_others_locked(const struct pp_tcache *self)
{
	return reclaim_locked(self, false);
}

/*
 * pp_reclaim_idle_locked() - take back the caches of threads that left
 * them alone for reclaim_ms (pp_trim(), the automatic trim, the tick);
 * nothing with reclaim_ms=0.
 */
size_t pp_reclaim_idle_locked(void)
{
	return pp_g.opt.reclaim_ms ? reclaim_locked(NULL, true) : 0;
}

/*
 * pp_reclaim_tick_locked() - the decay, from a refill (which holds the
 * lock): at most once per reclaim_ms, caches idle since the last tick come
 * back, as the kernel drains an idle CPU's lists.  reclaim_ms=0: never (an
 * isolated real-time core is not interrupted by membarrier for this).
 */
void pp_reclaim_tick_locked(void)
{
	size_t now;

	if (!pp_g.opt.reclaim_ms || !pp_g.membarrier)
		return;
	now = pp_os_coarse_ms();
	if (now - pp_g.last_tick_ms < pp_g.opt.reclaim_ms)
		return;
	pp_g.last_tick_ms = now;
	reclaim_locked(NULL, true);
}
