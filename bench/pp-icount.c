/* SPDX-License-Identifier: MIT */
/*
 * pp-icount.c - N operations through the shared library, for counting
 * instructions per operation with callgrind (bench/icount.sh runs it at two
 * values of N and divides the difference, so start-up cancels out).
 *   pp-icount N try     N pairs: pp_alloc_page_try() + pp_free_page()
 *   pp-icount N alloc   N pairs: pp_alloc_page(0)    + pp_free_page()
 *   pp-icount N batch   N pages: 1000 pp_alloc_page(0), then 1000
 *                       pp_free_page(), N / 1000 times (crosses the cache)
 *   pp-icount desc      prints the descriptor bytes per page (pp_stats)
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pagepool.h"

#define BATCH 1000

static void *batch[BATCH];

static int run_batch(long n)
{
	for (long r = 0; r < n / BATCH; r++) {
		for (int i = 0; i < BATCH; i++)
			if (!(batch[i] = pp_alloc_page(0)))
				return fprintf(stderr, "pp-icount: allocation failed\n"), 1;
		for (int i = 0; i < BATCH; i++)
			pp_free_page(batch[i]);
	}
	return 0;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 0;
	struct pp_stats st;

	if (argc == 2 && !strcmp(argv[1], "desc")) {
		pp_stats(&st, sizeof(st));
		return printf("%zu\n", st.desc_bytes) < 0;
	}
	int try = argc > 2 && !strcmp(argv[2], "try");
	void *p = pp_alloc_page(0);

	if (!p || argc < 3)
		return fprintf(stderr, "usage: pp-icount N try|alloc|batch (pool: %s)\n",
			       p ? "ok" : "no memory"), 2;
	pp_free_page(p);			/* warm this thread's cache */
	if (!strcmp(argv[2], "batch")) {
		/* One untimed round first: the arena grows during it only. */
		return run_batch(BATCH) || run_batch(n);
	}
	for (long i = 0; i < n; i++) {
		p = try ? pp_alloc_page_try() : pp_alloc_page(0);
		if (!p)
			return fprintf(stderr, "pp-icount: allocation failed\n"), 1;
		pp_free_page(p);
	}
	return 0;
}
