/* SPDX-License-Identifier: MIT */
/*
 * routing.c - what goes to the pool and what to the C library: the
 * program's calls reach the shim (also after a dlopen()), page-sized and
 * page-aligned requests are pool runs of exactly the pages asked for,
 * malloc_usable_size() says so, and the pool's own free calls take them.
 */
#include "preload.h"

/* ---- the shim is what the program calls ------------------------------- */

START_TEST(test_symbols_resolve_to_shim)
{
	static const char *const names[] = {
		"malloc", "free", "calloc", "realloc", "reallocarray", "posix_memalign",
		"aligned_alloc", "memalign", "valloc", "pvalloc", "malloc_usable_size",
		"pp_owns", "pp_stats", "pp_page_size", "pp_option",
	};
	/* What this program's own calls reach (through its GOT). */
	const struct {
		const char *name;
		void *addr;
	} direct[] = {
		{ "malloc", (void *)malloc }, { "free", (void *)free },
		{ "calloc", (void *)calloc }, { "realloc", (void *)realloc },
		{ "reallocarray", (void *)reallocarray },
		{ "posix_memalign", (void *)posix_memalign },
		{ "aligned_alloc", (void *)aligned_alloc }, { "memalign", (void *)memalign },
		{ "valloc", (void *)valloc }, { "pvalloc", (void *)pvalloc },
		{ "malloc_usable_size", (void *)malloc_usable_size },
	};
	const char *file;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		void *a = dlsym(RTLD_DEFAULT, names[i]);

		ck_assert_msg(a != NULL, "dlsym(RTLD_DEFAULT, \"%s\") is NULL", names[i]);
		ck_assert_msg(in_shim(a, &file), "%s resolves into %s, not the shim", names[i],
			      file);
	}
	for (size_t i = 0; i < sizeof(direct) / sizeof(direct[0]); i++)
		ck_assert_msg(in_shim(direct[i].addr, &file),
			      "the program's %s is in %s, not the shim", direct[i].name, file);
	ck_assert_uint_eq(PS, (size_t)sysconf(_SC_PAGESIZE));
}
END_TEST

/* ---- routing ---------------------------------------------------------- */

/* malloc(@n): non-NULL, writable at both ends, and pool iff @pool. */
static void check_malloc_route(size_t n, bool pool)
{
	char *p = opaque(malloc(n));

	ck_assert_msg(p != NULL, "malloc(%zu) failed: %s", n, strerror(errno));
	p[0] = 1;
	p[n - 1] = 2;
	ck_assert_msg(owns(p) == pool, "malloc(%zu) = %p: pp_owns %d, want %d", n, (void *)p,
		      owns(p), pool);
	if (pool)
		ck_assert_msg(aligned(p, PS), "pool malloc(%zu) = %p is not page-aligned", n,
			      (void *)p);
	free(p);
}

/* The smallest request of @pages pages that fills preload_fit percent of them. */
static size_t fit_min(size_t pages)
{
	size_t fit = 0;

	ck_assert_int_eq(option_fn("preload_fit", &fit), 0);
	return (pages * PS * fit + 99) / 100;
}

START_TEST(test_route_malloc)
{
	check_malloc_route(PS, true);
	check_malloc_route(PS + 1, false);	/* a page and a byte: fills half of 2 */
	check_malloc_route(fit_min(2) - 1, false);
	check_malloc_route(fit_min(2), true);
	check_malloc_route(2 * PS, true);
	check_malloc_route(fit_min(5), true);
	check_malloc_route(5 * PS, true);
	check_malloc_route(MAX_RUN * PS - 1, true);
	check_malloc_route(MAX_RUN * PS, true);
	check_malloc_route(PS - 1, false);
	check_malloc_route(100, false);
	check_malloc_route(1, false);
	check_malloc_route(MAX_RUN * PS + 1, false);
	check_malloc_route((MAX_RUN + 1) * PS, false);
	check_malloc_route(8 * MIB, false);
}
END_TEST

