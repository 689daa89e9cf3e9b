/* SPDX-License-Identifier: MIT */
/*
 * test_tcache.c - the per-thread cache layer: PP_TRY, the high/batch marks,
 * pp_thread_drain(), "no system call" on the lock-free paths (proved with
 * strict seccomp), progress while another thread holds the global lock, and
 * re-entrancy from a signal handler.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <linux/seccomp.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* ---- PP_TRY on an empty cache ------------------------------------------ */

/* A new thread: its cache starts empty even when another thread's is full. */
static void *fresh_thread_try(void *arg)
{
	intptr_t bad = 0;
	void *p, *q;

	(void)arg;
	errno = 0;
	if (pp_alloc_page_try() != NULL || errno != EAGAIN)
		bad |= 1;
	for (unsigned k = 0; k < PP_CACHE_ORDERS; k++) {
		errno = 0;
		if (pp_alloc_pages(k, PP_TRY) != NULL || errno != EAGAIN)
			bad |= 2;
	}
	p = pp_alloc_page(0);
	if (!p)
		return (void *)(intptr_t)4;
	pp_free_page(p);
	q = pp_alloc_page_try();	/* the refill and the free filled it */
	if (!q)
		bad |= 8;
	pp_free_page(q);
	return (void *)bad;
}

START_TEST(test_try_starts_empty)
{
	enum { MAX = 128 };
	void *pg[MAX], *p;
	size_t n = 0;
	intptr_t r;

	ck_assert_int_eq(pp_configure("high=64,batch=16"), 0);

	/* Main thread, nothing allocated yet. */
	errno = 0;
	ck_assert_ptr_null(pp_alloc_page_try());
	ck_assert_int_eq(errno, EAGAIN);
	for (unsigned k = 0; k < PP_CACHE_ORDERS; k++) {
		errno = 0;
		ck_assert_ptr_null(pp_alloc_pages(k, PP_TRY));
		ck_assert_int_eq(errno, EAGAIN);
	}
	errno = 0;
	ck_assert_ptr_null(pp_alloc_page(PP_TRY));
	ck_assert_int_eq(errno, EAGAIN);

	p = pp_alloc_page(0);
	ck_assert_ptr_nonnull(p);
	ck_assert(block_aligned(p, 0));
	pp_free_page(p);

	/* Our cache is full now; a new thread's is still empty. */
	r = (intptr_t)join(spawn(fresh_thread_try, NULL));
	ck_assert_msg(r == 0, "new thread: bad try result (mask %ld)", (long)r);

	/* The refill brought a batch (16), the free one more; high is 64. */
	errno = 0;
	while (n < MAX && (pg[n] = pp_alloc_page_try()) != NULL) {
		ck_assert_msg(block_aligned(pg[n], 0), "try page %p misaligned",
			      pg[n]);
		tag_block(pg[n], 0, 0x7e570000u + n);
		n++;
	}
	ck_assert_uint_lt(n, MAX);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_uint_ge(n, 16);
	ck_assert_uint_le(n, 64);
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(tag_ok(pg[i], 0, 0x7e570000u + i),
			      "page %p handed out twice", pg[i]);
		for (size_t j = 0; j < i; j++)
			ck_assert_ptr_ne(pg[i], pg[j]);
	}
	for (size_t i = 0; i < n; i++)
		pp_free_page(pg[i]);
	check_conservation();
}
END_TEST

/* ---- high / batch ------------------------------------------------------ */

static size_t cache_pages(const struct pp_stats *s)
{
	ck_assert_uint_ge(s->cached, s->cache_meta);
	return s->cached - s->cache_meta;
}

