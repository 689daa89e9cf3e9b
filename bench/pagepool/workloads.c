/* SPDX-License-Identifier: MIT */
/*
 * workloads.c - pagepool-bench's list of workloads (each in a file of its
 * own), how long their timed loops run, and the child that runs a
 * backend's share of them and prints the result lines.
 *
 * A new workload: a file with its run function (see pair.c: warm up,
 * time, report()), its entry in the enum of bench.h and in workloads[]
 * below, and, when its rows are to be judged, its targets in
 * bench/targets.tsv.  The parent spawns, collects and tabulates it with
 * the others: the main table lists a workload's rows in backend order.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "backends.h"

/* Every backend that allocates pages (not none). */
#define ALLOCATORS (B(BK_TRY) | B(BK_PP) | B(BK_JE) | B(BK_GLIBC) | B(BK_MI) | B(BK_TC))

const struct wl_info workloads[NR_WL] = {
	[WL_PAIR]    = { "pair", ALLOCATORS, NULL, false, run_pair },
	[WL_BATCH]   = { "batch", ALLOCATORS, NULL, false, run_batch },
	[WL_BULK]    = { "bulk", B(BK_PP) | B(BK_JE), "pagepool-bulk64", false, run_bulk },
	[WL_REMOTE]  = { "remote", ALLOCATORS, NULL, false, run_remote },
	[WL_ORDERS]  = { "orders", ALLOCATORS, NULL, false, run_orders },
	/* pagepool-try is one of pagepool's ops there; none is the floor. */
	[WL_LATENCY] = { "latency", (ALLOCATORS & ~B(BK_TRY)) | B(BK_NONE), NULL, true,
			 run_latency },
	/*
	 * A process per thread count (threads.c); pagepool-try would be
	 * pagepool.  Its idle waits take seconds: one run with --quick.
	 */
	[WL_THREADS] = { "threads", ALLOCATORS & ~B(BK_TRY), NULL, true, run_threads, 1 },
};

const struct sizes quick_sizes = {
	.pair = 5000000, .pages = 5000000, .budget = 0.4e9, .warm_budget = 0.1e9,
	.lat_samples = 200000, .lat_budget = 1.0e9, .threads_rounds = 4,
};
const struct sizes full_sizes = {
	.pair = 20000000, .pages = 20000000, .budget = 1.5e9, .warm_budget = 0.3e9,
	.lat_samples = 1000000, .lat_budget = 5e9, .threads_rounds = 4,
};

unsigned backend_workloads(enum backend bk)
{
	unsigned mask = 0;

	for (int w = 0; w < NR_WL; w++)
		if (workloads[w].backends & B(bk))
			mask |= W(w);
	return mask;
}

void report(enum workload wl, const char *row, struct meas m, double fb)
{
	if (!m.units)
		die("%s %s: no work done", workloads[wl].name, row);
	printf("R %s %s %.3f %.2f\n", workloads[wl].name, row, m.ns / (double)m.units, fb);
	fflush(stdout);
}

double fallback_pct(enum backend bk, size_t units)
{
	return bk == BK_TRY ? 100.0 * (double)try_fallbacks / (double)units : -1;
}

void prewarm_try(enum backend bk, size_t k, void **arr)
{
	if (bk == BK_TRY)
		do_batch(BK_PP, k, 1e12, k, arr);
}

int child_main(enum backend bk, bool quick, unsigned wl_mask)
{
	const struct sizes *sz = quick ? &quick_sizes : &full_sizes;

	alarm(quick ? 120 : 600);	/* a hung child fails, not the whole run */
	if (!backend_setup(bk))
		return EXIT_SKIPPED;
	wl_mask &= backend_workloads(bk);
	for (int w = 0; w < NR_WL; w++)
		if (wl_mask & W(w))
			workloads[w].run(bk, sz);
	if (fflush(stdout) != 0 || ferror(stdout))
		die("writing results: %s", strerror(errno));
	return 0;
}
