/* SPDX-License-Identifier: MIT */
/*
 * preload-bench - a page-heavy multithreaded program under the LD_PRELOAD
 * shim, under jemalloc's preload and under plain glibc, side by side.
 *
 *   preload-bench --shim PATH [--quick] [--runs R] [--threads N] [--ops N]
 *                 [--csv FILE] [--no-verify]
 *
 * Configurations: glibc (no LD_PRELOAD), jemalloc (LD_PRELOAD=
 * libjemalloc.so.2; skipped with a note when it does not load) and pagepool
 * (LD_PRELOAD=the shim given with --shim; required).  The parent
 * re-executes itself (/proc/self/exe --child CONFIG) once per configuration
 * and run, the runs interleaving the configurations; it times each child
 * from fork to exit (wall clock) and takes its peak RSS from wait4()'s
 * ru_maxrss.  The table shows the medians over the runs.
 *
 * The workload (one child): N threads, each with a working set of WSET
 * slots and its own seeded xorshift generator, do OPS steps each.  A step
 * picks a random slot.  An occupied slot is, 1 time in 16, grown with
 * realloc() (4-32 KiB more, up to 128 KiB); else its buffer goes: 1 time in
 * 4 through a mutex-protected ring (RING slots) to the next thread, which
 * checks and frees it - a cross-thread free; when the ring is full the
 * thread sleeps until there is room, emptying its own ring meanwhile -
 * otherwise it is checked and freed at once.  An emptied slot gets a new
 * buffer of 4-64 KiB (uniform; a quarter of the sizes rounded down to whole
 * pages): 1 in 32 from posix_memalign(4096), 2 in 32 from calloc(), the
 * rest from malloc().  Every buffer gets one byte written in each 4 KiB, a
 * header at its start and a mark at its end, all checked before it is freed
 * and after realloc(); 1 calloc() buffer in 8 first has its header and end
 * checked to be zero.  Every 8 steps a thread frees what its ring brought.
 * At the end each thread frees its working set and empties its ring until
 * all threads are done.  Every run makes the same calls with the same sizes
 * in each thread; only which thread frees a handed-over buffer when, and how
 * often a thread waits for a full ring, depend on scheduling.
 *
 * The child checks it runs under the intended allocator: pagepool needs
 * dlsym(RTLD_DEFAULT, "pp_owns") and pp_owns(malloc(16384)) == 1; jemalloc
 * needs "mallocx"; glibc needs neither.  --no-verify skips the pagepool
 * check (for trying the driver with a stand-in shim).
 *
 * Child protocol (lines on stdout):
 *   V <config> <version text>
 *   R <config> <threads> <ops> <workload-ns> <allocs> <xfers> <xfer-waits>
 *     <reallocs> <memaligns> <callocs>
 *   P <pool-peak-committed-bytes>          (pagepool only, from pp_stats)
 * Child exit status: 0 done, 2 allocator not loaded (jemalloc: skipped),
 * else failed.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "preload.h"

const char *const config_names[NR_CONFIG] = { "glibc", "jemalloc", "pagepool" };
const char je_preload[] = "libjemalloc.so.2";

/* ---- the driver (parent) ------------------------------------------------- */

struct opts {
	struct bench_opts b;
	bool verify, probe;
	int threads;
	unsigned long ops;
	const char *shim;	/* --shim, then its realpath */
	const char *child;	/* --child CONFIG */
};

struct row {
	int nv;
	double ms[MAX_RUNS];		/* child wall time, fork to exit */
	double work_ms[MAX_RUNS];	/* the threads' part, as the child timed it */
	double cpu_ms[MAX_RUNS];	/* user + system time, from wait4() */
	double rss[MAX_RUNS];		/* ru_maxrss, MiB */
	double pool[MAX_RUNS];		/* pagepool: pool peak committed, MiB */
	int npool;
	unsigned long xfers, xfer_waits;	/* last run */
	char version[PATH_MAX + 64];
	bool avail, failed, skipped;
};

static struct row rows[NR_CONFIG];

/* What a child's lines are read against. */
struct child_ctx {
	const struct opts *o;
	enum config cfg;
	bool got;
};

