/* SPDX-License-Identifier: MIT */
/*
 * pagepool-bench - page allocation backends side by side, in one run.
 *
 *   pagepool-bench [--quick] [--runs N] [--workload NAME[,NAME...]] [--csv FILE]
 *                  [--latency-csv FILE] [--threads-csv FILE]
 *
 * This file: the options, the children (one per backend and run) and the
 * report around the tables; the parts are listed in bench.h.
 *
 * Backends: pagepool-try (pp_alloc_page_try, falling back to
 * pp_alloc_page(0) when this thread's cache is empty), pagepool
 * (pp_alloc_page(0)), jemalloc (mallocx with MALLOCX_ALIGN(page)), glibc
 * (posix_memalign), and, when their libraries are installed, mimalloc
 * (mi_malloc_aligned) and tcmalloc (posix_memalign under
 * libtcmalloc_minimal); for the latency workload also none (no allocator:
 * the floor).  Every backend runs in its own processes: the parent
 * re-executes itself (/proc/self/exe --backend NAME --workload LIST) once
 * per backend and run, and once more for the latency workload (a fresh
 * process, whatever the others leave in the allocator), with LD_PRELOAD set
 * for the allocators that replace malloc; each child prints result lines on
 * stdout, which the parent reads through a pipe; the tables show the median
 * over the runs (the latency table: of each column separately).
 *
 * Each timed loop runs a fixed number of pairs or pages or until a time
 * budget is spent, whichever comes first (so slow backends cannot stretch
 * the run), after an untimed warm-up; it reports ns per pair or page.
 *
 * Workloads (every allocated page gets one byte written, for every backend):
 *   pair    allocate one page, free it; ns per pair
 *   batch   allocate 1000 pages, then free them all; ns per page
 *   bulk    pp_alloc_pages_bulk(0, 64) + pp_free_pages_bulk(64) against a
 *           loop of 64 single allocations then 64 frees (pagepool, and
 *           jemalloc as the reference); ns per page
 *   remote  a producer thread allocates and hands pages through a 1024-slot
 *           single-producer/single-consumer ring to a consumer thread that
 *           frees them; wall ns per page
 *   orders  64 live blocks of orders 0-3; each step frees a random one and
 *           allocates a block of a random order in its place (orders
 *           weighted 8:4:2:1; one seeded sequence for every backend); each
 *           block aligned to its size (pp_alloc_pages(order, 0), or
 *           PP_TRY falling back to 0 for pagepool-try; mallocx with
 *           MALLOCX_ALIGN(size); posix_memalign(size); mi_malloc_aligned);
 *           ns per step (one free + one allocation)
 *   latency the time of each single call, clock_gettime(CLOCK_MONOTONIC)
 *           before and after it, less the timer's own cost (the median of a
 *           back-to-back calibration loop in the same process).  The
 *           measuring thread allocates 512 pages one call at a time, then
 *           frees them one call at a time, over and over, while a churn
 *           thread does the same with 1024-page rounds of the same backend
 *           (so both cross their thread caches and take the allocator's
 *           locks).  Ops: pagepool try (pp_alloc_page_try), nowait
 *           (pp_alloc_page(PP_NOWAIT)), alloc0 (pp_alloc_page(0)) in
 *           rotating rounds, a NULL from try or nowait followed by an
 *           untimed pp_alloc_page(0); free (pp_free_page, in the alloc0
 *           rounds); the other allocators' alloc and free; none: the same
 *           loop around an empty noinline call while the churn thread
 *           touches pages without an allocator (the machine's own stalls).
 *           Samples go to a histogram of 1-ns buckets up to 100 us plus a
 *           list of the longer ones, so the percentiles are exact.  It
 *           prints its own table (and --latency-csv).
 *   threads T = 4, 64 and 256 threads (a process each) start together; each
 *           runs bursts of 1024 pages allocated one call at a time (every
 *           page written) and freed, then blocks, idle; pages per s over the
 *           bursts, and resident memory (and pagepool's committed, cached
 *           and free pages) when idle, and after sleeping past reclaim_ms
 *           plus one slow-path allocation, twice (threads.c).  Its own
 *           table (and --threads-csv).
 *
 * Child protocol (one line each, on stdout):
 *   R <workload> <row> <ns-per-op> <fallback-%, or -1>
 *   L <backend> <op> <calls> <p50> <p99> <p99.9> <p99.99> <max> <over-10us> <nulls>
 *           (latency: ns after the timer's cost; nulls: NULL returns of
 *           try and nowait)
 *   T <timer-ns> <timer-min-ns> <timer-p99-ns>	(latency: the timer's cost)
 *   C <backend> <pages-per-s>	(latency: the churn thread's rate)
 *   H <backend> <T> <rounds> <pages-per-s> <base-rss-kib> then, for the
 *           points idle, decay and decay2: <rss-kib> <committed> <cached>
 *           <free> <reclaimed> (pages; -1 but for pagepool)	(threads)
 *   V <backend> <version text>
 * Child exit status: 0 done, 2 backend not available (skipped), else failed.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pagepool.h"
#include "backends.h"

static char versions[NR_BK][128];	/* V lines */
static pthread_mutex_t collect_lock = PTHREAD_MUTEX_INITIALIZER;	/* threads' children */
static int baton_fd[2] = { -1, -1 };	/* the threads workload's baton pipe */

