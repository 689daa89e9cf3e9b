/* SPDX-License-Identifier: MIT */
/*
 * serve.c - what a reserve does: it serves min_pages pages when the pool is
 * at its cap and is topped up by pp_reserve_free(); flags 0 on an empty
 * reserve waits for a free, PP_TRY / PP_NOWAIT do not; resize, destroy and
 * stats.reserved are exact.
 */
#include "reserve.h"

/* ---- cap reached: the reserve serves, then is topped up again ----------- */

START_TEST(test_cap_reserve_serves)
{
	enum { MIN = 16 };
	static const unsigned fl[] = { 0, PP_NOWAIT, PP_TRY, PP_ZERO,
				       PP_NOWAIT | PP_ZERO, PP_TRY | PP_ZERO };
	struct pp_reserve *r;
	void *got[MIN], **v, *q[3];
	struct pp_stats s, s0;
	size_t n;

	ck_assert_int_eq(pp_configure(CAP_CONF), 0);
	r = pp_reserve_create(MIN);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(get_stats().reserved, MIN);
	check_conservation();
	v = exhaust_checked(&n);
	errno = 0;
	ck_assert_ptr_null(pp_alloc_page(0));
	ck_assert_int_eq(errno, ENOMEM);
	s0 = get_stats();
	ck_assert_uint_eq(s0.free, 0);
	ck_assert_uint_eq(s0.reserved, MIN);
	check_conservation();

	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < MIN; i++) {
			unsigned f = fl[i % 6];

			got[i] = pp_reserve_alloc(r, f);
			ck_assert_msg(got[i] != NULL, "round %d: reserve page %zu (flags %#x) "
				      "not served, errno %d", round, i, f, errno);
			ck_assert(block_aligned(got[i], 0));
			if (f & PP_ZERO)
				ck_assert_msg(all_zero(got[i], ps()), "PP_ZERO page %p not zero", got[i]);
			tag_block(got[i], 0, 0x7e5e0000u + i);
			ck_assert_uint_eq(get_stats().reserved, MIN - i - 1);
		}
		check_conservation();
		errno = 0;
		ck_assert_ptr_null(pp_reserve_alloc(r, PP_NOWAIT));
		ck_assert_int_eq(errno, EAGAIN);
		errno = 0;
		ck_assert_ptr_null(pp_reserve_alloc(r, PP_TRY));
		ck_assert_int_eq(errno, EAGAIN);
		for (size_t i = 0; i < MIN; i++) {
			ck_assert_msg(tag_ok(got[i], 0, 0x7e5e0000u + i),
				      "reserve page %p handed out twice", got[i]);
			pp_reserve_free(r, got[i]);
			s = get_stats();
			ck_assert_uint_eq(s.reserved, i + 1);
			ck_assert_uint_eq(s.in_use, s0.in_use + MIN - i - 1);
		}
		check_conservation();
	}

	/* Full: a further free goes to the pool, where plain allocation finds it. */
	pp_reserve_free(r, v[--n]);
	s = get_stats();
	ck_assert_uint_eq(s.reserved, MIN);
	ck_assert_uint_eq(s.in_use, s0.in_use - 1);
	q[0] = pp_alloc_page(0);
	ck_assert_ptr_nonnull(q[0]);
	check_conservation();

	/* A reserve page may be freed with pp_free_page(): no top-up then. */
	q[1] = pp_reserve_alloc(r, PP_NOWAIT);
	ck_assert_ptr_nonnull(q[1]);
	pp_free_page(q[1]);
	s = get_stats();
	ck_assert_uint_eq(s.reserved, MIN - 1);
	check_conservation();
	q[1] = pp_alloc_page(0);	/* it went to this thread's cache */
	ck_assert_ptr_nonnull(q[1]);

	/* Growing fails all or nothing; so does a create that cannot fill. */
	pp_free_page(q[0]);
	pp_free_page(q[1]);
	q[2] = v[--n];
	pp_free_page(q[2]);		/* three pages free in the pool */
	s0 = get_stats();
	errno = 0;
	ck_assert_int_eq(pp_reserve_resize(r, MIN + 8), -1);
	ck_assert_int_eq(errno, ENOMEM);
	s = get_stats();
	ck_assert_uint_eq(s.reserved, MIN - 1);
	ck_assert_uint_eq(s.in_use, s0.in_use);
	ck_assert_uint_eq(s.free + s.cached, s0.free + s0.cached);
	check_conservation();
	errno = 0;
	ck_assert_ptr_null(pp_reserve_create(8));
	ck_assert_int_eq(errno, ENOMEM);
	s = get_stats();
	ck_assert_uint_eq(s.reserved, MIN - 1);
	ck_assert_uint_eq(s.in_use, s0.in_use);
	check_conservation();

	pp_reserve_destroy(r);
	release_all(v, n);
	s = get_stats();
	ck_assert_uint_eq(s.reserved, 0);
	ck_assert_uint_eq(s.in_use, 0);
	check_conservation();
}
END_TEST

