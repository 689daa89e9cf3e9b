/* SPDX-License-Identifier: MIT */
/*
 * stats.c - pp_stats() and the summary printed at exit (stats=1).
 *
 * Owns: adding up the pool's ledger.  in_use is counted at the API boundary
 * (pages allocated minus pages freed, per thread and in a shared counter),
 * independently of where free pages sit, so that
 * committed == in_use + cached + free + reserved is a real check.
 */
#include "config.h"

#include <string.h>

#include "internal.h"

#define EV(f) __atomic_load_n(&pp_g.f, __ATOMIC_RELAXED)

static void collect_locked(struct pp_stats *s)
{
	struct pp_tcache *tc;
	size_t out = EV(stray_pages_out), cached = 0, hits = pp_g.retired_hits;
	size_t idle = 0, marks = 0, prefilled = 0, now = pp_os_coarse_ms();

	cds_list_for_each_entry(tc, &pp_g.caches, link) {
		size_t pages = 0;

		for (unsigned k = 0; k < PP_CACHE_ORDERS; k++) {
			pages += (size_t)load_relaxed(&tc->count[k]) << k;
			marks += (size_t)load_relaxed(&tc->high[k]) << k;
			prefilled += (size_t)pp_tcache_owed(tc, k) << k;
		}
		cached += pages;
		if (pp_reclaim_idle_now(tc, now))
			idle += pages;
		out += load_relaxed(&tc->pages_out);
		hits += pp_tcache_hits(tc);
	}
	s->committed = pp_g.committed;
	s->in_use = out - EV(quarantined);	/* freed, in the quarantine (track.c) */
	s->cached = cached + pp_g.cache_meta;
	s->free = pp_g.free_pages + EV(pending_pages) + EV(trimming) + EV(quarantined);
	s->reserved = EV(reserved);
	s->cache_meta = pp_g.cache_meta;
	s->pending = EV(pending_pages);
	s->threads = pp_g.nthreads;
	s->try_hits = hits;
	s->try_misses = EV(misses);
	s->refills = EV(refills);
	s->drains = EV(drains);
	s->trylock_fails = EV(trylock_fails);
	s->pending_frees = EV(pending_frees);
	s->grows = pp_g.grows;
	s->grow_fails = pp_g.grow_fails;
	s->peak_committed = pp_g.peak_committed;
	s->reclaim_runs = pp_g.reclaim_runs;
	s->reclaimed_pages = pp_g.reclaimed_pages;
	s->reclaim_busy = pp_g.reclaim_busy;
	s->idle_cached = idle;
	s->cache_marks = marks;
	s->lock_holds = pp_g.lock_holds;
	s->lock_hold_ns = pp_g.lock_hold_ns;
	s->prefilled = prefilled;
}

PP_API void pp_stats(struct pp_stats *out, size_t out_size)
{
	struct pp_stats s;
	bool entered;

	if (!out) {
		pp_msg("pp_stats: out is NULL");
		return;
	}
	memset(&s, 0, sizeof(s));
	s.page_size = pp_page_size_any();
	s.desc_bytes = sizeof(struct pp_desc);
	if (__atomic_load_n(&pp_g.ready, __ATOMIC_ACQUIRE)) {
		s.arena_bytes = pp_g.npages_max << pp_g.page_shift;
		s.cap_bytes = pp_g.opt.cap;
		entered = pp_enter();
		/* Re-entrant: the interrupted call may hold the lock. */
		if (entered ? (pp_lock(), true) : pp_trylock()) {
			collect_locked(&s);
			pp_unlock();
		}
		if (entered)
			pp_leave();
	}
	memcpy(out, &s, out_size < sizeof(s) ? out_size : sizeof(s));
}

void pp_stats_print(void)
{
	struct pp_stats s;
	size_t mib = (size_t)1 << 20;
	size_t allocs;

	pp_stats(&s, sizeof(s));
	allocs = s.try_hits + s.try_misses;
	pp_msg("stats: committed %zu pages (%zu MiB, peak %zu MiB), in use %zu, cached %zu, "
	       "free %zu (pending %zu), reserved %zu, arena %zu MiB (%s, pid %d)",
	       s.committed, s.committed * s.page_size / mib,
	       s.peak_committed * s.page_size / mib, s.in_use, s.cached, s.free,
	       s.pending, s.reserved, s.arena_bytes / mib, pp_os_progname(), pp_os_getpid());
	pp_msg("stats: cache hits %zu, misses %zu (hit rate %.1f%%), refills %zu, drains %zu, "
	       "trylock failures %zu, pending frees %zu, arena growths %zu (%zu refused), "
	       "threads with a cache %zu, reclaims %zu (%zu pages, %zu caches busy), "
	       "idle cached %zu, cache marks %zu",
	       s.try_hits, s.try_misses, allocs ? 100.0 * (double)s.try_hits / (double)allocs : 0.0,
	       s.refills, s.drains, s.trylock_fails, s.pending_frees, s.grows,
	       s.grow_fails, s.threads, s.reclaim_runs, s.reclaimed_pages, s.reclaim_busy,
	       s.idle_cached, s.cache_marks);
	pp_msg("stats: lock holds %zu, mean %.0f ns, total %.3f ms",
	       s.lock_holds, s.lock_holds ? (double)s.lock_hold_ns / (double)s.lock_holds : 0.0,
	       (double)s.lock_hold_ns / 1e6);
}