/* In the child, before exec: its LD_PRELOAD. */
static void child_env(const void *arg)
{
	const struct child_ctx *c = arg;

	switch (c->cfg) {
	case C_GLIBC:
		unsetenv("LD_PRELOAD");
		break;
	case C_JE:
		setenv("LD_PRELOAD", je_preload, 1);
		break;
	case C_PP:
		setenv("LD_PRELOAD", c->o->shim, 1);
		break;
	default:
		abort();
	}
}

/* A child's line into its row (one result at most): 1 the result. */
static int collect(void *ctx, const char *line)
{
	struct child_ctx *c = ctx;
	struct row *r = &rows[c->cfg];
	char name[32];
	unsigned long ops, allocs, xfers, waits, reallocs, aligns, callocs;
	unsigned long long pool;
	double ns;
	int threads, off = 0;

	if (sscanf(line, "R %31s %d %lu %lf %lu %lu %lu %lu %lu %lu", name, &threads, &ops, &ns,
		   &allocs, &xfers, &waits, &reallocs, &aligns, &callocs) == 10 &&
	    !strcmp(name, config_names[c->cfg]) && threads == c->o->threads && ops == c->o->ops &&
	    ns > 0 && !c->got && r->nv < MAX_RUNS) {
		r->work_ms[r->nv] = ns / 1e6;
		r->xfers = xfers;
		r->xfer_waits = waits;
		c->got = true;
		return 1;
	}
	if (sscanf(line, "V %31s %n", name, &off) == 1 && off &&
	    !strcmp(name, config_names[c->cfg])) {
		snprintf(r->version, sizeof(r->version), "%s", line + off);
		return 0;
	}
	if (sscanf(line, "P %llu", &pool) == 1 && r->npool < MAX_RUNS) {
		r->pool[r->npool++] = (double)pool / 1048576;
		return 0;
	}
	return -1;
}

static double tv_ms(const struct timeval *tv)
{
	return (double)tv->tv_sec * 1e3 + (double)tv->tv_usec / 1e3;
}

/*
 * Run one child of @cfg.  @probe: only check the allocator loads (with
 * @quiet, stderr to /dev/null).  Returns 0, EXIT_SKIPPED, or -1 on failure
 * (a message has been printed).
 */
static int spawn(const struct opts *o, enum config cfg, bool probe, bool quiet)
{
	struct row *r = &rows[cfg];
	struct child_ctx ctx = { o, cfg, false };
	char tbuf[16], obuf[32];
	const char *args[16];
	struct bench_child c = { .args = args, .what = config_names[cfg], .env = child_env,
				 .env_arg = &ctx, .line = probe ? NULL : collect, .ctx = &ctx,
				 .quiet = quiet, .may_skip = true };
	int n = 0, rc;

	snprintf(tbuf, sizeof(tbuf), "%d", o->threads);
	snprintf(obuf, sizeof(obuf), "%lu", o->ops);
	args[n++] = o->b.argv0;
	args[n++] = "--child";
	args[n++] = config_names[cfg];
	args[n++] = "--threads";
	args[n++] = tbuf;
	args[n++] = "--ops";
	args[n++] = obuf;
	if (o->b.quick)
		args[n++] = "--quick";
	if (!o->verify)
		args[n++] = "--no-verify";
	if (probe)
		args[n++] = "--probe";
	args[n] = NULL;

	rc = bench_run_child(&c);
	if (rc == 0 && !probe) {
		r->ms[r->nv] = c.ns / 1e6;
		r->rss[r->nv] = (double)c.ru.ru_maxrss / 1024;
		r->cpu_ms[r->nv] = tv_ms(&c.ru.ru_utime) + tv_ms(&c.ru.ru_stime);
		r->nv++;
	}
	return rc;
}

static double row_ms(enum config c)
{
	return rows[c].nv ? median(rows[c].ms, rows[c].nv) : 0;
}

static double row_rss(enum config c)
{
	return rows[c].nv ? median(rows[c].rss, rows[c].nv) : 0;
}

