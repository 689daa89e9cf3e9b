/* SPDX-License-Identifier: MIT */
/*
 * growth.c - how the arena grows: up to the cap and no further (order 0,
 * max order, the arena limit), never for PP_NOWAIT / PP_TRY, and the grows
 * counter.
 */
#include "arena.h"

/* ---- the cap ------------------------------------------------------------- */

START_TEST(test_cap_order0)
{
	const size_t cap = 8 * MIB, max = cap / ps() + 1;
	void **v = calloc(max, sizeof(*v));
	struct pp_stats s;
	size_t n, n2;

	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(pp_configure("cap=8M"), 0);
	n = fill_order0(v, max);
	s = get_stats();
	ck_assert_uint_eq(s.cap_bytes, cap);
	ck_assert_msg(s.committed * ps() <= cap, "committed %zu pages > cap",
		      s.committed);
	ck_assert_msg(n * ps() >= cap / 2, "only %zu pages before ENOMEM under an 8M cap", n);
	ck_assert_uint_eq(s.in_use, n);
	/* flags 0 fails only when no memory exists. */
	ck_assert_msg(s.free == 0 && s.cached == s.cache_meta,
		      "ENOMEM while memory was free: free %zu cached %zu (meta %zu)",
		      s.free, s.cached, s.cache_meta);
	ck_assert_uint_ge(s.grow_fails, 1);
	ck_assert_uint_le(s.peak_committed * ps(), cap);
	check_conservation();

	/* Still refused, still ENOMEM. */
	errno = 0;
	ck_assert_ptr_null(pp_alloc_page(0));
	ck_assert_int_eq(errno, ENOMEM);

	/* Free everything: every page comes back, and can be had again. */
	for (size_t i = 0; i < n; i++)
		pp_free_page(v[i]);
	ck_assert_uint_eq(get_stats().in_use, 0);
	check_conservation();
	n2 = fill_order0(v, max);
	ck_assert_msg(n2 == n, "second fill got %zu pages, first %zu: pages lost",
		      n2, n);
	ck_assert_uint_le(get_stats().committed * ps(), cap);
	for (size_t i = 0; i < n2; i++)
		pp_free_page(v[i]);
	check_conservation();
	free(v);
}
END_TEST

START_TEST(test_cap_max_order)
{
	const size_t blk = block_bytes(PP_MAX_ORDER), cap = 2 * blk;
	char conf[64];
	void *b[8];
	size_t n = 0;
	struct pp_stats s;

	snprintf(conf, sizeof(conf), "cap=%zuK", cap >> 10);
	ck_assert_int_eq(pp_configure(conf), 0);
	for (;;) {
		void *p;

		errno = 0;
		p = pp_alloc_pages(PP_MAX_ORDER, 0);
		if (!p)
			break;
		ck_assert_msg(n < 2, "a third max-order block under a cap of two");
		b[n++] = p;
	}
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_msg(n >= 1, "no max-order block at all under a cap of two");
	s = get_stats();
	ck_assert_uint_le(s.committed * ps(), cap);
	ck_assert_uint_eq(s.cap_bytes, cap);
	check_conservation();
	while (n)
		pp_free_pages(b[--n], PP_MAX_ORDER);
	check_conservation();
}
END_TEST

START_TEST(test_arena_limit)
{
	const size_t arena = 16 * MIB, blk = block_bytes(PP_MAX_ORDER);
	void *b[64];
	size_t n = 0;
	struct pp_stats s;

	ck_assert_int_eq(pp_configure("arena=16M"), 0);
	for (;;) {
		void *p;

		errno = 0;
		p = pp_alloc_pages(PP_MAX_ORDER, 0);
		if (!p)
			break;
		ck_assert_msg(n < arena / blk, "more max-order blocks than fit a 16M arena");
		b[n++] = p;
	}
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_uint_ge(n, 1);
	s = get_stats();
	ck_assert_uint_eq(s.arena_bytes, arena);
	ck_assert_uint_le(s.committed * ps(), arena);
	check_conservation();
	while (n)
		pp_free_pages(b[--n], PP_MAX_ORDER);
	check_conservation();
}
END_TEST

/* ---- PP_NOWAIT / PP_TRY never grow --------------------------------------- */

START_TEST(test_nowait_fresh_no_grow)
{
	static const unsigned orders[] = { 0, 2, 5, PP_MAX_ORDER };
	struct pp_stats s;
	void *p;

	for (size_t i = 0; i < sizeof(orders) / sizeof(orders[0]); i++) {
		errno = 0;
		p = pp_alloc_pages(orders[i], PP_NOWAIT);
		ck_assert_msg(p == NULL, "PP_NOWAIT order %u on a fresh pool: %p",
			      orders[i], p);
		ck_assert_int_eq(errno, EAGAIN);
		errno = 0;
		ck_assert_ptr_null(pp_alloc_pages(orders[i], PP_NOWAIT | PP_ZERO));
		ck_assert_int_eq(errno, EAGAIN);
	}
	errno = 0;
	ck_assert_ptr_null(pp_alloc_page(PP_NOWAIT));
	ck_assert_int_eq(errno, EAGAIN);
	s = get_stats();
	ck_assert_uint_eq(s.committed, 0);
	ck_assert_uint_eq(s.grows, 0);

	/* flags 0 does grow. */
	p = pp_alloc_page(0);
	ck_assert_ptr_nonnull(p);
	s = get_stats();
	ck_assert_uint_gt(s.committed, 0);
	ck_assert_uint_ge(s.grows, 1);
	pp_free_page(p);
	check_conservation();
}
END_TEST

