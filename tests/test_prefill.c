/* SPDX-License-Identifier: MIT */
/*
 * test_prefill.c - pp_thread_prefill() (lib/prefill.c): a guaranteed
 * supply in this thread's cache.
 *
 * The guarantee is tested against everything that takes blocks out of a
 * cache: this thread's frees (drains), other threads' reclaim under cap=
 * pressure (at cap and of idle caches), a signal handler's allocation -
 * then the remaining count of pp_alloc_page_try() calls must all succeed
 * in a child under strict seccomp (no lock, no system call).  And each
 * error.  Each test runs in its own forked child (CK_FORK).
 */
#include <signal.h>
#include <sys/wait.h>

#include "testutil.h"

#define MIB		((size_t)1 << 20)
#define GUARANTEE	300	/* order-0 blocks asked for */
#define UNRELATED	900	/* pages freed on this thread meanwhile */
#define GUARANTEE2	40	/* order-2 blocks asked for */

/* ---- the guarantee holds against drains, reclaim and a handler --------- */

static void *handler_page;

static void take_one(int sig)
{
	(void)sig;
	handler_page = pp_alloc_page_try();	/* outside any pagepool call */
}

static volatile bool pressure_stop;

/*
 * Other threads under cap=: take all they can with flags 0 (which reclaims
 * at cap), reclaim idle caches (pp_trim) and everything not inside a call
 * (the test hook), then give back and start over.
 */
static void *pressure(void *arg)
{
	size_t max = 16 * MIB / pp_page_size(), n;
	void **v = calloc(max, sizeof(*v));

	(void)arg;
	ck_assert_ptr_nonnull(v);
	while (!__atomic_load_n(&pressure_stop, __ATOMIC_RELAXED)) {
		for (n = 0; n < max && (v[n] = pp_alloc_page(0)) != NULL; n++)
			;
		pp_trim(0);
		pp_test_reclaim();
		while (n)
			pp_free_page(v[--n]);
		pp_thread_drain();
	}
	free(v);
	return NULL;
}

static size_t owed0, owed2;	/* what the child must still find */

static int ns_warm(void)
{
	/* The child's first try must not bind a symbol lazily: done already. */
	return 0;
}

static int ns_run(void)
{
	for (size_t i = 0; i < owed0; i++)
		if (!pp_alloc_page_try())
			NS_FAIL("a prefilled order-0 block was missing");
	for (size_t i = 0; i < owed2; i++)
		if (!pp_alloc_pages(2, PP_TRY))
			NS_FAIL("a prefilled order-2 block was missing");
	return 0;
}

