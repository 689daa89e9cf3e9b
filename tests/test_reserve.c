/* SPDX-License-Identifier: MIT */
/*
 * test_reserve.c - reserves (pagepool/reserve.h): they serve min_pages
 * pages when the pool is at its cap and are topped up by pp_reserve_free();
 * taking from one makes no system call (strict seccomp) and takes no lock
 * (another thread holds the global lock); flags 0 blocks until a page is
 * freed; resize, destroy and stats.reserved are exact; four threads share
 * one reserve without a page handed out twice; bad input is reported.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <linux/seccomp.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "testutil.h"
#include "pagepool/reserve.h"	/* also included by pagepool.h */

#define CAP_CONF "cap=4M"
#define CAP_PAGES ((size_t)(4u << 20) / pp_page_size())

/* Allocate with flags 0 until the cap refuses (no Check calls: children use it). */
static size_t exhaust(void **v, size_t max)
{
	size_t n = 0;

	while (n < max && (v[n] = pp_alloc_page(0)) != NULL) {
		tag_block(v[n], 0, 0xca900000u + n);
		n++;
	}
	return n;
}

static void **exhaust_checked(size_t *n)
{
	size_t max = CAP_PAGES + 1;
	void **v = calloc(max, sizeof(*v));

	ck_assert_ptr_nonnull(v);
	errno = 0;
	*n = exhaust(v, max);
	ck_assert_uint_lt(*n, max);
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_uint_gt(*n, 0);
	return v;
}

static void release_all(void **v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(tag_ok(v[i], 0, 0xca900000u + i), "pool page %p handed out twice",
			      v[i]);
		pp_free_page(v[i]);
	}
	free(v);
}

/* ---- cap reached: the reserve serves, then is topped up again ----------- */

START_TEST(test_cap_reserve_serves)
{
	enum { MIN = 16 };
	static const unsigned fl[] = { 0, PP_NOWAIT, PP_TRY, PP_ZERO,
				       PP_NOWAIT | PP_ZERO, PP_TRY | PP_ZERO };
	struct pp_reserve *r;
	void *got[MIN], **v, *q[3];
	struct pp_stats s, s0;
	size_t n;

	ck_assert_int_eq(pp_configure(CAP_CONF), 0);
	r = pp_reserve_create(MIN);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(get_stats().reserved, MIN);
	check_conservation();
	v = exhaust_checked(&n);
	errno = 0;
	ck_assert_ptr_null(pp_alloc_page(0));
	ck_assert_int_eq(errno, ENOMEM);
	s0 = get_stats();
	ck_assert_uint_eq(s0.free, 0);
	ck_assert_uint_eq(s0.reserved, MIN);
	check_conservation();

	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < MIN; i++) {
			unsigned f = fl[i % 6];

			got[i] = pp_reserve_alloc(r, f);
			ck_assert_msg(got[i] != NULL, "round %d: reserve page %zu (flags %#x) "
				      "not served, errno %d", round, i, f, errno);
			ck_assert(block_aligned(got[i], 0));
			if (f & PP_ZERO)
				ck_assert_msg(all_zero(got[i], ps()), "PP_ZERO page %p not zero", got[i]);
			tag_block(got[i], 0, 0x7e5e0000u + i);
			ck_assert_uint_eq(get_stats().reserved, MIN - i - 1);
		}
		check_conservation();
		errno = 0;
		ck_assert_ptr_null(pp_reserve_alloc(r, PP_NOWAIT));
		ck_assert_int_eq(errno, EAGAIN);
		errno = 0;
		ck_assert_ptr_null(pp_reserve_alloc(r, PP_TRY));
		ck_assert_int_eq(errno, EAGAIN);
		for (size_t i = 0; i < MIN; i++) {
			ck_assert_msg(tag_ok(got[i], 0, 0x7e5e0000u + i),
				      "reserve page %p handed out twice", got[i]);
			pp_reserve_free(r, got[i]);
			s = get_stats();
			ck_assert_uint_eq(s.reserved, i + 1);
			ck_assert_uint_eq(s.in_use, s0.in_use + MIN - i - 1);
		}
		check_conservation();
	}

	/* Full: a further free goes to the pool, where plain allocation finds it. */
	pp_reserve_free(r, v[--n]);
	s = get_stats();
	ck_assert_uint_eq(s.reserved, MIN);
	ck_assert_uint_eq(s.in_use, s0.in_use - 1);
	q[0] = pp_alloc_page(0);
	ck_assert_ptr_nonnull(q[0]);
	check_conservation();

	/* A reserve page may be freed with pp_free_page(): no top-up then. */
	q[1] = pp_reserve_alloc(r, PP_NOWAIT);
	ck_assert_ptr_nonnull(q[1]);
	pp_free_page(q[1]);
	s = get_stats();
	ck_assert_uint_eq(s.reserved, MIN - 1);
	check_conservation();
	q[1] = pp_alloc_page(0);	/* it went to this thread's cache */
	ck_assert_ptr_nonnull(q[1]);

	/* Growing fails all or nothing; so does a create that cannot fill. */
	pp_free_page(q[0]);
	pp_free_page(q[1]);
	q[2] = v[--n];
	pp_free_page(q[2]);		/* three pages free in the pool */
	s0 = get_stats();
	errno = 0;
	ck_assert_int_eq(pp_reserve_resize(r, MIN + 8), -1);
	ck_assert_int_eq(errno, ENOMEM);
	s = get_stats();
	ck_assert_uint_eq(s.reserved, MIN - 1);
	ck_assert_uint_eq(s.in_use, s0.in_use);
	ck_assert_uint_eq(s.free + s.cached, s0.free + s0.cached);
	check_conservation();
	errno = 0;
	ck_assert_ptr_null(pp_reserve_create(8));
	ck_assert_int_eq(errno, ENOMEM);
	s = get_stats();
	ck_assert_uint_eq(s.reserved, MIN - 1);
	ck_assert_uint_eq(s.in_use, s0.in_use);
	check_conservation();

	pp_reserve_destroy(r);
	release_all(v, n);
	s = get_stats();
	ck_assert_uint_eq(s.reserved, 0);
	ck_assert_uint_eq(s.in_use, 0);
	check_conservation();
}
END_TEST

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