START_TEST(test_try_fresh_no_grow)
{
	static const unsigned orders[] = { 0, 1, 3, 4, PP_MAX_ORDER };
	struct pp_stats s;

	errno = 0;
	ck_assert_ptr_null(pp_alloc_page_try());
	ck_assert_int_eq(errno, EAGAIN);
	errno = 0;
	ck_assert_ptr_null(pp_alloc_page(PP_TRY));
	ck_assert_int_eq(errno, EAGAIN);
	for (size_t i = 0; i < sizeof(orders) / sizeof(orders[0]); i++) {
		errno = 0;
		ck_assert_ptr_null(pp_alloc_pages(orders[i], PP_TRY | PP_ZERO));
		ck_assert_int_eq(errno, EAGAIN);
	}
	s = get_stats();
	ck_assert_uint_eq(s.committed, 0);
	ck_assert_uint_eq(s.grows, 0);
	check_conservation();
}
END_TEST

/* With the arena's committed memory used up, PP_NOWAIT fails, flags 0 grows. */
START_TEST(test_nowait_exhausted_no_grow)
{
	struct pp_stats s0, s;
	size_t max, n = 0;
	void **v, *p0, *p;

	p0 = pp_alloc_page(0);
	ck_assert_ptr_nonnull(p0);
	s0 = get_stats();
	ck_assert_uint_gt(s0.committed, 0);
	max = s0.committed + 1;
	v = calloc(max, sizeof(*v));
	ck_assert_ptr_nonnull(v);
	for (;;) {
		errno = 0;
		p = pp_alloc_page(PP_NOWAIT);
		if (!p)
			break;
		ck_assert_msg(n < max, "PP_NOWAIT handed out more pages than committed");
		v[n++] = p;
	}
	ck_assert_int_eq(errno, EAGAIN);
	s = get_stats();
	ck_assert_msg(s.committed == s0.committed && s.grows == s0.grows,
		      "PP_NOWAIT grew the arena: committed %zu -> %zu, grows %zu -> %zu",
		      s0.committed, s.committed, s0.grows, s.grows);
	/* Single-threaded, the trylock never fails: all free memory was used. */
	ck_assert_msg(s.free == 0 && s.cached == s.cache_meta,
		      "PP_NOWAIT gave up with memory free: free %zu cached %zu meta %zu",
		      s.free, s.cached, s.cache_meta);
	ck_assert_uint_eq(s.in_use, n + 1);
	check_conservation();

	/* flags 0 now grows. */
	p = pp_alloc_page(0);
	ck_assert_ptr_nonnull(p);
	s = get_stats();
	ck_assert_uint_gt(s.committed, s0.committed);
	ck_assert_uint_eq(s.grows, s0.grows + 1);
	pp_free_page(p);
	for (size_t i = 0; i < n; i++)
		pp_free_page(v[i]);
	pp_free_page(p0);
	check_conservation();
	free(v);
}
END_TEST

/* ---- grows --------------------------------------------------------------- */

START_TEST(test_grows_counter)
{
	enum { MAXB = 64 };
	void *b[MAXB];
	struct pp_stats prev, s;
	size_t n = 0, growths = 0;
	void *p;

	prev = get_stats();
	ck_assert_uint_eq(prev.grows, 0);
	ck_assert_uint_eq(prev.committed, 0);
	p = pp_alloc_page(0);
	ck_assert_ptr_nonnull(p);
	s = get_stats();
	ck_assert_uint_ge(s.grows, 1);
	ck_assert_uint_gt(s.committed, 0);
	ck_assert_uint_eq(s.peak_committed, s.committed);
	prev = s;
	/* Max-order blocks until the arena has grown twice more. */
	while (n < MAXB && growths < 2) {
		b[n] = pp_alloc_pages(PP_MAX_ORDER, 0);
		ck_assert_ptr_nonnull(b[n]);
		n++;
		s = get_stats();
		if (s.committed > prev.committed) {
			ck_assert_msg(s.grows > prev.grows,
				      "committed grew %zu -> %zu but grows stayed %zu",
				      prev.committed, s.committed, s.grows);
			growths++;
		} else {
			ck_assert_msg(s.grows == prev.grows,
				      "grows %zu -> %zu without committing more",
				      prev.grows, s.grows);
		}
		ck_assert_uint_ge(s.peak_committed, s.committed);
		prev = s;
	}
	ck_assert_msg(growths == 2, "%zu max-order blocks and the arena grew %zu times",
		      n, growths);
	ck_assert_uint_eq(s.grow_fails, 0);
	check_conservation();
	while (n)
		pp_free_pages(b[--n], PP_MAX_ORDER);
	pp_free_page(p);
	s = get_stats();
	ck_assert_uint_eq(s.grows, prev.grows);	/* frees never grow */
	check_conservation();
}
END_TEST

/* ---- into the test case ----------------------------------------------- */

void add_growth_tests(TCase *tc)
{
	tcase_add_test(tc, test_cap_order0);
	tcase_add_test(tc, test_cap_max_order);
	tcase_add_test(tc, test_arena_limit);
	tcase_add_test(tc, test_nowait_fresh_no_grow);
	tcase_add_test(tc, test_try_fresh_no_grow);
	tcase_add_test(tc, test_nowait_exhausted_no_grow);
	tcase_add_test(tc, test_grows_counter);
}
