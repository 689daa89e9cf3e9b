/* SPDX-License-Identifier: MIT */
/*
 * arena.h - what the files of test_arena (tests/arena/) share: the arena
 * and the buddy layer, through the public API.
 *
 * Each test runs in its own forked child (Check's CK_FORK), so each starts
 * with a fresh, uninitialised pool and may call pp_configure() first.
 */
#ifndef PP_TEST_ARENA_H
#define PP_TEST_ARENA_H

#include <limits.h>
#include <unistd.h>

#include "testutil.h"

#define MIB ((size_t)1 << 20)

struct blk {
	char *p;
	unsigned order;
};

/* ---- helpers (harness.c) ------------------------------------------------ */

size_t block_bytes(unsigned order);
bool all_byte(const void *p, size_t len, unsigned char c);	/* every byte is @c */
void check_disjoint(const struct blk *b, size_t n);	/* fails if two share a byte */
size_t fill_order0(void **v, size_t max);	/* order-0 pages until ENOMEM */

/* ---- the suite: each file's tests, into the one test case "arena" ------- */

void add_api_tests(TCase *tc);		/* api.c */
void add_growth_tests(TCase *tc);	/* growth.c */
void add_reuse_tests(TCase *tc);	/* reuse.c */

#endif /* PP_TEST_ARENA_H */