static int nosys_child_status(bool violate)
{
	static void *v[1 << 16];
	int status = 0;
	pid_t pid;

	ck_assert_int_eq(pp_configure(CAP_CONF), 0);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct pp_reserve *r = pp_reserve_create(NS_MIN);
		size_t n;

		if (!r)
			sys_exit(2);
		n = exhaust(v, sizeof(v) / sizeof(v[0]));
		if (n < 2 || pp_alloc_page(0))
			sys_exit(2);
		if (ns_round(r, v[n - 1]) != 0)		/* warm: lazy binding */
			sys_exit(2);
		if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0) != 0)
			sys_exit(3);
		if (violate)
			syscall(SYS_getpid);
		for (int i = 0; i < 20; i++)
			if (ns_round(r, v[n - 1]) != 0)
				sys_exit(1);
		sys_exit(0);
	}
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

/* ---- flags 0 on an empty reserve waits for a free -------------------- */

struct late_free {
	struct pp_reserve *r;
	void *page;
	bool to_pool;		/* pp_free_page() and exit (the cache drains) */
	double at;		/* when the free began */
};

static void *late_freer(void *arg)
{
	struct late_free *f = arg;

	usleep(300 * 1000);
	f->at = now_sec();	/* read after the join */
	if (f->to_pool)
		pp_free_page(f->page);
	else
		pp_reserve_free(f->r, f->page);
	return NULL;
}

