/* SPDX-License-Identifier: MIT */
/*
 * fork.c - fork() without exec(): the child frees what it queued and what
 * its parent's threads left queued, keeps the time bound, and a fork while
 * threads queue and exit leaves the child no block freed twice.
 */
#include "rcu.h"

/* ---- fork -------------------------------------------------------------
 *
 * liburcu's rule for fork() without exec() (its README, "Interaction with
 * fork()"): with urcu-memb and urcu-qsbr every registration must be
 * released before fork() - a thread that does not exist in the child leaves
 * its registry entry behind, in memory glibc hands to the child's next new
 * thread (a grace period in the child then crashes or spins) - and programs
 * that use call_rcu call the flavour's call_rcu fork hooks around it.  So
 * the other thread unregisters once it has queued (it stays alive and quiet,
 * its partly filled block in place), and this thread unregisters before
 * fork() and registers again on both sides.
 */
static void fork_prepare(void)
{
	unreg();
	fork_before();
}

static void fork_parent(void)
{
	fork_after_parent();
	reg();
}

static void fork_child(void)
{
	fork_after_child();
	reg();
}

static size_t fork_base;

static void *fork_queuer(void *arg)
{
	(void)arg;
	reg();
	for (int i = 0; i < QPAGES; i++)
		pp_rcu_free(pp_alloc_page(0));
	pp_rcu_free(malloc(256));
	unreg();			/* liburcu: no registration across fork() */
	add_rlx(&qs.ready, 1);
	while (!ld_acq(&qs.leave))
		sleep_ms(1);
	return NULL;
}

static void *child_exiting_thread(void *arg)
{
	(void)arg;
	reg();
	pp_rcu_free(must_alloc(0));
	unreg();
	return NULL;
}

/*
 * The fork child: one thread left.  The other thread's partial block (in
 * use at the fork, see the parent) and this thread's must be freed here.
 */
static void fork_child_main(void)
{
	char why[256];
	size_t s, slack1;
	pthread_t t;
	double t0;

	child_alarm(30);
	fork_child();
	mark(NULL);
	slack1 = child_slack();
	for (int i = 0; i < 1200; i++)	/* full blocks (call_rcu) and a partial one */
		pp_rcu_free(must_alloc(i % 3 == 0 ? 1 : 0));
	pp_rcu_free(malloc(100));
	pp_rcu_barrier();
	s = in_use();
	if (s > fork_base + slack1)
		child_fail(2, "after pp_rcu_barrier() in the child: in_use %zu, base %zu, "
			   "slack %zu", s, fork_base, slack1);
	if (!conservation_ok(why, sizeof(why)))
		child_fail(3, "conservation: %s", why);
	/* The helper thread restarts lazily: an exiting thread's block is freed. */
	if (pthread_create(&t, NULL, child_exiting_thread, NULL) || pthread_join(t, NULL))
		child_fail(4, "pthread_create/join");
	t0 = now_sec();
	while (in_use() > s) {
		if (ms_since(t0) > 2000)
			child_fail(5, "an exited thread's page not freed 2 s after its exit "
				   "in the fork child (in_use %zu, want %zu): no helper thread?",
				   in_use(), s);
		sleep_ms(2);
	}
	if (!conservation_ok(why, sizeof(why)))
		child_fail(6, "conservation at the end: %s", why);
}

static void fork_check_child(const struct child *c, const char *what)
{
	char how[128];

	describe(c->status, how, sizeof(how));
	ck_assert_msg(WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0 &&
		      strstr(c->err, "@@SURVIVED") != NULL,
		      "%s: fork child %s%s; stderr: \"%.1500s\"", what, how,
		      WIFSIGNALED(c->status) && WTERMSIG(c->status) == SIGALRM ?
		      " (hung: deadlock after fork?)" : "", c->err);
}

