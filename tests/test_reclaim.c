/* SPDX-License-Identifier: MIT */
/*
 * test_reclaim.c - other threads' caches come back (lib/reclaim.c).
 *
 * With cap=, threads that took turns filling their caches and went idle
 * (blocked, not exited) must not make a later flags-0 allocation fail:
 * it reclaims their caches first.  And a reclaimer looping against owners
 * that allocate and free by every path, under a storm of signals whose
 * handler allocates and frees too, hands no page out twice and loses none:
 * a bitmap of the arena's pages records every page handed out.  Built for
 * the plain, ASan and TSan runs (the Dekker pair's TSan form is checked
 * there).  Each test runs in its own forked child (CK_FORK).
 */
#include <sched.h>
#include <signal.h>

#include "testutil.h"

#define MIB ((size_t)1 << 20)

/* ---- cap= and idle caches ---------------------------------------------- */

#define IDLE_THREADS	12
#define FULL_THREADS	256	/* PP_RECLAIM_FULL=1: the scale of the field report */
#define BURST_PAGES	1024

static pthread_mutex_t turn_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t turn_cond = PTHREAD_COND_INITIALIZER;
static unsigned turn;			/* whose burst it is */
static bool all_done;			/* the main thread is finished: exit */
static unsigned burst_failures;

static void *idle_worker(void *arg)
{
	unsigned me = (unsigned)(uintptr_t)arg;
	static __thread void *v[BURST_PAGES];

	pthread_mutex_lock(&turn_lock);
	while (turn != me)
		pthread_cond_wait(&turn_cond, &turn_lock);
	pthread_mutex_unlock(&turn_lock);
	for (unsigned i = 0; i < BURST_PAGES; i++) {
		v[i] = pp_alloc_page(0);
		if (!v[i]) {
			__atomic_fetch_add(&burst_failures, 1, __ATOMIC_RELAXED);
			continue;
		}
		memset(v[i], (int)me, 64);
	}
	for (unsigned i = 0; i < BURST_PAGES; i++)
		pp_free_page(v[i]);
	/* Idle from here on: blocked, its cache full, until the end. */
	pthread_mutex_lock(&turn_lock);
	turn++;
	pthread_cond_broadcast(&turn_cond);
	while (!all_done)
		pthread_cond_wait(&turn_cond, &turn_lock);
	pthread_mutex_unlock(&turn_lock);
	return NULL;
}

/*
 * Threads that take turns bursting 4 MiB under cap= and go idle, then the
 * main thread takes most of the cap.  `PP_RECLAIM_FULL=1 tests/test_reclaim`
 * runs it at full scale: 256 threads, cap=256M, 60,000 pages.
 */
START_TEST(test_cap_reclaims_idle_caches)
{
	bool full = getenv("PP_RECLAIM_FULL") && atoi(getenv("PP_RECLAIM_FULL"));
	unsigned nt = full ? FULL_THREADS : IDLE_THREADS;
	pthread_t t[FULL_THREADS];
	size_t n = full ? 60000 : 12 * MIB / pp_page_size();
	void **v = calloc(n, sizeof(*v));
	struct pp_stats s;

	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(pp_configure(full ? "cap=256M" : "cap=16M,grow=4M"), 0);
	for (unsigned i = 0; i < nt; i++)
		t[i] = spawn(idle_worker, (void *)(uintptr_t)i);
	pthread_mutex_lock(&turn_lock);
	while (turn < nt)
		pthread_cond_wait(&turn_cond, &turn_lock);
	pthread_mutex_unlock(&turn_lock);
	ck_assert_msg(burst_failures == 0, "%u allocations of the workers' bursts failed "
		      "(each burst is 4 MiB of the cap)", burst_failures);
	s = get_stats();
	ck_assert_msg(s.cached >= 4 * MIB / pp_page_size(), "only %zu pages cached: the "
		      "idle caches should hold more than the cap has left", s.cached);
	for (size_t i = 0; i < n; i++) {
		v[i] = pp_alloc_page(0);
		ck_assert_msg(v[i] != NULL, "page %zu of %zu failed (errno %d) with %zu pages "
			      "in idle caches", i, n, errno, get_stats().cached);
	}
	s = get_stats();
	ck_assert_uint_ge(s.reclaim_runs, 1);
	ck_assert_uint_gt(s.reclaimed_pages, 0);
	for (size_t i = 0; i < n; i++)
		pp_free_page(v[i]);
	pthread_mutex_lock(&turn_lock);
	all_done = true;
	pthread_cond_broadcast(&turn_cond);
	pthread_mutex_unlock(&turn_lock);
	for (unsigned i = 0; i < nt; i++)
		join(t[i]);
	check_conservation();
	free(v);
}
END_TEST