START_TEST(test_alloc_waits_for_free)
{
	struct pp_reserve *r;
	void **v, *a, *b, *p;
	struct late_free f;
	size_t n;
	double t0, t1;

	ck_assert_int_eq(pp_configure(CAP_CONF), 0);
	r = pp_reserve_create(2);
	ck_assert_ptr_nonnull(r);
	v = exhaust_checked(&n);
	a = pp_reserve_alloc(r, PP_NOWAIT);
	b = pp_reserve_alloc(r, PP_NOWAIT);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_null(pp_reserve_alloc(r, PP_NOWAIT));

	for (int k = 0; k < 2; k++) {
		f = (struct late_free){ .r = r, .page = k ? b : a, .to_pool = k == 1 };
		pthread_t t = spawn(late_freer, &f);

		t0 = now_sec();
		p = pp_reserve_alloc(r, 0);
		t1 = now_sec();
		join(t);
		ck_assert_msg(p == f.page, "%s: got %p, the freed page was %p",
			      k ? "pool" : "reserve", p, f.page);
		ck_assert_msg(t1 - t0 >= 0.25, "%s: returned after %.3f s, before the free",
			      k ? "pool" : "reserve", t1 - t0);
		ck_assert_msg(t1 >= f.at, "returned before the free began");
		ck_assert_msg(t1 - f.at < 5.0, "woke %.2f s after the free", t1 - f.at);
		ck_assert_uint_eq(get_stats().reserved, 0);
		check_conservation();
	}
	pp_reserve_free(r, a);
	pp_reserve_free(r, b);
	ck_assert_uint_eq(get_stats().reserved, 2);
	pp_reserve_destroy(r);
	release_all(v, n);
	ck_assert_uint_eq(get_stats().in_use, 0);
	check_conservation();
}
END_TEST

/* ---- PP_TRY / PP_NOWAIT on an empty reserve ------------------------------ */

START_TEST(test_try_nowait_empty)
{
	struct pp_reserve *r;
	void *a, *b, *p, **v;
	size_t n;

	ck_assert_int_eq(pp_configure(CAP_CONF), 0);
	r = pp_reserve_create(2);
	ck_assert_ptr_nonnull(r);
	pp_thread_drain();
	errno = 1234;
	a = pp_reserve_alloc(r, PP_TRY);	/* no cache: from the reserve */
	b = pp_reserve_alloc(r, PP_TRY | PP_ZERO);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(errno, 1234);		/* untouched on success */
	ck_assert(all_zero(b, ps()));
	ck_assert_uint_eq(get_stats().reserved, 0);

	/* Free pages on the global lists: PP_TRY does not trylock, NOWAIT does. */
	ck_assert_uint_gt(get_stats().free, 0);
	errno = 0;
	ck_assert_ptr_null(pp_reserve_alloc(r, PP_TRY));
	ck_assert_int_eq(errno, EAGAIN);
	p = pp_reserve_alloc(r, PP_NOWAIT);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(get_stats().reserved, 0);
	pp_free_page(p);

	/* Cap reached: nothing anywhere. */
	v = exhaust_checked(&n);
	for (unsigned f = 0; f < 4; f++) {
		unsigned flags = (f & 1 ? PP_TRY : PP_NOWAIT) | (f & 2 ? PP_ZERO : 0);

		errno = 0;
		p = pp_reserve_alloc(r, flags);
		ck_assert_msg(!p && errno == EAGAIN, "flags %#x: %p errno %d", flags, p, errno);
	}
	check_conservation();
	pp_reserve_free(r, a);
	pp_reserve_free(r, b);
	ck_assert_uint_eq(get_stats().reserved, 2);
	pp_reserve_destroy(r);
	release_all(v, n);
	check_conservation();
}
END_TEST

/* ---- resize, destroy, stats ------------------------------------------- */

static void expect_counts(size_t reserved, size_t in_use)
{
	struct pp_stats s = get_stats();

	ck_assert_uint_eq(s.reserved, reserved);
	ck_assert_uint_eq(s.in_use, in_use);
	check_conservation();
}

