/* SPDX-License-Identifier: MIT */
/*
 * contracts.c - the C and POSIX contracts of the malloc family, kept for
 * pool memory too: edge cases and errno, calloc, reallocarray, realloc,
 * posix_memalign, aligned_alloc, memalign, valloc and pvalloc.
 */
#include "preload.h"

/* ---- malloc edge cases and errno --------------------------------------- */

static void check_enomem(const char *what, void *p)
{
	int e = errno;

	ck_assert_msg(p == NULL, "%s = %p, want NULL", what, p);
	ck_assert_msg(e == ENOMEM, "%s: errno %d (%s), want ENOMEM", what, e, strerror(e));
}

START_TEST(test_malloc_zero_and_free_null)
{
	char *a = opaque(malloc(0)), *b = opaque(malloc(0));

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_msg(a != b, "two malloc(0) returned the same %p", (void *)a);
	ck_assert_msg(!owns(a) && !owns(b), "malloc(0) came from the pool");
	free(a);
	free(b);
	free(opaque(NULL));
	free(NULL);
}
END_TEST

START_TEST(test_malloc_too_big)
{
	static const struct {
		const char *what;
		size_t n;
	} v[] = {
		{ "SIZE_MAX", SIZE_MAX },
		{ "SIZE_MAX-1", SIZE_MAX - 1 },
		{ "SIZE_MAX-4095 (rounds past SIZE_MAX)", SIZE_MAX - 4095 },
		{ "SIZE_MAX-4096", SIZE_MAX - 4096 },
		{ "SIZE_MAX/2", SIZE_MAX / 2 },
		{ "SIZE_MAX/2+1", SIZE_MAX / 2 + 1 },
		{ "PTRDIFF_MAX-100", (size_t)PTRDIFF_MAX - 100 },
		{ "2^62", (size_t)1 << 62 },
	};
	char what[96];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		void *p;

		snprintf(what, sizeof(what), "malloc(%s)", v[i].what);
		errno = 0;
		p = opaque(malloc(sz(v[i].n)));
		check_enomem(what, p);
		snprintf(what, sizeof(what), "realloc(NULL, %s)", v[i].what);
		errno = 0;
		p = opaque(realloc(NULL, sz(v[i].n)));
		check_enomem(what, p);
		snprintf(what, sizeof(what), "calloc(1, %s)", v[i].what);
		errno = 0;
		p = opaque(calloc(1, sz(v[i].n)));
		check_enomem(what, p);
		snprintf(what, sizeof(what), "aligned_alloc(page, %s)", v[i].what);
		errno = 0;
		p = opaque(aligned_alloc(PS, sz(v[i].n)));
		check_enomem(what, p);
		snprintf(what, sizeof(what), "memalign(page, %s)", v[i].what);
		errno = 0;
		p = opaque(memalign(PS, sz(v[i].n)));
		check_enomem(what, p);
		snprintf(what, sizeof(what), "valloc(%s)", v[i].what);
		errno = 0;
		p = opaque(valloc(sz(v[i].n)));
		check_enomem(what, p);
		snprintf(what, sizeof(what), "pvalloc(%s)", v[i].what);
		errno = 0;
		p = opaque(pvalloc(sz(v[i].n)));
		check_enomem(what, p);
		p = (void *)&what;
		ck_assert_msg(posix_memalign(&p, PS, sz(v[i].n)) == ENOMEM,
			      "posix_memalign(page, %s) did not return ENOMEM", v[i].what);
		ck_assert_msg(p == (void *)&what, "posix_memalign(page, %s) wrote *memptr",
			      v[i].what);
	}
}
END_TEST

/* ---- calloc ----------------------------------------------------------- */

START_TEST(test_calloc_overflow)
{
	static const size_t v[][2] = {
		{ SIZE_MAX / 2, 3 }, { 3, SIZE_MAX / 2 }, { SIZE_MAX, SIZE_MAX },
		{ (SIZE_MAX / 4096) + 1, 4096 }, { 4096, (SIZE_MAX / 4096) + 1 },
		{ (size_t)1 << 33, (size_t)1 << 31 },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char what[96];
		void *p;

		snprintf(what, sizeof(what), "calloc(%zu, %zu)", v[i][0], v[i][1]);
		errno = 0;
		p = opaque(calloc(sz(v[i][0]), sz(v[i][1])));
		check_enomem(what, p);
	}
}
END_TEST

