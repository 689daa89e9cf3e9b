/* SPDX-License-Identifier: MIT */
/*
 * badinput.c - bad input: pointers pp_rcu_free() / pp_rcu_free_head()
 * must refuse (abort naming the call and the address), calls before
 * pp_rcu_init(), pp_rcu_init()'s errors, and NULL.
 */
#include "rcu.h"

/* ---- bad input -------------------------------------------------------- */

static void bad_interior_free(void)
{
	char *p;

	child_setup(NULL, true);
	p = must_alloc(2);
	mark(p + ps());
	pp_rcu_free(p + ps());
}

static void bad_interior_head(void)
{
	char *p;

	child_setup(NULL, true);
	p = must_alloc(2);
	mark(p + 2 * ps());
	pp_rcu_free_head(p + 2 * ps(), (struct rcu_head *)(p + 2 * ps() + 64));
}

static void bad_misaligned_free(void)
{
	char *p;

	child_setup(NULL, true);
	p = must_alloc(0);
	mark(p + 8);
	pp_rcu_free(p + 8);
}

static void bad_already_freed(void)
{
	void *p;

	child_setup(NULL, true);
	p = must_alloc(0);
	pp_free_page(p);
	mark(p);
	pp_rcu_free(p);
}

static void bad_already_freed_head(void)
{
	struct obj *p;

	child_setup(NULL, true);
	p = must_alloc(1);
	pp_free_pages(p, 1);
	mark(p);
	pp_rcu_free_head(p, &p->head);
}

static void bad_head_before_pool(void)
{
	char *p;

	child_setup(NULL, true);
	p = must_alloc(0);
	pp_free_page(p);		/* p + 1 page is the block; p is not */
	p = must_alloc(1);
	mark(p);
	pp_rcu_free_head(p, (struct rcu_head *)p - 1);
}

static void bad_head_before_heap(void)
{
	char *h;

	child_setup(NULL, true);
	h = malloc(256);
	mark(h);
	pp_rcu_free_head(h, (struct rcu_head *)(void *)(h - 64));
}

static void bad_head_null(void)
{
	void *p;

	child_setup(NULL, true);
	p = must_alloc(0);
	mark(p);
	pp_rcu_free_head(p, NULL);
}

static void bad_head_beyond(void)
{
	char *p;

	child_setup(NULL, true);
	p = must_alloc(0);
	mark(p);
	pp_rcu_free_head(p, (struct rcu_head *)(p + ps()));
}

static void bad_head_straddles(void)
{
	char *p;

	child_setup(NULL, true);
	p = must_alloc(1);
	mark(p);
	pp_rcu_free_head(p, (struct rcu_head *)(p + 2 * ps() - 8));
}

/* Control: the last rcu_head that fits in an order-1 block is accepted. */
static void ok_head_last(void)
{
	char *p;

	child_setup(NULL, true);
	p = must_alloc(1);
	mark(p);
	pp_rcu_free_head(p, (struct rcu_head *)(p + 2 * ps()) - 1);
	pp_rcu_barrier();
}

static void bad_before_init_free(void)
{
	void *p;

	child_setup(NULL, false);
	p = must_alloc(0);
	mark(p);
	pp_rcu_free(p);
}

static void bad_before_init_head(void)
{
	struct obj *p;

	child_setup(NULL, false);
	p = must_alloc(0);
	mark(p);
	pp_rcu_free_head(p, &p->head);
}

static void bad_before_init_barrier(void)
{
	child_setup(NULL, false);
	mark(NULL);
	pp_rcu_barrier();
}

static void bad_queued_twice(void)
{
	void *p;

	child_setup(NULL, true);
	p = must_alloc(0);
	pp_rcu_free(p);
	mark(p);
	pp_rcu_free(p);
	pp_rcu_barrier();
}

static void bad_queued_then_freed(void)
{
	void *p;

	child_setup(NULL, true);
	p = must_alloc(0);
	pp_rcu_free(p);
	pp_free_page(p);
	mark(p);
	pp_rcu_barrier();
}

START_TEST(test_bad_interior)
{
	expect_abort(bad_interior_free, "pp_rcu_free", NULL, true);
	expect_abort(bad_interior_head, "pp_rcu_free_head", NULL, true);
	expect_abort(bad_misaligned_free, "pp_rcu_free", NULL, true);
}
END_TEST

START_TEST(test_bad_already_freed)
{
	expect_abort(bad_already_freed, "pp_rcu_free", NULL, true);
	expect_abort(bad_already_freed_head, "pp_rcu_free_head", NULL, true);
}
END_TEST

