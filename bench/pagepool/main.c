/* SPDX-License-Identifier: MIT */
/*
 * pagepool-bench - page allocation backends side by side, in one run.
 *
 *   pagepool-bench [--quick] [--runs N] [--workload NAME[,NAME...]] [--csv FILE]
 *                  [--latency-csv FILE]
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
 *
 * Child protocol (one line each, on stdout):
 *   R <workload> <row> <ns-per-op> <fallback-%, or -1>
 *   L <backend> <op> <calls> <p50> <p99> <p99.9> <p99.99> <max> <over-10us> <nulls>
 *           (latency: ns after the timer's cost; nulls: NULL returns of
 *           try and nowait)
 *   T <timer-ns> <timer-min-ns> <timer-p99-ns>	(latency: the timer's cost)
 *   C <backend> <pages-per-s>	(latency: the churn thread's rate)
 *   V <backend> <version text>
 * Child exit status: 0 done, 2 backend not available (skipped), else failed.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pagepool.h"
#include "backends.h"

static char versions[NR_BK][128];	/* V lines */

/* A child's line: a result of either table, or its backend's version. */
static int collect(void *ctx, const char *line)
{
	enum backend bk = *(const enum backend *)ctx;
	char name[32];
	int off = 0, rc;

	if ((rc = collect_result(bk, line)) != 0 || (rc = collect_latency(bk, line)) != 0)
		return rc > 0 ? 1 : 0;
	if (sscanf(line, "V %31s %n", name, &off) == 1 && off > 0) {
		snprintf(versions[bk], sizeof(versions[bk]), "%s", line + off);
		return 0;
	}
	return -1;
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
}

/*
 * Run the workloads of @wl_mask (W(WL_*) bits) for @bk in one child.
 * @probe: only check the backend's library loads (stdout and stderr to
 * /dev/null).  Returns 0, EXIT_SKIPPED, or -1 on failure (a message has
 * been printed).
 */
static int spawn(const struct pb_opts *o, enum backend bk, unsigned wl_mask, bool probe)
{
	const char *args[8];
	char list[128] = "";
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

/*
 * One run of @b: a child for the workloads that share a process, then one
 * for each workload with a process of its own.  Returns 0, EXIT_SKIPPED or
 * -1 (some child failed).
 */
static int run_backend(const struct pb_opts *o, enum backend b, int run, bool *avail)
{
	unsigned mask = backend_workloads(b) & o->wl_mask, own = own_mask();
	int result = 0;

	for (int w = -1; w < NR_WL && *avail; w++) {
		unsigned part = w < 0 ? mask & ~own : mask & own & W(w);
		double t = now_ns();
		int rc;

		if (!part)
			continue;
		rc = spawn(o, b, part, false);
		fprintf(stderr, "[run %d/%d] %-13s %-8s %5.1f s%s\n", run, o->b.runs, bks[b].name,
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

static int parent_main(const struct pb_opts *o)
{
	bool avail[NR_BK], failed[NR_BK] = { false }, any_fail = false;
	char skipped[256] = "";
	double t_start = now_ns();
	struct bench_machine m;
	FILE *csv = csv_open(o->b.csv, "workload,backend,ns_per_op,x_jemalloc,runs,min_ns,max_ns");
	FILE *lat_csv = csv_open(o->lat_csv, "backend,op,calls,p50_ns,p99_ns,p999_ns,p9999_ns,"
				 "max_ns,over_10us,runs");
	unsigned own = own_mask();
	int b;

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
			if (avail[b] && run_backend(o, (enum backend)b, run, &avail[b]) < 0) {
				failed[b] = true;
				if (bks[b].required || bks[b].preload)
					any_fail = true;
			}

	/* Header, tables, footer. */
	bench_machine_get(&m);
	printf("pagepool-bench: %s, %d CPUs, %s; page size %zu bytes%s\n\n", m.un.machine,
	       m.cpus, m.cpu, page_size, o->b.quick ? "; quick mode" : "");
	if (o->wl_mask & ~own)
		print_main_table(o, csv);
	if (o->wl_mask & W(WL_LATENCY))
		print_latency_table(o, lat_csv, !(o->wl_mask & ~W(WL_LATENCY)));
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
	return finish_report(csv, o->b.csv, t_start, any_fail);
}

/* ---- options ------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pagepool-bench [--quick] [--runs N] [--workload NAME[,NAME...]]\n"
		"                      [--csv FILE] [--latency-csv FILE]\n"
		"  --quick              short run (well under a minute)\n"
		"  --runs N             processes per backend; the median is reported\n"
		"                       (default 3 with --quick, else 5)\n"
		"  --workload NAME      only pair, batch, bulk, remote, orders or latency\n"
		"                       (several: separated by commas)\n"
		"  --csv FILE           also write the main table's rows to FILE\n"
		"  --latency-csv FILE   also write the latency table's rows to FILE\n"
		"  --backend NAME       internal: run one backend and print raw results\n");
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
			    "latency)", (int)len, p);
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
