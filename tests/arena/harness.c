/* SPDX-License-Identifier: MIT */
/*
 * harness.c - test_arena's helpers and main(): one test case, "arena",
 * made of the tests of api.c, growth.c and reuse.c.
 */
#include "arena.h"

size_t block_bytes(unsigned order)
{
	return ps() << order;
}

/* True when every byte of [p, p+len) equals @c. */
bool all_byte(const void *p, size_t len, unsigned char c)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i] != c)
			return false;
	return true;
}

/* Fail if any two of the blocks share a byte. */
void check_disjoint(const struct blk *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uintptr_t lo = (uintptr_t)b[i].p, hi = lo + block_bytes(b[i].order);

		for (size_t j = i + 1; j < n; j++) {
			uintptr_t lo2 = (uintptr_t)b[j].p;
			uintptr_t hi2 = lo2 + block_bytes(b[j].order);

			ck_assert_msg(hi <= lo2 || hi2 <= lo,
				      "blocks overlap: [%p,+order %u) and [%p,+order %u)",
				      (void *)b[i].p, b[i].order,
				      (void *)b[j].p, b[j].order);
		}
	}
}

/* Order-0 pages with flags 0 into @v until ENOMEM (at most @max); how many. */
size_t fill_order0(void **v, size_t max)
{
	size_t n = 0;

	for (;;) {
		void *p;

		errno = 0;
		p = pp_alloc_page(0);
		if (!p)
			break;
		ck_assert_msg(n < max, "more than %zu pages under the cap", max);
		v[n++] = p;
	}
	ck_assert_msg(errno == ENOMEM, "flags 0 allocation failed with errno %d (%s), want ENOMEM",
		      errno, strerror(errno));
	return n;
}

/* ---- the suite ----------------------------------------------------------- */

static Suite *arena_suite(void)
{
	Suite *s = suite_create("arena");
	TCase *tc = new_tcase("arena");

	add_api_tests(tc);
	add_growth_tests(tc);
	add_reuse_tests(tc);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(arena_suite());
}
