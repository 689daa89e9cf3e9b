/* SPDX-License-Identifier: MIT */
/*
 * fallback-bench - a kfree_rcu-like flood whose pointer blocks are taken
 * without blocking (PP_TRY, PP_NOWAIT): how often the fallback path is taken
 * and how much memory is held, by per-thread cache size and refill policy.
 *
 *   fallback-bench [--quick] [--runs R] [--threads N] [--delay-ms D]
 *                  [--rate R] [--objects N] [--reclaim remote|local|both]
 *                  [--sample-us U] [--precommit MIB] [--csv FILE]
 *
 * This is the experiment the seed thread asked for and never ran ("we do
 * not have any meaningful numbers"; "~400 pages to cover the bandwidth").
 *
 * The workload.  N flooder threads (default 2) each "kvfree_rcu" a stream of
 * objects, paced to R objects/s per thread (default 10M; 0 = flat out).  An
 * object is a dummy pointer (an id, never dereferenced: no malloc, so only
 * the pool's pages are measured).  Each needs a slot in the thread's current
 * page-sized pointer block (a pool page: a 3-word header and 509 pointers
 * with 4 KiB pages).  When there is no current block - the last one filled -
 * the next object asks for a new block page with the mode under test:
 *   try         pp_alloc_page_try(): this thread's cache only
 *   nowait      pp_alloc_page(PP_NOWAIT): cache, then a trylock refill
 *   try+nowait  pp_alloc_page_try(), then pp_alloc_page(PP_NOWAIT) (the
 *               kernel's order of attempts; in pagepool PP_NOWAIT already
 *               pops the cache first, so this row is a replicate of nowait:
 *               the difference between the two is run-to-run noise)
 * If that fails the object takes the fallback path (the kernel links it
 * through its embedded rcu_head, or waits for a grace period): here it is
 * counted and its id added to an overflow checksum.  As kvfree_call_rcu()
 * does, every object retries the allocation while there is no block.
 * A full block is "handed to RCU" with a time stamp; it is freed with
 * pp_free_page() once a grace period - a fixed delay D, default 10 ms like
 * liburcu's call_rcu thread, --delay-ms 1 or 100 for the other regimes -
 * has passed since, after its pointers are "freed" (read and summed, as
 * kfree_bulk() walks the array).  Who frees the block:
 *   remote  a reclaimer thread: each flooder pushes full blocks on a
 *           lock-free stack, the reclaimer takes them, sleeps until the
 *           oldest is due and frees it.  The pages go into the reclaimer's
 *           cache and back to the global lists in batches, so a flooder's
 *           cache only ever refills from the global lists: PP_TRY alone has
 *           nothing to live on
 *   local   the flooder frees its own due blocks (checked every 256
 *           objects): the kernel's case, where kfree_rcu_work runs on the
 *           CPU whose per-CPU block list it drains, so block pages return
 *           to that CPU's pcp list
 *
 * The sweep: reclaim model x mode x refill policy x per-thread cache size
 * high (16, 64, 256, 1024 pages).  Policies:
 *   small    batch = high/8 (small refills and drains)
 *   large    batch = high/2
 *   prefill  batch = high/2, and each flooder warms its cache before the
 *            flood: pp_alloc_pages_bulk(0, high) then pp_free_pages_bulk()
 *            (the kernel's later answer: a per-CPU stash of spare blocks)
 * Pool options are fixed at first use, so every configuration runs in a
 * process of its own: the parent re-executes itself (/proc/self/exe
 * --child ...) with PAGEPOOL_CONF="<yours>,high=H,batch=B".  The child
 * initialises the pool and commits --precommit MiB of it (allocated with
 * flags 0 in 4 MiB blocks and freed, untouched), because PP_NOWAIT never
 * grows the arena: the kernel's zone has its free memory already; a
 * fallback here should mean "lock busy" or "cache empty", not "no memory".
 *
 * Measured per configuration: objects queued, blocks needed (objects / 509,
 * per thread), fallbacks (objects that took the fallback path) and their
 * share of the objects (= of the block slots needed), peak pages in flight
 * (blocks handed to RCU and not yet freed: exact, taken by the freeing
 * thread just before each free and by the monitor) and its mean, peak pages
 * held (the pool's in_use + cached: pp_stats() sampled by a monitor thread
 * every --sample-us, default 1 ms, while every flooder is queueing;
 * pp_stats() takes the global lock, a small perturbation of the trylocks
 * measured) and the largest "held - in flight" of one sample (what the
 * caches cost), peak RSS (ru_maxrss of the child), and ns per object (the
 * flooders' thread CPU time per object: slot store, block allocation,
 * hand-over, pacing checks; the sleeps themselves excluded).  The child
 * checks that every object was either freed from a block or counted as a
 * fallback (count and id checksum) and that no pool page is still in use
 * at the end.
 *
 * Child protocol (one line on stdout):
 *   R <mode> <policy> <reclaim> <high> <batch> <threads> <delay-ms>
 *     <objects> <blocks-needed> <blocks-got> <fallbacks> <peak-inflight>
 *     <mean-inflight> <peak-held> <peak-held-beyond-inflight> <samples>
 *     <maxrss-KiB> <start-rss-KiB> <cpu-ns> <wall-ns> <min-free>
 *     <trylock-fails> <refills> <drains>
 * Child exit status: 0 done, else failed.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pagepool.h"
#include "fallback.h"

const unsigned highs[NR_HIGH] = { 16, 64, 256, 1024 };

const char *const mode_names[NR_MODE] = { "try", "nowait", "try+nowait" };
const char *const policy_names[NR_POLICY] = { "small", "large", "prefill" };
const char *const policy_desc[NR_POLICY] = { "batch=high/8", "batch=high/2",
					     "batch=high/2, cache prefilled" };
const char *const reclaim_names[NR_RECLAIM] = { "remote", "local" };

size_t page_size;
size_t slots;

static unsigned batch_of(enum policy p, unsigned high)
{
	unsigned b = p == P_SMALL ? high / 8 : high / 2;

	return b ? b : 1;
}

/* ---- parent: the sweep ---------------------------------------------------- */

