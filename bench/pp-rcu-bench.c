/* SPDX-License-Identifier: MIT */
/*
 * pp-rcu-bench - deferred free after a grace period: pp_rcu_free() against
 * one call_rcu() per object and synchronize_rcu() + free per object.
 *
 *   pp-rcu-bench [--quick] [--runs R] [--n N] [--n-sync N] [--csv FILE]
 *
 * Flavour: urcu-memb (pp_rcu_init(&urcu_memb_flavor)).  Object kinds:
 *   heap64  malloc(64); for call_rcu the rcu_head is inside the 64 bytes
 *   page    pp_alloc_page(0); for call_rcu the rcu_head is at its start
 * Methods:
 *   pp_rcu_free      pp_rcu_free(obj), the single-argument form
 *   call_rcu         urcu_memb_call_rcu(&obj->head, cb); cb frees the object
 *                    (free() or pp_free_page())
 *   synchronize_rcu  urcu_memb_synchronize_rcu(), then free the object: one
 *                    grace period per object, so it runs far fewer objects
 *
 * Every (kind, method) runs in processes of its own: the parent re-executes
 * itself (/proc/self/exe --child KIND METHOD) once per case and run, so the
 * peak RSS (the child's ru_maxrss) is that of one method.  A child registers
 * with urcu-memb, starts one registered reader thread that loops
 * read_lock/read_unlock (so grace periods have a reader to wait for), then
 * times the producer loop - allocate, write the first 64 bytes, free
 * through the method, N times - up to and including urcu_memb_barrier()
 * (call_rcu) or pp_rcu_barrier() (pp_rcu_free), so every object is really
 * freed inside the timed region.  The producer is never throttled.  Only
 * the pp_rcu_free children call pp_rcu_init() (which starts its helper
 * thread); the others use the pool directly.
 *
 * Child protocol (one line on stdout):
 *   R <kind> <method> <objects> <elapsed-ns> <maxrss-KiB> <start-rss-KiB>
 *     <reader-sections> <pool-peak-pages>
 * Child exit status: 0 done, else failed.
 */
#define _LGPL_SOURCE		/* inline read_lock/read_unlock for the reader */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>

#include "pagepool.h"
#include "pagepool/rcu.h"
#include "harness.h"
#include "bench/targets.h"	/* generated from bench/targets.tsv */

#define OBJ_SIZE	64	/* heap object size; bytes written per object */

/* Objects per case: fast methods, and synchronize_rcu (one GP per object). */
#define FULL_N		10000000UL
#define QUICK_N		1000000UL
#define FULL_N_SYNC	2000UL
#define QUICK_N_SYNC	300UL

/* Targets of the issue: pp_rcu_free against call_rcu (bench/targets.tsv). */
static const double target_speed[] = { TARGET_RCU_HEAP64_SPEED, TARGET_RCU_PAGE_SPEED };
static const double target_rss[] = { TARGET_RCU_HEAP64_RSS, TARGET_RCU_PAGE_RSS };

#define NOINLINE	__attribute__((noinline))

enum kind { K_HEAP, K_PAGE, NR_KIND };
enum method { M_PPR, M_CALL, M_SYNC, M_FREE, NR_METHOD };

static const char *const kind_names[NR_KIND] = { "heap64", "page" };
static const char *const kind_titles[NR_KIND] = { "64-byte heap object", "pool page" };
static const char *const method_names[NR_METHOD] = { "pp_rcu_free", "call_rcu",
						     "synchronize_rcu", "free" };

struct heap_obj {
	struct rcu_head head;
	char payload[OBJ_SIZE - sizeof(struct rcu_head)];
};
_Static_assert(sizeof(struct heap_obj) == OBJ_SIZE, "a heap object is 64 bytes");

static size_t page_size;


/* ---- child: one (kind, method), timed ---------------------------------- */

static atomic_bool reader_stop;
static atomic_int reader_ready;
static unsigned long reader_sections;	/* written by the reader before it exits */
static int reader_data = 1;
static int *reader_ptr = &reader_data;	/* what the reader dereferences */

