/* SPDX-License-Identifier: MIT */
/*
 * test_badinput.c - every bad free is reported (call name and address on
 * stderr) and aborts.
 *
 * Each case runs in a forked child whose stderr goes into a pipe.  Just
 * before the bad call the child prints "@@ADDR <address>" (with %p, as the
 * library must); the parent requires death by SIGABRT and, after that
 * marker, a message naming the call and the same address.
 */
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* ---- controls: valid frees do not abort ------------------------------ */

static void ok_free_page(void)
{
	void *p = must_alloc(0);

	mark(p);
	pp_free_page(p);
	pp_free_page(NULL);
	pp_free_pages(NULL, 3);
}

static void ok_free_pages(void)
{
	void *p = must_alloc(2);

	mark(p);
	pp_free_pages(p, 2);
	p = must_alloc(PP_MAX_ORDER);
	pp_free_pages(p, PP_MAX_ORDER);
}

static void ok_free_bulk(void)
{
	void *a[8] = { NULL };

	if (pp_alloc_pages_bulk(0, 6, a) != 6)
		_exit(98);
	mark(a[5]);
	pp_free_pages_bulk(8, a);
}

static void ok_free_after_traffic(void)
{
	void *a = must_alloc(0), *b;

	pp_free_page(a);
	b = must_alloc(0);	/* may well be a again: then it is valid */
	mark(b);
	pp_free_page(b);
}

START_TEST(test_control_valid_free)
{
	expect_survive(ok_free_page, "valid call");
	expect_survive(ok_free_pages, "valid call");
	expect_survive(ok_free_bulk, "valid call");
	expect_survive(ok_free_after_traffic, "valid call");
}
END_TEST

/* ---- pointers the pool never handed out ------------------------------- */

static void bad_stack(void)
{
	char local[64];
	void *p = must_alloc(0);

	(void)p;
	mark(local);
	pp_free_page(local);
}

static void bad_heap(void)
{
	void *h = aligned_alloc(ps(), ps());	/* page-aligned, outside the arena */

	must_alloc(0);
	if (!h)
		_exit(97);
	mark(h);
	pp_free_page(h);
}

static void bad_uninitialised(void)
{
	static char data[64];

	mark(data);	/* the pool was never used in this process */
	pp_free_page(data);
}

static void bad_free_in_arena(void)
{
	char *b = must_alloc(PP_MAX_ORDER);

	pp_free_pages(b, PP_MAX_ORDER);	/* now on the free lists */
	mark(b + 64 * ps());
	pp_free_page(b + 64 * ps());
}

/* Inside the reserved range, past the committed part. */
static void bad_beyond_committed(void)
{
	char *b = must_alloc(PP_MAX_ORDER);
	char *q = b + get_stats().committed * ps();

	mark(q);
	pp_free_page(q);
}

/* Just below the first block: before the arena, or a page never handed out. */
static void bad_below_first(void)
{
	char *b = must_alloc(PP_MAX_ORDER);

	mark(b - ps());
	pp_free_page(b - ps());
}

/*
 * The first page of the first max-order block of a fresh pool, which is not
 * the page handed out (it holds the thread cache's storage, or is free).
 */
static void bad_meta_page(void)
{
	char *p = must_alloc(0);
	uintptr_t blk = (uintptr_t)ps() << PP_MAX_ORDER;
	char *first = (char *)((uintptr_t)p & ~(blk - 1));

	if (first == p)
		first += ps();	/* anything but the page we hold */
	mark(first);
	pp_free_page(first);
}

START_TEST(test_foreign_stack)
{
	expect_abort(bad_stack, "pp_free_page", NULL, true);
}
END_TEST

START_TEST(test_foreign_heap)
{
	expect_abort(bad_heap, "pp_free_page", NULL, true);
}
END_TEST

START_TEST(test_foreign_uninitialised)
{
	expect_abort(bad_uninitialised, "pp_free_page", NULL, true);
}
END_TEST

START_TEST(test_free_page_never_handed_out)
{
	expect_abort(bad_free_in_arena, "pp_free_page", NULL, true);
}
END_TEST

