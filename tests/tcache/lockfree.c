/* SPDX-License-Identifier: MIT */
/*
 * lockfree.c - the cache's lock-free paths: no system call (proved with
 * strict seccomp in a child), and progress while another thread holds the
 * global lock.
 */
#include "tcache.h"

/* ---- no system call: strict seccomp ------------------------------------ */

/*
 * Strict seccomp, NS_FAIL and nosys_fork(): checkutil.h.
 *
 * Not under ThreadSanitizer: its runtime restarts a background thread in a
 * fork child, and strict seccomp and SYS_exit act on one thread only, so the
 * child never ends (waitpid hangs).  The normal and ASan builds run these.
 */

/* stats=0 whatever PAGEPOOL_CONF says: stats=1 reads the clock in every lock
 * hold, and strict seccomp disables the TSC that the vDSO reads (SIGSEGV). */
#define NS_CONF   "high=32,batch=8,stats=0"
#define NS_WARM   256
#define NS_ROUNDS 12
#define NS_SINGLE 40
#define NS_BULK   40

/* Before seccomp: commit memory, fill cache and global lists, and call every
 * entry point once (so even lazy binding is done). */
static int ns_warm(void)
{
	static void *pg[NS_WARM];
	void *blk[PP_CACHE_ORDERS];
	void *b[8] = { NULL };

	for (size_t i = 0; i < NS_WARM; i++)
		if (!(pg[i] = pp_alloc_page(0)))
			NS_FAIL("warm alloc failed");
	for (unsigned k = 1; k < PP_CACHE_ORDERS; k++)
		if (!(blk[k] = pp_alloc_pages(k, 0)))
			NS_FAIL("warm alloc of a block failed");
	if (pp_alloc_pages_bulk(PP_NOWAIT, 8, b) == 0)
		NS_FAIL("warm bulk failed");
	pp_free_pages_bulk(8, b);
	for (size_t i = 0; i < NS_WARM; i++)
		pp_free_page(pg[i]);
	for (unsigned k = 1; k < PP_CACHE_ORDERS; k++)
		pp_free_pages(blk[k], k);
	pp_free_page(pp_alloc_page_try());
	pp_free_page(pp_alloc_page(PP_NOWAIT));
	return 0;
}

/* After seccomp: every call here must avoid system calls. */
static int ns_run(void)
{
	void *single[NS_SINGLE], *bulk[NS_BULK], *blk[PP_CACHE_ORDERS], *t;
	size_t ps = pp_page_size();

	for (unsigned r = 0; r < NS_ROUNDS; r++) {
		t = pp_alloc_page_try();
		if (!t && r == 0)
			NS_FAIL("try found the warmed cache empty");
		if (t)
			memset(t, 0xa5, 64);
		for (size_t i = 0; i < NS_SINGLE; i++) {
			unsigned f = PP_NOWAIT | (i == 0 ? PP_ZERO : 0);

			single[i] = pp_alloc_page(f);
			if (!single[i])
				NS_FAIL("PP_NOWAIT alloc failed with memory free");
			if (!block_aligned(single[i], 0))
				NS_FAIL("PP_NOWAIT page misaligned");
			if ((f & PP_ZERO) && !all_zero(single[i], ps))
				NS_FAIL("PP_ZERO page not zeroed");
			memset(single[i], 0x5a, 64);
		}
		for (unsigned k = 1; k < PP_CACHE_ORDERS; k++) {
			blk[k] = pp_alloc_pages(k, PP_NOWAIT);
			if (!blk[k])
				NS_FAIL("PP_NOWAIT block alloc failed with memory free");
			if (!block_aligned(blk[k], k))
				NS_FAIL("PP_NOWAIT block misaligned");
			memset(blk[k], 0x3c, ps << k);
		}
		memset(bulk, 0, sizeof(bulk));
		if (pp_alloc_pages_bulk(PP_NOWAIT, NS_BULK, bulk) != NS_BULK)
			NS_FAIL("PP_NOWAIT bulk came back short with memory free");
		for (size_t i = 0; i < NS_BULK; i++)
			memset(bulk[i], 0x11, 64);

		pp_free_page(t);
		for (size_t i = 0; i < NS_SINGLE; i++)	/* crosses high */
			pp_free_page(single[i]);
		for (unsigned k = 1; k < PP_CACHE_ORDERS; k++)
			pp_free_pages(blk[k], k);
		pp_free_pages_bulk(NS_BULK, bulk);	/* crosses high */
	}
	return 0;
}

/* A child that warms up, enters strict seccomp and runs ns_run(). */
static int nosys_child_status(bool violate)
{
	int status = 0;
	pid_t pid;

	ck_assert_int_eq(pp_configure(NS_CONF), 0);
	pid = nosys_fork(ns_warm, ns_run, violate);
	ck_assert_int_ge(pid, 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

START_TEST(test_no_syscall_strict_seccomp)
{
	int st = nosys_child_status(false);

	ck_assert_msg(!WIFSIGNALED(st),
		      "child killed by signal %d: a system call on a no-syscall path "
		      "(SIGKILL = seccomp)", WTERMSIG(st));
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "child exit status %d (2 warm-up, 3 prctl, 1 check failed)",
		      WEXITSTATUS(st));
}
END_TEST

/* Control: the harness does catch a system call. */
START_TEST(test_no_syscall_harness_catches_violation)
{
	int st = nosys_child_status(true);

	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
		      "getpid() under strict seccomp did not kill the child "
		      "(status %#x)", st);
}
END_TEST