static void *reader_main(void *arg)
{
	unsigned long n = 0, acc = 0;

	(void)arg;
	urcu_memb_register_thread();
	atomic_store_explicit(&reader_ready, 1, memory_order_release);
	while (!atomic_load_explicit(&reader_stop, memory_order_relaxed)) {
		urcu_memb_read_lock();
		acc += (unsigned long)*rcu_dereference(reader_ptr);
		urcu_memb_read_unlock();
		n++;
	}
	urcu_memb_unregister_thread();
	reader_sections = n + (acc == 0);	/* acc keeps the loads */
	return NULL;
}

static NOINLINE __attribute__((noreturn)) void alloc_failed(enum kind k, unsigned long i)
{
	struct pp_stats st;

	if (k == K_HEAP)
		die("child: malloc(%d) failed after %lu objects: %s", OBJ_SIZE, i,
		    strerror(errno));
	pp_stats(&st, sizeof(st));
	die("child: pp_alloc_page(0) failed after %lu pages: %s (arena %zu MiB, committed "
	    "%zu MiB, in use %zu pages): the arena is too small for the pages in flight",
	    i, strerror(errno), st.arena_bytes >> 20, (st.committed * st.page_size) >> 20,
	    st.in_use);
}

static inline void *obj_alloc(enum kind k, unsigned long i)
{
	void *p = k == K_HEAP ? malloc(OBJ_SIZE) : pp_alloc_page(0);

	if (__builtin_expect(!p, 0))
		alloc_failed(k, i);
	memset(p, (int)(i & 0xff), OBJ_SIZE);	/* the object's first 64 bytes */
	return p;
}

static void heap_cb(struct rcu_head *head)
{
	free(caa_container_of(head, struct heap_obj, head));
}

static void page_cb(struct rcu_head *head)
{
	pp_free_page(head);	/* the rcu_head is the page's first bytes */
}

/*
 * The producer loops, one per (kind, method) so that the timed loop has no
 * dispatch: the kind is a constant after inlining.
 */
static inline __attribute__((always_inline)) void run_ppr(enum kind k, unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		pp_rcu_free(obj_alloc(k, i));
	pp_rcu_barrier();
}

static inline __attribute__((always_inline)) void run_call(enum kind k, unsigned long n)
{
	for (unsigned long i = 0; i < n; i++) {
		struct rcu_head *h = obj_alloc(k, i);	/* offset 0 in both kinds */

		urcu_memb_call_rcu(h, k == K_HEAP ? heap_cb : page_cb);
	}
	urcu_memb_barrier();
}

static inline __attribute__((always_inline)) void run_sync(enum kind k, unsigned long n)
{
	for (unsigned long i = 0; i < n; i++) {
		void *p = obj_alloc(k, i);

		urcu_memb_synchronize_rcu();
		if (k == K_HEAP)
			free(p);
		else
			pp_free_page(p);
	}
}

/* The floor: the same allocation and write, freed at once (no RCU at all). */
static inline __attribute__((always_inline)) void run_free(enum kind k, unsigned long n)
{
	for (unsigned long i = 0; i < n; i++) {
		void *p = obj_alloc(k, i);

		if (k == K_HEAP)
			free(p);
		else
			pp_free_page(p);
	}
}

/* The kind as a constant in each loop, so the timed loop has no dispatch. */
#define BY_KIND(run, k, n) ((k) == K_HEAP ? run(K_HEAP, (n)) : run(K_PAGE, (n)))

static NOINLINE void run_case(enum kind k, enum method m, unsigned long n)
{
	switch (m) {
	case M_PPR:
		BY_KIND(run_ppr, k, n);
		break;
	case M_CALL:
		BY_KIND(run_call, k, n);
		break;
	case M_SYNC:
		BY_KIND(run_sync, k, n);
		break;
	case M_FREE:
		BY_KIND(run_free, k, n);
		break;
	default:
		abort();
	}
}