/* A child's line: a result of any table, or its backend's version. */
static int collect(void *ctx, const char *line)
{
	enum backend bk = *(const enum backend *)ctx;
	char name[32];
	int off = 0, rc;

	pthread_mutex_lock(&collect_lock);
	if ((rc = collect_result(bk, line)) != 0 || (rc = collect_latency(bk, line)) != 0 ||
	    (rc = collect_threads(bk, line)) != 0) {
		rc = rc > 0 ? 1 : 0;
	} else if (sscanf(line, "V %31s %n", name, &off) == 1 && off > 0) {
		snprintf(versions[bk], sizeof(versions[bk]), "%s", line + off);
		rc = 0;
	} else {
		rc = -1;
	}
	pthread_mutex_unlock(&collect_lock);
	return rc;
}

/* In the child, before exec: the backend's preload, the probe's mark. */
static void child_env(const void *arg)
{
	const struct bench_child *c = arg;
	enum backend bk = *(const enum backend *)c->ctx;

	if (bks[bk].preload)
		setenv("LD_PRELOAD", bks[bk].preload, 1);
	if (c->quiet)
		setenv("PAGEPOOL_BENCH_PROBE", "1", 1);
	else
		unsetenv("PAGEPOOL_BENCH_PROBE");
	if (baton_fd[0] >= 0) {
		char fd[32];

		snprintf(fd, sizeof(fd), "%d,%d", baton_fd[0], baton_fd[1]);
		setenv("PAGEPOOL_BENCH_BATON", fd, 1);
	} else {
		unsetenv("PAGEPOOL_BENCH_BATON");
	}
}

/*
 * Run the workloads of @wl_mask (W(WL_*) bits) for @bk in one child.
 * @probe: only check the backend's library loads (stdout and stderr to
 * /dev/null).  Returns 0, EXIT_SKIPPED, or -1 on failure (a message has
 * been printed).
 */
static int spawn(const struct pb_opts *o, enum backend bk, unsigned wl_mask, bool probe)
{
	const char *args[10];
	char list[128] = "", idle[32];
	struct bench_child c = { .args = args, .what = bks[bk].name, .env = child_env,
				 .line = probe ? NULL : collect, .ctx = &bk, .quiet = probe,
				 .may_skip = true };
	int n = 0;

	c.env_arg = &c;
	for (int w = 0; w < NR_WL; w++)
		if (wl_mask & W(w))
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 list[0] ? "," : "", workloads[w].name);
	args[n++] = o->b.argv0;
	args[n++] = "--backend";
	args[n++] = bks[bk].name;
	if (o->b.quick)
		args[n++] = "--quick";
	args[n++] = "--workload";
	args[n++] = list;
	if (wl_mask & W(WL_THREADS)) {
		snprintf(idle, sizeof(idle), "%lu", threads_idle_ms);
		args[n++] = "--idle-ms";
		args[n++] = idle;
	}
	args[n] = NULL;
	return bench_run_child(&c);
}