START_TEST(test_route_calloc_realloc)
{
	char *p = opaque(calloc(1, PS)), *q;

	ck_assert_ptr_nonnull(p);
	ck_assert_msg(owns(p), "calloc(1, page) is not pool");
	free(p);
	p = opaque(calloc(7, PS / 4));
	ck_assert_ptr_nonnull(p);
	ck_assert_msg(owns(p), "calloc(7, page/4) is not pool");
	free(p);
	p = opaque(calloc(3, PS / 2));	/* 3/4 of 2 pages: below preload_fit */
	ck_assert_ptr_nonnull(p);
	ck_assert_msg(!owns(p), "calloc(3, page/2) is pool");
	free(p);
	p = opaque(calloc(PS - 1, 1));
	ck_assert_ptr_nonnull(p);
	ck_assert_msg(!owns(p), "calloc(page-1, 1) is pool");
	free(p);
	p = opaque(realloc(NULL, 3 * PS));
	ck_assert_ptr_nonnull(p);
	ck_assert_msg(owns(p), "realloc(NULL, 3 pages) is not pool");
	q = opaque(realloc(NULL, 100));
	ck_assert_ptr_nonnull(q);
	ck_assert_msg(!owns(q), "realloc(NULL, 100) is pool");
	free(p);
	free(q);
}
END_TEST

/* Every aligned allocator with alignment @al and size @n: aligned, usable, pool iff @pool. */
static void check_aligned_route(size_t al, size_t n, bool pool)
{
	void *p = NULL;
	char *q;
	int rc;

	rc = posix_memalign(&p, al, n);
	p = opaque(p);
	ck_assert_msg(rc == 0 && p, "posix_memalign(%zu, %zu) = %d", al, n, rc);
	ck_assert_msg(aligned(p, al), "posix_memalign(%zu, %zu) = %p: misaligned", al, n, p);
	ck_assert_msg(owns(p) == pool, "posix_memalign(%zu, %zu) = %p: pp_owns %d, want %d",
		      al, n, p, owns(p), pool);
	ck_assert_msg(malloc_usable_size(p) >= n, "posix_memalign(%zu, %zu): usable %zu", al, n,
		      malloc_usable_size(p));
	dirty(p, 0x5A, n);
	free(p);

	q = opaque(aligned_alloc(al, n));
	ck_assert_msg(q != NULL, "aligned_alloc(%zu, %zu): %s", al, n, strerror(errno));
	ck_assert_msg(aligned(q, al), "aligned_alloc(%zu, %zu) = %p: misaligned", al, n,
		      (void *)q);
	ck_assert_msg(owns(q) == pool, "aligned_alloc(%zu, %zu) = %p: pp_owns %d, want %d", al,
		      n, (void *)q, owns(q), pool);
	ck_assert_msg(malloc_usable_size(q) >= n, "aligned_alloc(%zu, %zu): usable %zu", al, n,
		      malloc_usable_size(q));
	dirty(q, 0x5A, n);
	free(q);

	q = opaque(memalign(al, n));
	ck_assert_msg(q != NULL, "memalign(%zu, %zu): %s", al, n, strerror(errno));
	ck_assert_msg(aligned(q, al), "memalign(%zu, %zu) = %p: misaligned", al, n, (void *)q);
	ck_assert_msg(owns(q) == pool, "memalign(%zu, %zu) = %p: pp_owns %d, want %d", al, n,
		      (void *)q, owns(q), pool);
	ck_assert_msg(malloc_usable_size(q) >= n, "memalign(%zu, %zu): usable %zu", al, n,
		      malloc_usable_size(q));
	dirty(q, 0x5A, n);
	free(q);
}

