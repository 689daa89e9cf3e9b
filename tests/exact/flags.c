/* SPDX-License-Identifier: MIT */
/*
 * flags.c - flags and limits: the flags pp_exact_alloc() takes and the
 * ones it refuses, large runs that give their pages back at once, ENOMEM at
 * the cap, and EINVAL for bad arguments.
 */
#include "exact.h"

/* ---- flags ---------------------------------------------------------------- */

START_TEST(test_flags)
{
	struct pp_stats s;
	char *p, *big[3];

	/* A fresh pool: PP_TRY and PP_NOWAIT find nothing and commit nothing. */
	errno = 0;
	ck_assert_ptr_null(pp_exact_alloc(5, 0, PP_TRY));
	ck_assert_int_eq(errno, EAGAIN);
	errno = 0;
	ck_assert_ptr_null(pp_exact_alloc(100, 0, PP_NOWAIT | PP_ZERO));
	ck_assert_int_eq(errno, EAGAIN);
	s = get_stats();
	ck_assert_uint_eq(s.committed, 0);
	/* Warm, with room to spare: PP_NOWAIT takes from the lists, no growth. */
	for (int i = 0; i < 3; i++) {
		big[i] = pp_exact_alloc(PP_EXACT_MAX, 0, 0);
		ck_assert_ptr_nonnull(big[i]);
	}
	for (int i = 0; i < 3; i++)
		pp_exact_free("test_flags", big[i]);
	s = get_stats();
	set_where("PP_NOWAIT runs after warming");
	for (size_t n = 1; n <= 200; n += 13) {
		p = pp_exact_alloc(n, 0, PP_NOWAIT | PP_ZERO);
		ck_assert_msg(p != NULL, "pp_exact_alloc(%zu, 0, PP_NOWAIT|PP_ZERO): %s", n,
			      strerror(errno));
		ck_assert_uint_eq(nonzero_word(p, n * ps()), SIZE_MAX);
		ck_assert_uint_eq(pp_exact_pages("test_flags", p), n);
		check_ledger(1);
		pp_exact_free("test_flags", p);
	}
	ck_assert_uint_eq(get_stats().grows, s.grows);
	/* PP_TRY takes no lock: a run longer than the cached blocks never comes. */
	for (size_t n = 9; n <= PP_EXACT_MAX; n *= 3) {
		errno = 0;
		p = pp_exact_alloc(n, 0, PP_TRY);
		ck_assert_msg(p == NULL && errno == EAGAIN, "pp_exact_alloc(%zu, 0, PP_TRY) "
			      "= %p, errno %d: want NULL, EAGAIN", n, (void *)p, errno);
	}
	ck_assert_uint_eq(in_use(), 0);
	check_ledger(0);
}
END_TEST

/* In a child: an unknown flag is refused (with a message) like pp_alloc_pages(). */
static void child_bad_flags(void)
{
	size_t before = get_stats().in_use;
	void *p;
	int e;

	for (unsigned f = 0x8; f <= 0x80000000u && f; f <<= 4) {
		errno = 0;
		p = pp_exact_alloc(2, 0, f | PP_ZERO);
		e = errno;
		if (p != NULL || e != EINVAL || get_stats().in_use != before) {
			dprintf(STDERR_FILENO, "@@FAIL flags %#x: returned %p errno %d (%s)\n",
				f, p, e, strerror(e));
			_exit(1);
		}
	}
}

START_TEST(test_bad_flags)
{
	struct child c;
	char how[128];

	run_child(child_bad_flags, &c, NULL);
	describe(c.status, how, sizeof(how));
	ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0,
		      "pp_exact_alloc(2, 0, unknown flag): want NULL with EINVAL; child %s, "
		      "stderr: \"%.800s\"", how, c.err);
	ck_assert_msg(strstr(c.err, "unknown flags") != NULL,
		      "no message about the unknown flags; stderr: \"%.800s\"", c.err);
}
END_TEST

/* ---- large runs give their pages back at once -------------------------- */

/*
 * Runs too long for the caches (more than 8 pages) are cut and given back
 * under the lock: the pieces coalesce at once, so allocating and freeing
 * them over and over needs no new memory and leaves nothing in the cache.
 * (Shrunk, they stay longer than 8 pages here: a run shrunk to 8 pages or
 * fewer goes back through the cache.)
 */
START_TEST(test_large_no_growth)
{
	static const size_t ns[] = { 9, 100, 129, 300, 513, 700, 1000, 1023, 1024 };
	struct pp_stats s0, s1;
	char *p, *q;

	/* Warm once: the arena holds two max-order blocks' worth. */
	p = pp_exact_alloc(PP_EXACT_MAX, 0, 0);
	q = pp_exact_alloc(PP_EXACT_MAX, 0, 0);
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(q);
	pp_exact_free("test_large", p);
	pp_exact_free("test_large", q);
	s0 = get_stats();
	for (int round = 0; round < 40; round++) {
		for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
			size_t n = ns[i], m = ns[(i + 3) % (sizeof(ns) / sizeof(ns[0]))];

			set_where("round %d: runs of %zu and %zu", round, n, m);
			p = pp_exact_alloc(n, (unsigned)(round % 3), 0);
			q = pp_exact_alloc(m, 0, 0);
			ck_assert_msg(p && q, "%s: %s", where, strerror(errno));
			if (round % 4 == 1)	/* still a large run */
				pp_exact_shrink("test_large", p, n / 2 > 9 ? n / 2 : 9);
			pp_exact_free("test_large", q);
			pp_exact_free("test_large", p);
		}
	}
	s1 = get_stats();
	ck_assert_msg(s1.grows == s0.grows && s1.committed == s0.committed,
		      "repeated large runs grew the arena: grows %zu -> %zu, committed %zu -> %zu",
		      s0.grows, s1.grows, s0.committed, s1.committed);
	ck_assert_msg(s1.cached == s0.cached, "large runs left pages in the cache: "
		      "cached %zu -> %zu", s0.cached, s1.cached);
	ck_assert_uint_eq(s1.in_use, 0);
	check_ledger(0);
}
END_TEST

