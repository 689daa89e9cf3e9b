/* SPDX-License-Identifier: MIT */
/*
 * lockfree.c - taking from a reserve makes no system call (strict seccomp
 * in a child, as tests/tcache/lockfree.c) and takes no lock (another thread
 * holds the global lock).
 */
#include "reserve.h"

/* ---- no system call: strict seccomp (as test_tcache; checkutil.h) ------ */

#define NS_MIN 8

/* Take the whole reserve with every mode, check it is empty, give it back. */
static int ns_round(struct pp_reserve *r, void *extra)
{
	static const unsigned fl[] = { PP_NOWAIT, PP_TRY, 0, PP_NOWAIT | PP_ZERO,
				       PP_TRY | PP_ZERO, PP_ZERO };
	void *got[NS_MIN], *p;

	for (size_t i = 0; i < NS_MIN; i++) {
		if (!(got[i] = pp_reserve_alloc(r, fl[i % 6])))
			NS_FAIL("the reserve did not serve");
		if ((fl[i % 6] & PP_ZERO) && !all_zero(got[i], ps()))
			NS_FAIL("PP_ZERO page not zero");
		memset(got[i], 0x5a, 64);
	}
	errno = 0;
	if (pp_reserve_alloc(r, PP_NOWAIT) || errno != EAGAIN)
		NS_FAIL("NOWAIT on an empty reserve did not fail with EAGAIN");
	errno = 0;
	if (pp_reserve_alloc(r, PP_TRY) || errno != EAGAIN)
		NS_FAIL("TRY on an empty reserve did not fail with EAGAIN");
	for (size_t i = 0; i < NS_MIN; i++)
		pp_reserve_free(r, got[i]);
	pp_reserve_free(r, extra);		/* full: to this thread's cache */
	p = pp_reserve_alloc(r, PP_NOWAIT);	/* the normal path finds it */
	if (p != extra)
		NS_FAIL("a free to a full reserve did not reach the cache");
	return 0;
}

/* The child's reserve, and the pool's pages taken until the cap. */
static struct pp_reserve *ns_res;
static void *ns_pages[1 << 16];
static size_t ns_npages;

/* Before seccomp: reach the cap, then one round (lazy binding). */
static int ns_warm(void)
{
	ns_res = pp_reserve_create(NS_MIN);
	if (!ns_res)
		return 1;
	ns_npages = exhaust(ns_pages, sizeof(ns_pages) / sizeof(ns_pages[0]));
	if (ns_npages < 2 || pp_alloc_page(0))
		return 1;
	return ns_round(ns_res, ns_pages[ns_npages - 1]);
}

/* Under seccomp: 20 rounds. */
static int ns_run(void)
{
	for (int i = 0; i < 20; i++)
		if (ns_round(ns_res, ns_pages[ns_npages - 1]) != 0)
			return 1;
	return 0;
}

static int nosys_child_status(bool violate)
{
	int status = 0;
	pid_t pid;

	/* stats=0: stats=1 reads the clock, whose TSC strict seccomp disables. */
	ck_assert_int_eq(pp_configure(CAP_CONF ",stats=0"), 0);
	pid = nosys_fork(ns_warm, ns_run, violate);
	ck_assert_int_ge(pid, 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

START_TEST(test_no_syscall_strict_seccomp)
{
	int st = nosys_child_status(false);

	ck_assert_msg(!WIFSIGNALED(st), "child killed by signal %d: a system call on the "
		      "reserve path (SIGKILL = seccomp)", WTERMSIG(st));
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "child exit status %d (2 setup, 3 prctl, 1 check failed)",
		      WEXITSTATUS(st));
}
END_TEST

START_TEST(test_no_syscall_harness_catches_violation)
{
	int st = nosys_child_status(true);

	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
		      "getpid() under strict seccomp did not kill the child (status %#x)", st);
}
END_TEST

/* ---- no lock: another thread holds the global lock ------------------- */


START_TEST(test_no_lock_while_locked)
{
	enum { MIN = 8 };
	static const unsigned fl[] = { PP_NOWAIT, PP_TRY, 0, PP_ZERO };
	struct pp_reserve *r;
	void *got[MIN], *extra, *p;
	char fail[200] = "";
	struct pp_stats s0, s1;
	struct lock_holder holder;
	double t0, t1;

#define LK_CHECK(cond, ...) do {					\
		if (!(cond) && !fail[0])				\
			snprintf(fail, sizeof(fail), __VA_ARGS__);	\
	} while (0)

	r = pp_reserve_create(MIN);
	ck_assert_ptr_nonnull(r);
	extra = pp_alloc_page(0);
	ck_assert_ptr_nonnull(extra);
	pp_thread_drain();		/* no cache: the normal path needs the lock */
	s0 = get_stats();
	hold_lock(&holder);
	/* The lock is held: no ck_assert until it is released; a call that
	 * blocks hangs the test until its timeout. */
	t0 = now_sec();
	for (size_t i = 0; i < MIN; i++) {
		got[i] = pp_reserve_alloc(r, fl[i % 4]);
		LK_CHECK(got[i] != NULL, "flags %#x: no page from the reserve (errno %d)",
			 fl[i % 4], errno);
		if (got[i] && (fl[i % 4] & PP_ZERO))
			LK_CHECK(all_zero(got[i], ps()), "PP_ZERO page not zero");
	}
	errno = 0;
	p = pp_reserve_alloc(r, PP_NOWAIT);
	LK_CHECK(!p && errno == EAGAIN, "NOWAIT, reserve empty: %p errno %d", p, errno);
	errno = 0;
	p = pp_reserve_alloc(r, PP_TRY);
	LK_CHECK(!p && errno == EAGAIN, "TRY, reserve empty: %p errno %d", p, errno);
	for (size_t i = 0; i < MIN; i++)
		if (got[i])
			pp_reserve_free(r, got[i]);
	pp_reserve_free(r, extra);	/* full: to the pool without the lock */
	p = pp_reserve_alloc(r, 0);
	LK_CHECK(p != NULL, "flags 0 with pages in the reserve and the lock held failed");
	pp_reserve_free(r, p);
	t1 = now_sec();
	release_lock(&holder);
#undef LK_CHECK
	ck_assert_msg(!fail[0], "%s", fail);
	ck_assert_msg(t1 - t0 < 5.0, "reserve calls took %.2f s with the lock held", t1 - t0);
	s1 = get_stats();
	ck_assert_uint_gt(s1.trylock_fails, s0.trylock_fails);	/* it was tried */
	ck_assert_uint_eq(s1.reserved, MIN);
	ck_assert_uint_eq(s1.in_use, s0.in_use - 1);
	check_conservation();
	pp_reserve_destroy(r);
	ck_assert_uint_eq(get_stats().in_use, 0);
	check_conservation();
}
END_TEST

/* ---- into the test case ----------------------------------------------- */

void add_lockfree_tests(TCase *tc)
{
	if (!PP_TEST_TSAN) {
		tcase_add_test(tc, test_no_syscall_strict_seccomp);
		tcase_add_test(tc, test_no_syscall_harness_catches_violation);
	}
	tcase_add_test(tc, test_no_lock_while_locked);
}