/* The workloads with a process (and a table) of their own, as W() bits. */
static unsigned own_mask(void)
{
	unsigned m = 0;

	for (int w = 0; w < NR_WL; w++)
		m |= workloads[w].own_process ? W(w) : 0;
	return m;
}

int workload_runs(const struct pb_opts *o, enum workload w)
{
	int q = workloads[w].quick_runs;

	return o->b.quick && q > 0 && q < o->b.runs ? q : o->b.runs;
}

/*
 * One run of @b: a child for the workloads that share a process, then one
 * for each workload with a process of its own.  Returns 0, EXIT_SKIPPED or
 * -1 (some child failed).
 */
static int run_backend(const struct pb_opts *o, enum backend b, int run, bool *avail)
{
	unsigned mask = backend_workloads(b) & o->wl_mask & ~W(WL_THREADS), own = own_mask();
	int result = 0;

	for (int w = -1; w < NR_WL && *avail; w++) {
		unsigned part = w < 0 ? mask & ~own : mask & own & W(w);
		double t = now_ns();
		int rc;

		if (!part || (w >= 0 && run > workload_runs(o, (enum workload)w)))
			continue;
		rc = spawn(o, b, part, false);
		fprintf(stderr, "[run %d/%d] %-13s %-8s %5.1f s%s\n", run,
			w < 0 ? o->b.runs : workload_runs(o, (enum workload)w), bks[b].name,
			w < 0 ? "" : workloads[w].name, (now_ns() - t) / 1e9,
			rc == 0 ? "" : rc == EXIT_SKIPPED ? " (skipped)" : " FAILED");
		if (rc == EXIT_SKIPPED) {
			*avail = false;
			fprintf(stderr, "pagepool-bench: note: %s skipped: %s not loaded\n",
				bks[b].name, bks[b].preload ? bks[b].preload : "library");
			result = rc;
		} else if (rc != 0) {
			result = -1;
		}
	}
	return result;
}

/* The threads workload: every backend's child at once (see run_threads_all). */
struct th_job {
	const struct pb_opts *o;
	enum backend bk;
	int run;
	int rc;
};

static void *threads_job(void *arg)
{
	struct th_job *j = arg;
	double t = now_ns();

	j->rc = spawn(j->o, j->bk, W(WL_THREADS), false);
	pthread_mutex_lock(&collect_lock);
	fprintf(stderr, "[run %d/%d] %-13s %-8s %5.1f s%s\n", j->run,
		workload_runs(j->o, WL_THREADS), bks[j->bk].name, "threads", (now_ns() - t) / 1e9,
		j->rc == 0 ? "" : j->rc == EXIT_SKIPPED ? " (skipped)" : " FAILED");
	pthread_mutex_unlock(&collect_lock);
	return NULL;
}

/*
 * The threads workload's runs.  Its processes spend most of their time
 * asleep, idle, between their memory readings: the backends' children run
 * at the same time, and a baton (a byte in a pipe they all inherit) lets
 * one process at a time create its threads and run its bursts, so no burst
 * shares the CPUs with another and the sleeps overlap.  Sets @failed per
 * backend; clears @avail for a backend skipped.
 */
static void run_threads_all(const struct pb_opts *o, bool *avail, bool *failed)
{
	for (int run = 1; run <= workload_runs(o, WL_THREADS); run++) {
		struct th_job jobs[NR_BK];
		pthread_t th[NR_BK];
		bool started[NR_BK] = { false };
		int err;
		char c = 1;

		if (pipe(baton_fd) != 0 || write(baton_fd[1], &c, 1) != 1)
			die("baton pipe: %s", strerror(errno));
		for (int b = 0; b < NR_BK; b++) {
			if (!avail[b] || !(backend_workloads((enum backend)b) & W(WL_THREADS)))
				continue;
			jobs[b] = (struct th_job){ o, (enum backend)b, run, 0 };
			err = pthread_create(&th[b], NULL, threads_job, &jobs[b]);
			if (err)
				die("pthread_create: %s", strerror(err));
			started[b] = true;
		}
		for (int b = 0; b < NR_BK; b++) {
			if (!started[b])
				continue;
			pthread_join(th[b], NULL);
			if (jobs[b].rc == EXIT_SKIPPED) {
				avail[b] = false;
			} else if (jobs[b].rc != 0) {
				failed[b] = true;
			}
		}
		close(baton_fd[0]);
		close(baton_fd[1]);
		baton_fd[0] = baton_fd[1] = -1;
	}
}