/* The same workload without seccomp: it does exercise refill, drain, hits. */
START_TEST(test_no_syscall_workload_counters)
{
	struct pp_stats s0, s1;

	ck_assert_int_eq(pp_configure(NS_CONF), 0);
	ck_assert_int_eq(ns_warm(), 0);
	s0 = get_stats();
	ck_assert_int_eq(ns_run(), 0);
	s1 = get_stats();
	ck_assert_uint_gt(s1.refills, s0.refills);
	ck_assert_uint_gt(s1.drains, s0.drains);
	ck_assert_uint_gt(s1.try_hits, s0.try_hits);
	ck_assert_uint_eq(s1.grows, s0.grows);
	ck_assert_uint_eq(s1.in_use, 0);
	check_conservation();
}
END_TEST

/* ---- progress while another thread holds the global lock --------------- */


/* A thread with no cache at all frees pages while the lock is held. */
struct free_job {
	void **pages;
	size_t n;
};

static void *cacheless_freer(void *arg)
{
	struct free_job *j = arg;

	for (size_t i = 0; i + 1 < j->n; i++)
		pp_free_page(j->pages[i]);
	pp_free_pages_bulk(1, &j->pages[j->n - 1]);
	return NULL;
}

START_TEST(test_no_block_while_locked)
{
	enum { HIGH = 32, WARM = 64, EXTRA = 48, GIVEN = 8 };
	void *warm[WARM], *extra[EXTRA], *given[GIVEN], *got[HIGH + 1];
	void *bulk[8] = { NULL }, *blk2, *p;
	struct free_job job = { given, GIVEN };
	char fail[200] = "";
	struct pp_stats s0, s1;
	struct lock_holder holder;
	size_t n = 0;

#define LK_CHECK(cond, ...) do {					\
		if (!(cond) && !fail[0])				\
			snprintf(fail, sizeof(fail), __VA_ARGS__);	\
	} while (0)

	ck_assert_int_eq(pp_configure("high=32,batch=8"), 0);
	for (size_t i = 0; i < WARM; i++)
		ck_assert_ptr_nonnull(warm[i] = pp_alloc_page(0));
	for (size_t i = 0; i < EXTRA; i++)
		ck_assert_ptr_nonnull(extra[i] = pp_alloc_page(0));
	for (size_t i = 0; i < GIVEN; i++)
		ck_assert_ptr_nonnull(given[i] = pp_alloc_page(0));
	ck_assert_ptr_nonnull(blk2 = pp_alloc_pages(2, 0));
	for (size_t i = 0; i < WARM; i++)
		pp_free_page(warm[i]);
	s0 = get_stats();
	ck_assert_uint_gt(cache_pages(&s0), 0);

	hold_lock(&holder);
	/* The global lock is held from here: no ck_assert (it would exit with
	 * the lock held), record the first failure instead.  A call that blocks
	 * hangs the test until the tcase timeout. */

	errno = 0;
	while (n < HIGH + 1 && (got[n] = pp_alloc_page_try()) != NULL) {
		LK_CHECK(block_aligned(got[n], 0), "try: misaligned page");
		n++;
	}
	LK_CHECK(n >= 1 && n <= HIGH, "try: got %zu pages from the cache", n);
	LK_CHECK(errno == EAGAIN, "try on empty cache: errno %d", errno);

	errno = 0;
	p = pp_alloc_page(PP_NOWAIT);
	LK_CHECK(!p && errno == EAGAIN,
		 "NOWAIT, empty cache, lock busy: %p errno %d", p, errno);
	/* Orders 1 and 3 were never used (empty caches), 4 and 5 are not
	 * cached; order 2's cache may hold blocks from blk2's refill. */
	for (unsigned k = 1; k <= PP_CACHE_ORDERS + 1; k++) {
		if (k == 2)
			continue;
		errno = 0;
		p = pp_alloc_pages(k, PP_NOWAIT);
		LK_CHECK(!p && errno == EAGAIN,
			 "NOWAIT order %u, lock busy: %p errno %d", k, p, errno);
	}
	LK_CHECK(pp_alloc_pages_bulk(PP_NOWAIT, 8, bulk) == 0 && !bulk[0],
		 "NOWAIT bulk with lock busy filled slots");

	/* Frees: back to the cache up to high, the rest to the pending list. */
	for (size_t i = 0; i < n; i++)
		pp_free_page(got[i]);
	for (size_t i = 0; i < EXTRA / 2; i++)
		pp_free_page(extra[i]);
	pp_free_pages_bulk(EXTRA - EXTRA / 2, &extra[EXTRA / 2]);
	pp_free_pages(blk2, 2);
	join(spawn(cacheless_freer, &job));

	p = pp_alloc_page_try();
	LK_CHECK(p != NULL, "try after frees found the cache empty");
	pp_free_page(p);

	release_lock(&holder);
#undef LK_CHECK
	ck_assert_msg(!fail[0], "%s", fail);

	s1 = get_stats();
	ck_assert_uint_gt(s1.trylock_fails, s0.trylock_fails);
	ck_assert_uint_gt(s1.pending_frees, s0.pending_frees);
	ck_assert_uint_eq(s1.in_use, 0);
	check_conservation();

	/* Whoever holds the lock next absorbs the pending list. */
	pp_thread_drain();
	s1 = get_stats();
	ck_assert_uint_eq(s1.pending, 0);
	ck_assert_uint_eq(s1.cached, 0);
	check_conservation();

	/* The pages handed over are usable again. */
	for (size_t i = 0; i < EXTRA; i++)
		ck_assert_ptr_nonnull(extra[i] = pp_alloc_page(0));
	for (size_t i = 0; i < EXTRA; i++)
		pp_free_page(extra[i]);
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
	tcase_add_test(tc, test_no_syscall_workload_counters);
	tcase_add_test(tc, test_no_block_while_locked);
}