START_TEST(test_high_batch_marks)
{
	enum { N = 400, HIGH = 64, BATCH = 16 };
	static void *pg[N];
	struct pp_stats s0, s1, s2, s;
	size_t refills, drains;

	ck_assert_int_eq(pp_configure("high=64,batch=16"), 0);
	s0 = get_stats();
	for (size_t i = 0; i < N; i++) {
		pg[i] = pp_alloc_page(0);
		ck_assert_ptr_nonnull(pg[i]);
		ck_assert(block_aligned(pg[i], 0));
		tag_block(pg[i], 0, i);
		s = get_stats();
		ck_assert_uint_le(cache_pages(&s), HIGH);
	}
	s1 = get_stats();
	refills = s1.refills - s0.refills;
	/* Batched: not one lock hold per page, and no refill beyond high. */
	ck_assert_msg(refills >= N / (HIGH + 1) && refills <= N / (BATCH / 2) + 2,
		      "%zu refills for %d allocations (batch %d)", refills, N,
		      BATCH);
	ck_assert_uint_eq(s1.in_use, N);

	for (size_t i = 0; i < N; i++) {
		ck_assert_msg(tag_ok(pg[i], 0, i), "page %p handed out twice",
			      pg[i]);
		pp_free_page(pg[i]);
		s = get_stats();
		ck_assert_msg(cache_pages(&s) <= HIGH,
			      "%zu pages cached after %zu frees (high %d)",
			      cache_pages(&s), i + 1, HIGH);
	}
	s2 = get_stats();
	drains = s2.drains - s1.drains;
	ck_assert_msg(drains >= (N - HIGH) / (HIGH + 1) &&
		      drains <= (N + HIGH) / (BATCH / 2) + 2,
		      "%zu drains for %d frees (high %d, batch %d)", drains, N,
		      HIGH, BATCH);
	ck_assert_uint_gt(cache_pages(&s2), 0);	/* frees do go to the cache */
	ck_assert_uint_eq(s2.in_use, 0);
	ck_assert_uint_eq(s2.pending, 0);
	check_conservation();
}
END_TEST

/* White-box: this thread's cache keeps count <= high <= high_max per order. */
static void check_marks(void)
{
	const struct pp_tcache *tc = pp_tls.tc;

	if (!tc)
		return;
	for (unsigned k = 0; k < PP_CACHE_ORDERS; k++) {
		ck_assert_msg(tc->count[k] <= tc->high[k] && tc->high[k] <= tc->high_max[k] &&
			      tc->high_min[k] <= tc->high[k],
			      "order %u: count %u, high %u (min %u, max %u)", k, tc->count[k],
			      tc->high[k], tc->high_min[k], tc->high_max[k]);
	}
}

/*
 * Rounds of @round allocations then @round frees, @rounds times; return the
 * refills plus drains of the last round and check that the cache never
 * holds more than @most pages.
 */
static size_t burst_rounds(size_t round, size_t rounds, size_t most)
{
	static void *pg[1024];
	struct pp_stats s0, s;

	ck_assert_uint_le(round, 1024);
	s0 = get_stats();
	for (size_t r = 0; r < rounds; r++) {
		s0 = get_stats();
		for (size_t i = 0; i < round; i++) {
			pg[i] = pp_alloc_page(0);
			ck_assert_ptr_nonnull(pg[i]);
			tag_block(pg[i], 0, i);
			check_marks();
		}
		for (size_t i = 0; i < round; i++) {
			ck_assert_msg(tag_ok(pg[i], 0, i), "page %p handed out twice", pg[i]);
			pp_free_page(pg[i]);
			check_marks();
			s = get_stats();
			ck_assert_msg(cache_pages(&s) <= most,
				      "%zu pages cached, more than %zu", cache_pages(&s), most);
		}
	}
	s = get_stats();
	ck_assert_uint_eq(s.in_use, 0);
	check_conservation();
	return (s.refills - s0.refills) + (s.drains - s0.drains);
}

/* A burst larger than the cache: it grows until a round takes no lock. */
START_TEST(test_high_grows)
{
	size_t slow;

	ck_assert_int_eq(pp_configure("high=64,batch=16,high_max=256"), 0);
	slow = burst_rounds(200, 30, 256);
	ck_assert_msg(slow == 0, "round 30 of 200 pages still refilled or drained %zu times "
		      "(high=64, high_max=256)", slow);
}
END_TEST

