/* SPDX-License-Identifier: MIT */
/*
 * track-child.c - one path, one case, for tests/track.sh: a program a
 * debugging tool runs (memcheck: valgrind --error-exitcode=9; the ASan
 * build: its own report) to show that it sees pool pages.
 *
 * Usage: track-child PATH CASE
 *   PATH  try | nowait | flags0 | order0 | order3 | order5 | bulk |
 *         reserve | rcu (this program, on the default library), or
 *         run (track-run-child: the exact-run API the LD_PRELOAD shim's
 *         malloc and realloc use - the shim itself is bypassed under
 *         memcheck, which replaces malloc)
 *   CASE  clean   allocate, write, read, free (and PP_ZERO read): no report
 *         uaf     write to a block after its free, once another allocation
 *                 of the same path took a block (the quarantine keeps the
 *                 freed one out of reach); for rcu after the grace period
 *         uninit  read a byte of a new block never written
 *         leak    lose the only pointer to a block
 * Exit 0 after the case; the tool's report is the result.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pagepool.h>
#include <pagepool/reserve.h>
#ifdef TRACK_RUN
#include <stdbool.h>
/* The shim's interface to the core (lib/internal.h), linked statically. */
void *pp_exact_alloc(size_t npages, unsigned align_order, unsigned flags);
bool pp_exact_grow(const char *fn, void *p, size_t npages);
void pp_exact_free(const char *fn, void *p);
#else
#include <urcu/urcu-memb.h>
#include <pagepool/rcu.h>
#endif

static const char *path;
static struct pp_reserve *res;

static void die(const char *what)
{
	fprintf(stderr, "track-child %s: %s failed\n", path, what);
	exit(2);
}

/* A block of the path, PP_ZERO if @zero; its size in *@len. */
static __attribute__((noinline)) void *get(int zero, size_t *len)
{
	size_t ps = pp_page_size();
	unsigned z = zero ? PP_ZERO : 0;
	void *p = NULL;

	*len = ps;
	if (!strcmp(path, "try")) {
		if (pp_thread_prefill(0, 4, 0))
			die("pp_thread_prefill");
		p = pp_alloc_page_try();
		if (p && zero)
			memset(p, 0, ps);
	} else if (!strcmp(path, "nowait")) {
		p = pp_alloc_page(PP_NOWAIT | z);
		if (!p)
			p = (pp_free_page(pp_alloc_page(0)), pp_alloc_page(PP_NOWAIT | z));
	} else if (!strcmp(path, "flags0") || !strcmp(path, "rcu")) {
		p = pp_alloc_page(z);
	} else if (!strncmp(path, "order", 5)) {
		unsigned order = (unsigned)atoi(path + 5);

		p = pp_alloc_pages(order, z);
		*len = ps << order;
	} else if (!strcmp(path, "bulk")) {
		void *v[8] = { 0 };

		if (pp_alloc_pages_bulk(z, 8, v) != 8)
			die("pp_alloc_pages_bulk");
		pp_free_pages_bulk(7, v + 1);
		p = v[0];
	} else if (!strcmp(path, "reserve")) {
		if (!res && !(res = pp_reserve_create(4)))
			die("pp_reserve_create");
		p = pp_reserve_alloc(res, z);
#ifdef TRACK_RUN
	} else if (!strcmp(path, "run")) {
		/*
		 * realloc's growth in place: 9 pages (a large run, cut from a
		 * block of 16 whose tail goes back to the lists), then 12.
		 */
		p = pp_exact_alloc(9, 0, z);
		if (!p || !pp_exact_grow("realloc", p, 12))
			die("pp_exact_alloc / pp_exact_grow");
		if (zero)
			memset((char *)p + 9 * ps, 0, 3 * ps);
		*len = 12 * ps;
#endif
	} else {
		fprintf(stderr, "track-child: unknown path %s\n", path);
		exit(2);
	}
	if (!p)
		die("the allocation");
	return p;
}

static __attribute__((noinline)) void put(void *p)
{
	if (!strcmp(path, "reserve"))
		pp_reserve_free(res, p);
#ifdef TRACK_RUN
	else if (!strcmp(path, "run"))
		pp_exact_free("free", p);
#else
	else if (!strcmp(path, "rcu")) {
		pp_rcu_free(p);
		pp_rcu_barrier();	/* after its grace period: freed */
	}
#endif
	else if (!strncmp(path, "order", 5))
		pp_free_pages(p, (unsigned)atoi(path + 5));
	else
		pp_free_page(p);
}

static __attribute__((noinline)) void leak(void)
{
	size_t len;
	volatile char *p = get(0, &len);

	p[len - 1] = 1;		/* the pointer dies with this frame */
}

int main(int argc, char **argv)
{
	volatile unsigned char *c;
	const char *what;
	size_t len, len2;
	void *p, *q;

	if (argc != 3)
		return 2;
	path = argv[1];
	what = argv[2];
#ifndef TRACK_RUN
	urcu_memb_register_thread();
	if (pp_rcu_init(&urcu_memb_flavor))
		die("pp_rcu_init");
#else
	pp_free_page(pp_alloc_page(0));	/* as a program's first calls would */
#endif
	if (!strcmp(what, "clean")) {
		c = get(0, &len);
		memset((void *)c, 7, len);
		if (c[len - 1] != 7)
			return 3;
		q = get(1, &len2);	/* PP_ZERO: defined */
		if (((volatile unsigned char *)q)[len2 / 2] != 0)
			return 3;
		put((void *)c);
		put(q);
	} else if (!strcmp(what, "uaf")) {
		c = get(0, &len);
		c[0] = 1;
		put((void *)c);
		/* Without a quarantine: often c again.  A run has none: the shim's
		 * blocks (bypassed under memcheck) are not held back. */
		p = strcmp(path, "run") ? get(0, &len2) : NULL;
		c[len - 1] = 2;		/* the write after free */
		if (p)
			put(p);
	} else if (!strcmp(what, "uninit")) {
		c = get(0, &len);
		if (c[len / 2] == 0x5a)	/* never written */
			puts("5a");
		put((void *)c);
	} else if (!strcmp(what, "leak")) {
		leak();
	} else {
		return 2;
	}
	if (res && strcmp(what, "leak"))
		pp_reserve_destroy(res);
#ifndef TRACK_RUN
	urcu_memb_unregister_thread();
#endif
	return 0;
}