static int parent_main(const struct opts *o)
{
	const int nruns = o->b.runs;
	double t_start = now_ns();
	bool any_fail = false;
	FILE *csv;

	/* Which configurations load: jemalloc may be missing, the shim may not. */
	rows[C_GLIBC].avail = true;
	rows[C_JE].avail = spawn(o, C_JE, true, true) == 0;
	if (!rows[C_JE].avail) {
		rows[C_JE].skipped = true;
		fprintf(stderr, "%s: note: jemalloc skipped (%s not installed or not "
			"loadable)\n", program_invocation_short_name, je_preload);
	}
	if (spawn(o, C_PP, true, false) != 0)
		die("the shim %s does not load or does not serve malloc (see above)", o->shim);
	rows[C_PP].avail = true;

	csv = csv_open(o->b.csv, "config,time_ms_median,time_min,time_max,rss_mib_median,runs,"
		       "threads,ops");

	/* Runs interleave the configurations, so drift in the machine hits them all. */
	for (int run = 1; run <= nruns; run++) {
		for (int c = 0; c < NR_CONFIG; c++) {
			struct row *r = &rows[c];
			int rc;

			if (!r->avail)
				continue;
			rc = spawn(o, (enum config)c, false, false);
			fprintf(stderr, "[run %d/%d] %-9s", run, nruns, config_names[c]);
			if (rc == 0)
				fprintf(stderr, " %9.1f ms (threads %9.1f ms)  peak RSS "
					"%7.1f MiB\n", r->ms[r->nv - 1], r->work_ms[r->nv - 1],
					r->rss[r->nv - 1]);
			else
				fprintf(stderr, " %s\n", rc == EXIT_SKIPPED ? "skipped" : "FAILED");
			if (rc == EXIT_SKIPPED) {
				r->avail = false;
				r->skipped = true;
			} else if (rc != 0) {
				r->failed = true;
				any_fail = true;
			}
		}
	}

	/* Header, table, footer. */
	printf("preload-bench: %d threads x %lu steps, malloc/calloc/posix_memalign buffers of "
	       "%d-%d KiB (realloc growth to %d KiB), %d live per thread, 1 in 4 freed by the "
	       "next thread%s\n", o->threads, o->ops, MIN_SIZE >> 10, MAX_SIZE >> 10,
	       GROW_LIMIT >> 10, WSET, o->b.quick ? "; quick mode" : "");
	bench_print_machine(&o->b, bench_page_size(0));
	md_head("lrrrrr", "configuration | time ms (median of %d) | x glibc | x jemalloc | "
		"peak RSS MiB (median) | RSS x jemalloc", nruns);
	for (int c = 0; c < NR_CONFIG; c++) {
		const struct row *r = &rows[c];
		double ms = row_ms((enum config)c), rss = row_rss((enum config)c);
		char xg[32], xj[32], xr[32], runs[32] = "";

		if (!r->nv) {
			printf("| %s | %s | | | | |\n", config_names[c],
			       r->skipped ? "skipped" : "FAILED");
			continue;
		}
		fmt_ratio(xg, sizeof(xg), ms, row_ms(C_GLIBC));
		fmt_ratio(xj, sizeof(xj), ms, row_ms(C_JE));
		fmt_ratio(xr, sizeof(xr), rss, row_rss(C_JE));
		if (r->nv != nruns)
			snprintf(runs, sizeof(runs), " (%d of %d runs)", r->nv, nruns);
		printf("| %s | %.1f%s | %s | %s | %.1f | %s |\n", config_names[c], ms, runs, xg,
		       xj, rss, xr);
		if (csv)
			fprintf(csv, "%s,%.3f,%.3f,%.3f,%.2f,%d,%d,%lu\n", config_names[c], ms,
				min_of(r->ms, r->nv), max_of(r->ms, r->nv), rss, r->nv,
				o->threads, o->ops);
	}

	printf("\nTime: each child process from fork to exit (wall clock, start-up and exit "
	       "included); peak RSS: its ru_maxrss from wait4().  x glibc, x jemalloc: the "
	       "ratio of the medians (below 1 is faster or smaller).  Each configuration "
	       "runs %d time%s, interleaved.\n", nruns, nruns == 1 ? "" : "s");
	for (int c = 0; c < NR_CONFIG; c++) {
		const struct row *r = &rows[c];

		if (!r->nv)
			continue;
		printf("%s: %s; threads' part %.1f ms, CPU time (user + system) %.1f ms "
		       "(medians)", config_names[c], r->version[0] ? r->version : "?",
		       median(r->work_ms, r->nv), median(r->cpu_ms, r->nv));
		if (r->npool)
			printf("; pool peak committed %.1f MiB (median)",
			       median(r->pool, r->npool));
		if (r->xfer_waits)
			printf("; %lu of %lu hand-overs waited for a full ring",
			       r->xfer_waits, r->xfer_waits + r->xfers);
		printf("\n");
	}
	printf("shim: %s; PAGEPOOL_CONF=%s%s\n", o->shim,
	       getenv("PAGEPOOL_CONF") ? getenv("PAGEPOOL_CONF") : "(unset)",
	       o->verify ? "" : "; --no-verify: the pagepool child was NOT checked to run "
	       "under the shim");
	if (rows[C_JE].skipped)
		printf("jemalloc: skipped (%s not installed or not loadable).\n", je_preload);
	for (int c = 0; c < NR_CONFIG; c++)
		if (rows[c].failed)
			printf("FAILED: %s in %d of %d runs (see stderr).\n", config_names[c],
			       nruns - rows[c].nv, nruns);

	return finish_report(csv, o->b.csv, t_start, any_fail);
}

