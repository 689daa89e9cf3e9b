/* SPDX-License-Identifier: MIT */
/*
 * harness.c - test_tcache's main(): one test case, "tcache", made of the
 * tests of cache.c, lockfree.c and signals.c.
 */
#include "tcache.h"

static Suite *tcache_suite(void)
{
	Suite *s = suite_create("tcache");
	TCase *tc = new_tcase("tcache");

	add_cache_tests(tc);
	add_lockfree_tests(tc);
	add_signals_tests(tc);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(tcache_suite());
}
