/* SPDX-License-Identifier: MIT */
/*
 * bench.h - pagepool-bench's own interface between its parts: the backends
 * (backends.c), the workloads (one file each, listed in workloads.c), the
 * child that runs them (child.c) and the parent's tables (table.c,
 * latency-table.c, main.c).  The program as a whole is described in
 * main.c.
 */
#ifndef PP_BENCH_PAGEPOOL_BENCH_H
#define PP_BENCH_PAGEPOOL_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "harness.h"

#define BATCH_PAGES	1000
#define BULK_PAGES	64
#define ORD_LIVE	64		/* orders: live blocks (power of two) */
#define LAT_ROUND	512		/* latency: pages per round, measuring thread */
#define CHURN_PAGES	1024		/* latency: pages per round, churn thread */
#define LAT_BUCKETS	100000		/* latency: 1-ns histogram buckets (100 us) */
#define LAT_OVER_NS	10000		/* latency: calls above this are counted */
#define LAT_CALIB	200000		/* latency: back-to-back timer pairs to calibrate */
#define THREADS_BURST	1024		/* threads: pages per burst, per thread */
#define NR_THREADS_POINTS 3		/* threads: the thread counts (threads.c) */

#define ALWAYS_INLINE	inline __attribute__((always_inline))
#define NOINLINE	__attribute__((noinline))

/* ---- backends (backends.c) ------------------------------------------------ */

enum backend { BK_TRY, BK_PP, BK_JE, BK_GLIBC, BK_MI, BK_TC, BK_NONE, NR_BK };

#define B(x) (1u << (x))

struct bkinfo {
	const char *name;
	const char *preload;	/* library to LD_PRELOAD, or NULL */
	bool required;		/* its failure fails the run */
};

extern const struct bkinfo bks[NR_BK];

/* Check the backend's library is loaded, find its entry points, print V. */
bool backend_setup(enum backend bk);

/* ---- workloads (workloads.c, one file each) ------------------------------ */

enum workload { WL_PAIR, WL_BATCH, WL_BULK, WL_REMOTE, WL_ORDERS, WL_LATENCY, WL_THREADS,
		NR_WL };

#define W(x) (1u << (x))

/* How long each timed loop may run. */
struct sizes {
	size_t pair;		/* most pairs (orders: steps) per timed loop */
	size_t pages;		/* most pages per timed loop (batch, bulk, remote) */
	double budget;		/* most ns per timed loop */
	double warm_budget;	/* most ns per warm-up loop (a tenth of the units) */
	size_t lat_samples;	/* latency: calls timed per op */
	double lat_budget;	/* latency: most ns for all of a backend's ops */
	unsigned threads_rounds;	/* threads: bursts per thread */
};

extern const struct sizes quick_sizes, full_sizes;

/*
 * A workload: what runs it in the child, which backends it runs, and how
 * the parent shows it.  A new workload is a file with its run function and
 * an entry in workloads[] (workloads.c).
 */
struct wl_info {
	const char *name;
	unsigned backends;	/* B(BK_*) bits */
	const char *first_row;	/* a row of its own before the backends', or NULL */
	bool own_process;	/* runs in a fresh process and has its own table */
	void (*run)(enum backend bk, const struct sizes *sz);
	int quick_runs;		/* with --quick, at most this many runs (0: --runs) */
};

extern const struct wl_info workloads[NR_WL];

/* The W(WL_*) bits of the workloads @bk runs. */
unsigned backend_workloads(enum backend bk);

/* The child: run @bk's share of @wl_mask; the exit status. */
int child_main(enum backend bk, bool quick, unsigned wl_mask);

/* A timed loop's result: the time and the units (pairs, pages, steps) done. */
struct meas {
	double ns;
	size_t units;
};

/* Print the R line of @row in @wl: ns per unit and pagepool-try's fallback %. */
void report(enum workload wl, const char *row, struct meas m, double fb);

/* pagepool-try's fallbacks in % of @units, -1 for other backends. */
double fallback_pct(enum backend bk, size_t units);

/* Before timing pagepool-try: one pp_alloc_page(0)+free round of @k pages. */
void prewarm_try(enum backend bk, size_t k, void **arr);

/* batch's loop, also bulk's reference: rounds of @k allocations then frees. */
struct meas do_batch(enum backend bk, size_t max, double budget, size_t k, void **arr);

void run_pair(enum backend bk, const struct sizes *sz);
void run_batch(enum backend bk, const struct sizes *sz);
void run_bulk(enum backend bk, const struct sizes *sz);
void run_remote(enum backend bk, const struct sizes *sz);
void run_orders(enum backend bk, const struct sizes *sz);
void run_latency(enum backend bk, const struct sizes *sz);
void run_threads(enum backend bk, const struct sizes *sz);

/* threads: the thread counts, and the idle wait (reclaim_ms, from the parent). */
extern const unsigned threads_points[NR_THREADS_POINTS];
extern unsigned long threads_idle_ms;

/* ---- the parent (main.c) and its tables (table.c, latency-table.c) ------- */

struct pb_opts {
	struct bench_opts b;
	unsigned wl_mask;	/* --workload: W(WL_*) bits */
	const char *lat_csv;	/* --latency-csv */
	const char *threads_csv;	/* --threads-csv */
	const char *backend;	/* --backend: run as the child of this backend */
};

/*
 * A line of a child of @bk: 1 a result, 0 none of the table's lines, -1 a
 * bad one (reported).  R lines go to the main table, L, T and C lines to
 * the latency table, H lines to the threads table.
 */
int collect_result(enum backend bk, const char *line);
int collect_latency(enum backend bk, const char *line);
int collect_threads(enum backend bk, const char *line);

/* The processes per backend that workload @w runs: --runs, or fewer with --quick. */
int workload_runs(const struct pb_opts *o, enum workload w);

void print_main_table(const struct pb_opts *o, FILE *csv);
void print_latency_table(const struct pb_opts *o, FILE *csv, bool command);
void print_threads_table(const struct pb_opts *o, FILE *csv, bool command);

#endif /* PP_BENCH_PAGEPOOL_BENCH_H */