/* Control: high_max no larger than high fixes the mark. */
START_TEST(test_high_fixed)
{
	size_t slow;

	ck_assert_int_eq(pp_configure("high=64,batch=16,high_max=64"), 0);
	slow = burst_rounds(200, 30, 64);
	ck_assert_msg(slow >= 2, "a fixed mark of 64 served 200-page rounds with %zu "
		      "refills and drains", slow);
}
END_TEST

static void *alloc_many(void *arg)
{
	void **pg = arg;

	for (size_t i = 0; i < 1024; i++)
		if (!(pg[i] = pp_alloc_page(0)))
			return (void *)1;
	return NULL;
}

/* A grown cache that then only frees gives the growth back. */
START_TEST(test_high_shrinks)
{
	static void *pg[1024];
	struct pp_stats s;
	pthread_t t;
	void *ret;

	ck_assert_int_eq(pp_configure("high=64,batch=16,high_max=256"), 0);
	ck_assert_uint_eq(burst_rounds(200, 30, 256), 0);
	s = get_stats();
	ck_assert_msg(cache_pages(&s) > 64, "the grown cache holds %zu pages", cache_pages(&s));
	/* Pages made on another thread, freed here: drains and no refill. */
	ck_assert_int_eq(pthread_create(&t, NULL, alloc_many, pg), 0);
	ck_assert_int_eq(pthread_join(t, &ret), 0);
	ck_assert_ptr_null(ret);
	for (size_t i = 0; i < 1024; i++) {
		pp_free_page(pg[i]);
		check_marks();
	}
	s = get_stats();
	ck_assert_msg(cache_pages(&s) <= 64, "after 1024 frees and no refill the cache "
		      "still holds %zu pages (high=64)", cache_pages(&s));
	ck_assert_uint_eq(s.in_use, 0);
	check_conservation();
}
END_TEST

/* ---- pp_thread_drain() ------------------------------------------------- */

START_TEST(test_thread_drain)
{
	enum { N = 100 };
	void *pg[N], *blk[PP_CACHE_ORDERS];
	struct pp_stats s;

	ck_assert_int_eq(pp_configure("high=64,batch=16"), 0);
	for (size_t i = 0; i < N; i++)
		ck_assert_ptr_nonnull(pg[i] = pp_alloc_page(0));
	for (unsigned k = 1; k < PP_CACHE_ORDERS; k++) {
		blk[k] = pp_alloc_pages(k, 0);
		ck_assert_ptr_nonnull(blk[k]);
		ck_assert(block_aligned(blk[k], k));
	}
	for (size_t i = 0; i < N; i++)
		pp_free_page(pg[i]);
	for (unsigned k = 1; k < PP_CACHE_ORDERS; k++)
		pp_free_pages(blk[k], k);

	s = get_stats();
	ck_assert_uint_gt(s.cache_meta, 0);
	ck_assert_uint_gt(s.cached, s.cache_meta);
	ck_assert_uint_eq(s.threads, 1);
	check_conservation();

	pp_thread_drain();
	s = get_stats();
	ck_assert_uint_eq(s.cached, 0);
	ck_assert_uint_eq(s.cache_meta, 0);
	ck_assert_uint_eq(s.threads, 0);
	ck_assert_uint_eq(s.in_use, 0);
	ck_assert_uint_eq(s.free + s.reserved, s.committed);
	check_conservation();

	errno = 0;
	ck_assert_ptr_null(pp_alloc_page_try());	/* the cache is gone */
	ck_assert_int_eq(errno, EAGAIN);

	/* The next allocation makes a new cache; draining twice is harmless. */
	pg[0] = pp_alloc_page(0);
	ck_assert_ptr_nonnull(pg[0]);
	pp_free_page(pg[0]);
	s = get_stats();
	ck_assert_uint_eq(s.threads, 1);
	ck_assert_uint_gt(s.cached, s.cache_meta);
	pp_thread_drain();
	pp_thread_drain();
	s = get_stats();
	ck_assert_uint_eq(s.cached, 0);
	ck_assert_uint_eq(s.threads, 0);
	check_conservation();
}
END_TEST