/* ---- flags 0 on an empty reserve waits for a free -------------------- */

struct late_free {
	struct pp_reserve *r;
	void *page;
	bool to_pool;		/* pp_free_page() and exit (the cache drains) */
	double at;		/* when the free began */
};

static void *late_freer(void *arg)
{
	struct late_free *f = arg;

	usleep(300 * 1000);
	f->at = now_sec();	/* read after the join */
	if (f->to_pool)
		pp_free_page(f->page);
	else
		pp_reserve_free(f->r, f->page);
	return NULL;
}

START_TEST(test_alloc_waits_for_free)
{
	struct pp_reserve *r;
	void **v, *a, *b, *p;
	struct late_free f;
	size_t n;
	double t0, t1;

	ck_assert_int_eq(pp_configure(CAP_CONF), 0);
	r = pp_reserve_create(2);
	ck_assert_ptr_nonnull(r);
	v = exhaust_checked(&n);
	a = pp_reserve_alloc(r, PP_NOWAIT);
	b = pp_reserve_alloc(r, PP_NOWAIT);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_null(pp_reserve_alloc(r, PP_NOWAIT));

	for (int k = 0; k < 2; k++) {
		f = (struct late_free){ .r = r, .page = k ? b : a, .to_pool = k == 1 };
		pthread_t t = spawn(late_freer, &f);

		t0 = now_sec();
		p = pp_reserve_alloc(r, 0);
		t1 = now_sec();
		join(t);
		ck_assert_msg(p == f.page, "%s: got %p, the freed page was %p",
			      k ? "pool" : "reserve", p, f.page);
		ck_assert_msg(t1 - t0 >= 0.25, "%s: returned after %.3f s, before the free",
			      k ? "pool" : "reserve", t1 - t0);
		ck_assert_msg(t1 >= f.at, "returned before the free began");
		ck_assert_msg(t1 - f.at < 5.0, "woke %.2f s after the free", t1 - f.at);
		ck_assert_uint_eq(get_stats().reserved, 0);
		check_conservation();
	}
	pp_reserve_free(r, a);
	pp_reserve_free(r, b);
	ck_assert_uint_eq(get_stats().reserved, 2);
	pp_reserve_destroy(r);
	release_all(v, n);
	ck_assert_uint_eq(get_stats().in_use, 0);
	check_conservation();
}
END_TEST

/* ---- PP_TRY / PP_NOWAIT on an empty reserve ------------------------------ */