START_TEST(test_calloc_zeroes_reused_pages)
{
	static const size_t pages[] = { 1, 2, 3, 5, 8, 13, 64, 300, MAX_RUN };

	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		size_t n = pages[i] * PS;

		for (int r = 0; r < 6; r++) {
			char *p = opaque(malloc(n)), *q;
			size_t nz;

			ck_assert_ptr_nonnull(p);
			dirty(p, 0xAA, n);
			free(p);
			/* n, or the same pages asked for as count * size */
			q = opaque(r & 1 ? calloc(pages[i], PS) : calloc(n, 1));
			ck_assert_msg(q != NULL, "calloc for %zu pages", pages[i]);
			ck_assert_msg(owns(q), "calloc of %zu pages is not pool", pages[i]);
			nz = first_nonzero(q, n);
			ck_assert_msg(nz == n, "calloc of %zu pages (round %d, %s the dirtied block) "
				      "has byte %#x at offset %zu", pages[i], r,
				      q == p ? "reusing" : "not reusing", (unsigned char)q[nz], nz);
			dirty(q, 0xAA, n);
			free(q);
		}
	}
	/* small sizes from the C library too */
	for (int r = 0; r < 4; r++) {
		char *p = opaque(malloc(200)), *q;

		ck_assert_ptr_nonnull(p);
		dirty(p, 0xAA, 200);
		free(p);
		q = opaque(calloc(10, 20));
		ck_assert_ptr_nonnull(q);
		ck_assert_uint_eq(first_nonzero(q, 200), 200);
		free(q);
	}
}
END_TEST

/* ---- reallocarray ------------------------------------------------------ */

START_TEST(test_reallocarray)
{
	static const size_t sizes[] = { 100, 3 * 4096 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		char *p = opaque(malloc(n)), *q;
		size_t before;

		ck_assert_ptr_nonnull(p);
		fill(p, n, 5);
		before = in_use();
		errno = 0;
		q = opaque(reallocarray(opaque(p), sz(SIZE_MAX / 2), 3));
		check_enomem("reallocarray(p, SIZE_MAX/2, 3)", q);
		errno = 0;
		q = opaque(reallocarray(opaque(p), sz((size_t)1 << 40), sz((size_t)1 << 30)));
		check_enomem("reallocarray(p, 2^40, 2^30)", q);
		ck_assert_uint_eq(in_use(), before);
		ck_assert_msg(check_fill(p, n, 5) == n, "reallocarray overflow spoilt the block");
		ck_assert_uint_ge(malloc_usable_size(p), n);
		/* and the block still works: grow it */
		q = opaque(reallocarray(p, 5, PS));
		ck_assert_ptr_nonnull(q);
		ck_assert_msg(owns(q), "reallocarray(p, 5, page) is not pool");
		ck_assert_uint_eq(malloc_usable_size(q), 5 * PS);
		ck_assert_msg(check_fill(q, n, 5) == n, "reallocarray lost the contents");
		free(q);
	}
	{
		char *p = opaque(reallocarray(NULL, 3, PS)), *q = opaque(reallocarray(NULL, 10, 10));

		ck_assert_ptr_nonnull(p);
		ck_assert_ptr_nonnull(q);
		ck_assert(owns(p));
		ck_assert(!owns(q));
		ck_assert_uint_eq(malloc_usable_size(p), 3 * PS);
		free(p);
		free(q);
	}
}
END_TEST

/* ---- realloc ---------------------------------------------------------- */

START_TEST(test_realloc_small_to_pool)
{
	char *p = opaque(malloc(100)), *q;

	ck_assert_ptr_nonnull(p);
	ck_assert(!owns(p));
	fill(p, 100, 1);
	q = opaque(realloc(p, 3 * PS));
	ck_assert_ptr_nonnull(q);
	ck_assert_msg(owns(q), "realloc(small, 3 pages) is not pool");
	ck_assert_uint_eq(malloc_usable_size(q), 3 * PS);
	ck_assert_msg(check_fill(q, 100, 1) == 100, "small -> pool lost the contents at %zu",
		      check_fill(q, 100, 1));
	dirty(q, 7, 3 * PS);
	free(q);
}
END_TEST

