/* SPDX-License-Identifier: MIT */
/*
 * reserve.h - what the files of test_reserve (tests/reserve/) share:
 * reserves (pagepool/reserve.h) serve min_pages pages when the pool is at
 * its cap and are topped up by pp_reserve_free(); taking from one makes no
 * system call (strict seccomp) and takes no lock (another thread holds the
 * global lock); flags 0 blocks until a page is freed; resize, destroy and
 * stats.reserved are exact; four threads share one reserve without a page
 * handed out twice; bad input is reported.
 *
 * Each test runs in its own forked child (Check's CK_FORK), so each starts
 * with a fresh, uninitialised pool and may call pp_configure() first.
 */
#ifndef PP_TEST_RESERVE_H
#define PP_TEST_RESERVE_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <stdatomic.h>

#include "testutil.h"
#include "pagepool/reserve.h"	/* also included by pagepool.h */

#define CAP_CONF "cap=4M"
#define CAP_PAGES ((size_t)(4u << 20) / pp_page_size())

/* ---- the pool at its cap (harness.c) ------------------------------------ */

size_t exhaust(void **v, size_t max);	/* no Check calls: children use it */
void **exhaust_checked(size_t *n);
void release_all(void **v, size_t n);
void expect_counts(size_t reserved, size_t used);

/* ---- the suite: each file's tests, into the one test case "reserve" ----- */

void add_serve_tests(TCase *tc);	/* serve.c */
void add_lockfree_tests(TCase *tc);	/* lockfree.c */
void add_threads_tests(TCase *tc);	/* threads.c */
void add_badinput_tests(TCase *tc);	/* badinput.c */

#endif /* PP_TEST_RESERVE_H */
