/* SPDX-License-Identifier: MIT */
/*
 * latency.c - the latency workload of pagepool-bench: the time of each
 * single call, clock_gettime(CLOCK_MONOTONIC) before and after it, less the
 * timer's own cost.  The measuring thread allocates 512 pages one call at a
 * time, then frees them one call at a time, over and over, while a churn
 * thread does the same with 1024-page rounds of the same backend.  It
 * prints L lines (one per op), T (the timer) and C (the churn rate); the
 * parent's table is latency-table.c.
 */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "backends.h"
#include "hist.h"
#include "latency.h"

const char *const op_names[NR_OP] = { "empty", "try", "nowait", "alloc0", "alloc", "free" };

static ALWAYS_INLINE void *a_try_only(void)
{
	return pp_alloc_page_try();
}

static ALWAYS_INLINE void *a_nowait(void)
{
	return pp_alloc_page(PP_NOWAIT);
}

/*
 * One round of the measuring thread: LAT_ROUND allocations, each call timed
 * into @ha, then LAT_ROUND frees, each call timed into @hf (NULL: untimed).
 * @may_fail (try, nowait): a NULL is counted and followed by an untimed
 * pp_alloc_page(0).
 */
static ALWAYS_INLINE void lat_round(alloc_fn *A, free_fn *F, bool may_fail, void **arr,
				    struct hist *ha, struct hist *hf)
{
	for (size_t i = 0; i < LAT_ROUND; i++) {
		uint64_t t0 = tick();
		void *p = A();
		uint64_t t1 = tick();

		hist_add(ha, t0, t1);
		if (__builtin_expect(!p, 0)) {
			if (!may_fail)
				oom();
			ha->nulls++;
			p = pp_alloc_page(0);
			if (!p)
				oom();
		}
		touch(p, i);
		arr[i] = p;
	}
	for (size_t i = 0; i < LAT_ROUND; i++) {
		if (hf) {
			uint64_t t0 = tick();

			F(arr[i]);
			hist_add(hf, t0, tick());
		} else {
			F(arr[i]);
		}
	}
}

/*
 * Up to @rounds rounds, or until @budget ns have passed; pagepool's rounds
 * rotate through try, nowait and alloc0 (with free).
 */
static void lat_rounds(enum backend bk, size_t rounds, double budget, void **arr,
			 struct hist *h)
{
	uint64_t t0 = tick();
	size_t r;

	for (r = 0; r < rounds && (double)(tick() - t0) < budget; r++) {
		switch (bk) {
		case BK_PP:
			lat_round(a_try_only, f_pp, true, arr, &h[OP_TRY], NULL);
			lat_round(a_nowait, f_pp, true, arr, &h[OP_NOWAIT], NULL);
			lat_round(a_pp, f_pp, false, arr, &h[OP_ALLOC0], &h[OP_FREE]);
			break;
		case BK_JE:
			lat_round(a_je, f_je, false, arr, &h[OP_ALLOC], &h[OP_FREE]);
			break;
		case BK_GLIBC:
		case BK_TC:
			lat_round(a_memalign, f_libc, false, arr, &h[OP_ALLOC], &h[OP_FREE]);
			break;
		case BK_MI:
			lat_round(a_mi, f_mi, false, arr, &h[OP_ALLOC], &h[OP_FREE]);
			break;
		case BK_NONE:
			lat_round(a_none, f_none, false, arr, &h[OP_EMPTY], NULL);
			break;
		default:
			abort();
		}
	}
}

/* The churn thread: rounds of CHURN_PAGES allocations then frees, until told. */
struct churn {
	enum backend bk;
	atomic_bool stop;
	atomic_size_t pages;	/* allocated and freed so far */
};

static ALWAYS_INLINE void churn_impl(alloc_fn *A, free_fn *F, struct churn *c)
{
	static void *arr[CHURN_PAGES];

	while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
		for (size_t i = 0; i < CHURN_PAGES; i++) {
			void *p = A();

			if (__builtin_expect(!p, 0))
				oom();
			touch(p, i);
			arr[i] = p;
		}
		for (size_t i = 0; i < CHURN_PAGES; i++)
			F(arr[i]);
		atomic_fetch_add_explicit(&c->pages, CHURN_PAGES, memory_order_relaxed);
	}
}

static void churn(struct churn *c)
{
	DISPATCH(c->bk, churn_impl, c)
}

static void *churn_main(void *arg)
{
	struct churn *c = arg;

	if (c->bk == BK_NONE)
		none_init();
	churn(c);
	if (c->bk == BK_NONE)
		none_fini();
	return NULL;
}

static void report_latency(enum backend bk, enum lat_op op, struct hist *h)
{
	size_t over = h->nover;

	hist_sort(h);
	for (size_t i = LAT_OVER_NS + 1; i < LAT_BUCKETS; i++)
		over += h->bucket[i];
	printf("L %s %s %zu %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
	       " %zu %zu\n", bks[bk].name, op_names[op], h->n, hist_pct(h, 1, 2),
	       hist_pct(h, 99, 100), hist_pct(h, 999, 1000), hist_pct(h, 9999, 10000),
	       hist_rank(h, h->n), over, h->nulls);
}

/*
 * latency: calibrate the timer, start the churn thread, warm up (a tenth of
 * the rounds), then time about @samples calls of each op or for @budget ns.
 */
static void do_latency(enum backend bk, size_t samples, double budget)
{
	static void *arr[LAT_ROUND];
	static struct churn c;
	struct hist h[NR_OP];
	size_t rounds = (samples + LAT_ROUND - 1) / LAT_ROUND, pages;
	uint64_t tmin, tp99;
	pthread_t th;
	unsigned spins = 0;
	double t;
	int err;

	for (int op = 0; op < NR_OP; op++)
		hist_init(&h[op]);
	if (bk == BK_NONE)
		none_init();
	timer_ns = calibrate_timer(&h[0], &tmin, &tp99);
	printf("T %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", timer_ns, tmin, tp99);

	c.bk = bk;
	atomic_store(&c.stop, false);
	atomic_store(&c.pages, 0);
	err = pthread_create(&th, NULL, churn_main, &c);
	if (err)
		die("pthread_create: %s", strerror(err));
	while (!atomic_load_explicit(&c.pages, memory_order_relaxed))
		cpu_relax(&spins);

	lat_rounds(bk, rounds / 10 + 1, budget / 10, arr, h);
	for (int op = 0; op < NR_OP; op++)
		hist_reset(&h[op]);
	pages = atomic_load_explicit(&c.pages, memory_order_relaxed);
	t = now_ns();
	lat_rounds(bk, rounds, budget, arr, h);
	t = now_ns() - t;
	pages = atomic_load_explicit(&c.pages, memory_order_relaxed) - pages;

	atomic_store(&c.stop, true);
	err = pthread_join(th, NULL);
	if (err)
		die("pthread_join: %s", strerror(err));
	for (int op = 0; op < NR_OP; op++) {
		if (h[op].n)
			report_latency(bk, (enum lat_op)op, &h[op]);
		hist_destroy(&h[op]);
	}
	printf("C %s %.0f\n", bks[bk].name, (double)pages / (t / 1e9));
	fflush(stdout);
	if (bk == BK_NONE)
		none_fini();
}

void run_latency(enum backend bk, const struct sizes *sz)
{
	do_latency(bk, sz->lat_samples, sz->lat_budget);
}