START_TEST(test_guarantee_holds)
{
	void **unrelated = calloc(UNRELATED, sizeof(*unrelated));
	static void *first[6], *first2, *blocks[GUARANTEE2], *extra[4096];
	size_t nextra = 0;
	pthread_t t[2];
	struct pp_stats s;
	int status;
	pid_t pid;
	void *p;

	ck_assert_ptr_nonnull(unrelated);
	ck_assert_int_eq(pp_configure("cap=24M,reclaim_ms=1"), 0);
	for (size_t i = 0; i < UNRELATED; i++)
		unrelated[i] = must_alloc(0);
	pp_free_page(pp_alloc_page(0));		/* binds the try path's symbols too */
	ck_assert_int_eq(pp_thread_prefill(0, GUARANTEE, 0), 0);
	ck_assert_int_eq(pp_thread_prefill(2, GUARANTEE2, 0), 0);
	s = get_stats();
	ck_assert_uint_ge(s.prefilled, GUARANTEE + (GUARANTEE2 << 2));
	owed0 = GUARANTEE;
	owed2 = GUARANTEE2;

	/* Some taken by ordinary calls of this thread. */
	for (unsigned i = 0; i < 5; i++, owed0--)
		ck_assert_ptr_nonnull(first[i] = pp_alloc_page_try());
	ck_assert_ptr_nonnull(first[5] = pp_alloc_page(PP_NOWAIT));
	owed0--;
	ck_assert_ptr_nonnull(first2 = pp_alloc_pages(2, PP_TRY));
	owed2--;

	/* Others reclaim while this thread frees 900 unrelated pages. */
	t[0] = spawn(pressure, NULL);
	t[1] = spawn(pressure, NULL);
	for (size_t i = 0; i < UNRELATED; i++) {
		pp_free_page(unrelated[i]);
		if (i % 64 == 0)
			usleep(1000);	/* and sits idle, for reclaim_ms=1 */
	}
	usleep(20000);
	__atomic_store_n(&pressure_stop, true, __ATOMIC_RELAXED);
	join(t[0]);
	join(t[1]);
	s = get_stats();
	ck_assert_msg(s.reclaim_runs > 0, "no reclaim ran: the test proves nothing");

	/* A handler takes one. */
	ck_assert(signal(SIGUSR1, take_one) != SIG_ERR);
	raise(SIGUSR1);
	ck_assert_ptr_nonnull(handler_page);
	owed0--;

	/* Exactly what is owed, with no lock and no system call. */
	if (!PP_TEST_TSAN) {	/* strict seccomp hangs TSan's fork child: lockfree.c */
		pid = nosys_fork(ns_warm, ns_run, false);
		ck_assert_int_ge(pid, 0);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(!WIFSIGNALED(status), "child killed by signal %d: a system call "
			      "(SIGKILL = seccomp)", WTERMSIG(status));
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			      "child exit status %d (1: a prefilled block was missing)",
			      WEXITSTATUS(status));
	}

	/* Here too: the same calls, counted, and what is owed falls with them. */
	ck_assert_uint_eq(get_stats().prefilled, owed0 + (owed2 << 2));
	for (size_t i = 0; i < owed0; i++)
		ck_assert_msg((unrelated[i] = pp_alloc_page_try()) != NULL,
			      "try %zu of the %zu still owed failed", i, owed0);
	ck_assert_uint_eq(get_stats().prefilled, owed2 << 2);
	for (size_t i = 0; i < owed2; i++)
		ck_assert_msg((blocks[i] = pp_alloc_pages(2, PP_TRY)) != NULL,
			      "order-2 try %zu of the %zu still owed failed", i, owed2);
	ck_assert_uint_eq(get_stats().prefilled, 0);
	while ((p = pp_alloc_page_try()) != NULL)	/* what else it holds */
		extra[nextra++] = p;
	for (size_t i = 0; i < owed0; i++)
		pp_free_page(unrelated[i]);
	for (size_t i = 0; i < owed2; i++)
		pp_free_pages(blocks[i], 2);
	while (nextra)
		pp_free_page(extra[--nextra]);
	pp_free_page(handler_page);
	pp_free_pages(first2, 2);
	for (unsigned i = 0; i < 6; i++)
		pp_free_page(first[i]);
	check_conservation();
	free(unrelated);
}
END_TEST

/* ---- errors -------------------------------------------------------------- */

/* pp_thread_prefill(@order, @n, @flags) fails with @err, and says @words. */
static void expect_fail(unsigned order, size_t n, unsigned flags, int err, const char *word)
{
	struct capture c;
	char msg[1024];
	int r;

	capture_begin(&c);
	errno = 0;
	r = pp_thread_prefill(order, n, flags);
	capture_end(&c, msg, sizeof(msg));
	ck_assert_msg(r == -1 && errno == err, "pp_thread_prefill(%u, %zu, %#x) = %d, errno %d, "
		      "not -1 with %d", order, n, flags, r, errno, err);
	if (word)
		ck_assert_msg(has_word(msg, "pp_thread_prefill") && has_word(msg, word),
			      "the message does not name the call and %s: \"%s\"", word, msg);
}