/* ---- no system call: strict seccomp ------------------------------------ */

/*
 * Strict seccomp, NS_FAIL and sys_exit(): checkutil.h.
 *
 * Not under ThreadSanitizer: its runtime restarts a background thread in a
 * fork child, and strict seccomp and SYS_exit act on one thread only, so the
 * child never ends (waitpid hangs).  The normal and ASan builds run these.
 */

#define NS_CONF   "high=32,batch=8"
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

/* Fork a child that warms up, enters strict seccomp and runs ns_run(). */
static int nosys_child_status(bool violate)
{
	int status = 0;
	pid_t pid;

	ck_assert_int_eq(pp_configure(NS_CONF), 0);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (ns_warm() != 0)
			sys_exit(2);
		if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0) != 0)
			sys_exit(3);
		if (violate)
			syscall(SYS_getpid);
		sys_exit(ns_run());
	}
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

/* ---- signal storm ------------------------------------------------------ */

/*
 * The handler runs on the main test thread only, so plain volatile is enough
 * for the state it shares with that thread.
 */
#define H_SLOTS 32
static void *volatile h_slot[H_SLOTS];
static volatile uint64_t h_slot_tag[H_SLOTS];
static volatile uint64_t h_seq;
static volatile unsigned long h_calls, h_inside, h_got, h_bad_errno, h_bad_page;
static volatile int main_in_pp;		/* the main loop is inside a pp call */

static atomic_bool storm_stop;
static atomic_ulong storm_sent;
static pthread_t storm_target;

static void h_take(void *p)
{
	uint64_t tag = (++h_seq << 1) | 1;	/* odd: the handler's */

	h_got++;
	if (!block_aligned(p, 0)) {
		h_bad_page++;
		return;
	}
	tag_block(p, 0, tag);
	if (h_calls % 4 == 0) {
		for (size_t i = 0; i < H_SLOTS; i++) {
			if (!h_slot[i]) {
				h_slot_tag[i] = tag;
				h_slot[i] = p;
				return;
			}
		}
	}
	if (!tag_ok(p, 0, tag))
		h_bad_page++;
	pp_free_page(p);
}

static void on_sigusr1(int sig)
{
	int saved = errno;
	void *p;

	(void)sig;
	h_calls++;
	if (main_in_pp)
		h_inside++;
	errno = 0;
	p = pp_alloc_page_try();
	if (p)
		h_take(p);
	else if (errno != EAGAIN)
		h_bad_errno++;
	errno = 0;
	p = pp_alloc_page(PP_NOWAIT);
	if (p)
		h_take(p);
	else if (errno != EAGAIN)
		h_bad_errno++;
	if (h_calls % 16 == 0) {
		/* Flags 0 in a handler that interrupted pagepool degrades to
		 * PP_NOWAIT; otherwise it cannot fail (no cap). */
		errno = 0;
		p = pp_alloc_page(0);
		if (p)
			h_take(p);
		else if (errno != EAGAIN || !main_in_pp)
			h_bad_errno++;
	}
	errno = saved;
}

static void *storm(void *arg)
{
	(void)arg;
	while (!atomic_load(&storm_stop)) {
		pthread_kill(storm_target, SIGUSR1);
		atomic_fetch_add(&storm_sent, 1);
		usleep(20);	/* thousands a second, not a livelock */
	}
	return NULL;
}

struct held {
	void *p;
	unsigned order;
	uint64_t tag;
};

#define PP_CALL(expr) (main_in_pp = 1, (expr)); main_in_pp = 0