START_TEST(test_realloc_pool_grow_shrink)
{
	size_t start, n2, n7, n3, got;
	char *p, *q, *r;

	start = in_use();
	p = opaque(malloc(2 * PS));
	ck_assert_ptr_nonnull(p);
	fill(p, 2 * PS, 2);
	n2 = in_use();
	q = opaque(realloc(p, 7 * PS));
	ck_assert_ptr_nonnull(q);
	n7 = in_use();
	ck_assert_msg(owns(q), "realloc(2 pages -> 7 pages) is not pool");
	ck_assert_uint_eq(malloc_usable_size(q), 7 * PS);
	got = check_fill(q, 2 * PS, 2);
	ck_assert_msg(got == 2 * PS, "grow lost the contents at %zu", got);
	ck_assert_uint_eq(n2 - start, 2);
	ck_assert_msg(n7 - start == 7, "after growing to 7 pages in_use is up %zu", n7 - start);
	fill(q, 7 * PS, 3);
	r = opaque(realloc(q, 3 * PS));
	ck_assert_ptr_nonnull(r);
	n3 = in_use();
	ck_assert_msg(owns(r), "realloc(7 pages -> 3 pages) is not pool");
	got = check_fill(r, 3 * PS, 3);
	ck_assert_msg(got == 3 * PS, "shrink lost the contents at %zu", got);
	ck_assert_msg(n3 < n7, "shrinking 7 -> 3 pages did not lower in_use (%zu -> %zu)", n7, n3);
	ck_assert_msg(n3 - start == 3, "after shrinking to 3 pages in_use is up %zu", n3 - start);
	ck_assert_uint_eq(malloc_usable_size(r), 3 * PS);
	/* same size, and a grow into a fourth page (that it fills well) */
	r = opaque(realloc(r, 3 * PS));
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(check_fill(r, 3 * PS, 3), 3 * PS);
	r = opaque(realloc(r, 4 * PS - 1));
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(malloc_usable_size(r), 4 * PS);
	ck_assert_uint_eq(check_fill(r, 3 * PS, 3), 3 * PS);
	ck_assert_uint_eq(in_use() - start, 4);
	free(r);
	ck_assert_uint_eq(in_use(), start);
}
END_TEST

START_TEST(test_realloc_pool_to_small_and_huge)
{
	size_t start = in_use(), got;
	char *p = opaque(malloc(4 * PS)), *q;

	ck_assert_ptr_nonnull(p);
	ck_assert(owns(p));
	fill(p, 4 * PS, 4);
	q = opaque(realloc(p, 50));
	ck_assert_ptr_nonnull(q);
	ck_assert_msg(!owns(q), "realloc(4 pages, 50) stayed in the pool");
	ck_assert_msg(check_fill(q, 50, 4) == 50, "pool -> small lost the prefix");
	ck_assert_msg(in_use() == start, "pool -> small: in_use %zu, %zu before", in_use(), start);
	free(q);

	/* pool -> beyond the pool's largest block -> back */
	p = opaque(malloc(1000 * PS));
	ck_assert_ptr_nonnull(p);
	fill(p, 1000 * PS, 6);
	q = opaque(realloc(p, (MAX_RUN + 100) * PS));
	ck_assert_ptr_nonnull(q);
	ck_assert_msg(!owns(q), "realloc to %zu pages stayed in the pool", MAX_RUN + 100);
	got = check_fill(q, 1000 * PS, 6);
	ck_assert_msg(got == 1000 * PS, "pool -> huge lost the contents at %zu", got);
	ck_assert_uint_eq(in_use(), start);
	p = opaque(realloc(q, 9 * PS));
	ck_assert_ptr_nonnull(p);
	ck_assert_msg(owns(p), "realloc(huge, 9 pages) is not pool");
	got = check_fill(p, 9 * PS, 6);
	ck_assert_msg(got == 9 * PS, "huge -> pool lost the contents at %zu", got);
	ck_assert_uint_eq(in_use() - start, 9);
	free(p);
	ck_assert_uint_eq(in_use(), start);
}
END_TEST