/* ---- a reclaimer against owners, under a signal storm ------------------ */

#define OWNERS		3
#define HELD		64

static unsigned long *bitmap;		/* one bit per page of the arena */
static size_t arena_pages;
static bool stop;
static unsigned long twice;		/* pages found handed out while out */
static unsigned long sig_calls;

static size_t page_no(const void *p)
{
	return (size_t)((const char *)p - pp_g.base) / pp_page_size();
}

/* Mark the pages of a block handed out; async-signal-safe. */
static void mark_out(void *p, unsigned order)
{
	for (size_t i = page_no(p), e = i + ((size_t)1 << order); i < e; i++) {
		unsigned long bit = 1UL << (i % 64);

		if (__atomic_fetch_or(&bitmap[i / 64], bit, __ATOMIC_RELAXED) & bit)
			__atomic_fetch_add(&twice, 1, __ATOMIC_RELAXED);
	}
}

static void mark_back(void *p, unsigned order)
{
	for (size_t i = page_no(p), e = i + ((size_t)1 << order); i < e; i++)
		__atomic_fetch_and(&bitmap[i / 64], ~(1UL << (i % 64)), __ATOMIC_RELAXED);
}

static void on_signal(int sig)
{
	int saved = errno;
	void *p = pp_alloc_page_try();

	(void)sig;
	if (p) {
		mark_out(p, 0);
		mark_back(p, 0);
		pp_free_page(p);
	}
	__atomic_fetch_add(&sig_calls, 1, __ATOMIC_RELAXED);
	errno = saved;
}

static void *owner(void *arg)
{
	uint64_t seed = 0x0c0ffee + (uintptr_t)arg;
	void *held[HELD] = { NULL };
	unsigned order[HELD] = { 0 };

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		uint64_t r = rnd(&seed);
		unsigned k = (unsigned)(r % HELD), o = (unsigned)((r >> 8) % 4);

		if (held[k]) {
			mark_back(held[k], order[k]);
			pp_free_pages(held[k], order[k]);
			held[k] = NULL;
			continue;
		}
		switch ((r >> 16) % 3) {
		case 0:
			held[k] = pp_alloc_page_try();
			o = 0;
			break;
		case 1:
			held[k] = pp_alloc_pages(o, PP_NOWAIT);
			break;
		default:
			held[k] = pp_alloc_pages(o, 0);
			break;
		}
		if (held[k]) {
			order[k] = o;
			mark_out(held[k], o);
		}
	}
	for (unsigned k = 0; k < HELD; k++)
		if (held[k]) {
			mark_back(held[k], order[k]);
			pp_free_pages(held[k], order[k]);
		}
	return NULL;
}