static int child_main(enum kind k, enum method m, unsigned long n)
{
	struct pp_stats st;
	struct rusage ru;
	pthread_t reader;
	size_t arena = 0;
	long start_rss;
	double t0, t1;
	int err;

	if (m == M_PPR) {
		if (pp_rcu_init(&urcu_memb_flavor) != 0)
			die("child: pp_rcu_init: %s", strerror(errno));
	}
	if (pp_option("arena", &arena) != 0)
		die("child: pp_option(arena): %s", strerror(errno));
	if (k == K_PAGE) {
		/* Worst case, nothing is freed before the end: every page in flight. */
		double worst = (double)n * (double)page_size * 1.01;

		if ((double)arena < worst)
			fprintf(stderr, "pp-rcu-bench: warning: arena %zu MiB < %.0f MiB, the "
				"%lu pages if none were freed before the end; the run fails "
				"if grace periods lag that far\n", arena >> 20, worst / 1048576,
				n);
	}

	urcu_memb_register_thread();
	err = pthread_create(&reader, NULL, reader_main, NULL);
	if (err)
		die("child: pthread_create: %s", strerror(err));
	while (!atomic_load_explicit(&reader_ready, memory_order_acquire))
		sched_yield();
	start_rss = rss_now_kib();

	t0 = now_ns();
	run_case(k, m, n);
	t1 = now_ns();

	atomic_store_explicit(&reader_stop, true, memory_order_relaxed);
	err = pthread_join(reader, NULL);
	if (err)
		die("child: pthread_join: %s", strerror(err));
	urcu_memb_unregister_thread();

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		die("child: getrusage: %s", strerror(errno));
	pp_stats(&st, sizeof(st));
	printf("R %s %s %lu %.0f %ld %ld %lu %zu\n", kind_names[k], method_names[m], n,
	       t1 - t0, ru.ru_maxrss, start_rss, reader_sections, st.peak_committed);
	if (fflush(stdout) != 0 || ferror(stdout))
		die("child: writing results: %s", strerror(errno));
	return 0;
}

/* ---- parent: spawn the children, collect, print ------------------------ */

struct row {
	enum kind k;
	enum method m;
	unsigned long n;
	int nv;
	double ops[MAX_RUNS];		/* objects per second */
	double rss[MAX_RUNS];		/* peak RSS, MiB */
	double rss0[MAX_RUNS];		/* RSS when the timed loop starts, MiB */
	double reads[MAX_RUNS];		/* reader sections per second */
	double pool[MAX_RUNS];		/* pool peak committed, MiB */
	bool failed;
};

static struct row rows[NR_KIND][NR_METHOD];

struct opts {
	struct bench_opts b;
	unsigned long n, n_sync;
	const char *child;	/* --child KIND */
};

/* The child's line into @ctx (a struct row): 1 a result, -1 anything else. */
static int collect(void *ctx, const char *line)
{
	struct row *r = ctx;
	char kname[32], mname[32];
	unsigned long n, reads;
	long maxrss, rss0;
	size_t pool;
	double ns;

	if (sscanf(line, "R %31s %31s %lu %lf %ld %ld %lu %zu", kname, mname, &n, &ns,
		   &maxrss, &rss0, &reads, &pool) != 8 || strcmp(kname, kind_names[r->k]) ||
	    strcmp(mname, method_names[r->m]) || n != r->n || !(ns > 0) || maxrss <= 0 ||
	    r->nv >= MAX_RUNS)
		return -1;
	r->ops[r->nv] = (double)n / (ns / 1e9);
	r->rss[r->nv] = (double)maxrss / 1024;
	r->rss0[r->nv] = (double)rss0 / 1024;
	r->reads[r->nv] = (double)reads / (ns / 1e9);
	r->pool[r->nv] = (double)pool * (double)page_size / 1048576;
	r->nv++;
	return 1;
}

/* Run one child for @r; 0, or -1 on failure (a message has been printed). */
static int spawn(const struct opts *o, struct row *r)
{
	char nbuf[32], what[64];
	const char *args[] = { o->b.argv0, "--child", kind_names[r->k], method_names[r->m],
			       "--n", nbuf, NULL };
	struct bench_child c = { .args = args, .what = what, .line = collect, .ctx = r };
	int nv = r->nv;

	snprintf(nbuf, sizeof(nbuf), "%lu", r->n);
	snprintf(what, sizeof(what), "%s/%s", kind_names[r->k], method_names[r->m]);
	if (bench_run_child(&c) == 0 && r->nv == nv + 1)
		return 0;
	r->nv = nv;		/* the result of a failed child does not count */
	return -1;
}