START_TEST(test_route_aligned)
{
	static const size_t sizes[] = { 1, 8, 100, 1000 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];

		/* below a page: the C library's */
		check_aligned_route(sizeof(void *), n, false);
		check_aligned_route(64, n, false);
		check_aligned_route(PS / 2, n, false);
		/* page alignment and more: the pool, even for a byte */
		check_aligned_route(PS, n, true);
		check_aligned_route(2 * PS, n, true);
		check_aligned_route(16 * PS, n, true);
		check_aligned_route(MAX_RUN * PS / 2, n, true);
		check_aligned_route(MAX_RUN * PS, n, true);
	}
	check_aligned_route(PS, PS, true);
	check_aligned_route(PS, 3 * PS + 1, true);
	check_aligned_route(4 * PS, 5 * PS, true);
	check_aligned_route(64, 2 * PS, true);	/* big enough anyway */
	check_aligned_route(MAX_RUN * PS, MAX_RUN * PS, true);
	/* too big for the pool: the C library's, still aligned */
	check_aligned_route(PS, MAX_RUN * PS + 1, false);
	check_aligned_route(PS, (MAX_RUN + 3) * PS, false);
}
END_TEST

START_TEST(test_route_valloc)
{
	static const size_t sizes[] = { 1, 100, 4095, 4096, 3 * 4096 + 5 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		char *p = opaque(valloc(n));

		ck_assert_msg(p != NULL, "valloc(%zu): %s", n, strerror(errno));
		ck_assert_msg(aligned(p, PS), "valloc(%zu) = %p: not page-aligned", n, (void *)p);
		ck_assert_msg(owns(p), "valloc(%zu) = %p is not pool", n, (void *)p);
		ck_assert_uint_ge(malloc_usable_size(p), n);
		dirty(p, 1, n);
		free(p);
		p = opaque(pvalloc(n));
		ck_assert_msg(p != NULL, "pvalloc(%zu): %s", n, strerror(errno));
		ck_assert_msg(aligned(p, PS), "pvalloc(%zu) = %p: not page-aligned", n, (void *)p);
		ck_assert_msg(owns(p), "pvalloc(%zu) = %p is not pool", n, (void *)p);
		ck_assert_msg(malloc_usable_size(p) >= (n + PS - 1) / PS * PS,
			      "pvalloc(%zu): usable %zu, want whole pages", n,
			      malloc_usable_size(p));
		dirty(p, 1, (n + PS - 1) / PS * PS);
		free(p);
	}
}
END_TEST

/* Alignments beyond the largest pool block: the C library, aligned all the same. */
START_TEST(test_route_huge_alignment)
{
	static const size_t aligns[] = { 8 * MIB, 16 * MIB };

	for (size_t i = 0; i < sizeof(aligns) / sizeof(aligns[0]); i++) {
		size_t al = aligns[i];

		check_aligned_route(al, 100, false);
		check_aligned_route(al, PS, false);
		check_aligned_route(al, 3 * MIB, false);
	}
}
END_TEST

/* ---- exact page counts and the ledger --------------------------------- */

START_TEST(test_exact_five_pages)
{
	size_t before, during, after, usable;
	char *p;

	before = in_use();
	p = opaque(malloc(5 * PS));
	during = in_use();
	usable = p ? malloc_usable_size(p) : 0;
	if (p)
		dirty(p, 0x11, 5 * PS);
	free(p);
	after = in_use();

	ck_assert_ptr_nonnull(p);
	ck_assert_msg(during - before == 5, "malloc(5 pages) raised in_use by %zu pages, want 5",
		      during - before);
	ck_assert_msg(usable == 5 * PS, "malloc_usable_size(malloc(5 pages)) = %zu, want %zu",
		      usable, 5 * PS);
	ck_assert_msg(after == before, "in_use %zu after the free, %zu before", after, before);
}
END_TEST

/*
 * Pool memory from malloc handed to the pool's own free calls, as
 * libpagepool-rcu does with every pointer pp_owns() claims: the start of a
 * run freed by its first block's order (pp_block_order()) goes back whole,
 * and a 1-page run in a pp_free_pages_bulk() array too.
 */