START_TEST(test_reclaimer_against_owners)
{
	pthread_t t[OWNERS];
	struct sigaction sa;
	size_t reclaimed = 0, runs = 0;
	double t0;

	ck_assert_int_eq(pp_configure("arena=1G,high=32,batch=8,high_max=64"), 0);
	pp_free_page(must_alloc(0));
	arena_pages = get_stats().arena_bytes / pp_page_size();
	bitmap = calloc(arena_pages / 64 + 1, sizeof(*bitmap));
	ck_assert_ptr_nonnull(bitmap);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	for (unsigned i = 0; i < OWNERS; i++)
		t[i] = spawn(owner, (void *)(uintptr_t)i);
	/* Reclaim and signal in turns, for a number of rounds (time only caps it). */
	t0 = now_sec();
	while (runs < 20000 && now_sec() - t0 < 10) {
		reclaimed += pp_test_reclaim();
		for (unsigned i = 0; i < OWNERS; i++)
			pthread_kill(t[i], SIGUSR1);
		runs++;
	}
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < OWNERS; i++)
		join(t[i]);
	signal(SIGUSR1, SIG_IGN);
	ck_assert_msg(twice == 0, "%lu pages were handed out while already out", twice);
	for (size_t i = 0; i < arena_pages / 64 + 1; i++)
		ck_assert_msg(bitmap[i] == 0, "pages still marked out at %zu: %#lx", i * 64,
			      bitmap[i]);
	ck_assert_msg(reclaimed > 0, "%zu reclaim runs took nothing back", runs);
	fprintf(stderr, "reclaimer: %zu runs, %zu pages taken back, %lu signals handled\n",
		runs, reclaimed, sig_calls);
	check_conservation();
	free(bitmap);
}
END_TEST

/* ---- cache_max= ---------------------------------------------------------- */

#define BOUND_THREADS	8
#define BASE_MARKS	480	/* pages: high=256 over orders 0-3 (256 + 2*64 + 4*16 + 8*4) */

static pthread_barrier_t have_cache, burst_done, may_exit;

/*
 * Every thread makes its cache first (a new cache starts at high whatever
 * the bound), then bursts larger than the cache, so that its mark wants to
 * grow; then waits.
 */
static void *burster(void *arg)
{
	static __thread void *v[BURST_PAGES];

	(void)arg;
	pp_free_page(must_alloc(0));
	pthread_barrier_wait(&have_cache);
	for (unsigned round = 0; round < 4; round++) {
		for (unsigned i = 0; i < BURST_PAGES; i++)
			v[i] = must_alloc(0);
		for (unsigned i = 0; i < BURST_PAGES; i++)
			pp_free_page(v[i]);
	}
	pthread_barrier_wait(&burst_done);
	pthread_barrier_wait(&may_exit);
	return NULL;
}

/* BOUND_THREADS bursters, stopped while alive: their caches' marks added up. */
static struct pp_stats burst_marks(pthread_t *t)
{
	pthread_barrier_init(&have_cache, NULL, BOUND_THREADS);
	pthread_barrier_init(&burst_done, NULL, BOUND_THREADS + 1);
	pthread_barrier_init(&may_exit, NULL, BOUND_THREADS + 1);
	for (unsigned i = 0; i < BOUND_THREADS; i++)
		t[i] = spawn(burster, NULL);
	pthread_barrier_wait(&burst_done);
	return get_stats();
}

static void burst_end(pthread_t *t)
{
	pthread_barrier_wait(&may_exit);
	for (unsigned i = 0; i < BOUND_THREADS; i++)
		join(t[i]);
	pthread_barrier_destroy(&have_cache);
	pthread_barrier_destroy(&burst_done);
	pthread_barrier_destroy(&may_exit);
	check_conservation();
}

/*
 * Eight threads whose bursts overflow their caches grow their marks - up
 * to cache_max= added up, not past it (the bound leaves room for 2,000
 * pages of growth above the eight base marks).
 */
START_TEST(test_cache_max_bounds_growth)
{
	size_t bound = BOUND_THREADS * BASE_MARKS + 2000;
	char conf[64];
	pthread_t t[BOUND_THREADS];
	struct pp_stats s;

	snprintf(conf, sizeof(conf), "cache_max=%zu", bound * pp_page_size());
	ck_assert_int_eq(pp_configure(conf), 0);
	s = burst_marks(t);
	ck_assert_uint_eq(s.threads, BOUND_THREADS);
	ck_assert_msg(s.cache_marks <= bound, "marks add up to %zu pages, past cache_max "
		      "(%zu pages)", s.cache_marks, bound);
	ck_assert_msg(s.cache_marks > BOUND_THREADS * BASE_MARKS, "marks add up to %zu pages: "
		      "no cache grew (base %d each)", s.cache_marks, BASE_MARKS);
	ck_assert_uint_le(s.cached - s.cache_meta, s.cache_marks);
	burst_end(t);
}
END_TEST