START_TEST(test_fork_child_frees)
{
	static struct child c;
	pthread_t t;

	rcu_setup("rcu_delay_ms=3600000");
	fork_base = in_use();
	t = spawn(fork_queuer, NULL);		/* a second thread with a partial block */
	ck_assert_msg(wait_flag(&qs.ready, 1, 10000), "the queuer did not start");
	for (int i = 0; i < 10; i++)		/* and one of our own */
		pp_rcu_free(pp_alloc_page(0));
	ck_assert_uint_ge(in_use(), fork_base + QPAGES + 10 + 2);

	fork_prepare();
	run_child(fork_child_main, &c, "@@SURVIVED\n");
	fork_parent();
	fork_check_child(&c, "free and barrier in the child");

	/* The parent is unaffected. */
	pp_rcu_barrier();
	ck_assert_uint_le(in_use(), fork_base + slack(2));
	st_rel(&qs.leave, 1);
	join(t);
	ck_assert_uint_le(in_use(), fork_base + slack(1));
	check_conservation();
}
END_TEST

/*
 * Threads that queue (past rcu_inflight, so full blocks go through the
 * hand-off list) and exit, while this thread forks: a thread's exit frees
 * its spare, expired and drain blocks, and a fork in the middle of that must
 * not leave the child a block already freed, which the child would give
 * back again (a double free aborts).  liburcu's rule is kept with a
 * writer-preferring rwlock: a worker holds it for reading while registered.
 */
enum { FX_WORKERS = 3 };
static pthread_rwlock_t fx_lock;
static int fx_stop;

static void *fx_worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	int rounds = 2 + (int)(rand_r(&seed) % 8);

	for (int r = 0; r < rounds && !ld_acq(&fx_stop); r++) {
		int n = 100 + (int)(rand_r(&seed) % 1500);

		pthread_rwlock_rdlock(&fx_lock);
		reg();
		/* No Check call here: the child would find Check's lock held. */
		for (int i = 0; i < n; i++) {
			void *o = i % 7 == 3 ? malloc(64) : pp_alloc_page(0);

			if (!o)
				abort();
			pp_rcu_free(o);
		}
		unreg();
		pthread_rwlock_unlock(&fx_lock);
	}
	return NULL;		/* its exit (ppr_thread_exit) may meet a fork */
}

/* A worker; plain pthread calls, not spawn(): no Check call off the main thread. */
static pthread_t fx_start(unsigned *seed)
{
	pthread_t t;

	if (pthread_create(&t, NULL, fx_worker, (void *)(uintptr_t)rand_r(seed)))
		abort();
	return t;
}

/* Keeps FX_WORKERS workers alive, replacing each one that exits. */
static void *fx_spawner(void *arg)
{
	pthread_t t[FX_WORKERS];
	unsigned seed = 7;

	(void)arg;
	for (int i = 0; i < FX_WORKERS; i++)
		t[i] = fx_start(&seed);
	while (!ld_acq(&fx_stop))
		for (int i = 0; i < FX_WORKERS; i++)
			if (pthread_tryjoin_np(t[i], NULL) == 0)
				t[i] = fx_start(&seed);
			else
				sleep_ms(0.3);
	for (int i = 0; i < FX_WORKERS; i++)
		pthread_join(t[i], NULL);
	return NULL;
}

static void fx_child(void)
{
	char why[256];

	child_alarm(30);
	fork_child();
	pp_rcu_barrier();
	if (!conservation_ok(why, sizeof(why)))
		child_fail(2, "conservation after the barrier: %s", why);
}

START_TEST(test_fork_while_threads_exit)
{
	static struct child c;
	pthread_rwlockattr_t attr;
	pthread_t sp;
	int forks = SANITIZED ? 10 : 60;

	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&fx_lock, &attr);
	rcu_setup("rcu_inflight=4K");
	sp = spawn(fx_spawner, NULL);
	for (int f = 0; f < forks; f++) {
		sleep_ms(5);
		pthread_rwlock_wrlock(&fx_lock);
		fork_prepare();
		run_child(fx_child, &c, "@@SURVIVED\n");
		fork_parent();
		pthread_rwlock_unlock(&fx_lock);
		fork_check_child(&c, "fork while threads queue and exit");
	}
	st_rel(&fx_stop, 1);
	join(sp);
	pp_rcu_barrier();
	check_conservation();
}
END_TEST

