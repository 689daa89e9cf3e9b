/* SPDX-License-Identifier: MIT */
/*
 * fallback.c - the fallbacks, forced with rcu_blocks=0 (the rcu_head path
 * never blocks, pp_rcu_free() waits for the grace period), and the calls
 * that may or may not be made inside a read-side section.
 */
#include "rcu.h"

/* ---- the fallbacks, forced with rcu_blocks=0 --------------------------- */

/* (a) The rcu_head path never blocks, even inside a read-side section. */
START_TEST(test_fallback_head_in_read_section)
{
	struct watchdog w;
	struct obj *p, *h;
	size_t base, held;
	double dt;

	rcu_setup("rcu_blocks=0");
	base = in_use();
	p = obj_new_pool(0, 1);
	h = obj_new_heap(256, 2);
	held = in_use();
	reader_enter();
	watchdog_start(&w, 10, "pp_rcu_free_head() inside a read-side section, rcu_blocks=0");
	pp_rcu_free_head(p, &p->head);
	pp_rcu_free_head(h, &h->head);
	watchdog_stop(&w);
	sleep_ms(50);
	/* Still inside: no grace period can have ended, nothing is freed. */
	ck_assert_msg(in_use() == held, "page freed while its reader is still inside "
		      "(in_use %zu, held %zu)", in_use(), held);
	ck_assert_msg(rcu_test_reader_check(p) == 1 && rcu_test_reader_check(h) == 2,
		      "objects changed under their reader");
	reader_leave();
	/* The helper thread frees objects queued through their head: no barrier. */
	dt = wait_in_use_le(base, now_sec(), 3000);
	ck_assert_msg(dt >= 0, "page queued through its rcu_head not freed 3 s after the "
		      "reader left (in_use %zu, base %zu)", in_use(), base);
	pp_rcu_barrier();
	ck_assert_uint_eq(in_use(), base);	/* no blocks at all with rcu_blocks=0 */
	check_conservation();
}
END_TEST

static struct {
	struct obj *slot;
	int inside, left;
	double t_in, t_left;
	size_t checks, bad;
} fw;

/* Holds a read-side section for 200 ms with the object it read. */
static void *holding_reader(void *arg)
{
	const struct obj *o;

	(void)arg;
	reg();
	reader_enter();
	o = __atomic_load_n(&fw.slot, __ATOMIC_ACQUIRE);
	fw.t_in = now_sec();
	st_rel(&fw.inside, 1);
	while (ms_since(fw.t_in) < 200) {
		if (!o || !rcu_test_reader_check(o))
			fw.bad++;
		fw.checks++;
		sleep_ms(1);
	}
	fw.t_left = now_sec();
	st_rel(&fw.left, 1);		/* before the unlock: the grace period may end at once */
	reader_leave();
	unreg();
	return NULL;
}

/* (b) pp_rcu_free() waits for the grace period and frees before returning. */
START_TEST(test_fallback_free_waits_for_readers)
{
	struct watchdog w;
	struct obj *p, *q;
	size_t base, before;
	pthread_t t;
	double t_call, t_ret;
	int left;

	rcu_setup("rcu_blocks=0");
	base = in_use();

	/* No reader: freed when the call returns. */
	p = obj_new_pool(0, 1);
	before = in_use();
	pp_rcu_free(p);
	ck_assert_msg(in_use() == before - 1, "rcu_blocks=0: pp_rcu_free() returned with "
		      "the page still in use (in_use %zu, was %zu)", in_use(), before);
	pp_rcu_free(obj_new_heap(512, 2));
	ck_assert_uint_eq(in_use(), base);

	/* A reader holds the object for 200 ms: the call must wait for it. */
	q = obj_new_pool(1, 3);
	st_rel(&fw.slot, q);
	t = spawn(holding_reader, NULL);
	ck_assert_msg(wait_flag(&fw.inside, 1, 10000), "the reader did not start");
	st_rel(&fw.slot, NULL);		/* unpublished: new readers cannot find it */
	before = in_use();
	watchdog_start(&w, 20, "pp_rcu_free() with rcu_blocks=0 and a 200 ms reader");
	t_call = now_sec();
	pp_rcu_free(q);
	t_ret = now_sec();
	left = ld_acq(&fw.left);
	watchdog_stop(&w);
	ck_assert_msg(left, "pp_rcu_free() returned %.1f ms after the call while the reader "
		      "(inside for %.1f ms) was still in its read-side section",
		      (t_ret - t_call) * 1000, (t_ret - fw.t_in) * 1000);
	ck_assert_msg(t_ret >= fw.t_left, "returned before the reader left");
	ck_assert_msg(in_use() == before - 2, "rcu_blocks=0: pp_rcu_free() returned with "
		      "the order-1 block still in use (in_use %zu, was %zu)", in_use(), before);
	join(t);
	ck_assert_msg(fw.bad == 0, "the reader saw its object change %zu times in %zu checks",
		      fw.bad, fw.checks);
	pp_rcu_barrier();
	ck_assert_uint_eq(in_use(), base);
	check_conservation();
}
END_TEST