/* ---- out of memory -------------------------------------------------------- */

START_TEST(test_cap_enomem)
{
	enum { MAXRUNS = 64 };
	char *p[MAXRUNS];
	size_t nr = 0, nr2 = 0, total = 0;
	int e;

	configure_two_blocks();
	for (;;) {
		ck_assert_uint_lt(nr, MAXRUNS);
		errno = 0;
		p[nr] = pp_exact_alloc(1000, 0, 0);
		if (!p[nr])
			break;
		fill_run(p[nr], 1000, nr);
		total += 1000;
		nr++;
	}
	e = errno;
	ck_assert_msg(e == ENOMEM, "capped pp_exact_alloc(1000) failed with errno %d (%s), "
		      "want ENOMEM", e, strerror(e));
	ck_assert_uint_eq(nr, 2);
	set_where("%zu runs of 1000 pages at the cap", nr);
	ck_assert_uint_eq(in_use(), total);
	check_ledger(nr);
	/* The pages behind the runs still serve short runs. */
	p[nr] = pp_exact_alloc(16, 0, 0);
	ck_assert_msg(p[nr] != NULL, "at the cap: no run of 16 pages: %s", strerror(errno));
	ck_assert_uint_eq(get_stats().grow_fails > 0, 1);
	for (size_t i = 0; i < nr; i++)
		ck_assert_uint_eq(bad_word(p[i], 1000, i), SIZE_MAX);
	for (size_t i = 0; i <= nr; i++)
		pp_exact_free("test_cap", p[i]);
	ck_assert_uint_eq(in_use(), 0);
	check_ledger(0);
	/* Nothing was lost: as many can be had again. */
	while ((p[nr2] = pp_exact_alloc(1000, 0, 0)) != NULL)
		nr2++;
	ck_assert_msg(nr2 == nr, "after freeing, %zu runs of 1000 fit; before, %zu", nr2, nr);
	for (size_t i = 0; i < nr2; i++)
		pp_exact_free("test_cap", p[i]);
	check_ledger(0);
}
END_TEST

/* ---- bad arguments: EINVAL ---------------------------------------------- */

static const struct {
	size_t npages;
	unsigned align;
} einval_cases[] = {
	{ 0, 0 }, { 0, 3 }, { PP_EXACT_MAX + 1, 0 }, { SIZE_MAX, 0 },
	{ 1, PP_MAX_ORDER + 1 }, { 5, PP_MAX_ORDER + 1 }, { 100, PP_MAX_ORDER + 1 },
	{ PP_EXACT_MAX, PP_MAX_ORDER + 1 }, { 1, UINT_MAX }, { 100, UINT_MAX },
};
static size_t einval_case;

/* In a child: a sanitizer report on the way would fail it too. */
static void child_einval(void)
{
	size_t n = einval_cases[einval_case].npages;
	unsigned a = einval_cases[einval_case].align;
	size_t before = get_stats().in_use;
	void *p;
	int e;

	errno = 0;
	p = pp_exact_alloc(n, a, 0);
	e = errno;
	if (p != NULL || e != EINVAL || get_stats().in_use != before) {
		dprintf(STDERR_FILENO, "@@FAIL returned %p errno %d (%s), in_use %zu -> %zu\n",
			p, e, strerror(e), before, get_stats().in_use);
		_exit(1);
	}
}

START_TEST(test_einval)
{
	/* Warm the pool so that a bad call cannot hide behind initialisation. */
	void *p = pp_exact_alloc(1, 0, 0);

	ck_assert_ptr_nonnull(p);
	for (einval_case = 0; einval_case < sizeof(einval_cases) / sizeof(einval_cases[0]);
	     einval_case++) {
		struct child c;
		char how[128];

		run_child(child_einval, &c, NULL);
		describe(c.status, how, sizeof(how));
		ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0,
			      "pp_exact_alloc(%zu, %u, 0): want NULL with EINVAL; child %s, "
			      "stderr: \"%.800s\"", einval_cases[einval_case].npages,
			      einval_cases[einval_case].align, how, c.err);
	}
	pp_exact_free("test_einval", p);
	check_ledger(0);
}
END_TEST

/* ---- into the test case ----------------------------------------------- */

void add_flags_tests(TCase *tc)
{
	tcase_add_test(tc, test_flags);
	tcase_add_test(tc, test_bad_flags);
	tcase_add_test(tc, test_large_no_growth);
	tcase_add_test(tc, test_cap_enomem);
	tcase_add_test(tc, test_einval);
}
