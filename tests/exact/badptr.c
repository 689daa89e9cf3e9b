/* SPDX-License-Identifier: MIT */
/*
 * badptr.c - bad pointers: each exact-run call given a pointer that is not
 * a run it may take reports the caller's name and aborts; a valid free is
 * the control.
 */
#include "exact.h"

/* ---- bad pointers: report naming the caller, abort ------------------------ */

/* In a child: a run, or exit 98. */
static char *must_run(size_t n)
{
	char *p = pp_exact_alloc(n, 0, 0);

	if (!p) {
		dprintf(STDERR_FILENO, "@@SETUP pp_exact_alloc(%zu) failed\n", n);
		_exit(98);
	}
	return p;
}

static void ok_free_run(void)
{
	char *p = must_run(5);

	mark(p);
	if (pp_exact_pages("xsize_ok", p) != 5)
		_exit(1);
	pp_exact_shrink("xshrink_ok", p, 2);
	pp_exact_free("xfree_ok", p);
	p = must_run(PP_EXACT_MAX);
	pp_exact_free("xfree_ok", p);
}

static void bad_interior_tail(void)
{
	char *p = must_run(5);

	mark(p + ps());			/* inside the run's first piece */
	pp_exact_free("xfree_interior_tail", p + ps());
}

static void bad_interior_piece(void)
{
	char *p = must_run(5);

	mark(p + 4 * ps());		/* heads the run's second piece */
	pp_exact_free("xfree_interior_piece", p + 4 * ps());
}

static void bad_interior_piece_big(void)
{
	char *p = must_run(100);

	mark(p + 96 * ps());		/* heads the run's last piece (4 pages) */
	pp_exact_free("xfree_interior_big", p + 96 * ps());
}

static void bad_double_free(void)
{
	char *p = must_run(5);

	pp_exact_free("xfree_first", p);
	mark(p);
	pp_exact_free("xfree_double", p);
}

static void bad_double_free_drained(void)
{
	char *p = must_run(3);

	pp_exact_free("xfree_first", p);
	pp_thread_drain();		/* its pieces coalesced on the free lists */
	mark(p);
	pp_exact_free("xfree_double_drained", p);
}

static void bad_double_free_max(void)
{
	char *p = must_run(PP_EXACT_MAX);

	pp_exact_free("xfree_first", p);
	mark(p);
	pp_exact_free("xfree_double_max", p);
}

static void bad_double_free_shrunk(void)
{
	char *p = must_run(9);

	pp_exact_shrink("xshrink_first", p, 4);
	pp_exact_free("xfree_first", p);
	mark(p);
	pp_exact_free("xfree_double_shrunk", p);
}

static void bad_plain_page(void)
{
	void *p = must_alloc(0);

	mark(p);
	pp_exact_free("xfree_plain_page", p);
}

static void bad_plain_block(void)
{
	void *p = must_alloc(3);

	mark(p);
	pp_exact_free("xfree_plain_block", p);
}

/* A plain block where a run just was: the run's length must be forgotten. */
static void bad_plain_after_run(void)
{
	char *p = must_run(5), *q;

	pp_exact_free("xfree_first", p);
	q = must_alloc(2);		/* most likely the run's first piece again */
	if (q != p)
		dprintf(STDERR_FILENO, "@@NOTE the order-2 block is not the old run\n");
	mark(q);
	pp_exact_free("xfree_plain_after_run", q);
}

static void bad_pages_misaligned(void)
{
	char *p = must_run(5);

	mark(p + 8);
	pp_exact_pages("xsize_misaligned", p + 8);
}

static void bad_pages_interior(void)
{
	char *p = must_run(7);

	mark(p + 6 * ps());
	pp_exact_pages("xsize_interior", p + 6 * ps());
}

static void bad_shrink_plain(void)
{
	void *p = must_alloc(2);

	mark(p);
	pp_exact_shrink("xshrink_plain", p, 1);
}

static void bad_grow_interior(void)
{
	char *p = must_run(100);

	mark(p + 64 * ps());
	pp_exact_grow("xgrow_interior", p + 64 * ps(), 200);
}

static void bad_grow_freed(void)
{
	char *p = must_run(20);

	pp_exact_free("xfree_first", p);
	mark(p);
	pp_exact_grow("xgrow_freed", p, 30);
}

/* One piece of a run freed behind its back: the run is no longer whole. */
static void bad_piece_freed(void)
{
	char *p = must_run(5);

	pp_free_page(p + 4 * ps());	/* the run's last piece, a valid page */
	mark(p);
	pp_exact_free("xfree_piece_gone", p);
}

static void bad_piece_freed_large(void)
{
	char *p = must_run(100);

	pp_free_pages(p + 64 * ps(), 5);	/* the run's second piece */
	mark(p);
	pp_exact_pages("xsize_piece_gone", p);
}

static void bad_free_stack(void)
{
	char local[64];

	must_run(1);
	mark(local);
	pp_exact_free("xfree_stack", local);
}

START_TEST(test_bad_pointers)
{
	expect_survive(ok_free_run, "valid pp_exact_pages/shrink/free");
	expect_abort(bad_interior_tail, "xfree_interior_tail", NULL, true);
	expect_abort(bad_interior_piece, "xfree_interior_piece", NULL, true);
	expect_abort(bad_interior_piece_big, "xfree_interior_big", NULL, true);
	expect_abort(bad_double_free, "xfree_double", NULL, true);
	expect_abort(bad_double_free_drained, "xfree_double_drained", NULL, true);
	expect_abort(bad_double_free_max, "xfree_double_max", NULL, true);
	expect_abort(bad_double_free_shrunk, "xfree_double_shrunk", NULL, true);
	expect_abort(bad_plain_page, "xfree_plain_page", NULL, true);
	expect_abort(bad_plain_block, "xfree_plain_block", NULL, true);
	expect_abort(bad_plain_after_run, "xfree_plain_after_run", NULL, true);
	expect_abort(bad_pages_misaligned, "xsize_misaligned", NULL, true);
	expect_abort(bad_pages_interior, "xsize_interior", NULL, true);
	expect_abort(bad_shrink_plain, "xshrink_plain", NULL, true);
	expect_abort(bad_grow_interior, "xgrow_interior", NULL, true);
	expect_abort(bad_grow_freed, "xgrow_freed", NULL, true);
	expect_abort(bad_free_stack, "xfree_stack", NULL, true);
	/* The report may name the piece rather than the run: no address check. */
	expect_abort(bad_piece_freed, "xfree_piece_gone", NULL, false);
	expect_abort(bad_piece_freed_large, "xsize_piece_gone", NULL, false);
}
END_TEST

/* ---- into the test case ----------------------------------------------- */

void add_badptr_tests(TCase *tc)
{
	tcase_add_test(tc, test_bad_pointers);
}