START_TEST(test_beyond_committed)
{
	expect_abort(bad_beyond_committed, "pp_free_page", NULL, true);
}
END_TEST

START_TEST(test_below_first_block)
{
	expect_abort(bad_below_first, "pp_free_page", NULL, true);
}
END_TEST

START_TEST(test_meta_page)
{
	expect_abort(bad_meta_page, "pp_free_page", NULL, true);
}
END_TEST

/* ---- misaligned and interior pointers -------------------------------- */

static void bad_misaligned(void)
{
	char *p = must_alloc(0);

	mark(p + 8);
	pp_free_page(p + 8);
}

static void bad_misaligned_pages(void)
{
	char *p = must_alloc(3);

	mark(p + ps() / 2);
	pp_free_pages(p + ps() / 2, 3);
}

static void bad_interior(void)
{
	char *p = must_alloc(2);

	mark(p + ps());
	pp_free_page(p + ps());
}

static void bad_interior_pages(void)
{
	char *p = must_alloc(2);

	mark(p + 2 * ps());
	pp_free_pages(p + 2 * ps(), 1);
}

START_TEST(test_misaligned)
{
	expect_abort(bad_misaligned, "pp_free_page", NULL, true);
}
END_TEST

START_TEST(test_misaligned_pages)
{
	expect_abort(bad_misaligned_pages, "pp_free_pages", NULL, true);
}
END_TEST

START_TEST(test_interior_page)
{
	expect_abort(bad_interior, "pp_free_page", NULL, true);
}
END_TEST

START_TEST(test_interior_pages)
{
	expect_abort(bad_interior_pages, "pp_free_pages", NULL, true);
}
END_TEST

/* ---- double frees ----------------------------------------------------- */

static void bad_double(void)
{
	void *p = must_alloc(0);

	pp_free_page(p);
	mark(p);
	pp_free_page(p);
}

static void bad_double_order2(void)
{
	void *p = must_alloc(2);

	pp_free_pages(p, 2);
	mark(p);
	pp_free_pages(p, 2);
}

static void bad_double_max_order(void)
{
	void *p = must_alloc(PP_MAX_ORDER);

	pp_free_pages(p, PP_MAX_ORDER);
	mark(p);
	pp_free_pages(p, PP_MAX_ORDER);
}

/*
 * Free, then traffic that cannot hand the page out again as an order-0 page
 * (no order-0 allocation happens in between), then free it again.  The
 * traffic overflows the cache, drains it and reuses the freed memory for
 * larger blocks, so the page may be anywhere: cached, on the free lists,
 * merged, or inside a block in use.
 */
static void bad_double_after_traffic(void)
{
	enum { N = 300 };
	static void *held[N];
	void *blocks[64];
	void *p = must_alloc(0);

	for (size_t i = 0; i < N; i++)
		held[i] = must_alloc(0);
	pp_free_page(p);
	for (size_t i = 0; i < N; i++)
		pp_free_page(held[i]);
	pp_thread_drain();
	for (size_t i = 0; i < 64; i++)
		blocks[i] = must_alloc(1 + (unsigned)(i % 6));
	for (size_t i = 0; i < 64; i += 2)
		pp_free_pages(blocks[i], 1 + (unsigned)(i % 6));
	mark(p);
	pp_free_page(p);
}

START_TEST(test_double_free)
{
	expect_abort(bad_double, "pp_free_page", NULL, true);
}
END_TEST

START_TEST(test_double_free_order2)
{
	expect_abort(bad_double_order2, "pp_free_pages", NULL, true);
}
END_TEST

START_TEST(test_double_free_max_order)
{
	expect_abort(bad_double_max_order, "pp_free_pages", NULL, true);
}
END_TEST

START_TEST(test_double_free_after_traffic)
{
	expect_abort(bad_double_after_traffic, "pp_free_page", NULL, true);
}
END_TEST

/* ---- wrong order ------------------------------------------------------ */

static void bad_order_2_as_1(void)
{
	void *p = must_alloc(2);

	mark(p);
	pp_free_pages(p, 1);
}