START_TEST(test_run_freed_by_pool_calls)
{
	__typeof__(pp_block_order) *order_fn =
		(__typeof__(order_fn))dlsym(RTLD_DEFAULT, "pp_block_order");
	__typeof__(pp_free_pages) *free_pages_fn =
		(__typeof__(free_pages_fn))dlsym(RTLD_DEFAULT, "pp_free_pages");
	__typeof__(pp_free_pages_bulk) *bulk_fn =
		(__typeof__(bulk_fn))dlsym(RTLD_DEFAULT, "pp_free_pages_bulk");
	__typeof__(pp_alloc_page) *page_fn =
		(__typeof__(page_fn))dlsym(RTLD_DEFAULT, "pp_alloc_page");
	size_t before = in_use(), sizes[] = { 1, 3, 5, 8, 9, 13, 100 };
	void *arr[4];

	ck_assert(order_fn && free_pages_fn && bulk_fn && page_fn);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *p = opaque(malloc(sizes[i] * PS));
		int order;

		ck_assert_ptr_nonnull(p);
		dirty(p, 0x5a, sizes[i] * PS);
		order = order_fn(p);
		ck_assert_msg(order >= 0, "pp_block_order(malloc(%zu pages)) = %d", sizes[i], order);
		free_pages_fn(p, (unsigned)order);
		ck_assert_msg(in_use() == before, "pp_free_pages() of a %zu-page run left "
			      "in_use %zu, was %zu", sizes[i], in_use(), before);
	}
	arr[0] = opaque(malloc(PS));
	arr[1] = page_fn(0);
	arr[2] = NULL;
	arr[3] = opaque(malloc(PS));
	ck_assert(arr[0] && arr[1] && arr[3]);
	bulk_fn(4, arr);
	ck_assert_msg(in_use() == before, "pp_free_pages_bulk() with 1-page runs left in_use "
		      "%zu, was %zu", in_use(), before);
	check_ledger("after the pool's free calls on runs");
}
END_TEST

START_TEST(test_exact_sizes_loop)
{
	enum { MAXP = 40 };
	char *p[MAXP + 1];
	size_t start, all, usable[MAXP + 1], bad = 0, bad_n = 0, bad_u = 0;

	start = in_use();
	for (unsigned round = 0; round < 4; round++) {
		/* one at a time; odd rounds ask for a byte less (n > 1) */
		for (size_t n = 1; n <= MAXP; n++) {
			size_t bytes = n * PS - ((round & 1) && n > 1);
			char *q = opaque(malloc(bytes));
			size_t u = in_use();

			ck_assert_msg(q != NULL, "malloc(%zu)", bytes);
			if (u - start != n && !bad)
				bad = n, bad_u = u - start;
			q[bytes - 1] = 1;
			free(q);
		}
		ck_assert_msg(!bad, "round %u: malloc of %zu pages raised in_use by %zu", round, bad,
			      bad_u);
		ck_assert_uint_eq(in_use(), start);
		/* all at once, freed in another order */
		for (size_t n = 1; n <= MAXP; n++) {
			p[n] = opaque(malloc(n * PS));
			ck_assert_msg(p[n] != NULL, "malloc(%zu pages)", n);
			usable[n] = malloc_usable_size(p[n]);
			fill(p[n], 64, (unsigned)n);
		}
		all = in_use();
		for (size_t n = 1; n <= MAXP; n++)
			if (usable[n] != n * PS && !bad_n)
				bad_n = n;
		ck_assert_msg(!bad_n, "malloc_usable_size(malloc(%zu pages)) = %zu", bad_n,
			      bad_n ? usable[bad_n] : 0);
		ck_assert_msg(all - start == MAXP * (MAXP + 1) / 2,
			      "round %u: 1..%d pages raised in_use by %zu, want %d", round, MAXP,
			      all - start, MAXP * (MAXP + 1) / 2);
		check_ledger("all allocated");
		for (size_t k = 0; k < MAXP; k++) {
			size_t n = (round & 1) ? MAXP - k : 1 + (k * 7 + round) % MAXP;

			ck_assert_msg(check_fill(p[n], 64, (unsigned)n) == 64,
				      "malloc(%zu pages) was overwritten", n);
			free(p[n]);
		}
		ck_assert_msg(in_use() == start, "round %u: in_use %zu after all frees, %zu before",
			      round, in_use(), start);
		check_ledger("all freed");
	}
}
END_TEST

/* ---- malloc_usable_size ------------------------------------------------ */