START_TEST(test_resize_destroy_stats)
{
	const size_t chunk0 = ps() / 16, big = 3 * chunk0;	/* slots in the struct's page */
	struct pp_reserve *r, *r2;
	void *got[3];

	r = pp_reserve_create(4);
	ck_assert_ptr_nonnull(r);
	expect_counts(4, 1);			/* its own page is in use */
	ck_assert_int_eq(pp_reserve_resize(r, 10), 0);
	expect_counts(10, 1);
	pp_thread_drain();
	for (size_t i = 0; i < 3; i++)
		ck_assert_ptr_nonnull(got[i] = pp_reserve_alloc(r, PP_TRY));
	expect_counts(7, 4);
	ck_assert_int_eq(pp_reserve_resize(r, 5), 0);	/* 2 of the 7 go back */
	expect_counts(5, 4);
	for (size_t i = 0; i < 3; i++)
		pp_reserve_free(r, got[i]);	/* full: all three to the pool */
	expect_counts(5, 1);
	ck_assert_int_eq(pp_reserve_resize(r, 2), 0);
	expect_counts(2, 1);
	ck_assert_int_eq(pp_reserve_resize(r, 2), 0);
	expect_counts(2, 1);
	pp_thread_drain();
	ck_assert_ptr_nonnull(got[0] = pp_reserve_alloc(r, PP_TRY));
	expect_counts(1, 2);
	ck_assert_int_eq(pp_reserve_resize(r, 4), 0);	/* filled to 4, as mempool */
	expect_counts(4, 2);
	pp_reserve_free(r, got[0]);		/* full: to the pool */
	expect_counts(4, 1);
	ck_assert_int_eq(pp_reserve_resize(r, big), 0);	/* a second slot chunk */
	expect_counts(big, 2);
	ck_assert_int_eq(pp_reserve_resize(r, 1), 0);
	expect_counts(1, 2);			/* slot chunks stay until destroy */
	ck_assert_int_eq(pp_reserve_resize(r, big), 0);	/* and are used again */
	expect_counts(big, 2);

	r2 = pp_reserve_create(3);
	ck_assert_ptr_nonnull(r2);
	expect_counts(big + 3, 3);
	pp_reserve_destroy(r);
	expect_counts(3, 1);
	pp_reserve_destroy(r2);
	pp_reserve_destroy(NULL);
	expect_counts(0, 0);
}
END_TEST

/* ---- four threads, one reserve, cap reached -------------------------- */

enum { TH = 4, TH_MIN = 32, TH_HOLD = 12, TH_OPS = 20000 };

static struct pp_reserve *th_res;
static _Atomic unsigned char *th_owner;	/* per page index: handed out now */

struct th_result {
	size_t twice, bad_tag, bad_errno, null0, served;
};

static bool th_take(void *p)
{
	return atomic_exchange(&th_owner[pp_index(p)], 1) == 0;
}

static void *th_worker(void *arg)
{
	struct th_result *res = arg;
	uint64_t seed = 0x9e3779b97f4a7c15ull ^ (uintptr_t)arg, tags[TH_HOLD];
	void *held[TH_HOLD];
	size_t nh = 0;

	for (size_t op = 0; op < TH_OPS || nh; op++) {
		uint64_t x = rnd(&seed);

		if (op < TH_OPS && nh < TH_HOLD && (x & 3) != 0) {
			unsigned flags = nh == 0 && (x & 12) == 0 ? 0 :
					 (x & 16) ? PP_TRY : PP_NOWAIT;
			void *p;

			flags |= (x & 32) ? PP_ZERO : 0;
			errno = 0;
			p = pp_reserve_alloc(th_res, flags);
			if (!p) {
				if (!(flags & (PP_TRY | PP_NOWAIT)))
					res->null0++;
				else if (errno != EAGAIN)
					res->bad_errno++;
				else if (nh)
					goto give;	/* free one, as a mempool user would */
				continue;
			}
			if (!th_take(p))
				res->twice++;
			tags[nh] = x | 1;
			tag_block(p, 0, tags[nh]);
			held[nh++] = p;
			res->served++;
			continue;
		}
		if (!nh)
			continue;
give:
		{
			size_t i = (size_t)(x >> 40) % nh;
			void *p = held[i];

			if (!tag_ok(p, 0, tags[i]))
				res->bad_tag++;
			atomic_store(&th_owner[pp_index(p)], 0);
			held[i] = held[--nh];
			tags[i] = tags[nh];
			if ((x & 0xf00) == 0)
				pp_free_page(p);	/* to the pool, not the reserve */
			else
				pp_reserve_free(th_res, p);
		}
	}
	return NULL;
}