/*
 * In the child, one pp_rcu_free() and then quiet: the pointer must be freed
 * within rcu_delay_ms (200 here) like anywhere else - whether or not this
 * thread had a partly filled block at the fork.
 */
static void fork_quiet_child(void)
{
	size_t s0;
	double t0, dt, bound = SANITIZED ? 400 : 300;
	void *p;

	child_alarm(30);
	fork_child();
	mark(NULL);
	s0 = in_use();			/* with a partial: + its pages and block */
	p = must_alloc(0);
	t0 = now_sec();
	pp_rcu_free(p);			/* the first call in the child */
	while (pp_block_order(p) >= 0) {
		if (ms_since(t0) > 2000)
			child_fail(2, "fork child: a quiet partial block was not freed 2 s "
				   "after the child's first pp_rcu_free() (rcu_delay_ms=200; "
				   "in_use %zu, %zu before the call)", in_use(), s0);
		sleep_ms(2);
	}
	dt = ms_since(t0);
	if (dt > bound)
		child_fail(3, "fork child: quiet partial block freed after %.1f ms, bound "
			   "%.0f ms", dt, bound);
}

static void fork_quiet_case(bool partial_at_fork)
{
	static struct child c;

	rcu_setup("rcu_delay_ms=200");
	if (partial_at_fork) {
		pp_rcu_free(pp_alloc_page(0));	/* handed on in 100 ms: fork first */
		/*
		 * That call started the helper thread.  Let it get going: a
		 * fork() while a thread is starting can leave a lock of the
		 * sanitizers' allocator (GCC 12's ASan does not lock it around
		 * fork) held for ever in the child, where the child's helper
		 * thread then hangs at its start.
		 */
		sleep_ms(20);
	}
	fork_prepare();
	run_child(fork_quiet_child, &c, "@@SURVIVED\n");
	fork_parent();
	fork_check_child(&c, partial_at_fork ?
			 "quiet thread in the child, partly filled block at the fork" :
			 "quiet thread in the child, no block at the fork");
	pp_rcu_barrier();
	check_conservation();
}

START_TEST(test_fork_child_quiet_bound)
{
	fork_quiet_case(false);
}
END_TEST

START_TEST(test_fork_child_quiet_bound_inherited_block)
{
	fork_quiet_case(true);
}
END_TEST

/* ---- the test case ---------------------------------------------------- */

void add_fork_tests(Suite *s)
{
#ifdef __SANITIZE_ADDRESS__
	/*
	 * GCC 12's AddressSanitizer takes no lock of its allocator around
	 * fork(): a child of a threaded parent can deadlock inside malloc() when
	 * a parent thread was in ASan's allocator at the fork (seen at 03f7420:
	 * test_fork_child_frees, about 1 run in 35 under load, the child's new
	 * threads waiting on ASan's size-class mutex).  The fork tests run in
	 * the plain and the ThreadSanitizer builds.
	 */
	fprintf(stderr, "test_rcu: the fork tests are not run under AddressSanitizer\n");
	(void)s;
	(void)test_fork_child_frees;
	(void)test_fork_while_threads_exit;
	(void)test_fork_child_quiet_bound;
	(void)test_fork_child_quiet_bound_inherited_block;
#else
	TCase *tc = new_tcase("fork");

	tcase_add_test(tc, test_fork_child_frees);
	tcase_add_test(tc, test_fork_while_threads_exit);
	tcase_add_test(tc, test_fork_child_quiet_bound);
	tcase_add_test(tc, test_fork_child_quiet_bound_inherited_block);
	suite_add_tcase(s, tc);
#endif
}
