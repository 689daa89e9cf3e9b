/* SPDX-License-Identifier: MIT */
/*
 * badinput.c - bad input aborts, naming the call: frees and reallocs of
 * pointers inside a pool run, or of a run already freed; a valid free as the
 * control.
 */
#include "preload.h"

/* ---- bad input aborts, naming the call --------------------------------- */

static char *must_pool(size_t n)
{
	char *p = opaque(malloc(n));

	if (!p || !owns(p)) {
		dprintf(STDERR_FILENO, "@@SETUP malloc(%zu) = %p is not pool\n", n, (void *)p);
		_exit(98);
	}
	return p;
}

static void ok_free(void)
{
	char *p = must_pool(3 * PS);

	mark(p);
	free(p);
	p = must_pool(PS);
	p = opaque(realloc(p, 2 * PS));
	free(p);
}

static void bad_free_interior_page(void)
{
	char *p = must_pool(3 * PS);

	mark(p + PS);
	free(opaque(p + PS));
}

static void bad_free_interior_byte(void)
{
	char *p = must_pool(2 * PS);

	mark(p + 16);
	free(opaque(p + 16));
}

static void bad_free_run_piece(void)
{
	char *p = must_pool(5 * PS);	/* a run of 4 + 1 pages */

	mark(p + 4 * PS);
	free(opaque(p + 4 * PS));
}

static void bad_double_free(void)
{
	char *p = must_pool(PS), *same = opaque(p);

	free(p);
	mark(same);
	free(same);
}

static void bad_double_free_run(void)
{
	char *p = must_pool(5 * PS), *same = opaque(p);

	free(p);
	mark(same);
	free(same);
}

static void bad_realloc_interior(void)
{
	char *p = must_pool(4 * PS);

	mark(p + 2 * PS);
	p = opaque(realloc(opaque(p + 2 * PS), 10 * PS));
	dprintf(STDERR_FILENO, "realloc returned %p\n", (void *)p);
}

static void bad_realloc_freed(void)
{
	char *p = must_pool(2 * PS), *same = opaque(p);

	free(p);
	mark(same);
	p = opaque(realloc(same, 100));
	dprintf(STDERR_FILENO, "realloc returned %p\n", (void *)p);
}

START_TEST(test_valid_free_survives)
{
	expect_survive(ok_free, "valid free");
}
END_TEST

START_TEST(test_free_interior_page)
{
	expect_abort(bad_free_interior_page, "free", NULL, true);
}
END_TEST

START_TEST(test_free_interior_byte)
{
	expect_abort(bad_free_interior_byte, "free", NULL, true);
}
END_TEST

START_TEST(test_free_run_piece)
{
	expect_abort(bad_free_run_piece, "free", NULL, true);
}
END_TEST

START_TEST(test_double_free)
{
	expect_abort(bad_double_free, "free", NULL, true);
}
END_TEST

START_TEST(test_double_free_run)
{
	expect_abort(bad_double_free_run, "free", NULL, true);
}
END_TEST

START_TEST(test_realloc_interior)
{
	expect_abort(bad_realloc_interior, "realloc", NULL, true);
}
END_TEST

START_TEST(test_realloc_freed)
{
	expect_abort(bad_realloc_freed, "realloc", NULL, true);
}
END_TEST

/* ---- the tests, into their test cases ---------------------------------- */

void add_badinput_tests(struct preload_tcases *t)
{
	tcase_add_test(t->reports, test_valid_free_survives);
	tcase_add_test(t->reports, test_free_interior_page);
	tcase_add_test(t->reports, test_free_interior_byte);
	tcase_add_test(t->reports, test_free_run_piece);
	tcase_add_test(t->reports, test_double_free);
	tcase_add_test(t->reports, test_double_free_run);
	tcase_add_test(t->reports, test_realloc_interior);
	tcase_add_test(t->reports, test_realloc_freed);
}
