/* SPDX-License-Identifier: MIT */
/*
 * stats.c - what the shim routed where, printed at exit with stats=1.
 *
 * Owns: the shim's counters and its summary line.  Counting costs one
 * relaxed load per call when stats=1 is off; when it is on, shared atomic
 * counters (a measurement setting, not a production one).
 */
#include "config.h"

#include "preload.h"

bool ppl_counting;
static size_t counters[PPL_NR_COUNTERS];

/* Count one request (and its bytes) of kind @c; only with stats=1. */
void ppl_count_slow(enum ppl_counter c, size_t bytes)
{
	__atomic_fetch_add(&counters[c], 1, __ATOMIC_RELAXED);
	if (c == PPL_POOL || c == PPL_LIBC)
		__atomic_fetch_add(&counters[c + 1], bytes, __ATOMIC_RELAXED);
}

static double mib(size_t bytes)
{
	return (double)bytes / (1 << 20);
}

/* The summary at exit, in place of the pool's own (pp_stats_at_exit). */
static void print_at_exit(void)
{
	struct pp_stats s;
	size_t allocs, c[PPL_NR_COUNTERS];

	for (int i = 0; i < PPL_NR_COUNTERS; i++)
		c[i] = __atomic_load_n(&counters[i], __ATOMIC_RELAXED);
	pp_stats(&s, sizeof(s));
	allocs = s.try_hits + s.try_misses;
	pp_msg("preload: pool %zu requests (%.1f MiB), C library %zu requests (%.1f MiB), "
	       "cache hit rate %.1f%%, peak committed %.1f MiB, pool refusals %zu (%s, pid %d)",
	       c[PPL_POOL], mib(c[PPL_POOL_BYTES]), c[PPL_LIBC], mib(c[PPL_LIBC_BYTES]),
	       allocs ? 100.0 * (double)s.try_hits / (double)allocs : 0.0,
	       mib(s.peak_committed * s.page_size), c[PPL_FALLBACK], pp_os_progname(),
	       pp_os_getpid());
	if (pp_g.opt.verbose)
		pp_stats_print();	/* the pool's own lines */
}

/* stats=1: count from now on; the pool prints print_at_exit()'s line at exit. */
void ppl_stats_start(void)
{
	store_relaxed(&ppl_counting, true);
	pp_stats_at_exit = print_at_exit;
}