START_TEST(test_bad_flags_and_order)
{
	expect_fail(0, 1, PP_TRY, EINVAL, "PP_TRY");
	expect_fail(0, 1, PP_ZERO, EINVAL, "PP_ZERO");
	expect_fail(0, 1, PP_NOWAIT | PP_ZERO, EINVAL, "PP_ZERO");
	expect_fail(0, 1, 0x100, EINVAL, "flags");
	expect_fail(PP_CACHE_ORDERS, 1, 0, EINVAL, "order");
	expect_fail(PP_MAX_ORDER + 1, 1, 0, EINVAL, "order");
	ck_assert_int_eq(pp_thread_prefill(0, 0, 0), 0);	/* nothing asked: nothing to do */
	ck_assert_uint_eq(get_stats().prefilled, 0);
	check_conservation();
}
END_TEST

/* The limit is what the cache can hold (high_max), less what is still owed. */
START_TEST(test_limit)
{
	ck_assert_int_eq(pp_configure("high=64,batch=32,high_max=256"), 0);
	expect_fail(0, 257, 0, EINVAL, "256");
	expect_fail(1, 65, 0, EINVAL, "64");
	ck_assert_int_eq(pp_thread_prefill(0, 100, 0), 0);
	ck_assert_int_eq(pp_thread_prefill(0, 100, 0), 0);	/* adds: 200 owed */
	ck_assert_uint_eq(get_stats().prefilled, 200);
	expect_fail(0, 57, 0, EINVAL, "56");
	ck_assert_int_eq(pp_thread_prefill(0, 56, 0), 0);	/* the whole cache */
	for (unsigned i = 0; i < 256; i++)
		ck_assert_ptr_nonnull(pp_alloc_page_try());
	pp_thread_drain();	/* ends it; the pages taken are not freed: CK_FORK */
	ck_assert_uint_eq(get_stats().prefilled, 0);
}
END_TEST

/* cap= leaves no room: ENOMEM; the cache keeps what it got, unguaranteed. */
START_TEST(test_cap)
{
	ck_assert_int_eq(pp_configure("cap=1M,grow=1M"), 0);
	expect_fail(0, 512, 0, ENOMEM, NULL);
	ck_assert_uint_eq(get_stats().prefilled, 0);
	check_conservation();
}
END_TEST

/* PP_NOWAIT: the lock held elsewhere, or growth needed - EAGAIN; then 0. */
START_TEST(test_nowait)
{
	struct lock_holder h;

	expect_fail(0, 64, PP_NOWAIT, EAGAIN, NULL);	/* nothing committed yet */
	pp_free_page(must_alloc(0));			/* commits a growth */
	pp_thread_drain();
	hold_lock(&h);
	expect_fail(0, 64, PP_NOWAIT, EAGAIN, NULL);
	release_lock(&h);
	ck_assert_int_eq(pp_thread_prefill(0, 64, PP_NOWAIT), 0);
	ck_assert_uint_eq(get_stats().prefilled, 64);
	/* A loop's period: take them, free them, prefill again - the blocks
	 * are back in the cache, so no lock is needed for it. */
	{
		void *v[64];

		for (unsigned i = 0; i < 64; i++)
			ck_assert_ptr_nonnull(v[i] = pp_alloc_page_try());
		ck_assert_uint_eq(get_stats().prefilled, 0);
		for (unsigned i = 0; i < 64; i++)
			pp_free_page(v[i]);
		hold_lock(&h);
		ck_assert_int_eq(pp_thread_prefill(0, 64, PP_NOWAIT), 0);
		release_lock(&h);
		ck_assert_uint_eq(get_stats().prefilled, 64);
	}
	pp_thread_drain();
	ck_assert_uint_eq(get_stats().prefilled, 0);
	check_conservation();
}
END_TEST

/*
 * The try calls themselves, while other threads reclaim: a reclaimer takes
 * a cache's pointer for a round, so a prefilled cache must not be taken at
 * all (two try loops of a thousand periods, each against a reclaimer that
 * takes everything not inside a call, idle caches and at cap).
 */
