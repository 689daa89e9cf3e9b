/* SPDX-License-Identifier: MIT */
/*
 * pp-icount.c - a loop of N allocate+free pairs through the shared library,
 * for counting instructions per pair with callgrind (bench/icount.sh runs it
 * at two values of N and divides the difference, so start-up cancels out).
 *   pp-icount N try     pp_alloc_page_try() + pp_free_page()
 *   pp-icount N alloc   pp_alloc_page(0)    + pp_free_page()
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pagepool.h"

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 0;
	int try = argc > 2 && !strcmp(argv[2], "try");
	void *p = pp_alloc_page(0);

	if (!p || argc < 3)
		return fprintf(stderr, "usage: pp-icount N try|alloc (pool: %s)\n",
			       p ? "ok" : "no memory"), 2;
	pp_free_page(p);			/* warm this thread's cache */
	for (long i = 0; i < n; i++) {
		p = try ? pp_alloc_page_try() : pp_alloc_page(0);
		if (!p)
			return fprintf(stderr, "pp-icount: allocation failed\n"), 1;
		pp_free_page(p);
	}
	return 0;
}