struct row {
	enum reclaim reclaim;
	enum mode mode;
	enum policy policy;
	unsigned high, batch;
	int nv;
	uint64_t objects, needed;
	double got[MAX_RUNS], fb[MAX_RUNS], inflight[MAX_RUNS], held[MAX_RUNS];
	double mean_infl[MAX_RUNS], extra[MAX_RUNS], samples[MAX_RUNS];
	double rss[MAX_RUNS], rss0[MAX_RUNS], ns[MAX_RUNS], wall[MAX_RUNS];
	double minfree[MAX_RUNS], tlf[MAX_RUNS], refills[MAX_RUNS], drains[MAX_RUNS];
	bool failed;
};

/* Every configuration, by reclaim model, mode, policy and cache size. */
#define NR_ROWS (NR_RECLAIM * NR_MODE * NR_POLICY * NR_HIGH)
#define ROW(rc, m, p, h) (&rows[(((rc) * NR_MODE + (m)) * NR_POLICY + (p)) * NR_HIGH + (h)])

static struct row rows[NR_ROWS];

struct opts {
	struct bench_opts b;
	int reclaim;			/* -1: both */
	struct params p;
	const char *child;		/* --child MODE */
};

static void child_env(const void *arg)
{
	setenv("PAGEPOOL_CONF", arg, 1);
}

