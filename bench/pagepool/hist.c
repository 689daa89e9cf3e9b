/* SPDX-License-Identifier: MIT */
/*
 * hist.c - the latency workload's histograms (hist.h): mapping, ranks and
 * percentiles, and the timer's calibration.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "backends.h"
#include "hist.h"

#define LAT_OVER_CAP	65536	/* first size of a hist's list of long samples */

uint64_t timer_ns;

/* The counters are mapped and faulted in now: no page fault while timing. */
void hist_init(struct hist *h)
{
	h->bucket = map_populated(LAT_BUCKETS * sizeof(*h->bucket));
	h->cap = LAT_OVER_CAP;
	h->over = map_populated(h->cap * sizeof(*h->over));
	h->nover = h->n = h->nulls = 0;
}

void hist_reset(struct hist *h)
{
	memset(h->bucket, 0, LAT_BUCKETS * sizeof(*h->bucket));
	h->nover = h->n = h->nulls = 0;
}

void hist_destroy(struct hist *h)
{
	munmap(h->bucket, LAT_BUCKETS * sizeof(*h->bucket));
	munmap(h->over, h->cap * sizeof(*h->over));
}

NOINLINE void hist_add_long(struct hist *h, uint64_t ns)
{
	if (h->nover == h->cap) {
		void *p = mremap(h->over, h->cap * sizeof(*h->over),
				 2 * h->cap * sizeof(*h->over), MREMAP_MAYMOVE);

		if (p == MAP_FAILED)
			die("mremap: %s", strerror(errno));
		h->over = p;
		h->cap *= 2;
	}
	h->over[h->nover++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

void hist_sort(struct hist *h)
{
	qsort(h->over, h->nover, sizeof(*h->over), cmp_u32);
}

uint64_t hist_rank(const struct hist *h, size_t r)
{
	size_t cum = 0;

	for (size_t i = 0; i < LAT_BUCKETS; i++) {
		cum += h->bucket[i];
		if (cum >= r)
			return i;
	}
	return h->over[r - cum - 1];
}

uint64_t hist_pct(const struct hist *h, uint64_t num, uint64_t den)
{
	uint64_t r = ((uint64_t)h->n * num + den - 1) / den;

	return hist_rank(h, r ? (size_t)r : 1);
}

uint64_t calibrate_timer(struct hist *h, uint64_t *min, uint64_t *p99)
{
	uint64_t med;

	timer_ns = 0;
	hist_reset(h);
	for (size_t i = 0; i < LAT_CALIB; i++) {
		uint64_t t0 = tick();
		uint64_t t1 = tick();

		hist_add(h, t0, t1);
	}
	hist_sort(h);
	med = hist_pct(h, 1, 2);
	*min = hist_rank(h, 1);
	*p99 = hist_pct(h, 99, 100);
	hist_reset(h);
	return med;
}
