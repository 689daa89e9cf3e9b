/* SPDX-License-Identifier: MIT */
/*
 * batch.c - the batch workload of pagepool-bench: allocate 1000 pages
 * (each written), then free them all; ns per page.  Its loop is also the
 * bulk workload's reference and pagepool-try's pre-warm.
 */
#include "config.h"


#include "backends.h"

/* batch (and the single-page loop of bulk): rounds of @k allocs then @k frees. */
static ALWAYS_INLINE struct meas batch_impl(alloc_fn *A, free_fn *F, size_t max,
					    double budget, size_t k, void **arr)
{
	size_t rounds = max / k, per_check = CHECK_UNITS / k ? CHECK_UNITS / k : 1, r = 0;
	uintptr_t acc = 0;
	double t0 = now_ns(), t = t0;

	while (r < rounds && t - t0 < budget) {
		size_t end = rounds - r < per_check ? rounds : r + per_check;

		for (; r < end; r++) {
			for (size_t i = 0; i < k; i++) {
				void *p = A();

				if (__builtin_expect(!p, 0))
					oom();
				touch(p, i);
				arr[i] = p;
			}
			for (size_t i = 0; i < k; i++) {
				acc ^= (uintptr_t)arr[i];
				F(arr[i]);
			}
		}
		t = now_ns();
	}
	sink ^= acc;
	return (struct meas){ t - t0, r * k };
}

struct meas do_batch(enum backend bk, size_t max, double budget, size_t k, void **arr)
{
	DISPATCH(bk, batch_impl, max, budget, k, arr)
}

void run_batch(enum backend bk, const struct sizes *sz)
{
	static void *arr[BATCH_PAGES];
	struct meas m;

	prewarm_try(bk, BATCH_PAGES, arr);
	do_batch(bk, sz->pages / 10, sz->warm_budget, BATCH_PAGES, arr);
	try_fallbacks = 0;
	m = do_batch(bk, sz->pages, sz->budget, BATCH_PAGES, arr);
	report(WL_BATCH, bks[bk].name, m, fallback_pct(bk, m.units));
}