/* ---- options ------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: preload-bench --shim PATH [--quick] [--runs R] [--threads N] [--ops N]\n"
		"                     [--csv FILE] [--no-verify]\n"
		"  --shim PATH      the LD_PRELOAD shim (libpagepool-preload.so); required\n"
		"  --quick          short run (%d runs, %lu steps per thread)\n"
		"  --runs R         processes per configuration; the median is reported\n"
		"                   (default %d)\n"
		"  --threads N      worker threads (default %d)\n"
		"  --ops N          steps per thread (default %lu; --quick %lu)\n"
		"  --csv FILE       also write the rows to FILE\n"
		"  --no-verify      do not check the pagepool child runs under the shim\n"
		"                   (to try the driver with a stand-in)\n"
		"  --child CONFIG   run the workload in this process and print the raw result\n"
		"                   (CONFIG: glibc, jemalloc, pagepool; set LD_PRELOAD\n"
		"                   yourself); for profilers\n",
		QUICK_RUNS, QUICK_OPS, FULL_RUNS, DEF_THREADS, FULL_OPS, QUICK_OPS);
}

int main(int argc, char **argv)
{
	struct opts o = { .verify = true, .threads = DEF_THREADS };
	const struct bench_opt opts[] = {
		{ "shim", OPT_STR, &o.shim, 0, 0 },
		{ "threads", OPT_INT, &o.threads, 1, MAX_THREADS },
		{ "ops", OPT_ULONG, &o.ops, 1, 1UL << 40 },
		{ "no-verify", OPT_FALSE, &o.verify, 0, 0 },
		{ "child", OPT_STR, &o.child, 0, 0 },
		{ "probe", OPT_TRUE, &o.probe, 0, 0 },
	};
	const char *shim;

	if (bench_options(argc, argv, &o.b, opts, NR_OF(opts), usage) < argc)
		bench_usage_error(usage);
	if (!o.ops)
		o.ops = o.b.quick ? QUICK_OPS : FULL_OPS;

	if (o.child) {
		int cfg;

		for (cfg = 0; cfg < NR_CONFIG && strcmp(config_names[cfg], o.child); cfg++)
			;
		if (cfg == NR_CONFIG)
			die("--child: unknown configuration '%s' (glibc, jemalloc, pagepool)",
			    o.child);
		return child_main((enum config)cfg, o.threads, o.ops, o.verify, o.probe,
				  o.b.quick);
	}

	shim = o.shim;
	if (!shim)
		die("--shim PATH is required (the LD_PRELOAD shim, in the build tree "
		    "preload/.libs/libpagepool-preload.so)");
	o.shim = realpath(shim, NULL);
	if (!o.shim)
		die("--shim %s: %s", shim, strerror(errno));
	if (!o.b.runs)
		o.b.runs = o.b.quick ? QUICK_RUNS : FULL_RUNS;
	return parent_main(&o);
}