START_TEST(test_realloc_zero_and_failure)
{
	size_t start = in_use(), during;
	char *p = opaque(malloc(3 * PS)), *q;

	ck_assert_ptr_nonnull(p);
	during = in_use();
	ck_assert_uint_eq(during - start, 3);
	q = opaque(realloc(p, 0));
	ck_assert_msg(q == NULL, "realloc(pool, 0) = %p, want NULL (glibc frees)", (void *)q);
	ck_assert_msg(in_use() == start, "realloc(pool, 0) did not free: in_use up %zu",
		      in_use() - start);
	p = opaque(malloc(100));
	ck_assert_ptr_nonnull(p);
	q = opaque(realloc(p, 0));
	ck_assert_msg(q == NULL, "realloc(small, 0) = %p, want NULL", (void *)q);

	/* a failing realloc keeps the block, pool or not */
	for (int pool = 0; pool < 2; pool++) {
		size_t n = pool ? 2 * PS : 64;

		p = opaque(malloc(n));
		ck_assert_ptr_nonnull(p);
		fill(p, n, 9);
		during = in_use();
		errno = 0;
		q = opaque(realloc(opaque(p), sz(SIZE_MAX - 100)));
		check_enomem("realloc(p, SIZE_MAX-100)", q);
		errno = 0;
		q = opaque(realloc(opaque(p), sz(SIZE_MAX / 2)));
		check_enomem("realloc(p, SIZE_MAX/2)", q);
		ck_assert_uint_eq(in_use(), during);
		ck_assert_msg(check_fill(p, n, 9) == n, "failed realloc spoilt the block");
		ck_assert_uint_ge(malloc_usable_size(p), n);
		free(p);
	}
	ck_assert_uint_eq(in_use(), start);
}
END_TEST

/* ---- posix_memalign, aligned_alloc, memalign, valloc, pvalloc ---------- */

START_TEST(test_posix_memalign_einval)
{
	const size_t bad[] = {
		0, 1, 3, 12, sizeof(void *) / 2, sizeof(void *) + 1, 24, 48, 3 * 4096,
		4096 + 8, SIZE_MAX, (SIZE_MAX >> 1) + 1 + sizeof(void *),
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		static const size_t sizes[] = { 8, 4096, 5 * 4096 };

		for (size_t k = 0; k < 3; k++) {
			void *p = (void *)&bad[i];
			int rc;

			errno = EDOM;
			rc = posix_memalign(&p, sz(bad[i]), sizes[k]);
			ck_assert_msg(rc == EINVAL, "posix_memalign(%zu, %zu) returned %d, want EINVAL",
				      bad[i], sizes[k], rc);
			ck_assert_msg(p == (void *)&bad[i],
				      "posix_memalign(%zu, %zu) wrote *memptr (%p)", bad[i], sizes[k],
				      p);
			ck_assert_msg(errno == EDOM, "posix_memalign(%zu, %zu) set errno to %d",
				      bad[i], sizes[k], errno);
		}
	}
}
END_TEST

START_TEST(test_posix_memalign_ok)
{
	for (size_t al = sizeof(void *); al <= 4 * MIB; al *= 2) {
		static const size_t sizes[] = { 1, 24, 4096, 3 * 4096 + 1 };

		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			void *p = NULL;
			int rc = posix_memalign(&p, sz(al), sizes[k]);

			p = opaque(p);
			ck_assert_msg(rc == 0 && p, "posix_memalign(%zu, %zu) = %d", al, sizes[k], rc);
			ck_assert_msg(aligned(p, al), "posix_memalign(%zu, %zu) = %p", al, sizes[k], p);
			ck_assert_uint_ge(malloc_usable_size(p), sizes[k]);
			dirty(p, 0x77, sizes[k]);
			free(p);
		}
	}
	{
		/* size 0 goes to the C library, any alignment */
		void *p = NULL;

		ck_assert_int_eq(posix_memalign(&p, PS, sz(0)), 0);
		p = opaque(p);
		ck_assert_ptr_nonnull(p);
		ck_assert(aligned(p, PS));
		ck_assert_msg(!owns(p), "posix_memalign(page, 0) came from the pool");
		free(p);
	}
}
END_TEST

