/* SPDX-License-Identifier: MIT */
/*
 * barrier.c - pp_rcu_barrier() frees everything queued, this thread's and
 * other threads' blocks alike, and rcu_inflight bounds what waits for
 * call_rcu(): the helper thread, and callers that help it.
 */
#include "rcu.h"

/* ---- pp_rcu_barrier() ------------------------------------------------- */

/*
 * 100,000 pool pages and some heap objects, then one barrier.  @conf: no
 * hand-on by age during the test (only the barrier frees the last, partly
 * filled block, which holds pages, queued last), and rcu_inflight.
 */
static void barrier_100k(const char *conf)
{
	enum { PAGES = 100000, HEAP = 2000 };
	size_t base, before, after, heap0, heap1;

	rcu_setup(conf);
	base = in_use();
	heap0 = heap_in_use();
	/* Heap objects past glibc's tcache sizes, so mallinfo2() sees them freed. */
	for (size_t i = 0; i < HEAP; i++) {
		struct obj *o = malloc(1100 + (i * 53) % 3000);

		ck_assert_ptr_nonnull(o);
		if (i & 1)
			pp_rcu_free(o);
		else
			pp_rcu_free_head(o, &o->head);
	}
	for (size_t i = 0; i < PAGES; i++) {
		uint64_t *p = pp_alloc_page(0);

		ck_assert_msg(p != NULL, "pp_alloc_page failed at %zu: %s", i, strerror(errno));
		*p = i;
		pp_rcu_free(p);
	}
	before = in_use();
	ck_assert_msg(before > base + slack(1),
		      "before the barrier only %zu pages in use (base %zu): nothing pending?",
		      before, base);
	pp_rcu_barrier();
	after = in_use();
	ck_assert_msg(after >= base && after <= base + slack(1),
		      "after pp_rcu_barrier(): in_use %zu, base %zu, allowed slack %zu "
		      "(2*rcu_spares+1); %zu before the barrier", after, base, slack(1), before);
	if (!SANITIZED) {
		heap1 = heap_in_use();
		if (getenv("PP_TEST_VERBOSE"))
			fprintf(stderr, "barrier_100k: in_use %zu before the barrier, %zu after "
				"(base %zu); heap %zu -> %zu bytes\n", before, after, base, heap0,
				heap1);
		ck_assert_msg(heap1 < heap0 + ((size_t)1 << 20),
			      "heap in use %zu after the barrier, %zu before queueing: "
			      "heap objects not freed?", heap1, heap0);
	}
	check_conservation();
}

/* Every full block through call_rcu(). */
START_TEST(test_barrier_100k)
{
	barrier_100k("rcu_delay_ms=3600000,rcu_inflight=0");
}
END_TEST

/* Past 1 MiB in flight, blocks through the helper thread (and the writer). */
START_TEST(test_barrier_100k_inflight)
{
	barrier_100k("rcu_delay_ms=3600000,rcu_inflight=1M");
}
END_TEST

/*
 * rcu_inflight bounds the pages waiting for call_rcu(): with a flavour whose
 * call_rcu() keeps the callbacks and never runs them, 100,000 pages queued
 * by one thread stay in use without the bound and mostly come back with it.
 */
enum { STASH_MAX = 4096 };
static struct rcu_head *stash[STASH_MAX];
static void (*stash_fn[STASH_MAX])(struct rcu_head *);
static size_t nstash;

static void stash_call_rcu(struct rcu_head *head, void (*func)(struct rcu_head *))
{
	ck_assert_uint_lt(nstash, STASH_MAX);	/* only this test's thread queues */
	stash[nstash] = head;
	stash_fn[nstash++] = func;
}

/* The largest number of pages in use above the start while queueing. */
static size_t inflight_peak(const char *conf)
{
	enum { PAGES = 100000 };
	struct rcu_flavor_struct stash_fl = *fl;
	size_t base, peak = 0;

	stash_fl.update_call_rcu = stash_call_rcu;
	ck_assert_int_eq(pp_configure(conf), 0);
	reg();
	ck_assert_int_eq(pp_rcu_init(&stash_fl), 0);
	base = in_use();
	for (size_t i = 0; i < PAGES; i++) {
		uint64_t *p = pp_alloc_page(0);

		ck_assert_ptr_nonnull(p);
		*p = i;
		pp_rcu_free(p);
		if (in_use() - base > peak)
			peak = in_use() - base;
	}
	/* Now run what call_rcu() kept, as liburcu would have. */
	for (size_t i = 0; i < nstash; i++)
		stash_fn[i](stash[i]);
	pp_rcu_barrier();
	ck_assert_uint_le(in_use(), base + slack(1));
	check_conservation();
	if (getenv("PP_TEST_VERBOSE"))
		fprintf(stderr, "inflight_peak(%s): %zu pages, %zu callbacks kept\n", conf, peak,
			nstash);
	return peak;
}