/* The file urcu-memb was loaded from (liburcu 0.13 has no version macro). */
static void urcu_library(char *buf, size_t len)
{
	Dl_info info;
	char *real;

	snprintf(buf, len, "urcu-memb (library file unknown)");
	if (!dladdr((void *)urcu_memb_synchronize_rcu, &info) || !info.dli_fname)
		return;
	real = realpath(info.dli_fname, NULL);
	snprintf(buf, len, "%s", real ? real : info.dli_fname);
	free(real);
}

static double row_ops(const struct row *r)
{
	return r->nv ? median(r->ops, r->nv) : 0;
}

static double row_rss(const struct row *r)
{
	return r->nv ? median(r->rss, r->nv) : 0;
}


/* A target's verdict; from a quick run, only an indication. */
static const char *verdict(bool met, bool quick)
{
	if (quick)
		return met ? "indicative: met" : "indicative: not met (make bench judges)";
	return met ? "met" : "NOT MET";
}

static int parent_main(const struct opts *o)
{
	static const char csv_head[] = "kind,method,objects,runs,mobj_per_s,ns_per_object,"
		"peak_rss_mib,speed_x_call_rcu,rss_x_call_rcu,min_mobj_per_s,max_mobj_per_s,"
		"min_peak_rss_mib,max_peak_rss_mib,start_rss_mib,pool_peak_mib,"
		"reader_mreads_per_s";
	const int nruns = o->b.runs;
	double t_start = now_ns();
	bool any_fail = false;
	char c1[32], c2[32], lib[PATH_MAX];
	FILE *csv = csv_open(o->b.csv, csv_head);

	for (int k = 0; k < NR_KIND; k++)
		for (int m = 0; m < NR_METHOD; m++) {
			rows[k][m].k = (enum kind)k;
			rows[k][m].m = (enum method)m;
			rows[k][m].n = m == M_SYNC ? o->n_sync : o->n;
		}

	/* Runs interleave the cases, so drift in the machine hits them all. */
	for (int run = 1; run <= nruns; run++) {
		for (int k = 0; k < NR_KIND; k++) {
			for (int m = 0; m < NR_METHOD; m++) {
				struct row *r = &rows[k][m];
				double t = now_ns();
				int rc = spawn(o, r);

				fprintf(stderr, "[run %d/%d] %-6s %-15s %10s objects %6.2f s",
					run, nruns, kind_names[k], method_names[m],
					fmt_count(c1, sizeof(c1), r->n), (now_ns() - t) / 1e9);
				if (rc == 0)
					fprintf(stderr, "  %8.3f Mobj/s  peak RSS %7.1f MiB\n",
						r->ops[r->nv - 1] / 1e6, r->rss[r->nv - 1]);
				else
					fprintf(stderr, "  FAILED\n");
				if (rc != 0) {
					r->failed = true;
					any_fail = true;
				}
			}
		}
	}

	/* Header, table, targets, footer. */
	printf("pp-rcu-bench: urcu-memb, one reader thread looping read_lock/read_unlock%s\n",
	       o->b.quick ? "; quick mode" : "");
	bench_print_machine(&o->b, page_size);
	md_head("llrrrrrr", "kind | method | objects | Mobj/s (median of %d) | ns/object | "
		"peak RSS MiB (median) | speed x call_rcu | peak RSS x call_rcu", nruns);
	for (int k = 0; k < NR_KIND; k++) {
		const struct row *call = &rows[k][M_CALL];

		for (int m = 0; m < NR_METHOD; m++) {
			const struct row *r = &rows[k][m];
			double ops = row_ops(r), rss = row_rss(r);
			char sp[32], rs[32], runs[32] = "", ns[32];

			if (!r->nv) {
				printf("| %s | %s | %s | FAILED | | | | |\n", kind_titles[k],
				       method_names[m], fmt_count(c1, sizeof(c1), r->n));
				continue;
			}
			fmt_ratio(sp, sizeof(sp), ops, row_ops(call));
			fmt_ratio(rs, sizeof(rs), rss, row_rss(call));
			if (r->nv != nruns)
				snprintf(runs, sizeof(runs), " (%d of %d runs)", r->nv, nruns);
			if (1e9 / ops >= 1e5)
				snprintf(ns, sizeof(ns), "%.0f", 1e9 / ops);
			else
				snprintf(ns, sizeof(ns), "%.1f", 1e9 / ops);
			printf("| %s | %s%s | %s | %.3f%s | %s | %.1f | %s | %s |\n",
			       kind_titles[k], method_names[m],
			       m == M_SYNC ? " (*)" : m == M_FREE ? " (no RCU, floor)" : "",
			       fmt_count(c1, sizeof(c1), r->n), ops / 1e6, runs, ns, rss, sp, rs);
			if (csv)
				fprintf(csv, "%s,%s,%lu,%d,%.6f,%.3f,%.2f,%s,%s,%.6f,%.6f,%.2f,"
					"%.2f,%.2f,%.2f,%.3f\n", kind_names[k], method_names[m],
					r->n, r->nv, ops / 1e6, 1e9 / ops, rss, sp, rs,
					min_of(r->ops, r->nv) / 1e6, max_of(r->ops, r->nv) / 1e6,
					min_of(r->rss, r->nv), max_of(r->rss, r->nv),
					median(r->rss0, r->nv), median(r->pool, r->nv),
					median(r->reads, r->nv) / 1e6);
		}
	}

	/*
	 * The targets are set for make bench's run (10 million objects, 5
	 * processes): a quick run is too short to judge them, so its verdicts
	 * are only indicative (issue 20: no NOT MET from a quick run).
	 */
	if (o->b.quick)
		printf("\nTargets, indicative only (a quick run of %lu objects is too short to "
		       "judge them: make bench does):\n\n", rows[0][M_PPR].n);
	else
		printf("\nTargets (pp_rcu_free against one call_rcu per object, medians):\n\n");
	md_head("lrrlrrl", "kind | speed pp_rcu_free / call_rcu | target | | "
		"peak RSS pp_rcu_free / call_rcu | target |");
	for (int k = 0; k < NR_KIND; k++) {
		const struct row *p = &rows[k][M_PPR], *c = &rows[k][M_CALL];
		double target = target_speed[k], sp, rs;

		if (!p->nv || !c->nv) {
			printf("| %s | n/a | >= %.0fx | not measured | n/a | <= %.1fx | "
			       "not measured |\n", kind_titles[k], target, target_rss[k]);
			continue;
		}
		sp = row_ops(p) / row_ops(c);
		rs = row_rss(p) / row_rss(c);
		printf("| %s | %.2fx | >= %.0fx | %s | %.2fx | <= %.1fx | %s |\n",
		       kind_titles[k], sp, target, verdict(sp >= target, o->b.quick), rs,
		       target_rss[k], verdict(rs <= target_rss[k], o->b.quick));
	}

	/* What the deferral itself costs: time per object above the floor. */
	printf("\nCost of the deferral alone (ns per object above the \"free\" floor: the same "
	       "allocation and write, freed at once):\n\n");
	md_head("lrrrr", "kind | floor ns | pp_rcu_free ns | call_rcu ns | call_rcu / pp_rcu_free");
	for (int k = 0; k < NR_KIND; k++) {
		const struct row *p = &rows[k][M_PPR], *c = &rows[k][M_CALL], *f = &rows[k][M_FREE];
		double fl, pn, cn;

		if (!p->nv || !c->nv || !f->nv)
			continue;
		fl = 1e9 / row_ops(f);
		pn = 1e9 / row_ops(p) - fl;
		cn = 1e9 / row_ops(c) - fl;
		printf("| %s | %.1f | %.1f | %.1f | %.2fx |\n", kind_titles[k], fl, pn, cn,
		       pn > 0 ? cn / pn : 0.0);
	}

	printf("\n(*) synchronize_rcu + free: one grace period per object, so only %s "
	       "objects per run (the others: %s); its Mobj/s and ns/object are per object "
	       "all the same.\n", fmt_count(c1, sizeof(c1), o->n_sync),
	       fmt_count(c2, sizeof(c2), o->n));
	printf("Each (kind, method) runs in its own process, %d time%s, interleaved; the "
	       "medians of objects/s and of peak RSS (ru_maxrss: the whole process, libraries "
	       "and threads included) are taken separately.\n", nruns,
	       nruns == 1 ? "" : "s");
	printf("Timed: allocate (malloc(%d) or pp_alloc_page(0)), write the first %d bytes, "
	       "free through the method; then urcu_memb_barrier() or pp_rcu_barrier(), so "
	       "every object has been freed when the clock stops.  The producer is not "
	       "throttled.\n", OBJ_SIZE, OBJ_SIZE);
	printf("call_rcu: rcu_head at offset 0 of the object (inside the 64 bytes, or at "
	       "the start of the page); the callback calls free() or pp_free_page().\n");
	urcu_library(lib, sizeof(lib));
	printf("liburcu: %s; PAGEPOOL_CONF=%s.\n", lib,
	       getenv("PAGEPOOL_CONF") ? getenv("PAGEPOOL_CONF") : "(unset)");
	for (int k = 0; k < NR_KIND; k++)
		for (int m = 0; m < NR_METHOD; m++)
			if (rows[k][m].failed)
				printf("FAILED: %s/%s in %d of %d runs (see stderr).\n",
				       kind_names[k], method_names[m],
				       nruns - rows[k][m].nv, nruns);

	return finish_report(csv, o->b.csv, t_start, any_fail);
}

