/* SPDX-License-Identifier: MIT */
/*
 * bulk.c - the bulk workload of pagepool-bench: pp_alloc_pages_bulk(0, 64)
 * + pp_free_pages_bulk(64) (row pagepool-bulk64) against a loop of 64
 * single allocations then 64 frees (pagepool, and jemalloc as the
 * reference); ns per page.
 */
#include "config.h"

#include <string.h>

#include "backends.h"

/* bulk: rounds of pp_alloc_pages_bulk(0, 64) + pp_free_pages_bulk(64). */
static struct meas do_bulk64(size_t max, double budget)
{
	void *arr[BULK_PAGES] = { NULL };
	size_t rounds = max / BULK_PAGES, r = 0;
	uintptr_t acc = 0;
	double t0 = now_ns(), t = t0;

	while (r < rounds && t - t0 < budget) {
		size_t end = rounds - r < CHECK_UNITS / BULK_PAGES ? rounds
								    : r + CHECK_UNITS / BULK_PAGES;

		for (; r < end; r++) {
			size_t got = pp_alloc_pages_bulk(0, BULK_PAGES, arr);

			while (__builtin_expect(got < BULK_PAGES, 0)) {
				size_t more = pp_alloc_pages_bulk(0, BULK_PAGES, arr);

				if (more == got)
					oom();
				got = more;
			}
			for (size_t i = 0; i < BULK_PAGES; i++)
				touch(arr[i], i);
			acc ^= (uintptr_t)arr[BULK_PAGES - 1];
			pp_free_pages_bulk(BULK_PAGES, arr);
			memset(arr, 0, sizeof(arr));	/* bulk fills NULL slots only */
		}
		t = now_ns();
	}
	sink ^= acc;
	return (struct meas){ t - t0, r * BULK_PAGES };
}

void run_bulk(enum backend bk, const struct sizes *sz)
{
	static void *arr[BULK_PAGES];
	struct meas m;

	if (bk == BK_PP) {
		do_bulk64(sz->pages / 10, sz->warm_budget);
		m = do_bulk64(sz->pages, sz->budget);
		report(WL_BULK, "pagepool-bulk64", m, -1);
	}
	do_batch(bk, sz->pages / 10, sz->warm_budget, BULK_PAGES, arr);
	m = do_batch(bk, sz->pages, sz->budget, BULK_PAGES, arr);
	report(WL_BULK, bks[bk].name, m, -1);
}
