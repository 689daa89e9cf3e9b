/* SPDX-License-Identifier: MIT */
/*
 * stall.c - a reader that never lets a grace period end: the stall is
 * said, once, and counted (rcu_stall_ms, rcu_stall_bytes, pp_rcu_stats()).
 *
 * A reader thread enters a read-side critical section (with urcu-qsbr:
 * goes online) and stays there until the test lets it go.  Then either a
 * caller outside any section frees pages until it helps the helper thread
 * and blocks - the warning must come from the timer, since every thread
 * that frees is blocked - or a caller inside a section frees past
 * rcu_stall_bytes and never blocks.  Waits poll the library's own counters
 * with a bound only a hang reaches, so a loaded machine is only slower.
 */
#include "rcu.h"

#define STALL_MS	300
#define HANG_MS		60000		/* only a broken library waits this long */

static int reader_in, reader_go;

static void *stuck_reader(void *arg)
{
	(void)arg;
	reg();
	reader_enter();
	st_rel(&reader_in, 1);
	while (!ld_acq(&reader_go))
		sleep_ms(1);
	reader_leave();
	unreg();
	return NULL;
}

static int freer_done;

/* Offline (memb: outside a section): it helps the helper thread, and waits. */
static void *blocked_freer(void *arg)
{
	(void)arg;
	reg();
	for (unsigned i = 0; i < 100000 && !ld_acq(&reader_go); i++)
		pp_rcu_free(must_alloc(0));
	unreg();
	st_rel(&freer_done, 1);
	return NULL;
}

static struct pp_rcu_stats rcu_stats(void)
{
	struct pp_rcu_stats s;

	memset(&s, 0xff, sizeof(s));
	pp_rcu_stats(&s, sizeof(s));
	return s;
}

/* Poll until a stall is counted; its stats then. */
static struct pp_rcu_stats wait_stall(void)
{
	double t0 = now_sec();
	struct pp_rcu_stats s;

	while ((s = rcu_stats()).stalls == 0 && ms_since(t0) < HANG_MS)
		sleep_ms(5);
	ck_assert_msg(s.stalls == 1, "no stall counted after %.0f ms: %zu blocks, %zu bytes "
		      "waiting for %llu ms", ms_since(t0), s.waiting_blocks, s.waiting_bytes,
		      (unsigned long long)s.pending_ms);
	return s;
}

/* Let the reader go; once everything is freed, nothing waits. */
static void release_and_drain(pthread_t reader)
{
	st_rel(&reader_go, 1);
	join(reader);
	pp_rcu_barrier();
}

/* The message: once, naming the flavour, how long and how much. */
static void check_said_once(const char *err)
{
	const char *first = strstr(err, "grace periods stall");

	ck_assert_msg(first && !strstr(first + 1, "grace periods stall"),
		      "want the stall said exactly once: \"%.2000s\"", err);
	ck_assert_msg(strstr(first, "urcu_" FLAVOR_NAME) && strstr(first, " ms old") &&
		      strstr(first, " bytes in "), "the message lacks the flavour, the age or "
		      "the bytes: \"%.1000s\"", first);
}

START_TEST(test_stall_said_while_callers_block)
{
	pthread_t reader, freer;
	struct pp_rcu_stats s;
	struct capture c;
	char err[8192];

	rcu_setup("rcu_stall_ms=300,rcu_stall_bytes=0");
	capture_begin(&c);
	reader = spawn(stuck_reader, NULL);
	ck_assert(wait_flag(&reader_in, 1, HANG_MS));
	freer = spawn(blocked_freer, NULL);
	s = wait_stall();
	ck_assert_msg(s.waiting_blocks > 0 && s.waiting_bytes > 0 && s.pending_ms >= STALL_MS,
		      "a stall with %zu blocks, %zu bytes, %llu ms", s.waiting_blocks,
		      s.waiting_bytes, (unsigned long long)s.pending_ms);
	ck_assert_msg(!ld_acq(&freer_done), "the freer finished: it never had to wait");
	release_and_drain(reader);
	join(freer);
	capture_end(&c, err, sizeof(err));
	check_said_once(err);
	s = rcu_stats();
	ck_assert_msg(s.waiting_blocks == 0 && s.waiting_bytes == 0 && s.pending_ms == 0 &&
		      s.stalls == 1, "after the barrier: %zu blocks, %zu bytes, %llu ms, %zu stalls",
		      s.waiting_blocks, s.waiting_bytes, (unsigned long long)s.pending_ms, s.stalls);
}
END_TEST

/* Inside a section: it never waits, and what waits grows past the bound. */
START_TEST(test_stall_said_past_bytes)
{
	size_t n = 16 * ((size_t)1 << 20) / pp_page_size();
	pthread_t reader;
	struct pp_rcu_stats s;
	struct capture c;
	char err[8192];

	rcu_setup("rcu_stall_ms=0,rcu_stall_bytes=8M");
	capture_begin(&c);
	reader = spawn(stuck_reader, NULL);
	ck_assert(wait_flag(&reader_in, 1, HANG_MS));
	reader_enter();
	for (size_t i = 0; i < n; i++)
		pp_rcu_free(must_alloc(0));
	reader_leave();
	s = rcu_stats();
	ck_assert_msg(s.stalls == 1 && s.waiting_bytes >= ((size_t)8 << 20),
		      "%zu bytes waiting, %zu stalls: want one past 8M", s.waiting_bytes, s.stalls);
	release_and_drain(reader);
	capture_end(&c, err, sizeof(err));
	check_said_once(err);
	s = rcu_stats();
	ck_assert_msg(s.waiting_blocks == 0 && s.stalls == 1, "after the barrier: %zu blocks "
		      "wait, %zu stalls", s.waiting_blocks, s.stalls);
}
END_TEST

/* With the defaults, ordinary use says nothing and counts no stall. */
START_TEST(test_no_stall_in_ordinary_use)
{
	struct capture c;
	char err[4096];

	rcu_setup(NULL);
	capture_begin(&c);
	for (unsigned i = 0; i < 20000; i++)
		pp_rcu_free(must_alloc(0));
	pp_rcu_barrier();
	capture_end(&c, err, sizeof(err));
	ck_assert_msg(!strstr(err, "stall"), "a stall said in ordinary use: \"%s\"", err);
	ck_assert_uint_eq(rcu_stats().stalls, 0);
	ck_assert_uint_eq(rcu_stats().waiting_blocks, 0);
}
END_TEST

void add_stall_tests(Suite *s)
{
	TCase *tc = new_tcase("stall");

	tcase_add_test(tc, test_stall_said_while_callers_block);
	tcase_add_test(tc, test_stall_said_past_bytes);
	tcase_add_test(tc, test_no_stall_in_ordinary_use);
	suite_add_tcase(s, tc);
}