/* With blocks (the default) pp_rcu_free() may be called inside a section. */
START_TEST(test_blocks_free_in_read_section)
{
	struct watchdog w;
	struct obj *p, *h;
	size_t base, held;

	rcu_setup(NULL);
	base = in_use();
	p = obj_new_pool(2, 1);
	h = obj_new_heap(100, 2);
	reader_enter();
	watchdog_start(&w, 10, "pp_rcu_free() inside a read-side section");
	pp_rcu_free(p);
	pp_rcu_free(h);
	watchdog_stop(&w);
	held = in_use();
	sleep_ms(20);
	ck_assert_msg(in_use() >= held && rcu_test_reader_check(p) == 1,
		      "the block was freed under its reader");
	reader_leave();
	pp_rcu_barrier();
	ck_assert_msg(in_use() <= base + slack(1), "in_use %zu, base %zu", in_use(), base);
	check_conservation();
}
END_TEST

/* ---- read-side sections: children that must abort, or survive --------- */

/* (c) misuse: a call that has to wait, from inside a read-side section. */
static void child_free_in_read_lock(void)
{
	void *p;

	child_setup("rcu_blocks=0", true);
	p = must_alloc(0);
	reader_enter();
	mark(p);
	pp_rcu_free(p);
}

/* Online but outside read_lock(): a read-side section for qsbr, not for memb. */
static void child_free_online(void)
{
	void *p;

	child_setup("rcu_blocks=0", true);
	p = must_alloc(0);
	fl->thread_online();
	mark(p);
	pp_rcu_free(p);
	if (pp_block_order(p) >= 0)
		child_fail(2, "pp_rcu_free() returned with the page not freed");
}

START_TEST(test_fallback_free_in_read_section_aborts)
{
	expect_abort(child_free_in_read_lock, "pp_rcu_free", "read-side", true);
}
END_TEST

START_TEST(test_fallback_free_online)
{
	if (FLAVOR_QSBR)	/* qsbr: online is a read-side critical section */
		expect_abort(child_free_online, "pp_rcu_free", "read-side", true);
	else			/* memb: online means nothing; the call waits and frees */
		expect_survive(child_free_online, "memb, online, pp_rcu_free()");
}
END_TEST

static void child_barrier_in_read_lock(void)
{
	child_setup(NULL, true);
	pp_rcu_free(must_alloc(0));
	reader_enter();
	mark(NULL);
	pp_rcu_barrier();
	if (!FLAVOR_QSBR)
		return;
	/* qsbr: taken offline for the wait, online again afterwards. */
	if (!fl->read_ongoing())
		child_fail(2, "qsbr: pp_rcu_barrier() left an online caller offline");
	reader_leave();
}

START_TEST(test_barrier_in_read_section)
{
	if (FLAVOR_QSBR)
		expect_survive(child_barrier_in_read_lock, "qsbr, online, pp_rcu_barrier()");
	else
		expect_abort(child_barrier_in_read_lock, "pp_rcu_barrier", "read-side", false);
}
END_TEST

/* ---- the test case ---------------------------------------------------- */

void add_fallback_tests(Suite *s)
{
	TCase *tc = new_tcase("fallback");

	tcase_add_test(tc, test_fallback_head_in_read_section);
	tcase_add_test(tc, test_fallback_free_waits_for_readers);
	tcase_add_test(tc, test_blocks_free_in_read_section);
	tcase_add_test(tc, test_fallback_free_in_read_section_aborts);
	tcase_add_test(tc, test_fallback_free_online);
	tcase_add_test(tc, test_barrier_in_read_section);
	suite_add_tcase(s, tc);
}
