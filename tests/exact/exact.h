/* SPDX-License-Identifier: MIT */
/*
 * exact.h - what the files of test_exact (tests/exact/) share: runs of an
 * exact number of pages (lib/exact.c), the hidden pp_exact_alloc(),
 * pp_exact_pages(), pp_exact_free(), pp_exact_shrink() and pp_exact_grow()
 * behind the preload shim.
 *
 * White-box: besides pp_stats() and the pp_test_audit() ledger, the tests
 * walk the descriptors under the global lock (tiling_ok()) to see that the
 * block heads tile the committed pages exactly - a piece marked inside
 * another block would otherwise go unnoticed - and that only the runs held
 * have a run length (span) recorded.
 *
 * Each test runs in its own forked child (Check's CK_FORK), so each starts
 * with a fresh, uninitialised pool and may call pp_configure() first.
 * Everything declared here is defined in harness.c, but for each file's
 * add_*_tests().
 */
#ifndef PP_TEST_EXACT_H
#define PP_TEST_EXACT_H

#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <unistd.h>

#include "testutil.h"

/* ---- sizes and messages ------------------------------------------------- */

unsigned ilog2(size_t n);
unsigned ilog2_up(size_t n);

/* Run lengths every size test walks: 1..64, then a selection up to 1024. */
static const size_t big_sizes[] = { 100, 127, 129, 255, 511, 513, 1000, 1023, 1024 };
#define NSMALL	64
#define NBIG	(sizeof(big_sizes) / sizeof(big_sizes[0]))
#define NSIZES	(NSMALL + NBIG)

size_t size_at(size_t i);
void configure_two_blocks(void);	/* a cap of two max-order blocks */

/* What the current check is about, for failure messages. */
extern char where[160];
void set_where(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- contents ------------------------------------------------------------ */

uint64_t pattern(uint64_t seed, size_t k);
void fill_run(void *p, size_t n, uint64_t seed);
size_t bad_word(const void *p, size_t n, uint64_t seed);
size_t nonzero_word(const void *p, size_t len);

/* ---- the white-box ledger (harness.c says what each checks) -------------- */

bool tiling_ok(char *why, size_t len, size_t *spans);
#define check_ledger(runs) check_ledger_at(__FILE__, __LINE__, (runs))
void check_ledger_at(const char *file, int line, size_t runs);
void check_pieces(const char *p, size_t n);
void check_first_piece(const char *p, size_t n);
void check_given_back(const char *p, size_t from, size_t to);

/* ---- the suite: each file's tests, into the one test case "exact" -------- */

void add_sizes_tests(TCase *tc);	/* sizes.c */
void add_resize_tests(TCase *tc);	/* resize.c */
void add_flags_tests(TCase *tc);	/* flags.c */
void add_badptr_tests(TCase *tc);	/* badptr.c */
void add_threads_tests(TCase *tc);	/* threads.c */

#endif /* PP_TEST_EXACT_H */