START_TEST(test_inflight_bounded)
{
	size_t peak = inflight_peak("rcu_delay_ms=3600000,rcu_inflight=4M");

	/* 4 MiB: two blocks of pages through call_rcu(), the rest past the bound. */
	ck_assert_msg(nstash >= 1, "rcu_inflight=4M: no block went to call_rcu()");
	ck_assert_msg(peak < 60000, "rcu_inflight=4M, callbacks never run: %zu of 100,000 "
		      "queued pages in use at once", peak);
}
END_TEST

/* Control: without the bound, nothing comes back until the callbacks run. */
START_TEST(test_inflight_unbounded_control)
{
	size_t peak = inflight_peak("rcu_delay_ms=3600000,rcu_inflight=0");

	ck_assert_msg(peak >= 99000, "rcu_inflight=0, callbacks never run, yet only %zu "
		      "of 100,000 queued pages were in use at once", peak);
}
END_TEST

/*
 * Many pointers (full blocks and a partial one), then the thread goes quiet:
 * with no barrier, all of it is freed within rcu_delay_ms (200 here) plus a
 * grace period, like a single pointer.
 */
START_TEST(test_many_pages_quiet_bound)
{
	enum { PAGES = 5000 };
	double t0, dt, bound = SANITIZED ? 400 : 300;
	size_t base, queued;

	rcu_setup("rcu_delay_ms=200");
	base = in_use();
	for (size_t i = 0; i < PAGES; i++)
		pp_rcu_free(pp_alloc_page(0));
	t0 = now_sec();
	queued = in_use();
	dt = wait_in_use_le(base + slack(1), t0, 5000);
	ck_assert_msg(dt >= 0, "%d pages queued, then quiet: in_use still %zu after 5 s "
		      "(base %zu, slack %zu; %zu right after queueing)", PAGES, in_use(),
		      base, slack(1), queued);
	ck_assert_msg(dt <= bound, "%d pages queued, then quiet: freed after %.1f ms, the "
		      "bound is %.0f ms (rcu_delay_ms=200)", PAGES, dt, bound);
	pp_rcu_barrier();
	ck_assert_uint_le(in_use(), base + slack(1));
	check_conservation();
}
END_TEST

/* Threads that queued a partial block and stay alive and quiet (fork.c too). */
struct queuers qs;

static void *partial_queuer(void *arg)
{
	int pages = qs.pages ? qs.pages : QPAGES;

	(void)arg;
	reg();				/* offline: a quiet thread (qsbr) */
	for (int i = 0; i < pages; i++)
		pp_rcu_free(pp_alloc_page(0));
	pp_rcu_free(malloc(256));
	add_rlx(&qs.ready, 1);
	while (!ld_acq(&qs.leave))
		sleep_ms(1);
	unreg();
	return NULL;
}

/* Start QUEUERS partial_queuer()s and wait until each has queued. */
static void queuers_start(pthread_t *t, double timeout_ms)
{
	for (int i = 0; i < QUEUERS; i++)
		t[i] = spawn(partial_queuer, NULL);
	ck_assert_msg(wait_flag(&qs.ready, QUEUERS, timeout_ms), "queuers did not start");
}

/* Let the queuers exit: then all they queued is back (@base in use). */
static void queuers_leave(const pthread_t *t, size_t base)
{
	st_rel(&qs.leave, 1);
	for (int i = 0; i < QUEUERS; i++)
		join(t[i]);
	ck_assert_msg(in_use() == base, "after the queuers exited: in_use %zu, base %zu",
		      in_use(), base);
	check_conservation();
}

START_TEST(test_barrier_takes_other_threads_partials)
{
	pthread_t t[QUEUERS];
	size_t base, mid, after;

	rcu_setup("rcu_delay_ms=3600000");
	base = in_use();
	queuers_start(t, 10000);
	sleep_ms(50);
	mid = in_use();
	/* QPAGES pages and one block each, none of it due for an hour. */
	ck_assert_msg(mid >= base + QUEUERS * (QPAGES + 1),
		      "before the barrier: in_use %zu, want >= %zu", mid,
		      base + QUEUERS * (QPAGES + 1));
	pp_rcu_barrier();
	after = in_use();
	ck_assert_msg(after <= base + slack(QUEUERS),
		      "pp_rcu_barrier() left %zu pages in use (base %zu, slack %zu): the "
		      "other threads' partly filled blocks were not flushed", after, base,
		      slack(QUEUERS));
	queuers_leave(t, base);
}
END_TEST