/* ---- options ------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pp-rcu-bench [--quick] [--runs R] [--n N] [--n-sync N] [--csv FILE]\n"
		"  --quick          short run (%lu objects per case, well under 30 s)\n"
		"  --runs R         processes per case; the median is reported\n"
		"                   (default 3)\n"
		"  --n N            objects per case (default %lu; --quick %lu)\n"
		"  --n-sync N       objects for synchronize_rcu (default %lu; --quick %lu;\n"
		"                   never more than --n)\n"
		"  --csv FILE       also write the rows to FILE\n"
		"  --child KIND METHOD\n"
		"                   run one case in this process and print the raw result\n"
		"                   line (KIND: heap64, page; METHOD: pp_rcu_free, call_rcu,\n"
		"                   synchronize_rcu); for profilers\n",
		QUICK_N, FULL_N, QUICK_N, FULL_N_SYNC, QUICK_N_SYNC);
}

int main(int argc, char **argv)
{
	struct opts o = { .n = 0 };
	const struct bench_opt opts[] = {
		{ "n", OPT_ULONG, &o.n, 1, 1UL << 40 },
		{ "n-sync", OPT_ULONG, &o.n_sync, 1, 1UL << 40 },
		{ "child", OPT_STR, &o.child, 0, 0 },
	};
	int first = bench_options(argc, argv, &o.b, opts, NR_OF(opts), usage);

	page_size = bench_page_size(pp_page_size());
	if (o.child) {
		int k, m;

		if (first + 1 != argc)
			die("--child KIND METHOD: METHOD missing or extra arguments");
		for (k = 0; k < NR_KIND && strcmp(kind_names[k], o.child); k++)
			;
		for (m = 0; m < NR_METHOD && strcmp(method_names[m], argv[first]); m++)
			;
		if (k == NR_KIND || m == NR_METHOD)
			die("--child: unknown case '%s %s'", o.child, argv[first]);
		if (!o.n)
			o.n = m == M_SYNC ? (o.b.quick ? QUICK_N_SYNC : FULL_N_SYNC)
					  : (o.b.quick ? QUICK_N : FULL_N);
		return child_main((enum kind)k, (enum method)m, o.n);
	}
	if (first < argc)
		bench_usage_error(usage);
	if (!o.b.runs)
		o.b.runs = 3;
	if (!o.n)
		o.n = o.b.quick ? QUICK_N : FULL_N;
	if (!o.n_sync)
		o.n_sync = o.b.quick ? QUICK_N_SYNC : FULL_N_SYNC;
	if (o.n_sync > o.n)
		o.n_sync = o.n;
	return parent_main(&o);
}
