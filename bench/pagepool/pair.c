/* SPDX-License-Identifier: MIT */
/*
 * pair.c - the pair workload of pagepool-bench: allocate one page, write
 * it, free it; ns per pair.
 */
#include "config.h"


#include "backends.h"

/* pair: alloc + free pairs. */
static ALWAYS_INLINE struct meas pair_impl(alloc_fn *A, free_fn *F, size_t max,
					   double budget)
{
	uintptr_t acc = 0;
	double t0 = now_ns(), t = t0;
	size_t i = 0;

	while (i < max && t - t0 < budget) {
		size_t end = max - i < CHECK_UNITS ? max : i + CHECK_UNITS;

		for (; i < end; i++) {
			void *p = A();

			if (__builtin_expect(!p, 0))
				oom();
			touch(p, i);
			acc ^= (uintptr_t)p;
			F(p);
		}
		t = now_ns();
	}
	sink ^= acc;
	return (struct meas){ t - t0, i };
}

static struct meas do_pair(enum backend bk, size_t max, double budget)
{
	DISPATCH(bk, pair_impl, max, budget)
}

void run_pair(enum backend bk, const struct sizes *sz)
{
	static void *arr[1];
	struct meas m;

	prewarm_try(bk, 1, arr);
	do_pair(bk, sz->pair / 10, sz->warm_budget);
	try_fallbacks = 0;
	m = do_pair(bk, sz->pair, sz->budget);
	report(WL_PAIR, bks[bk].name, m, fallback_pct(bk, m.units));
}