START_TEST(test_try_nowait_empty)
{
	struct pp_reserve *r;
	void *a, *b, *p, **v;
	size_t n;

	ck_assert_int_eq(pp_configure(CAP_CONF), 0);
	r = pp_reserve_create(2);
	ck_assert_ptr_nonnull(r);
	pp_thread_drain();
	errno = 1234;
	a = pp_reserve_alloc(r, PP_TRY);	/* no cache: from the reserve */
	b = pp_reserve_alloc(r, PP_TRY | PP_ZERO);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(errno, 1234);		/* untouched on success */
	ck_assert(all_zero(b, ps()));
	ck_assert_uint_eq(get_stats().reserved, 0);

	/* Free pages on the global lists: PP_TRY does not trylock, NOWAIT does. */
	ck_assert_uint_gt(get_stats().free, 0);
	errno = 0;
	ck_assert_ptr_null(pp_reserve_alloc(r, PP_TRY));
	ck_assert_int_eq(errno, EAGAIN);
	p = pp_reserve_alloc(r, PP_NOWAIT);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(get_stats().reserved, 0);
	pp_free_page(p);

	/* Cap reached: nothing anywhere. */
	v = exhaust_checked(&n);
	for (unsigned f = 0; f < 4; f++) {
		unsigned flags = (f & 1 ? PP_TRY : PP_NOWAIT) | (f & 2 ? PP_ZERO : 0);

		errno = 0;
		p = pp_reserve_alloc(r, flags);
		ck_assert_msg(!p && errno == EAGAIN, "flags %#x: %p errno %d", flags, p, errno);
	}
	check_conservation();
	pp_reserve_free(r, a);
	pp_reserve_free(r, b);
	ck_assert_uint_eq(get_stats().reserved, 2);
	pp_reserve_destroy(r);
	release_all(v, n);
	check_conservation();
}
END_TEST

/* ---- resize, destroy, stats ------------------------------------------- */

START_TEST(test_resize_destroy_stats)
{
	const size_t chunk0 = ps() / 16, big = 3 * chunk0;	/* slots in the struct's page */
	struct pp_reserve *r, *r2;
	void *got[3];

	r = pp_reserve_create(4);
	ck_assert_ptr_nonnull(r);
	expect_counts(4, 1);			/* its own page is in use */
	ck_assert_int_eq(pp_reserve_resize(r, 10), 0);
	expect_counts(10, 1);
	pp_thread_drain();
	for (size_t i = 0; i < 3; i++)
		ck_assert_ptr_nonnull(got[i] = pp_reserve_alloc(r, PP_TRY));
	expect_counts(7, 4);
	ck_assert_int_eq(pp_reserve_resize(r, 5), 0);	/* 2 of the 7 go back */
	expect_counts(5, 4);
	for (size_t i = 0; i < 3; i++)
		pp_reserve_free(r, got[i]);	/* full: all three to the pool */
	expect_counts(5, 1);
	ck_assert_int_eq(pp_reserve_resize(r, 2), 0);
	expect_counts(2, 1);
	ck_assert_int_eq(pp_reserve_resize(r, 2), 0);
	expect_counts(2, 1);
	pp_thread_drain();
	ck_assert_ptr_nonnull(got[0] = pp_reserve_alloc(r, PP_TRY));
	expect_counts(1, 2);
	ck_assert_int_eq(pp_reserve_resize(r, 4), 0);	/* filled to 4, as mempool */
	expect_counts(4, 2);
	pp_reserve_free(r, got[0]);		/* full: to the pool */
	expect_counts(4, 1);
	ck_assert_int_eq(pp_reserve_resize(r, big), 0);	/* a second slot chunk */
	expect_counts(big, 2);
	ck_assert_int_eq(pp_reserve_resize(r, 1), 0);
	expect_counts(1, 2);			/* slot chunks stay until destroy */
	ck_assert_int_eq(pp_reserve_resize(r, big), 0);	/* and are used again */
	expect_counts(big, 2);

	r2 = pp_reserve_create(3);
	ck_assert_ptr_nonnull(r2);
	expect_counts(big + 3, 3);
	pp_reserve_destroy(r);
	expect_counts(3, 1);
	pp_reserve_destroy(r2);
	pp_reserve_destroy(NULL);
	expect_counts(0, 0);
}
END_TEST

/* ---- into the test case ----------------------------------------------- */

void add_serve_tests(TCase *tc)
{
	tcase_add_test(tc, test_cap_reserve_serves);
	tcase_add_test(tc, test_alloc_waits_for_free);
	tcase_add_test(tc, test_try_nowait_empty);
	tcase_add_test(tc, test_resize_destroy_stats);
}