START_TEST(test_aligned_alloc_einval)
{
	static const size_t bad[] = { 0, 3, 12, 24, 48, 3 * 4096, 4096 + 8 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		static const size_t sizes[] = { 8, 4096, 4 * 4096 };

		for (size_t k = 0; k < 3; k++) {
			char what[64];
			void *p;

			snprintf(what, sizeof(what), "aligned_alloc(%zu, %zu)", bad[i], sizes[k]);
			errno = 0;
			p = opaque(aligned_alloc(sz(bad[i]), sizes[k]));
			ck_assert_msg(p == NULL, "%s = %p, want NULL", what, p);
			ck_assert_msg(errno == EINVAL, "%s: errno %d, want EINVAL", what, errno);
		}
	}
}
END_TEST

START_TEST(test_memalign_rounds_up)
{
	static const struct {
		size_t align, size, want;
	} v[] = {
		{ 48, 100, 64 }, { 24, 10, 32 }, { 3, 10, 4 }, { 96, 4096, 128 },
		{ 3 * 4096, 100, 4 * 4096 }, { 5 * 4096, 2 * 4096, 8 * 4096 },
		{ 4096 + 8, 10, 2 * 4096 },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *p = opaque(memalign(sz(v[i].align), v[i].size));

		ck_assert_msg(p != NULL, "memalign(%zu, %zu): %s", v[i].align, v[i].size,
			      strerror(errno));
		ck_assert_msg(aligned(p, v[i].want), "memalign(%zu, %zu) = %p, not aligned to %zu",
			      v[i].align, v[i].size, (void *)p, v[i].want);
		ck_assert_uint_ge(malloc_usable_size(p), v[i].size);
		dirty(p, 0x44, v[i].size);
		free(p);
	}
}
END_TEST

START_TEST(test_pvalloc)
{
	char *p;

	p = opaque(pvalloc(1));
	ck_assert_ptr_nonnull(p);
	ck_assert_msg(aligned(p, PS), "pvalloc(1) = %p", (void *)p);
	ck_assert_msg(malloc_usable_size(p) >= PS, "pvalloc(1): usable %zu",
		      malloc_usable_size(p));
	dirty(p, 1, PS);
	free(p);
	p = opaque(pvalloc(sz(0)));
	ck_assert_ptr_nonnull(p);
	ck_assert_msg(aligned(p, PS), "pvalloc(0) = %p", (void *)p);
	ck_assert_msg(malloc_usable_size(p) >= PS, "pvalloc(0): usable %zu, want a page",
		      malloc_usable_size(p));
	dirty(p, 1, PS);
	free(p);
	p = opaque(pvalloc(PS + 1));
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_ge(malloc_usable_size(p), 2 * PS);
	dirty(p, 1, 2 * PS);
	free(p);
	errno = 0;
	p = opaque(pvalloc(sz(SIZE_MAX)));
	check_enomem("pvalloc(SIZE_MAX)", p);
	errno = 0;
	p = opaque(valloc(sz(SIZE_MAX)));
	check_enomem("valloc(SIZE_MAX)", p);
}
END_TEST

/* ---- the tests, into their test cases ---------------------------------- */

void add_contracts_tests(struct preload_tcases *t)
{
	tcase_add_test(t->contracts, test_malloc_zero_and_free_null);
	tcase_add_test(t->contracts, test_malloc_too_big);
	tcase_add_test(t->contracts, test_calloc_overflow);
	tcase_add_test(t->contracts, test_calloc_zeroes_reused_pages);
	tcase_add_test(t->contracts, test_reallocarray);
	tcase_add_test(t->contracts, test_realloc_small_to_pool);
	tcase_add_test(t->contracts, test_realloc_pool_grow_shrink);
	tcase_add_test(t->contracts, test_realloc_pool_to_small_and_huge);
	tcase_add_test(t->contracts, test_realloc_zero_and_failure);
	tcase_add_test(t->contracts, test_posix_memalign_einval);
	tcase_add_test(t->contracts, test_posix_memalign_ok);
	tcase_add_test(t->contracts, test_aligned_alloc_einval);
	tcase_add_test(t->contracts, test_memalign_rounds_up);
	tcase_add_test(t->contracts, test_pvalloc);
}
