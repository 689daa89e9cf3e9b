/* SPDX-License-Identifier: MIT */
/*
 * tcache.h - what the files of test_tcache (tests/tcache/) share: the
 * per-thread cache layer: PP_TRY, the high/batch marks, pp_thread_drain(),
 * "no system call" on the lock-free paths (proved with strict seccomp),
 * progress while another thread holds the global lock, and re-entrancy from
 * a signal handler.
 *
 * Each test runs in its own forked child (Check's CK_FORK), so each starts
 * with a fresh, uninitialised pool and may call pp_configure() first.
 */
#ifndef PP_TEST_TCACHE_H
#define PP_TEST_TCACHE_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* The cached pages @s counts, the cache's storage excluded (lockfree.c too). */
static inline size_t cache_pages(const struct pp_stats *s)
{
	ck_assert_uint_ge(s->cached, s->cache_meta);
	return s->cached - s->cache_meta;
}

/* ---- the suite: each file's tests, into the one test case "tcache" ------ */

void add_cache_tests(TCase *tc);	/* cache.c */
void add_lockfree_tests(TCase *tc);	/* lockfree.c */
void add_signals_tests(TCase *tc);	/* signals.c */

#endif /* PP_TEST_TCACHE_H */