START_TEST(test_signal_storm)
{
	enum { RING = 64, NBULK = 16, NBURST = 16, MIN_IT = 20000,
	       MIN_SIG = 3000, MIN_INSIDE = 2000,
	       /*
		* At least this many must land inside a call, or the test proved
		* nothing.  A quiet machine reaches MIN_INSIDE in seconds; on this
		* project's 2-vCPU VM under load (distcheck beside other builds)
		* 45 to 150 in 45 s were seen: signals reach the thread late.
		*/
	       MIN_FLOOR = 10 };
	static struct held ring[RING];
	static void *bulk[NBULK];
	struct sigaction sa;
	uint64_t seq = 0;
	size_t pos = 0, bad_errno = 0, burst_bad = 0;
	unsigned long it;
	pthread_t st;
	double t0 = now_sec();

	ck_assert_int_eq(pp_configure("high=32,batch=8"), 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigusr1;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	storm_target = pthread_self();
	st = spawn(storm, NULL);

	/*
	 * Until enough signals landed inside pagepool calls; after 20 s, once
	 * the floor asserted below is reached; at most 45 s.  On a loaded
	 * machine (make -j check beside the shim's real-program tests) most
	 * signals land when this thread is scheduled back in, outside a call.
	 */
	for (it = 0;; it++) {
		unsigned op = it % 9, order = 0, flags = 0;
		void *p = NULL;
		int err;
		double t;

		if (it >= MIN_IT && (it & 255) == 0) {
			t = now_sec() - t0;
			if ((h_calls >= MIN_SIG && h_inside >= MIN_INSIDE) ||
			    (t > 20 && h_inside >= MIN_FLOOR) || t > 45)
				break;
		}
		if (op == 0) {
			/* A burst of cache pops and pushes, so that many signals
			 * land inside them; in one round of 8 each page is
			 * tagged while held (tagging a page takes far longer
			 * than the calls, and signals landing there are wasted). */
			void *q[NBURST];

			main_in_pp = 1;
			for (unsigned r = 0; r < 32; r++) {
				bool tag = r % 8 == 0;

				for (size_t j = 0; j < NBURST; j++) {
					q[j] = pp_alloc_page_try();
					if (q[j] && tag)
						tag_block(q[j], 0, 0xb0b0 + 2 * j);
				}
				for (size_t j = 0; j < NBURST; j++) {
					if (q[j] && tag && !tag_ok(q[j], 0, 0xb0b0 + 2 * j))
						burst_bad++;
					pp_free_page(q[j]);
				}
			}
			main_in_pp = 0;
		}
		if (op == 8) {
			size_t n;

			flags = (it & 16) ? PP_NOWAIT : 0;
			memset(bulk, 0, sizeof(bulk));
			n = PP_CALL(pp_alloc_pages_bulk(flags, NBULK, bulk));
			for (size_t i = 0; i < NBULK; i++) {
				ck_assert_msg((i < n) == (bulk[i] != NULL),
					      "bulk: %zu filled, slot %zu wrong", n, i);
				if (bulk[i]) {
					ck_assert(block_aligned(bulk[i], 0));
					tag_block(bulk[i], 0, (uint64_t)i << 1);
				}
			}
			for (size_t i = 0; i < n; i++)
				ck_assert_msg(tag_ok(bulk[i], 0, (uint64_t)i << 1),
					      "bulk page %p handed out twice",
					      bulk[i]);
			PP_CALL(pp_free_pages_bulk(NBULK, bulk));
			continue;
		}
		errno = 0;
		switch (op) {
		case 0:
			p = PP_CALL(pp_alloc_page_try());
			break;
		case 1:
			flags = PP_NOWAIT;
			p = PP_CALL(pp_alloc_page(flags));
			break;
		case 2:
			p = PP_CALL(pp_alloc_page(0));
			break;
		default:	/* 3..7: orders 0..3 with flags 0, 3 with NOWAIT */
			order = (op - 3) % PP_CACHE_ORDERS;
			flags = (op == 7 ? PP_NOWAIT : 0) | ((it & 32) ? PP_ZERO : 0);
			p = PP_CALL(pp_alloc_pages(order, flags));
			break;
		}
		err = errno;
		if (!p) {
			/* Only PP_TRY and PP_NOWAIT may fail (no cap). */
			ck_assert_msg(op == 0 || (flags & PP_NOWAIT),
				      "op %u (flags %#x order %u) failed, errno %d",
				      op, flags, order, err);
			if (err != EAGAIN)
				bad_errno++;
			continue;
		}
		ck_assert_msg(block_aligned(p, order), "%p misaligned for order %u",
			      p, order);
		if (flags & PP_ZERO)
			ck_assert_msg(all_zero(p, pp_page_size() << order),
				      "PP_ZERO block %p not zero", p);
		if (ring[pos].p) {
			struct held *h = &ring[pos];

			ck_assert_msg(tag_ok(h->p, h->order, h->tag),
				      "block %p (order %u) handed out twice",
				      h->p, h->order);
			PP_CALL(pp_free_pages(h->p, h->order));
		}
		ring[pos].p = p;
		ring[pos].order = order;
		ring[pos].tag = ++seq << 1;	/* even: the main loop's */
		tag_block(p, order, ring[pos].tag);
		pos = (pos + 1) % RING;
	}

	atomic_store(&storm_stop, true);
	join(st);
	signal(SIGUSR1, SIG_IGN);

	ck_assert_uint_eq(bad_errno, 0);
	ck_assert_msg(burst_bad == 0, "%zu pages handed out twice", burst_bad);
	ck_assert_uint_eq(h_bad_errno, 0);
	ck_assert_uint_eq(h_bad_page, 0);
	for (size_t i = 0; i < RING; i++) {
		if (!ring[i].p)
			continue;
		ck_assert_msg(tag_ok(ring[i].p, ring[i].order, ring[i].tag),
			      "block %p handed out twice", ring[i].p);
		pp_free_pages(ring[i].p, ring[i].order);
	}
	for (size_t i = 0; i < H_SLOTS; i++) {
		if (!h_slot[i])
			continue;
		ck_assert_msg(tag_ok(h_slot[i], 0, h_slot_tag[i]),
			      "page %p kept by the handler was handed out again",
			      h_slot[i]);
		pp_free_page(h_slot[i]);
	}
	ck_assert_msg(h_calls >= 1000, "only %lu signals handled (%lu sent)",
		      h_calls, atomic_load(&storm_sent));
	if (getenv("PP_TEST_VERBOSE"))
		fprintf(stderr, "signal storm: %lu handled, %lu inside a call, %lu iterations\n",
			h_calls, h_inside, it);
	ck_assert_msg(h_inside >= MIN_FLOOR, "only %lu signals interrupted a "
		      "pagepool call (%lu handled)", h_inside, h_calls);
	ck_assert_uint_gt(h_got, 0);
	ck_assert_uint_eq(get_stats().in_use, 0);
	check_conservation();
}
END_TEST

static Suite *tcache_suite(void)
{
	Suite *s = suite_create("tcache");
	TCase *tc = new_tcase("tcache");

	tcase_add_test(tc, test_try_starts_empty);
	tcase_add_test(tc, test_high_batch_marks);
	tcase_add_test(tc, test_high_grows);
	tcase_add_test(tc, test_high_fixed);
	tcase_add_test(tc, test_high_shrinks);
	tcase_add_test(tc, test_thread_drain);
	if (!PP_TEST_TSAN) {
		tcase_add_test(tc, test_no_syscall_strict_seccomp);
		tcase_add_test(tc, test_no_syscall_harness_catches_violation);
	}
	tcase_add_test(tc, test_no_syscall_workload_counters);
	tcase_add_test(tc, test_no_block_while_locked);
	tcase_add_test(tc, test_signal_storm);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(tcache_suite());
}