START_TEST(test_usable_size)
{
	size_t bad = 0, got = 0;

	ck_assert_uint_eq(malloc_usable_size(NULL), 0);
	for (size_t n = 1; n <= 3 * PS + 10; n += (n < 64 ? 1 : n < PS + 64 ? 37 : 211)) {
		char *p = opaque(malloc(n));
		size_t u;

		ck_assert_msg(p != NULL, "malloc(%zu)", n);
		u = malloc_usable_size(p);
		if (u < n || (owns(p) && u != (n + PS - 1) / PS * PS)) {
			bad = n;
			got = u;
		}
		dirty(p, 0x33, u);	/* all of it is usable */
		free(p);
		if (bad)
			break;
	}
	ck_assert_msg(!bad, "malloc_usable_size(malloc(%zu)) = %zu", bad, got);
	for (size_t pages = 1; pages <= MAX_RUN + 2; pages = pages < 16 ? pages + 1 : pages * 2 - 1) {
		size_t n = pages * PS - 3;
		char *p = opaque(malloc(n));
		size_t u;

		ck_assert_msg(p != NULL, "malloc(%zu)", n);
		u = malloc_usable_size(p);
		ck_assert_msg(u >= n, "malloc_usable_size(malloc(%zu)) = %zu", n, u);
		if (owns(p))
			ck_assert_msg(u == pages * PS, "pool malloc(%zu): usable %zu, want %zu", n, u,
				      pages * PS);
		p[u - 1] = 1;
		free(p);
	}
	{
		char *p = opaque(calloc(7, PS / 2 + 1)), *q = opaque(calloc(3, 33));

		ck_assert_ptr_nonnull(p);
		ck_assert_ptr_nonnull(q);
		ck_assert_uint_eq(malloc_usable_size(p), 4 * PS);
		ck_assert_uint_ge(malloc_usable_size(q), 99);
		free(p);
		free(q);
	}
}
END_TEST

/* ---- dlopen() after start-up ------------------------------------------- */

START_TEST(test_dlopen_after_start)
{
	double (*cosine)(double);
	const char *file;
	void *h, *extra;
	char *p, *q;

	h = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(h != NULL, "dlopen(libm.so.6): %s", dlerror());
	cosine = (double (*)(double))dlsym(h, "cos");
	ck_assert_ptr_nonnull(cosine);
	ck_assert(cosine(0.0) == 1.0);
	/* one that is most likely not loaded yet: ld.so allocates through the shim */
	extra = dlopen("libresolv.so.2", RTLD_NOW | RTLD_GLOBAL);
	ck_assert_msg(in_shim(dlsym(RTLD_DEFAULT, "malloc"), &file),
		      "after dlopen malloc resolves into %s", file);
	p = opaque(malloc(5 * PS));
	q = opaque(malloc(77));
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(q);
	ck_assert(owns(p));
	ck_assert(!owns(q));
	ck_assert_uint_eq(malloc_usable_size(p), 5 * PS);
	dirty(p, 9, 5 * PS);
	free(p);
	free(q);
	if (extra)
		ck_assert_int_eq(dlclose(extra), 0);
	ck_assert_int_eq(dlclose(h), 0);
	p = opaque(calloc(2, PS));
	ck_assert_ptr_nonnull(p);
	ck_assert(owns(p));
	free(p);
}
END_TEST

/* ---- the tests, into their test cases ---------------------------------- */

void add_routing_tests(struct preload_tcases *t)
{
	tcase_add_test(t->interposition, test_symbols_resolve_to_shim);
	tcase_add_test(t->interposition, test_dlopen_after_start);

	tcase_add_test(t->routing, test_route_malloc);
	tcase_add_test(t->routing, test_route_calloc_realloc);
	tcase_add_test(t->routing, test_route_aligned);
	tcase_add_test(t->routing, test_route_valloc);
	tcase_add_test(t->routing, test_route_huge_alignment);

	tcase_add_test(t->exactness, test_exact_five_pages);
	tcase_add_test(t->exactness, test_exact_sizes_loop);
	tcase_add_test(t->exactness, test_usable_size);
	tcase_add_test(t->exactness, test_run_freed_by_pool_calls);
}