static int parent_main(const struct pb_opts *o)
{
	bool avail[NR_BK], failed[NR_BK] = { false }, any_fail = false;
	char skipped[256] = "";
	double t_start = now_ns();
	struct bench_machine m;
	FILE *csv = csv_open(o->b.csv, "workload,backend,ns_per_op,x_jemalloc,runs,min_ns,max_ns");
	FILE *lat_csv = csv_open(o->lat_csv, "backend,op,calls,p50_ns,p99_ns,p999_ns,p9999_ns,"
				 "max_ns,over_10us,runs");
	FILE *th_csv = csv_open(o->threads_csv, "backend,threads,rounds,pages_per_s,x_jemalloc,"
				"base_mib,rss_idle_mib,rss_decay_mib,rss_decay2_mib,"
				"rss_x_jemalloc,committed_idle_mib,cached_idle_mib,"
				"free_idle_mib,reclaimed_idle_mib,committed_decay_mib,"
				"cached_decay_mib,free_decay_mib,reclaimed_decay_mib,"
				"committed_decay2_mib,cached_decay2_mib,free_decay2_mib,"
				"reclaimed_decay2_mib,runs,rss_decay_min_mib,rss_decay_max_mib,"
				"pages_per_s_min,pages_per_s_max");
	unsigned own = own_mask();
	int b;

	if (o->wl_mask & W(WL_THREADS)) {	/* the threads workload's idle wait */
		size_t v;

		if (pp_option("reclaim_ms", &v) != 0)
			die("pp_option(reclaim_ms): %s", strerror(errno));
		threads_idle_ms = v;
	}

	for (b = 0; b < NR_BK; b++) {
		unsigned mask = backend_workloads((enum backend)b) & o->wl_mask;

		avail[b] = mask != 0;
		if (avail[b] && bks[b].preload && spawn(o, (enum backend)b, mask, true) != 0) {
			avail[b] = false;
			fprintf(stderr, "pagepool-bench: note: %s skipped (%s not installed or not loadable)\n",
				bks[b].name, bks[b].preload);
			snprintf(skipped + strlen(skipped), sizeof(skipped) - strlen(skipped),
				 "%s%s", skipped[0] ? ", " : "", bks[b].name);
		}
	}

	/*
	 * Runs interleave the backends, so drift in the machine hits them all.
	 * The latency workload gets a process of its own: what the others
	 * leave behind in an allocator (dirty pages, purging) is not measured.
	 */
	for (int run = 1; run <= o->b.runs; run++)
		for (b = 0; b < NR_BK; b++)
			if (avail[b] && run_backend(o, (enum backend)b, run, &avail[b]) < 0)
				failed[b] = true;
	if (o->wl_mask & W(WL_THREADS))
		run_threads_all(o, avail, failed);
	for (b = 0; b < NR_BK; b++)
		if (failed[b] && (bks[b].required || bks[b].preload))
			any_fail = true;

	/* Header, tables, footer. */
	bench_machine_get(&m);
	printf("pagepool-bench: %s, %d CPUs, %s; page size %zu bytes%s\n\n", m.un.machine,
	       m.cpus, m.cpu, page_size, o->b.quick ? "; quick mode" : "");
	if (o->wl_mask & ~own)
		print_main_table(o, csv);
	if (o->wl_mask & W(WL_LATENCY))
		print_latency_table(o, lat_csv, !(o->wl_mask & ~own));
	if (o->wl_mask & W(WL_THREADS))
		print_threads_table(o, th_csv, !(o->wl_mask & ~own) &&
				    !(o->wl_mask & W(WL_LATENCY)));
	printf("Versions:");
	for (b = 0; b < NR_BK; b++)
		if (versions[b][0] && b != BK_TRY && b != BK_NONE)
			printf(" %s %s;", bks[b].name, versions[b]);
	printf(" PAGEPOOL_CONF=%s.\n", getenv("PAGEPOOL_CONF") ? getenv("PAGEPOOL_CONF") : "(unset)");
	if (skipped[0])
		printf("Not installed, skipped: %s.\n", skipped);
	for (b = 0; b < NR_BK; b++)
		if (failed[b])
			printf("FAILED: %s (see stderr).\n", bks[b].name);

	if (lat_csv && fclose(lat_csv) != 0)
		die("%s: %s", o->lat_csv, strerror(errno));
	if (th_csv && fclose(th_csv) != 0)
		die("%s: %s", o->threads_csv, strerror(errno));
	return finish_report(csv, o->b.csv, t_start, any_fail);
}

