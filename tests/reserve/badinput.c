/* SPDX-License-Identifier: MIT */
/*
 * badinput.c - bad input: pointers and reserves the reserve calls must
 * refuse (report and abort), and bad arguments (EINVAL, with a message).
 */
#include "reserve.h"

/* ---- bad input ----------------------------------------------------------- */

static struct pp_reserve *must_reserve(size_t n)
{
	struct pp_reserve *r = pp_reserve_create(n);

	if (!r) {
		dprintf(STDERR_FILENO, "@@SETUP pp_reserve_create failed\n");
		_exit(98);
	}
	return r;
}

static void ok_reserve_use(void)
{
	struct pp_reserve *r = must_reserve(2);
	void *p = pp_reserve_alloc(r, 0);

	mark(p);
	pp_reserve_free(r, p);
	pp_reserve_free(r, NULL);
	pp_reserve_free(r, must_alloc(0));	/* any pool page */
	pp_reserve_destroy(r);
	pp_reserve_destroy(NULL);
}

static void bad_null_reserve(void)
{
	void *p = must_alloc(0);

	mark(p);
	pp_reserve_free(NULL, p);
}

static void bad_stack_page(void)
{
	char local[64];
	struct pp_reserve *r = must_reserve(2);

	mark(local);
	pp_reserve_free(r, local);
}

static void bad_double_into_reserve(void)
{
	struct pp_reserve *r = must_reserve(2);
	void *p;

	pp_thread_drain();
	p = pp_reserve_alloc(r, PP_TRY);	/* from the reserve: room for one */
	pp_reserve_free(r, p);
	mark(p);
	pp_reserve_free(r, p);
}

static void bad_already_free(void)
{
	struct pp_reserve *r = must_reserve(2);
	void *p = must_alloc(0);

	pp_free_page(p);
	mark(p);
	pp_reserve_free(r, p);
}

static void bad_order(void)
{
	struct pp_reserve *r = must_reserve(2);
	void *p = must_alloc(1);

	mark(p);
	pp_reserve_free(r, p);
}

static void bad_interior(void)
{
	struct pp_reserve *r = must_reserve(2);
	char *p = must_alloc(0);

	mark(p + 8);
	pp_reserve_free(r, p + 8);
}

static void bad_alloc_destroyed(void)
{
	struct pp_reserve *r = must_reserve(2);

	pp_reserve_destroy(r);
	mark(r);
	pp_reserve_alloc(r, PP_NOWAIT);
}

static void bad_destroy_twice(void)
{
	struct pp_reserve *r = must_reserve(2);

	pp_reserve_destroy(r);
	mark(r);
	pp_reserve_destroy(r);
}

START_TEST(test_bad_input_aborts)
{
	expect_survive(ok_reserve_use, "valid reserve calls");
	expect_abort(bad_null_reserve, "pp_reserve_free", "NULL", true);
	expect_abort(bad_stack_page, "pp_reserve_free", "not a pointer from the pool", true);
	expect_abort(bad_double_into_reserve, "pp_reserve_free", "already in a reserve", true);
	expect_abort(bad_already_free, "pp_reserve_free", "already free", true);
	expect_abort(bad_order, "pp_reserve_free", "wrong order", true);
	expect_abort(bad_interior, "pp_reserve_free", "not page-aligned", true);
	expect_abort(bad_alloc_destroyed, "pp_reserve_alloc", "not a reserve", true);
	expect_abort(bad_destroy_twice, "pp_reserve_destroy", "not a reserve", true);
}
END_TEST

/* A call that must fail with @err and a message naming @call. */
#define EXPECT_ERR(expr, fails, err, call, word) do {				\
		struct capture c_;						\
		char buf_[1024];						\
		int e_;								\
		bool f_;							\
									\
		capture_begin(&c_);						\
		errno = 0;							\
		f_ = (expr) fails;						\
		e_ = errno;							\
		capture_end(&c_, buf_, sizeof(buf_));				\
		ck_assert_msg(f_, #expr " did not fail");			\
		ck_assert_msg(e_ == (err), #expr ": errno %d, want %d", e_, (err)); \
		ck_assert_msg(has_word(buf_, call) && strstr(buf_, word),	\
			      #expr ": message \"%s\" lacks %s / %s", buf_, call, word); \
	} while (0)

START_TEST(test_bad_arguments_einval)
{
	struct pp_reserve *r;

	EXPECT_ERR(pp_reserve_create(0), == NULL, EINVAL, "pp_reserve_create", "min_pages");
	EXPECT_ERR(pp_reserve_create((size_t)1 << 40), == NULL, EINVAL, "pp_reserve_create",
		   "min_pages");
	r = pp_reserve_create(2);
	ck_assert_ptr_nonnull(r);
	EXPECT_ERR(pp_reserve_alloc(NULL, 0), == NULL, EINVAL, "pp_reserve_alloc", "NULL");
	EXPECT_ERR(pp_reserve_alloc(r, 0x40), == NULL, EINVAL, "pp_reserve_alloc",
		   "unknown flags");
	EXPECT_ERR(pp_reserve_resize(NULL, 4), == -1, EINVAL, "pp_reserve_resize", "NULL");
	EXPECT_ERR(pp_reserve_resize(r, 0), == -1, EINVAL, "pp_reserve_resize", "min_pages");
	EXPECT_ERR(pp_reserve_resize(r, SIZE_MAX), == -1, EINVAL, "pp_reserve_resize",
		   "min_pages");
	ck_assert_uint_eq(get_stats().reserved, 2);	/* unchanged */
	pp_reserve_destroy(r);
	expect_counts(0, 0);
}
END_TEST

/* ---- into the test case ----------------------------------------------- */

void add_badinput_tests(TCase *tc)
{
	tcase_add_test(tc, test_bad_input_aborts);
	tcase_add_test(tc, test_bad_arguments_einval);
}