/* The child's line into @ctx (its struct row): 1 the result, -1 anything else. */
static int collect(void *ctx, const char *line)
{
	struct row *r = ctx;
	char mode[32], pol[32], rec[32];
	unsigned high, batch, threads, delay;
	uint64_t objs, needed, got, fbs, cpu, wall;
	size_t infl, held, extra, minfree, tlf, refills, drains;
	uint64_t samples;
	double mean_infl;
	long maxrss, rss0;
	int k;

	if (sscanf(line, "R %31s %31s %31s %u %u %u %u %" SCNu64 " %" SCNu64 " %" SCNu64
		   " %" SCNu64 " %zu %lf %zu %zu %" SCNu64 " %ld %ld %" SCNu64 " %" SCNu64
		   " %zu %zu %zu %zu", mode, pol, rec, &high, &batch, &threads, &delay, &objs,
		   &needed, &got, &fbs, &infl, &mean_infl, &held, &extra, &samples, &maxrss,
		   &rss0, &cpu, &wall, &minfree, &tlf, &refills, &drains) != 24 ||
	    strcmp(mode, mode_names[r->mode]) || strcmp(pol, policy_names[r->policy]) ||
	    strcmp(rec, reclaim_names[r->reclaim]) || high != r->high || batch != r->batch ||
	    !objs || r->nv >= MAX_RUNS)
		return -1;
	k = r->nv++;
	r->objects = objs;
	r->needed = needed;
	r->got[k] = (double)got;
	r->fb[k] = (double)fbs;
	r->inflight[k] = (double)infl;
	r->mean_infl[k] = mean_infl;
	r->extra[k] = (double)extra;
	r->samples[k] = (double)samples;
	r->held[k] = (double)held;
	r->rss[k] = (double)maxrss / 1024;
	r->rss0[k] = (double)rss0 / 1024;
	r->ns[k] = (double)cpu / (double)objs;
	r->wall[k] = (double)wall / 1e9;
	r->minfree[k] = (double)minfree;
	r->tlf[k] = (double)tlf;
	r->refills[k] = (double)refills;
	r->drains[k] = (double)drains;
	return 1;
}

/* Run one child for @r; 0, or -1 on failure (a message has been printed). */
static int spawn(const struct opts *o, struct row *r)
{
	char conf[512], high[16], batch[16], thr[16], delay[16], rate[32], objs[32];
	char samp[16], pre[32], what[64];
	const char *user = getenv("PAGEPOOL_CONF");
	const char *args[] = { o->b.argv0, "--threads", thr, "--delay-ms", delay, "--rate", rate,
			       "--objects", objs, "--sample-us", samp, "--precommit", pre,
			       "--child", mode_names[r->mode], policy_names[r->policy],
			       reclaim_names[r->reclaim], high, batch, NULL };
	struct bench_child c = { .args = args, .what = what, .env = child_env, .env_arg = conf,
				 .line = collect, .ctx = r };
	int nv = r->nv;

	/* high_max=high: the cache size under test stays fixed (no growth). */
	snprintf(conf, sizeof(conf), "%s%shigh=%u,high_max=%u,batch=%u", user && *user ? user : "",
		 user && *user ? "," : "", r->high, r->high, r->batch);
	snprintf(high, sizeof(high), "%u", r->high);
	snprintf(batch, sizeof(batch), "%u", r->batch);
	snprintf(thr, sizeof(thr), "%u", o->p.threads);
	snprintf(delay, sizeof(delay), "%u", o->p.delay_ms);
	snprintf(rate, sizeof(rate), "%lu", o->p.rate);
	snprintf(objs, sizeof(objs), "%lu", o->p.objects);
	snprintf(samp, sizeof(samp), "%u", o->p.sample_us);
	snprintf(pre, sizeof(pre), "%lu", o->p.precommit_mib);
	snprintf(what, sizeof(what), "%s/%s/%s high=%u", reclaim_names[r->reclaim],
		 mode_names[r->mode], policy_names[r->policy], r->high);
	if (bench_run_child(&c) == 0 && r->nv == nv + 1)
		return 0;
	r->nv = nv;		/* the result of a failed child does not count */
	return -1;
}

static double med(const double *v, int n)
{
	return n ? median(v, n) : 0;
}

/* The lowest free-list level any run's monitor saw; -1 if none sampled. */
static double min_free(const struct row *r)
{
	double m = -1;

	for (int k = 0; k < r->nv; k++)
		if (r->samples[k] > 0 && (m < 0 || r->minfree[k] < m))
			m = r->minfree[k];
	return m;
}

/* A run whose monitor took fewer than half the samples the run should give. */
static bool starved(const struct row *r, unsigned sample_us)
{
	for (int k = 0; k < r->nv; k++)
		if (r->samples[k] < r->wall[k] * 1e6 / sample_us / 2)
			return true;
	return false;
}

static double row_pct(const struct row *r)
{
	return 100.0 * med(r->fb, r->nv) / (double)r->objects;
}