/* ---- options ------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pagepool-bench [--quick] [--runs N] [--workload NAME[,NAME...]]\n"
		"                      [--csv FILE] [--latency-csv FILE] [--threads-csv FILE]\n"
		"  --quick              short run (well under a minute)\n"
		"  --runs N             processes per backend; the median is reported\n"
		"                       (default 3 with --quick, else 5)\n"
		"  --workload NAME      only pair, batch, bulk, remote, orders, latency or\n"
		"                       threads\n"
		"                       (several: separated by commas)\n"
		"  --csv FILE           also write the main table's rows to FILE\n"
		"  --latency-csv FILE   also write the latency table's rows to FILE\n"
		"  --threads-csv FILE   also write the threads table's rows to FILE\n"
		"  --backend NAME       internal: run one backend and print raw results\n"
		"  --idle-ms N          internal: the threads workload's idle wait\n");
}

/* The argument of --workload: names separated by commas. */
static unsigned parse_workloads(const char *arg)
{
	unsigned mask = 0;
	const char *p = arg;

	do {
		size_t len = strcspn(p, ",");
		int w;

		for (w = 0; w < NR_WL; w++)
			if (strlen(workloads[w].name) == len && !strncmp(workloads[w].name, p, len))
				break;
		if (w == NR_WL)
			die("--workload: unknown '%.*s' (pair, batch, bulk, remote, orders, "
			    "latency, threads)", (int)len, p);
		mask |= W(w);
		p += len;
	} while (*p++ == ',');
	return mask;
}

int main(int argc, char **argv)
{
	struct pb_opts o = { .wl_mask = (1u << NR_WL) - 1 };
	const char *wl = NULL;
	const struct bench_opt opts[] = {
		{ "backend", OPT_STR, &o.backend, 0, 0 },
		{ "workload", OPT_STR, &wl, 0, 0 },
		{ "latency-csv", OPT_STR, &o.lat_csv, 0, 0 },
		{ "threads-csv", OPT_STR, &o.threads_csv, 0, 0 },
		{ "idle-ms", OPT_ULONG, &threads_idle_ms, 0, 3600000 },
	};

	if (bench_options(argc, argv, &o.b, opts, NR_OF(opts), usage) < argc)
		bench_usage_error(usage);
	if (wl)
		o.wl_mask = parse_workloads(wl);
	if (!o.b.runs)
		o.b.runs = o.b.quick ? 3 : 5;
	page_size = bench_page_size(pp_page_size());
	je_align_flag = __builtin_ctzl(page_size);	/* MALLOCX_ALIGN(page_size) */

	if (o.backend) {
		for (int b = 0; b < NR_BK; b++)
			if (!strcmp(bks[b].name, o.backend)) {
				if (getenv("PAGEPOOL_BENCH_PROBE"))
					return backend_setup((enum backend)b) ? 0 : EXIT_SKIPPED;
				return child_main((enum backend)b, o.b.quick, o.wl_mask);
			}
		die("--backend: unknown '%s'", o.backend);
	}
	return parent_main(&o);
}