static void bad_order_0_as_3(void)
{
	void *p = must_alloc(0);

	mark(p);
	pp_free_pages(p, 3);
}

static void bad_order_2_as_page(void)
{
	void *p = must_alloc(2);

	mark(p);
	pp_free_page(p);	/* order 0 */
}

static void bad_order_too_big(void)
{
	void *p = must_alloc(PP_MAX_ORDER);

	mark(p);
	pp_free_pages(p, PP_MAX_ORDER + 1);
}

/* An order whose key would wrap to a small one (order << 8 overflows). */
static void bad_order_huge(void)
{
	void *p = must_alloc(0);

	mark(p);
	pp_free_pages(p, 1u << 24);
}

START_TEST(test_wrong_order_huge)
{
	expect_abort(bad_order_huge, "pp_free_pages", NULL, true);
}
END_TEST

START_TEST(test_wrong_order_2_as_1)
{
	expect_abort(bad_order_2_as_1, "pp_free_pages", NULL, true);
}
END_TEST

START_TEST(test_wrong_order_0_as_3)
{
	expect_abort(bad_order_0_as_3, "pp_free_pages", NULL, true);
}
END_TEST

START_TEST(test_wrong_order_2_as_page)
{
	expect_abort(bad_order_2_as_page, "pp_free_page", NULL, true);
}
END_TEST

START_TEST(test_wrong_order_too_big)
{
	expect_abort(bad_order_too_big, "pp_free_pages", NULL, true);
}
END_TEST

/* ---- bulk frees ------------------------------------------------------- */

enum { BULK = 9 };
static void *bulk[BULK];
static char bulk_foreign[64];

static void bulk_setup(void)
{
	memset(bulk, 0, sizeof(bulk));
	if (pp_alloc_pages_bulk(0, BULK, bulk) != BULK)
		_exit(98);
}

static void bad_bulk_foreign_last(void)
{
	bulk_setup();
	bulk[BULK - 1] = bulk_foreign;	/* one bad pointer after good ones */
	mark(bulk_foreign);
	pp_free_pages_bulk(BULK, bulk);
}

static void bad_bulk_misaligned(void)
{
	bulk_setup();
	bulk[3] = (char *)bulk[3] + 8;
	mark(bulk[3]);
	pp_free_pages_bulk(BULK, bulk);
}

static void bad_bulk_already_freed(void)
{
	bulk_setup();
	pp_free_page(bulk[6]);
	mark(bulk[6]);
	pp_free_pages_bulk(BULK, bulk);
}

/* The same page twice in one array is a double free too. */
static void bad_bulk_duplicate(void)
{
	bulk_setup();
	pp_free_page(bulk[7]);
	bulk[7] = bulk[2];
	mark(bulk[2]);
	pp_free_pages_bulk(BULK, bulk);
}

START_TEST(test_bulk_foreign)
{
	expect_abort(bad_bulk_foreign_last, "pp_free_pages_bulk", NULL, true);
}
END_TEST

START_TEST(test_bulk_misaligned)
{
	expect_abort(bad_bulk_misaligned, "pp_free_pages_bulk", NULL, true);
}
END_TEST

START_TEST(test_bulk_already_freed)
{
	expect_abort(bad_bulk_already_freed, "pp_free_pages_bulk", NULL, true);
}
END_TEST

START_TEST(test_bulk_duplicate)
{
	expect_abort(bad_bulk_duplicate, "pp_free_pages_bulk", NULL, true);
}
END_TEST

/* A NULL array with nr > 0 is bad input: reported, naming the call. */
static void bulk_null_array(void)
{
	mark(NULL);
	pp_free_pages_bulk(4, NULL);
}

START_TEST(test_bulk_null_array)
{
	struct child c;
	char addr[64];
	const char *tail;

	run_child(bulk_null_array, &c, "@@SURVIVED\n");
	tail = after_mark(&c, addr, sizeof(addr));
	ck_assert_msg(has_word(tail, "pp_free_pages_bulk"),
		      "pp_free_pages_bulk(4, NULL): no message naming the call: \"%.800s\"",
		      tail);
}
END_TEST