/*
 * The same with full blocks too: their grace periods end while the threads
 * are quiet, and the barrier must free them as well, wherever the library
 * keeps them meanwhile.
 */
START_TEST(test_barrier_takes_other_threads_full_blocks)
{
	pthread_t t[QUEUERS];
	size_t base, after;

	rcu_setup("rcu_delay_ms=3600000");
	base = in_use();
	qs.pages = 2500;		/* a few full blocks and a partial one each */
	queuers_start(t, 20000);
	sleep_ms(200);			/* the full blocks' grace periods end */
	if (getenv("PP_TEST_VERBOSE"))
		fprintf(stderr, "full blocks of quiet threads: in_use %zu before the "
			"barrier (base %zu)\n", in_use(), base);
	pp_rcu_barrier();
	after = in_use();
	ck_assert_msg(after <= base + slack(QUEUERS),
		      "pp_rcu_barrier() left %zu pages in use (base %zu, slack %zu) of "
		      "%d queued by quiet threads", after, base, slack(QUEUERS),
		      QUEUERS * qs.pages);
	queuers_leave(t, base);
}
END_TEST

/* ---- rcu_inflight: the helper thread, and callers that help it ---------- */

/* Pointers per block: a 48-byte header, then pointers (doc/rcu.md, "block"). */
static size_t block_cap(void)
{
	return (pp_page_size() - 48) / sizeof(void *);
}

static struct {
	int entered, leave, probe_started, probe_done, queued;
	uint64_t call_start_ns;		/* of queue_pages()'s call in flight, 0: none */
} hs;

/* A reader that stays in one read-side section until told to leave. */
static void *section_reader(void *arg)
{
	(void)arg;
	reg();
	reader_enter();
	st_rel(&hs.entered, 1);
	while (!ld_acq(&hs.leave))
		sleep_ms(1);
	reader_leave();
	unreg();
	return NULL;
}

#define STALL_MS 300	/* a pp_rcu_free() call this long is waiting, not slow */

/*
 * Tells the holding reader to leave once queue_pages() has been inside one
 * pp_rcu_free() call for STALL_MS (it is waiting for the reader: helping),
 * or has queued everything (it never waited), or after 60 s.  Derived from
 * what the queueing thread does, not from a guess of how long queueing
 * takes: a loaded machine under ThreadSanitizer takes seconds for it.
 */
static void *leave_when_stalled(void *arg)
{
	double t0 = now_sec();

	(void)arg;
	while (!ld_acq(&hs.queued) && ms_since(t0) < 60000) {
		uint64_t start = __atomic_load_n(&hs.call_start_ns, __ATOMIC_ACQUIRE);

		if (start && now_sec() * 1e9 - (double)start >= STALL_MS * 1e6)
			break;
		sleep_ms(5);
	}
	st_rel(&hs.leave, 1);
	return NULL;
}

/* Queue @blocks full blocks of pool pages; the longest single call, in ms. */
static double queue_pages(size_t blocks)
{
	double longest = 0;

	for (size_t i = 0; i < blocks * block_cap(); i++) {
		uint64_t *p = pp_alloc_page(0);
		double t0 = now_sec(), dt;

		ck_assert_ptr_nonnull(p);
		*p = i;
		__atomic_store_n(&hs.call_start_ns, (uint64_t)(t0 * 1e9), __ATOMIC_RELEASE);
		pp_rcu_free(p);
		__atomic_store_n(&hs.call_start_ns, 0, __ATOMIC_RELEASE);
		dt = ms_since(t0);
		if (dt > longest)
			longest = dt;
	}
	st_rel(&hs.queued, 1);
	return longest;
}

/*
 * Another thread holds a read-side section, so the helper thread's grace
 * period cannot end: past rcu_inflight this (offline) thread's full blocks
 * pile up for it, and once 32 wait, a pp_rcu_free() call helps - and so
 * waits until the reader has left, which it does once that call has waited
 * STALL_MS.  Without the help every call returns at once, all 40 blocks are
 * queued, and only then does the reader leave.
 */