START_TEST(test_concurrent_one_reserve)
{
	static struct th_result res[TH];
	pthread_t t[TH];
	struct pp_stats s0, s;
	void **v;
	size_t n, served = 0;

	ck_assert_int_eq(pp_configure(CAP_CONF), 0);
	th_res = pp_reserve_create(TH_MIN);
	ck_assert_ptr_nonnull(th_res);
	v = exhaust_checked(&n);
	th_owner = calloc(CAP_PAGES, 1);
	ck_assert_ptr_nonnull(th_owner);
	for (size_t i = 0; i < n; i++)
		th_owner[pp_index(v[i])] = 1;
	s0 = get_stats();
	for (int i = 0; i < TH; i++)
		t[i] = spawn(th_worker, &res[i]);
	for (int i = 0; i < TH; i++)
		join(t[i]);
	for (int i = 0; i < TH; i++) {
		ck_assert_msg(res[i].twice == 0, "thread %d: %zu pages handed out twice", i,
			      res[i].twice);
		ck_assert_msg(res[i].bad_tag == 0, "thread %d: %zu pages overwritten while "
			      "held", i, res[i].bad_tag);
		ck_assert_uint_eq(res[i].bad_errno, 0);
		ck_assert_uint_eq(res[i].null0, 0);
		served += res[i].served;
	}
	ck_assert_uint_gt(served, TH * TH_MIN);
	s = get_stats();
	/* Every page the threads used came from the reserve; none was lost. */
	ck_assert_uint_eq(s.in_use, s0.in_use);
	ck_assert_uint_le(s.reserved, TH_MIN);
	ck_assert_uint_eq(s.reserved + s.free + s.cached, s0.reserved + s0.free + s0.cached);
	check_conservation();
	pp_reserve_destroy(th_res);
	release_all(v, n);
	ck_assert_uint_eq(get_stats().in_use, 0);
	check_conservation();
	free((void *)th_owner);
}
END_TEST

/* ---- bad input ----------------------------------------------------------- */

static struct pp_reserve *must_reserve(size_t n)
{
	struct pp_reserve *r = pp_reserve_create(n);

	if (!r) {
		dprintf(STDERR_FILENO, "@@SETUP pp_reserve_create failed\n");
		_exit(98);
	}
	return r;
}

static void ok_reserve_use(void)
{
	struct pp_reserve *r = must_reserve(2);
	void *p = pp_reserve_alloc(r, 0);

	mark(p);
	pp_reserve_free(r, p);
	pp_reserve_free(r, NULL);
	pp_reserve_free(r, must_alloc(0));	/* any pool page */
	pp_reserve_destroy(r);
	pp_reserve_destroy(NULL);
}

static void bad_null_reserve(void)
{
	void *p = must_alloc(0);

	mark(p);
	pp_reserve_free(NULL, p);
}

static void bad_stack_page(void)
{
	char local[64];
	struct pp_reserve *r = must_reserve(2);

	mark(local);
	pp_reserve_free(r, local);
}

static void bad_double_into_reserve(void)
{
	struct pp_reserve *r = must_reserve(2);
	void *p;

	pp_thread_drain();
	p = pp_reserve_alloc(r, PP_TRY);	/* from the reserve: room for one */
	pp_reserve_free(r, p);
	mark(p);
	pp_reserve_free(r, p);
}

static void bad_already_free(void)
{
	struct pp_reserve *r = must_reserve(2);
	void *p = must_alloc(0);

	pp_free_page(p);
	mark(p);
	pp_reserve_free(r, p);
}

static void bad_order(void)
{
	struct pp_reserve *r = must_reserve(2);
	void *p = must_alloc(1);

	mark(p);
	pp_reserve_free(r, p);
}

static void bad_interior(void)
{
	struct pp_reserve *r = must_reserve(2);
	char *p = must_alloc(0);

	mark(p + 8);
	pp_reserve_free(r, p + 8);
}

static void bad_alloc_destroyed(void)
{
	struct pp_reserve *r = must_reserve(2);

	pp_reserve_destroy(r);
	mark(r);
	pp_reserve_alloc(r, PP_NOWAIT);
}