/*
 * "Every entry is validated before any is freed": at the moment of the
 * abort, the good pages are all still in use.  A SIGABRT handler audits the
 * descriptors and reports; then the process dies of SIGABRT as before.
 */
static struct pp_audit audit_before;

static void audit_on_abort(int sig)
{
	struct pp_audit a;

	(void)sig;
	alarm(10);	/* the audit takes the lock: never hang */
	pp_test_audit(&a);
	dprintf(STDERR_FILENO, "@@AUDIT used %zu -> %zu, cached %zu -> %zu\n",
		audit_before.used, a.used, audit_before.cached, a.cached);
	signal(SIGABRT, SIG_DFL);
	raise(SIGABRT);	/* blocked in this handler: delivered on return */
}

static void bad_bulk_audited(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = audit_on_abort;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGABRT, &sa, NULL);
	bulk_setup();
	bulk[BULK - 1] = bulk_foreign;
	pp_test_audit(&audit_before);
	mark(bulk_foreign);
	pp_free_pages_bulk(BULK, bulk);
}

START_TEST(test_bulk_validates_before_freeing)
{
	struct child c;
	char addr[64], how[128];
	const char *tail, *au;
	size_t u0, u1, c0, c1;

	run_child(bad_bulk_audited, &c, "@@SURVIVED\n");
	tail = after_mark(&c, addr, sizeof(addr));
	describe(c.status, how, sizeof(how));
	ck_assert_msg(WIFSIGNALED(c.status) && WTERMSIG(c.status) == SIGABRT,
		      "child %s, want SIGABRT; stderr: \"%.800s\"", how, c.err);
	ck_assert(has_word(tail, "pp_free_pages_bulk"));
	au = strstr(tail, "@@AUDIT ");
	ck_assert_msg(au != NULL, "no audit from the SIGABRT handler: \"%.800s\"", tail);
	ck_assert_int_eq(sscanf(au, "@@AUDIT used %zu -> %zu, cached %zu -> %zu",
				&u0, &u1, &c0, &c1), 4);
	ck_assert_uint_ge(u0, BULK - 1);
	ck_assert_msg(u1 == u0 && c1 == c0,
		      "pages were freed before the bad entry was found: used %zu -> %zu, cached %zu -> %zu",
		      u0, u1, c0, c1);
}
END_TEST

static Suite *badinput_suite(void)
{
	Suite *s = suite_create("badinput");
	TCase *tc = new_tcase("badinput");

	tcase_add_test(tc, test_control_valid_free);
	tcase_add_test(tc, test_foreign_stack);
	tcase_add_test(tc, test_foreign_heap);
	tcase_add_test(tc, test_foreign_uninitialised);
	tcase_add_test(tc, test_free_page_never_handed_out);
	tcase_add_test(tc, test_beyond_committed);
	tcase_add_test(tc, test_below_first_block);
	tcase_add_test(tc, test_meta_page);
	tcase_add_test(tc, test_misaligned);
	tcase_add_test(tc, test_misaligned_pages);
	tcase_add_test(tc, test_interior_page);
	tcase_add_test(tc, test_interior_pages);
	tcase_add_test(tc, test_double_free);
	tcase_add_test(tc, test_double_free_order2);
	tcase_add_test(tc, test_double_free_max_order);
	tcase_add_test(tc, test_double_free_after_traffic);
	tcase_add_test(tc, test_wrong_order_2_as_1);
	tcase_add_test(tc, test_wrong_order_0_as_3);
	tcase_add_test(tc, test_wrong_order_2_as_page);
	tcase_add_test(tc, test_wrong_order_too_big);
	tcase_add_test(tc, test_wrong_order_huge);
	tcase_add_test(tc, test_bulk_foreign);
	tcase_add_test(tc, test_bulk_misaligned);
	tcase_add_test(tc, test_bulk_already_freed);
	tcase_add_test(tc, test_bulk_duplicate);
	tcase_add_test(tc, test_bulk_null_array);
	tcase_add_test(tc, test_bulk_validates_before_freeing);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(badinput_suite());
}