START_TEST(test_inflight_caller_helps)
{
	pthread_t r, w;
	size_t base;
	double longest;

	rcu_setup("rcu_inflight=4K");
	base = in_use();
	r = spawn(section_reader, NULL);
	ck_assert(wait_flag(&hs.entered, 1, 10000));
	w = spawn(leave_when_stalled, NULL);
	longest = queue_pages(40);
	join(w);
	join(r);
	if (getenv("PP_TEST_VERBOSE"))
		fprintf(stderr, "inflight_caller_helps: longest pp_rcu_free %.1f ms\n", longest);
	ck_assert_msg(longest >= STALL_MS, "no pp_rcu_free() call waited for the reader "
		      "(longest %.1f ms): the caller never helped the helper thread", longest);
	pp_rcu_barrier();
	ck_assert_uint_le(in_use(), base + slack(1));
	check_conservation();
}
END_TEST

/* Waits for a grace period; done is set when it has ended. */
static void *gp_probe(void *arg)
{
	(void)arg;
	reg();
	st_rel(&hs.probe_started, 1);
	fl->update_synchronize_rcu();
	st_rel(&hs.probe_done, 1);
	unreg();
	return NULL;
}

/*
 * A thread inside a read-side section (urcu-qsbr: online) queues 40 blocks
 * past rcu_inflight: it must not help (that waits for a grace period, and a
 * qsbr thread would have to go offline, ending its section).  A grace period
 * started meanwhile must not end before the thread leaves its section.
 */
START_TEST(test_inflight_reader_never_quiesces)
{
	pthread_t probe;
	size_t base;

	rcu_setup("rcu_inflight=4K");
	base = in_use();
	reader_enter();
	probe = spawn(gp_probe, NULL);
	ck_assert(wait_flag(&hs.probe_started, 1, 10000));
	sleep_ms(50);			/* the probe is inside synchronize_rcu() */
	queue_pages(40);
	ck_assert_msg(!ld_acq(&hs.probe_done), "a grace period ended while the queueing "
		      "thread was still inside its read-side section");
	reader_leave();
	join(probe);
	pp_rcu_barrier();
	ck_assert_uint_le(in_use(), base + slack(1));
	check_conservation();
}
END_TEST

static struct {
	int queued, leave;
	size_t in_use_before;
	double t_queued;
} hq;

/* Queues exactly one full block past rcu_inflight, then stays quiet. */
static void *one_block_thread(void *arg)
{
	(void)arg;
	reg();
	hq.in_use_before = in_use();
	hq.t_queued = now_sec();
	queue_pages(1);
	st_rel(&hq.queued, 1);
	while (!ld_acq(&hq.leave))
		sleep_ms(2);
	unreg();
	return NULL;
}

/*
 * The one full block goes to the helper thread, which sleeps untimed (no
 * partly filled block anywhere): the push must wake it.  Freed within the
 * spec's bound, rcu_delay_ms (it goes back to its quiet owner, whose expired
 * blocks the helper frees at rcu_delay_ms / 2).
 */
START_TEST(test_inflight_block_of_quiet_thread)
{
	pthread_t t;
	double dt;

	rcu_setup("rcu_inflight=4K");
	t = spawn(one_block_thread, NULL);
	ck_assert(wait_flag(&hq.queued, 1, 10000));
	/* Back to where it started but for the thread's block page and spares. */
	dt = wait_in_use_le(hq.in_use_before + slack(1), hq.t_queued, 4000);
	ck_assert_msg(dt >= 0 && dt <= 1000, "a block handed to the helper thread by a quiet "
		      "thread: its pages freed after %.0f ms (-1: not within 4 s)", dt);
	st_rel(&hq.leave, 1);
	join(t);
	pp_rcu_barrier();
	check_conservation();
}
END_TEST

/* ---- the test case ---------------------------------------------------- */

void add_barrier_tests(Suite *s)
{
	TCase *tc = new_tcase("barrier");

	tcase_add_test(tc, test_barrier_100k);
	tcase_add_test(tc, test_barrier_100k_inflight);
	tcase_add_test(tc, test_inflight_bounded);
	tcase_add_test(tc, test_inflight_unbounded_control);
	tcase_add_test(tc, test_inflight_caller_helps);
	tcase_add_test(tc, test_inflight_reader_never_quiesces);
	tcase_add_test(tc, test_inflight_block_of_quiet_thread);
	tcase_add_test(tc, test_many_pages_quiet_bound);
	tcase_add_test(tc, test_barrier_takes_other_threads_partials);
	tcase_add_test(tc, test_barrier_takes_other_threads_full_blocks);
	suite_add_tcase(s, tc);
}