/* "12.3", "0.042", "3.3e-05", "0": a percentage readable at both ends. */
static const char *fmt_pct(char *buf, size_t len, double pct)
{
	if (pct == 0)
		snprintf(buf, len, "0");
	else if (pct < 0.01)
		snprintf(buf, len, "%.2g", pct);
	else if (pct < 1)
		snprintf(buf, len, "%.3f", pct);
	else
		snprintf(buf, len, "%.1f", pct);
	return buf;
}

static bool reclaim_on(const struct opts *o, int rc)
{
	return o->reclaim < 0 || o->reclaim == rc;
}

static int parent_main(const struct opts *o)
{
	double t_start = now_ns(), expect;
	bool any_fail = false;
	const int nruns = o->b.runs;
	char b1[32];
	const char *user = getenv("PAGEPOOL_CONF");
	FILE *csv = csv_open(o->b.csv, "mode,high,batch,threads,delay_ms,objects,blocks,fallbacks,"
			     "fallback_pct,peak_inflight_pages,peak_held_pages,peak_rss_mib,"
			     "ns_per_object,policy,reclaim,rate_per_thread,runs,blocks_got,"
			     "trylock_fails,refills,drains,start_rss_mib,min_free_pages,run_s,"
			     "mean_inflight_pages,peak_held_beyond_inflight_pages,monitor_samples");
	int total = 0, done = 0;

	for (size_t i = 0; i < NR_ROWS; i++) {
		struct row *r = &rows[i];

		r->reclaim = (enum reclaim)(i / (NR_MODE * NR_POLICY * NR_HIGH));
		r->mode = (enum mode)(i / (NR_POLICY * NR_HIGH) % NR_MODE);
		r->policy = (enum policy)(i / NR_HIGH % NR_POLICY);
		r->high = highs[i % NR_HIGH];
		r->batch = batch_of(r->policy, r->high);
		total += reclaim_on(o, r->reclaim) ? nruns : 0;
	}

	/* Runs interleave the configurations, so drift hits them all. */
	for (int run = 1; run <= nruns; run++)
		for (size_t i = 0; i < NR_ROWS; i++) {
			struct row *r = &rows[i];
			double t = now_ns();
			int k;

			if (!reclaim_on(o, r->reclaim))
				continue;
			done++;
			if (spawn(o, r) != 0) {
				r->failed = any_fail = true;
				fprintf(stderr, "[%d/%d] FAILED\n", done, total);
				continue;
			}
			k = r->nv - 1;
			fprintf(stderr, "[%d/%d] %-6s %-10s %-7s high %4u batch %3u: fallback %8s%%  "
				"in flight %5.0f  held %5.0f  %.2f s\n", done, total,
				reclaim_names[r->reclaim], mode_names[r->mode],
				policy_names[r->policy], r->high, r->batch,
				fmt_pct(b1, sizeof(b1), 100 * r->fb[k] / (double)r->objects),
				r->inflight[k], r->held[k], (now_ns() - t) / 1e9);
		}

	expect = o->p.rate ? (double)o->p.rate * o->p.threads * o->p.delay_ms / 1e3 /
		 (double)slots : 0;
	printf("fallback-bench: kfree_rcu-like flood, %u flooder thread%s, grace period %u ms, "
	       "%s, %lu objects per thread%s\n", o->p.threads, o->p.threads == 1 ? "" : "s",
	       o->p.delay_ms, o->p.rate ? "paced" : "flat out", o->p.objects,
	       o->b.quick ? "; quick mode" : "");
	if (o->p.rate)
		printf("rate: %lu objects/s per thread (%.0f blocks/s of %zu pointers): "
		       "expected pages in flight = threads x rate x grace period / %zu = %.0f "
		       "(the seed's estimate: ~400)\n", o->p.rate, (double)o->p.rate /
		       (double)slots, slots, slots, expect);
	bench_print_machine(&o->b, page_size);

	md_head("lllrrrrrrrrrrrrr", "reclaim | mode | policy | high | batch | objects | blocks | "
		"fallbacks | fallback %% | peak in flight | mean in flight | peak held | "
		"held beyond in flight | peak RSS MiB | ns/object | trylock fails");
	for (size_t i = 0; i < NR_ROWS; i++) {
		const struct row *r = &rows[i];
		double pct, infl, held;

		if (!reclaim_on(o, r->reclaim))
			continue;
		if (!r->nv) {
			printf("| %s | %s | %s | %u | %u | FAILED | | | | | "
			       "| | | | | |\n", reclaim_names[r->reclaim],
			       mode_names[r->mode], policy_names[r->policy], r->high,
			       r->batch);
			continue;
		}
		pct = row_pct(r);
		infl = med(r->inflight, r->nv);
		held = med(r->held, r->nv);
		printf("| %s | %s | %s | %u | %u | %" PRIu64 " | %" PRIu64
		       " | %.0f | %s | %.0f | %.0f | %.0f | %.0f | %.1f | "
		       "%.1f | %.0f |\n", reclaim_names[r->reclaim], mode_names[r->mode],
		       policy_names[r->policy], r->high, r->batch, r->objects,
		       r->needed, med(r->fb, r->nv),
		       fmt_pct(b1, sizeof(b1), pct), infl,
		       med(r->mean_infl, r->nv), held,
		       med(r->extra, r->nv), med(r->rss, r->nv),
		       med(r->ns, r->nv), med(r->tlf, r->nv));
		if (csv)
			fprintf(csv, "%s,%u,%u,%u,%u,%" PRIu64 ",%" PRIu64
				",%.0f,%.6f,%.0f,%.0f,%.2f,%.3f,%s,%s,%lu,"
				"%d,%.0f,%.0f,%.0f,%.0f,%.2f,%.0f,%.3f,"
				"%.1f,%.0f,%.0f\n",
				mode_names[r->mode], r->high, r->batch,
				o->p.threads, o->p.delay_ms, r->objects,
				r->needed, med(r->fb, r->nv), pct, infl,
				held, med(r->rss, r->nv),
				med(r->ns, r->nv), policy_names[r->policy],
				reclaim_names[r->reclaim], o->p.rate, r->nv,
				med(r->got, r->nv), med(r->tlf, r->nv),
				med(r->refills, r->nv),
				med(r->drains, r->nv),
				med(r->rss0, r->nv),
				min_free(r),
				med(r->wall, r->nv),
				med(r->mean_infl, r->nv),
				med(r->extra, r->nv),
				med(r->samples, r->nv));
	}

	/* The same, pivoted: fallback % and pages held by cache size. */
	printf("\nFallback %% (peak pages held) by per-thread cache size high:\n\n");
	printf("| reclaim | mode | policy |");
	for (size_t h = 0; h < NR_HIGH; h++)
		printf(" high %u |", highs[h]);
	printf("\n|---|---|---|");
	for (size_t h = 0; h < NR_HIGH; h++)
		printf("--:|");
	printf("\n");
	for (int rc = 0; rc < NR_RECLAIM; rc++) {
		if (!reclaim_on(o, rc))
			continue;
		for (int m = 0; m < NR_MODE; m++)
			for (int p = 0; p < NR_POLICY; p++) {
				printf("| %s | %s | %s |", reclaim_names[rc], mode_names[m],
				       policy_names[p]);
				for (size_t h = 0; h < NR_HIGH; h++) {
					const struct row *r = ROW(rc, m, p, h);

					if (r->nv)
						printf(" %s (%.0f) |",
						       fmt_pct(b1, sizeof(b1), row_pct(r)),
						       med(r->held, r->nv));
					else
						printf(" FAILED |");
				}
				printf("\n");
			}
	}

	/* Where the fallback rate drops to ~0, and what that costs. */
	printf("\nSmallest cache size at which the fallback rate is below %.1f%%:\n\n",
	       ZERO_PCT);
	md_head("lllrrrrrrr", "reclaim | mode | policy | high | fallback %% | mean in flight | "
		"peak in flight | peak held | held beyond in flight | peak held MiB");
	for (int rc = 0; rc < NR_RECLAIM; rc++) {
		if (!reclaim_on(o, rc))
			continue;
		for (int m = 0; m < NR_MODE; m++)
			for (int p = 0; p < NR_POLICY; p++) {
				const struct row *z = NULL;

				for (size_t h = 0; h < NR_HIGH && !z; h++)
					if (ROW(rc, m, p, h)->nv &&
					    row_pct(ROW(rc, m, p, h)) < ZERO_PCT)
						z = ROW(rc, m, p, h);
				if (!z) {
					printf("| %s | %s | %s | none up to %u | | | | | | |\n",
					       reclaim_names[rc], mode_names[m], policy_names[p],
					       highs[NR_HIGH - 1]);
					continue;
				}
				printf("| %s | %s | %s | %u | %s | %.0f | %.0f | %.0f | %.0f | %.1f |\n",
				       reclaim_names[rc], mode_names[m], policy_names[p], z->high,
				       fmt_pct(b1, sizeof(b1), row_pct(z)),
				       med(z->mean_infl, z->nv), med(z->inflight, z->nv),
				       med(z->held, z->nv), med(z->extra, z->nv),
				       med(z->held, z->nv) * (double)page_size / 1048576);
			}
	}

	printf("\nEach configuration ran in its own process (PAGEPOOL_CONF=%s%shigh=H,batch=B), "
	       "%d time%s%s; the pool was committed in advance (--precommit; PP_NOWAIT "
	       "never grows it).\n", user && *user ? user : "", user && *user ? "," : "",
	       nruns, nruns == 1 ? "" : "s",
	       nruns > 1 ? ", interleaved; every column is the median of its own" : "");
	for (int p = 0; p < NR_POLICY; p++)
		printf("policy %s: %s.\n", policy_names[p], policy_desc[p]);
	printf("reclaim remote: a reclaimer thread frees the blocks after the grace period "
	       "(remote frees); local: each flooder frees its own due blocks (the kernel's "
	       "per-CPU kfree_rcu_work).\n");
	printf("blocks: blocks needed (objects / %zu pointers per block, per thread); "
	       "fallbacks: objects that found no block (every object retries, as "
	       "kvfree_call_rcu does), %% of the objects = %% of the block slots needed.\n",
	       slots);
	printf("peak in flight: blocks handed to RCU and not yet freed (pages; exact); mean "
	       "in flight: its average over the monitor's samples during the flood; peak held: "
	       "pp_stats in_use + cached, sampled every %u us (in flight, the blocks being "
	       "filled, every thread's cache and the caches' own pages); held beyond in "
	       "flight: the largest held - in flight of one sample (what the caches cost); "
	       "peak RSS: the child's ru_maxrss, whole process; ns/object: flooder thread CPU "
	       "time per object, pacing sleeps excluded but not their system-call cost (the "
	       "fallback path itself is only counted, not paid for); trylock fails: the "
	       "pool's count (refills and drains).\n", o->p.sample_us);
	printf("try+nowait is nowait with an extra failed cache pop (PP_NOWAIT pops the cache "
	       "first): read the difference between the two as run-to-run noise.\n");
	for (size_t i = 0; i < NR_ROWS; i++) {
		const struct row *r = &rows[i];

		if (r->failed)
			printf("FAILED: %s/%s/%s high=%u in %d of %d "
			       "runs (see stderr).\n", reclaim_names[r->reclaim],
			       mode_names[r->mode], policy_names[r->policy], r->high,
			       nruns - r->nv, nruns);
		if (r->nv && min_free(r) >= 0 && min_free(r) < r->batch)
			printf("NOTE: %s/%s/%s high=%u: the global free "
			       "lists ran down to %.0f pages; some fallbacks "
			       "may be \"no memory\" (raise --precommit).\n",
			       reclaim_names[r->reclaim], mode_names[r->mode],
			       policy_names[r->policy], r->high, min_free(r));
		if (r->nv && starved(r, o->p.sample_us))
			printf("NOTE: %s/%s/%s high=%u: the monitor thread "
			       "got too few samples (machine busy): its "
			       "columns (held, mean in flight) are "
			       "unreliable.\n", reclaim_names[r->reclaim],
			       mode_names[r->mode], policy_names[r->policy], r->high);
	}

	return finish_report(csv, o->b.csv, t_start, any_fail);
}