START_TEST(test_bad_head)
{
	expect_abort(bad_head_before_pool, "pp_rcu_free_head", NULL, true);
	expect_abort(bad_head_before_heap, "pp_rcu_free_head", NULL, true);
	expect_abort(bad_head_null, "pp_rcu_free_head", NULL, true);
	expect_abort(bad_head_beyond, "pp_rcu_free_head", NULL, true);
	expect_abort(bad_head_straddles, "pp_rcu_free_head", NULL, true);
	expect_survive(ok_head_last, "an rcu_head in the last bytes of an order-1 block");
}
END_TEST

START_TEST(test_bad_before_init)
{
	expect_abort(bad_before_init_free, "pp_rcu_free", "pp_rcu_init", false);
	expect_abort(bad_before_init_head, "pp_rcu_free_head", "pp_rcu_init", false);
	expect_abort(bad_before_init_barrier, "pp_rcu_barrier", "pp_rcu_init", false);
}
END_TEST

/*
 * Caught after the grace period, when the block is freed; a page queued
 * twice in one block is caught by libpagepool's bulk free (which names
 * pp_free_pages_bulk), so only the abort and the address are required.
 */
START_TEST(test_bad_queued_twice)
{
	expect_abort(bad_queued_twice, NULL, "free", true);
	expect_abort(bad_queued_then_freed, NULL, "free", true);
}
END_TEST

static void other_quiescent_state(void)
{
}

/* pp_rcu_init(@flavor) with its stderr into @msg and its errno into *@e. */
static int init_captured(const struct rcu_flavor_struct *flavor, int *e, char *msg,
			 size_t len)
{
	struct capture cap;
	int r;

	capture_begin(&cap);
	errno = 0;
	r = pp_rcu_init(flavor);
	*e = errno;
	capture_end(&cap, msg, len);
	return r;
}

START_TEST(test_init_errors)
{
	struct rcu_flavor_struct incomplete = *fl, other = *fl;
	char msg[1024];
	size_t base;
	int r, e;

	r = init_captured(NULL, &e, msg, sizeof(msg));
	ck_assert_msg(r == -1 && e == EINVAL, "pp_rcu_init(NULL): %d, errno %d", r, e);
	ck_assert_msg(has_word(msg, "pp_rcu_init"), "no message naming pp_rcu_init: \"%s\"", msg);

	incomplete.read_ongoing = NULL;
	r = init_captured(&incomplete, &e, msg, sizeof(msg));
	ck_assert_msg(r == -1 && e == EINVAL, "flavour without read_ongoing: %d, errno %d", r, e);

	rcu_setup(NULL);
	ck_assert_msg(pp_rcu_init(fl) == 0, "a second pp_rcu_init() with the same flavour "
		      "failed: %s", strerror(errno));

	/* Another flavour: another address (and one entry point changed). */
	other.read_quiescent_state = other_quiescent_state;
	r = init_captured(&other, &e, msg, sizeof(msg));
	ck_assert_msg(r == -1 && e == EBUSY, "pp_rcu_init(another flavour): %d, errno %d", r, e);
	ck_assert_msg(has_word(msg, "pp_rcu_init"), "no message naming pp_rcu_init: \"%s\"", msg);

	/* The first flavour is still the one in use. */
	base = in_use();
	pp_rcu_free(pp_alloc_page(0));
	pp_rcu_barrier();
	ck_assert_uint_le(in_use(), base + slack(1));
	check_conservation();
}
END_TEST

START_TEST(test_null_is_noop)
{
	struct rcu_head head;
	struct capture cap;
	char msg[1024];
	size_t base;

	/* Before pp_rcu_init() too: NULL does nothing. */
	capture_begin(&cap);
	pp_rcu_free(NULL);
	pp_rcu_free_head(NULL, NULL);
	capture_end(&cap, msg, sizeof(msg));
	ck_assert_msg(msg[0] == '\0', "NULL before pp_rcu_init() printed: \"%s\"", msg);

	rcu_setup(NULL);
	base = in_use();
	capture_begin(&cap);
	pp_rcu_free(NULL);
	pp_rcu_free_head(NULL, NULL);
	pp_rcu_free_head(NULL, &head);
	capture_end(&cap, msg, sizeof(msg));
	ck_assert_msg(msg[0] == '\0', "NULL printed: \"%s\"", msg);
	ck_assert_uint_eq(in_use(), base);
	pp_rcu_barrier();
	ck_assert_uint_eq(in_use(), base);
	check_conservation();
}
END_TEST

/* ---- the test case ---------------------------------------------------- */

void add_badinput_tests(Suite *s)
{
	TCase *tc = new_tcase("badinput");

	tcase_add_test(tc, test_bad_interior);
	tcase_add_test(tc, test_bad_already_freed);
	tcase_add_test(tc, test_bad_head);
	tcase_add_test(tc, test_bad_before_init);
	tcase_add_test(tc, test_bad_queued_twice);
	tcase_add_test(tc, test_init_errors);
	tcase_add_test(tc, test_null_is_noop);
	suite_add_tcase(s, tc);
}