static void *reclaim_loop(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&pressure_stop, __ATOMIC_RELAXED)) {
		pp_test_reclaim();
		pp_trim(0);
	}
	return NULL;
}

START_TEST(test_guarantee_while_reclaimed)
{
	enum { PERIODS = 1000, N = 200 };
	void *v[N];
	pthread_t t[2];
	size_t failed = 0, owed_after = 0;

	ck_assert_int_eq(pp_configure("cap=24M,reclaim_ms=1"), 0);
	pp_free_page(must_alloc(0));
	t[0] = spawn(reclaim_loop, NULL);
	t[1] = spawn(pressure, NULL);
	for (unsigned p = 0; p < PERIODS; p++) {
		ck_assert_int_eq(pp_thread_prefill(0, N, 0), 0);
		for (unsigned i = 0; i < N; i++)
			failed += !(v[i] = pp_alloc_page_try());
		owed_after += get_stats().prefilled;
		for (unsigned i = 0; i < N; i++)
			pp_free_page(v[i]);
		if (p % 50 == 0)
			usleep(2000);	/* idle for reclaim_ms=1 now and then */
	}
	__atomic_store_n(&pressure_stop, true, __ATOMIC_RELAXED);
	join(t[0]);
	join(t[1]);
	ck_assert_msg(failed == 0, "%zu of %d guaranteed try calls failed while others "
		      "reclaimed (%zu reclaim runs)", failed, PERIODS * N, get_stats().reclaim_runs);
	ck_assert_msg(get_stats().reclaim_runs > 0, "no reclaim ran: the test proves nothing");
	ck_assert_uint_eq(owed_after, 0);
	check_conservation();
}
END_TEST

/*
 * A reserve does not raid a prefilled supply: while blocks are owed it
 * gives its own pages first, however many more the cache holds.
 */
START_TEST(test_reserve_leaves_supply)
{
	struct pp_reserve *r = pp_reserve_create(8);
	void *rv[9], *v[64], *extra[16];

	ck_assert_ptr_nonnull(r);
	pp_thread_drain();
	for (unsigned i = 0; i < 16; i++)
		extra[i] = must_alloc(0);
	ck_assert_int_eq(pp_thread_prefill(0, 64, 0), 0);
	for (unsigned i = 0; i < 16; i++)	/* the cache holds 16 more than it owes */
		pp_free_page(extra[i]);
	for (unsigned i = 0; i < 8; i++)
		ck_assert_ptr_nonnull(rv[i] = pp_reserve_alloc(r, PP_NOWAIT));
	ck_assert_uint_eq(get_stats().reserved, 0);	/* all eight from the reserve */
	ck_assert_uint_eq(get_stats().prefilled, 64);
	/* The reserve empty, the supply serves after all: one less owed. */
	ck_assert_ptr_nonnull(rv[8] = pp_reserve_alloc(r, PP_NOWAIT));
	ck_assert_uint_eq(get_stats().prefilled, 63);
	for (unsigned i = 0; i < 63; i++)
		ck_assert_ptr_nonnull(v[i] = pp_alloc_page_try());
	for (unsigned i = 0; i < 9; i++)
		pp_reserve_free(r, rv[i]);
	for (unsigned i = 0; i < 63; i++)
		pp_free_page(v[i]);
	pp_reserve_destroy(r);
	check_conservation();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("prefill");
	TCase *tc = new_tcase("prefill");

	tcase_add_test(tc, test_guarantee_holds);
	tcase_add_test(tc, test_guarantee_while_reclaimed);
	tcase_add_test(tc, test_bad_flags_and_order);
	tcase_add_test(tc, test_limit);
	tcase_add_test(tc, test_cap);
	tcase_add_test(tc, test_nowait);
	tcase_add_test(tc, test_reserve_leaves_supply);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