/* ---- options --------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: fallback-bench [--quick] [--runs R] [--threads N] [--delay-ms D]\n"
		"                      [--rate R] [--objects N] [--reclaim remote|local|both]\n"
		"                      [--sample-us U] [--precommit MIB] [--csv FILE]\n"
		"  --quick          short run (%lu objects per thread, one run, under 20 s)\n"
		"  --runs R         processes per configuration, interleaved; medians\n"
		"                   (default %d; --quick %d)\n"
		"  --threads N      flooder threads (default %d)\n"
		"  --delay-ms D     the grace period (default %d; try 1 and 100)\n"
		"  --rate R         objects/s per flooder; 0 = flat out (default %lu)\n"
		"  --objects N      objects per flooder (default %lu; --quick %lu)\n"
		"  --reclaim WHO    remote (a reclaimer thread frees), local (the flooder\n"
		"                   frees its own), or both (default)\n"
		"  --sample-us U    pp_stats() sampling period of the monitor (default %d)\n"
		"  --precommit MIB  pool memory committed before the flood (default:\n"
		"                   4x the expected pages in flight plus full caches,\n"
		"                   at least %d MiB; 0 = that default)\n"
		"  --csv FILE       also write the rows to FILE\n"
		"  --child MODE POLICY RECLAIM HIGH BATCH\n"
		"                   run one configuration in this process and print the raw\n"
		"                   result line (MODE: try, nowait, try+nowait; POLICY: small,\n"
		"                   large, prefill); PAGEPOOL_CONF must set the same high and\n"
		"                   batch\n",
		QUICK_OBJECTS, FULL_RUNS, QUICK_RUNS, DEF_THREADS, DEF_DELAY_MS, DEF_RATE,
		FULL_OBJECTS, QUICK_OBJECTS,
		DEF_SAMPLE_US, MIN_PRECOMMIT_MIB);
}

static int find_name(const char *const *names, int n, const char *s, const char *what)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(names[i], s))
			return i;
	die("unknown %s '%s'", what, s);
}

int main(int argc, char **argv)
{
	struct opts o = {
		.reclaim = -1,
		.p = { .threads = DEF_THREADS, .delay_ms = DEF_DELAY_MS, .rate = DEF_RATE,
		       .sample_us = DEF_SAMPLE_US },
	};
	const char *reclaim = NULL;
	const struct bench_opt opts[] = {
		{ "threads", OPT_UINT, &o.p.threads, 1, MAX_THREADS },
		{ "delay-ms", OPT_UINT, &o.p.delay_ms, 1, 10000 },
		{ "rate", OPT_ULONG, &o.p.rate, 0, 10000000000UL },
		{ "objects", OPT_ULONG, &o.p.objects, 1, 1UL << 40 },
		{ "reclaim", OPT_STR, &reclaim, 0, 0 },
		{ "sample-us", OPT_UINT, &o.p.sample_us, 10, 1000000 },
		{ "precommit", OPT_ULONG, &o.p.precommit_mib, 0, 1UL << 20 },
		{ "child", OPT_STR, &o.child, 0, 0 },
	};
	int first = bench_options(argc, argv, &o.b, opts, NR_OF(opts), usage);

	if (reclaim)
		o.reclaim = !strcmp(reclaim, "both") ? -1 :
			    find_name(reclaim_names, NR_RECLAIM, reclaim, "reclaim model");

	page_size = bench_page_size(pp_page_size());
	slots = block_slots();
	if (!o.p.objects)
		o.p.objects = o.b.quick ? QUICK_OBJECTS : FULL_OBJECTS;
	if (!o.b.runs)
		o.b.runs = o.b.quick ? QUICK_RUNS : FULL_RUNS;

	if (o.child) {
		struct config c = { .p = o.p };

		if (first + 4 != argc)
			die("--child MODE POLICY RECLAIM HIGH BATCH: wrong number of arguments");
		c.mode = (enum mode)find_name(mode_names, NR_MODE, o.child, "mode");
		c.policy = (enum policy)find_name(policy_names, NR_POLICY, argv[first], "policy");
		c.reclaim = (enum reclaim)find_name(reclaim_names, NR_RECLAIM, argv[first + 1],
						    "reclaim model");
		c.high = (unsigned)parse_ulong("HIGH", argv[first + 2], 1, 65536);
		c.batch = (unsigned)parse_ulong("BATCH", argv[first + 3], 1, c.high);
		return child_main(&c);
	}
	if (first < argc)
		bench_usage_error(usage);
	return parent_main(&o);
}
