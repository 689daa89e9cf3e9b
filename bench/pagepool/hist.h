/* SPDX-License-Identifier: MIT */
/*
 * hist.h - the latency workload's samples: a counter per ns below
 * LAT_BUCKETS and a list of the longer ones, so the percentiles are exact;
 * the timer and its calibration.  hist_add() is inline: it runs between
 * the timed calls.
 */
#ifndef PP_BENCH_PAGEPOOL_HIST_H
#define PP_BENCH_PAGEPOOL_HIST_H

#include <stdint.h>
#include <time.h>

#include "bench.h"

/* Exact samples: a counter per ns below LAT_BUCKETS, the longer ones listed. */
struct hist {
	uint32_t *bucket;	/* LAT_BUCKETS counters */
	uint32_t *over;		/* samples of LAT_BUCKETS ns or more */
	size_t nover, cap;	/* entries used, and mapped, in @over */
	size_t n;		/* samples */
	size_t nulls;		/* calls that returned NULL (try, nowait) */
};

extern uint64_t timer_ns;	/* the timer's own cost, taken off every sample */

static ALWAYS_INLINE uint64_t tick(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void hist_init(struct hist *h);
void hist_reset(struct hist *h);
void hist_destroy(struct hist *h);
void hist_add_long(struct hist *h, uint64_t ns);

/* Record the call timed from @t0 to @t1, less the timer's cost. */
static ALWAYS_INLINE void hist_add(struct hist *h, uint64_t t0, uint64_t t1)
{
	uint64_t ns = t1 - t0;

	ns = ns > timer_ns ? ns - timer_ns : 0;
	h->n++;
	if (__builtin_expect(ns < LAT_BUCKETS, 1))
		h->bucket[ns]++;
	else
		hist_add_long(h, ns);
}

/* Call once all samples are in, before hist_rank(). */
void hist_sort(struct hist *h);

/* The sample of 1-based rank @r in increasing order. */
uint64_t hist_rank(const struct hist *h, size_t r);

/* Nearest rank: the least sample with at least @num/@den of all at or below it. */
uint64_t hist_pct(const struct hist *h, uint64_t num, uint64_t den);

/*
 * The timer's cost: the median of back-to-back pairs of tick(); *@min the
 * least, *@p99 the 99th percentile (the step above the median shows the
 * clock's granularity).
 */
uint64_t calibrate_timer(struct hist *h, uint64_t *min, uint64_t *p99);

#endif /* PP_BENCH_PAGEPOOL_HIST_H */
