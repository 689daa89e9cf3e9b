/* SPDX-License-Identifier: MIT */
/*
 * bounds.c - the time bounds without a barrier: a quiet thread's partly
 * filled block is handed on by age (rcu_delay_ms), an exiting thread's at
 * once.
 */
#include "rcu.h"

/* ---- a quiet thread's partial block is handed on by age ---------------- */

static struct {
	double t_queued;
	size_t in_use_queued;
	int queued, leave;
} qt;

static void *quiet_thread(void *arg)
{
	struct obj *h = obj_new_heap(128, 1);
	void *p;

	(void)arg;
	reg();				/* offline: quiet (qsbr) */
	p = pp_alloc_page(0);
	ck_assert_ptr_nonnull(p);
	qt.t_queued = now_sec();
	pp_rcu_free(p);
	pp_rcu_free_head(h, &h->head);
	qt.in_use_queued = in_use();	/* the page and its block */
	st_rel(&qt.queued, 1);
	while (!ld_acq(&qt.leave))	/* alive, quiet, never exits meanwhile */
		sleep_ms(2);
	unreg();
	return NULL;
}

static void quiet_case(const char *conf, double bound_ms)
{
	pthread_t t;
	double dt;

	rcu_setup(conf);
	t = spawn(quiet_thread, NULL);
	ck_assert_msg(wait_flag(&qt.queued, 1, 10000), "the quiet thread did not queue");
	dt = wait_in_use_le(qt.in_use_queued - 1, qt.t_queued, bound_ms + 3000);
	ck_assert_msg(dt >= 0, "%s: the quiet thread's page not freed after %.0f ms",
		      conf ? conf : "defaults", bound_ms + 3000);
	if (getenv("PP_TEST_VERBOSE"))
		fprintf(stderr, "quiet thread (%s): freed after %.1f ms\n",
			conf ? conf : "defaults", dt);
	ck_assert_msg(dt <= bound_ms, "%s: the quiet thread's page was freed %.1f ms "
		      "after it was queued; the bound is %.0f ms", conf ? conf : "defaults",
		      dt, bound_ms);
	st_rel(&qt.leave, 1);
	join(t);
	pp_rcu_barrier();
	check_conservation();
}

START_TEST(test_quiet_thread_default_delay)
{
	quiet_case(NULL, 1000);		/* rcu_delay_ms=1000: the spec's bound, strictly */
}
END_TEST

START_TEST(test_quiet_thread_delay_200)
{
	quiet_case("rcu_delay_ms=200", SANITIZED ? 400 : 300);
}
END_TEST

/* ---- an exiting thread's partial block is handed on at once ------------ */

static double exit_queued_at;

static void *exiting_thread(void *arg)
{
	struct obj *h = obj_new_heap(64, 1);
	void *p;

	(void)arg;
	reg();
	p = pp_alloc_page(0);
	ck_assert_ptr_nonnull(p);
	exit_queued_at = now_sec();
	pp_rcu_free(p);
	pp_rcu_free(h);
	unreg();
	return NULL;			/* the partial block goes at exit */
}

static void exit_case(const char *conf)
{
	pthread_t t;
	size_t base;
	double dt;

	rcu_setup(conf);
	base = in_use();
	t = spawn(exiting_thread, NULL);
	join(t);
	/* The page and the block: both go back once the grace period is over. */
	dt = wait_in_use_le(base, exit_queued_at, 4000);
	ck_assert_msg(dt >= 0, "%s: the exited thread's page not freed after 4 s (in_use "
		      "%zu, base %zu)", conf ? conf : "defaults", in_use(), base);
	if (getenv("PP_TEST_VERBOSE"))
		fprintf(stderr, "exited thread (%s): freed after %.1f ms\n",
			conf ? conf : "defaults", dt);
	ck_assert_msg(dt <= 1000, "%s: the exited thread's page was freed %.1f ms after "
		      "it was queued; the bound is 1000 ms", conf ? conf : "defaults", dt);
	check_conservation();
}

START_TEST(test_exited_thread_default_delay)
{
	exit_case(NULL);
}
END_TEST

START_TEST(test_exited_thread_long_delay)
{
	exit_case("rcu_delay_ms=3600000");	/* handed on at exit, not by age */
}
END_TEST

/* ---- the test case ---------------------------------------------------- */

void add_bounds_tests(Suite *s)
{
	TCase *tc = new_tcase("bounds");

	tcase_add_test(tc, test_quiet_thread_default_delay);
	tcase_add_test(tc, test_quiet_thread_delay_200);
	tcase_add_test(tc, test_exited_thread_default_delay);
	tcase_add_test(tc, test_exited_thread_long_delay);
	suite_add_tcase(s, tc);
}
