/* SPDX-License-Identifier: MIT */
/*
 * pp-demo.c - a tour of the pagepool API: every call once, then the stats.
 *
 * Build against an installed pagepool:
 *   cc -o pp-demo pp-demo.c $(pkg-config --cflags --libs pagepool)
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pagepool.h>

#define N 64

static void *worker(void *arg)
{
	void *pages[N] = { 0 };
	size_t got;

	(void)arg;
	/* A new thread's cache is empty: the try path fails at once. */
	if (pp_alloc_page_try() != NULL)
		return "try on a new thread returned a page";
	got = pp_alloc_pages_bulk(0, N, pages);
	for (size_t i = 0; i < got; i++)
		memset(pages[i], (int)i, pp_page_size());
	pp_free_pages_bulk(N, pages);
	return NULL;	/* the exiting thread's cache drains by itself */
}

int main(void)
{
	struct pp_stats s;
	pthread_t t;
	void *p, *q, *big, *ret;

	if (pp_configure("high=128,batch=32") != 0)
		return perror("pp_configure"), 1;

	p = pp_alloc_page(0);			/* may block, may grow the arena */
	q = pp_alloc_pages(3, PP_ZERO);		/* 8 zeroed pages, 32 KiB aligned */
	big = pp_alloc_pages(PP_MAX_ORDER, 0);	/* 4 MiB from the buddy lists */
	if (!p || !q || !big)
		return perror("pp_alloc_pages"), 1;
	pp_free_page(p);			/* into this thread's cache */
	p = pp_alloc_page_try();		/* lock-free, no system call */
	printf("page size %zu, try after free: %s\n", pp_page_size(), p ? "hit" : "miss");
	pp_free_page(p);
	p = pp_alloc_page(PP_NOWAIT);		/* cache, then trylock: never blocks */
	pp_free_page(p);
	pp_free_pages(q, 3);
	pp_free_pages(big, PP_MAX_ORDER);

	if (pthread_create(&t, NULL, worker, NULL) || pthread_join(t, &ret))
		return perror("pthread"), 1;
	if (ret)
		return fprintf(stderr, "worker: %s\n", (char *)ret), 1;

	pp_thread_drain();
	pp_stats(&s, sizeof(s));
	printf("committed %zu pages = in_use %zu + cached %zu + free %zu + reserved %zu\n",
	       s.committed, s.in_use, s.cached, s.free, s.reserved);
	printf("cache hits %zu, misses %zu, refills %zu, drains %zu, arena growths %zu, "
	       "%zu bytes of metadata per page\n",
	       s.try_hits, s.try_misses, s.refills, s.drains, s.grows, s.desc_bytes);
	if (s.committed != s.in_use + s.cached + s.free + s.reserved)
		return fprintf(stderr, "page conservation violated\n"), 1;
	return 0;
}