/* The same bursts with room: the marks grow past that bound. */
START_TEST(test_cache_max_room)
{
	size_t bound = BOUND_THREADS * BASE_MARKS + 2000;
	pthread_t t[BOUND_THREADS];
	struct pp_stats s;

	ck_assert_int_eq(pp_configure("cache_max=1G"), 0);
	s = burst_marks(t);
	ck_assert_msg(s.cache_marks > bound, "marks add up to %zu pages only: the bursts did "
		      "not grow the caches, so the bound test above proves nothing",
		      s.cache_marks);
	burst_end(t);
}
END_TEST

/*
 * Grown caches that go idle are taken back (pp_trim(), reclaim_ms=) and
 * start again from their configured marks: the growth is free for others.
 */
START_TEST(test_reclaim_decays_marks)
{
	pthread_t t[BOUND_THREADS];
	struct pp_stats s;
	unsigned tries = 0;

	ck_assert_int_eq(pp_configure("cache_max=1G,reclaim_ms=1"), 0);
	s = burst_marks(t);
	ck_assert_uint_gt(s.cache_marks, BOUND_THREADS * BASE_MARKS);
	/* The first look notes the counters; a later one finds them unmoved. */
	while ((s = get_stats()).cache_marks > BOUND_THREADS * BASE_MARKS && tries++ < 10000) {
		pp_trim(0);
		usleep(2000);
	}
	ck_assert_msg(s.cache_marks == BOUND_THREADS * BASE_MARKS, "marks add up to %zu pages "
		      "after %u trims of idle caches (base %d each, %zu reclaimed)",
		      s.cache_marks, tries, BASE_MARKS, s.reclaimed_pages);
	ck_assert_uint_gt(s.reclaimed_pages, 0);
	burst_end(t);
}
END_TEST

/* ---- threads exiting while reclaimed ----------------------------------- */

static int exiters_stop;

static void *short_lived(void *arg)
{
	void *v[16];

	(void)arg;
	for (unsigned i = 0; i < 16; i++)
		v[i] = must_alloc(0);
	for (unsigned i = 0; i < 16; i++)
		pp_free_page(v[i]);
	return NULL;		/* exits with a cache that holds pages */
}

static void *reclaimer(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&exiters_stop, __ATOMIC_RELAXED)) {
		pp_test_reclaim();
		sched_yield();		/* a membarrier each: leave the CPU to the exiters */
	}
	return NULL;
}

/*
 * A thread's exit must release its cache even while a reclaimer holds the
 * thread's pointer to it: a cache left registered would outlive its thread,
 * and the next reclaim would write into the dead thread's storage.
 */
START_TEST(test_exit_while_reclaimed)
{
	pthread_t r = spawn(reclaimer, NULL);
	struct pp_stats s;

	for (unsigned i = 0; i < 300; i++)
		join(spawn(short_lived, NULL));
	__atomic_store_n(&exiters_stop, 1, __ATOMIC_RELAXED);
	join(r);
	s = get_stats();
	ck_assert_msg(s.threads == 0, "%zu caches of exited threads are still registered "
		      "(%zu reclaim runs)", s.threads, s.reclaim_runs);
	check_conservation();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("reclaim");
	TCase *tc = new_tcase("reclaim");

	tcase_add_test(tc, test_cap_reclaims_idle_caches);
	tcase_add_test(tc, test_reclaimer_against_owners);
	tcase_add_test(tc, test_exit_while_reclaimed);
	tcase_add_test(tc, test_cache_max_bounds_growth);
	tcase_add_test(tc, test_cache_max_room);
	tcase_add_test(tc, test_reclaim_decays_marks);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