static void bad_destroy_twice(void)
{
	struct pp_reserve *r = must_reserve(2);

	pp_reserve_destroy(r);
	mark(r);
	pp_reserve_destroy(r);
}

START_TEST(test_bad_input_aborts)
{
	expect_survive(ok_reserve_use, "valid reserve calls");
	expect_abort(bad_null_reserve, "pp_reserve_free", "NULL", true);
	expect_abort(bad_stack_page, "pp_reserve_free", "not a pointer from the pool", true);
	expect_abort(bad_double_into_reserve, "pp_reserve_free", "already in a reserve", true);
	expect_abort(bad_already_free, "pp_reserve_free", "already free", true);
	expect_abort(bad_order, "pp_reserve_free", "wrong order", true);
	expect_abort(bad_interior, "pp_reserve_free", "not page-aligned", true);
	expect_abort(bad_alloc_destroyed, "pp_reserve_alloc", "not a reserve", true);
	expect_abort(bad_destroy_twice, "pp_reserve_destroy", "not a reserve", true);
}
END_TEST

/* A call that must fail with @err and a message naming @call. */
#define EXPECT_ERR(expr, fails, err, call, word) do {				\
		struct capture c_;						\
		char buf_[1024];						\
		int e_;								\
		bool f_;							\
									\
		capture_begin(&c_);						\
		errno = 0;							\
		f_ = (expr) fails;						\
		e_ = errno;							\
		capture_end(&c_, buf_, sizeof(buf_));				\
		ck_assert_msg(f_, #expr " did not fail");			\
		ck_assert_msg(e_ == (err), #expr ": errno %d, want %d", e_, (err)); \
		ck_assert_msg(has_word(buf_, call) && strstr(buf_, word),	\
			      #expr ": message \"%s\" lacks %s / %s", buf_, call, word); \
	} while (0)

START_TEST(test_bad_arguments_einval)
{
	struct pp_reserve *r;

	EXPECT_ERR(pp_reserve_create(0), == NULL, EINVAL, "pp_reserve_create", "min_pages");
	EXPECT_ERR(pp_reserve_create((size_t)1 << 40), == NULL, EINVAL, "pp_reserve_create",
		   "min_pages");
	r = pp_reserve_create(2);
	ck_assert_ptr_nonnull(r);
	EXPECT_ERR(pp_reserve_alloc(NULL, 0), == NULL, EINVAL, "pp_reserve_alloc", "NULL");
	EXPECT_ERR(pp_reserve_alloc(r, 0x40), == NULL, EINVAL, "pp_reserve_alloc",
		   "unknown flags");
	EXPECT_ERR(pp_reserve_resize(NULL, 4), == -1, EINVAL, "pp_reserve_resize", "NULL");
	EXPECT_ERR(pp_reserve_resize(r, 0), == -1, EINVAL, "pp_reserve_resize", "min_pages");
	EXPECT_ERR(pp_reserve_resize(r, SIZE_MAX), == -1, EINVAL, "pp_reserve_resize",
		   "min_pages");
	ck_assert_uint_eq(get_stats().reserved, 2);	/* unchanged */
	pp_reserve_destroy(r);
	expect_counts(0, 0);
}
END_TEST

static Suite *reserve_suite(void)
{
	Suite *s = suite_create("reserve");
	TCase *tc = new_tcase("reserve");

	tcase_add_test(tc, test_cap_reserve_serves);
	if (!PP_TEST_TSAN) {
		tcase_add_test(tc, test_no_syscall_strict_seccomp);
		tcase_add_test(tc, test_no_syscall_harness_catches_violation);
	}
	tcase_add_test(tc, test_no_lock_while_locked);
	tcase_add_test(tc, test_alloc_waits_for_free);
	tcase_add_test(tc, test_try_nowait_empty);
	tcase_add_test(tc, test_resize_destroy_stats);
	tcase_add_test(tc, test_concurrent_one_reserve);
	tcase_add_test(tc, test_bad_input_aborts);
	tcase_add_test(tc, test_bad_arguments_einval);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(reserve_suite());
}
