/* SPDX-License-Identifier: MIT */
/*
 * harness.c - test_reserve's helpers and main(): one test case, "reserve",
 * made of the tests of serve.c, lockfree.c, threads.c and badinput.c.
 */
#include "reserve.h"

/* Allocate with flags 0 until the cap refuses (no Check calls: children use it). */
size_t exhaust(void **v, size_t max)
{
	size_t n = 0;

	while (n < max && (v[n] = pp_alloc_page(0)) != NULL) {
		tag_block(v[n], 0, 0xca900000u + n);
		n++;
	}
	return n;
}

void **exhaust_checked(size_t *n)
{
	size_t max = CAP_PAGES + 1;
	void **v = calloc(max, sizeof(*v));

	ck_assert_ptr_nonnull(v);
	errno = 0;
	*n = exhaust(v, max);
	ck_assert_uint_lt(*n, max);
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_uint_gt(*n, 0);
	return v;
}

void release_all(void **v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(tag_ok(v[i], 0, 0xca900000u + i), "pool page %p handed out twice",
			      v[i]);
		pp_free_page(v[i]);
	}
	free(v);
}

/* stats.reserved and stats.in_use are these, and the ledgers agree. */
void expect_counts(size_t reserved, size_t used)
{
	struct pp_stats s = get_stats();

	ck_assert_uint_eq(s.reserved, reserved);
	ck_assert_uint_eq(s.in_use, used);
	check_conservation();
}

/* ---- the suite ----------------------------------------------------------- */

static Suite *reserve_suite(void)
{
	Suite *s = suite_create("reserve");
	TCase *tc = new_tcase("reserve");

	add_serve_tests(tc);
	add_lockfree_tests(tc);
	add_threads_tests(tc);
	add_badinput_tests(tc);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(reserve_suite());
}
