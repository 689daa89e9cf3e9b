/* SPDX-License-Identifier: MIT */
/*
 * test_threads.c - the pool under concurrency: churn with remote frees,
 * caches drained at thread exit, fork() while other threads allocate, and
 * PP_NOWAIT under lock contention.  Also run under ThreadSanitizer: shared
 * test state uses atomics or a mutex only.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* First failure of a worker thread, reported by the main thread after join. */
struct worker {
	pthread_t thr;
	unsigned id;
	unsigned rounds;
	char fail[200];
};

#define W_CHECK(w, cond, ...) do {					\
		if (!(cond) && !(w)->fail[0])				\
			snprintf((w)->fail, sizeof((w)->fail), __VA_ARGS__); \
	} while (0)

static void check_workers(struct worker *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(!w[i].fail[0], "thread %u: %s", w[i].id, w[i].fail);
}

struct blk {
	void *p;
	unsigned order;
	uint64_t tag;
};

static bool zeroed(const void *p, size_t len)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < len; i++)
		if (c[i])
			return false;
	return true;
}

/*
 * One allocation in a random mode; on success the block is checked, tagged
 * and returned in *b.  Only PP_TRY and PP_NOWAIT may fail, with EAGAIN.
 */
static bool alloc_one(struct worker *w, uint64_t *rs, uint64_t *seq,
		      unsigned max_order, unsigned modes, struct blk *b)
{
	uint64_t x = rnd(rs);
	unsigned order = (unsigned)(x % (max_order + 1));
	unsigned flags = ((unsigned[]){ 0, PP_NOWAIT, PP_TRY })[(x >> 8) % modes];
	void *p;
	int err;

	if ((x >> 16) % 8 == 0)
		flags |= PP_ZERO;
	errno = 0;
	p = pp_alloc_pages(order, flags);
	err = errno;
	if (!p) {
		W_CHECK(w, (flags & (PP_TRY | PP_NOWAIT)) && err == EAGAIN,
			"alloc order %u flags %#x: NULL errno %d", order, flags, err);
		return false;
	}
	W_CHECK(w, block_aligned(p, order), "%p misaligned for order %u", p, order);
	if (flags & PP_ZERO)
		W_CHECK(w, zeroed(p, pp_page_size() << order),
			"PP_ZERO block %p (order %u) not zero", p, order);
	b->p = p;
	b->order = order;
	b->tag = ((uint64_t)w->id << 48) | ++*seq;
	tag_block(p, order, b->tag);
	return true;
}

static void free_one(struct worker *w, const struct blk *b)
{
	W_CHECK(w, tag_ok(b->p, b->order, b->tag),
		"block %p (order %u) handed out twice", b->p, b->order);
	pp_free_pages(b->p, b->order);
}

/* Bulk alloc / free of single pages; the filled part is a prefix. */
static void bulk_round(struct worker *w, uint64_t *rs, unsigned flags)
{
	void *pg[32] = { NULL };
	size_t want = 1 + rnd(rs) % 32, n;

	errno = 0;
	n = pp_alloc_pages_bulk(flags, want, pg);
	W_CHECK(w, n <= want, "bulk returned %zu > %zu", n, want);
	W_CHECK(w, n > 0 || (flags & (PP_TRY | PP_NOWAIT)),
		"bulk with flags %#x filled nothing", flags);
	for (size_t i = 0; i < want; i++)
		W_CHECK(w, (i < n) == (pg[i] != NULL),
			"bulk: %zu filled but slot %zu is %p", n, i, pg[i]);
	for (size_t i = 0; i < n; i++) {
		W_CHECK(w, block_aligned(pg[i], 0), "bulk page %p misaligned", pg[i]);
		tag_block(pg[i], 0, ((uint64_t)w->id << 48) | (0xb000 + i));
	}
	for (size_t i = 0; i < n; i++)
		W_CHECK(w, tag_ok(pg[i], 0, ((uint64_t)w->id << 48) | (0xb000 + i)),
			"bulk page %p handed out twice", pg[i]);
	pp_free_pages_bulk(want, pg);
}

/* ---- churn with remote frees ---------------------------------------- */

#define RING 256
static struct {
	pthread_mutex_t mu;
	struct blk m[RING];
	size_t head, count;
} ring = { .mu = PTHREAD_MUTEX_INITIALIZER };

static bool ring_put(const struct blk *b)
{
	bool ok = false;

	pthread_mutex_lock(&ring.mu);
	if (ring.count < RING) {
		ring.m[(ring.head + ring.count++) % RING] = *b;
		ok = true;
	}
	pthread_mutex_unlock(&ring.mu);
	return ok;
}

static bool ring_get(struct blk *b)
{
	bool ok = false;

	pthread_mutex_lock(&ring.mu);
	if (ring.count) {
		*b = ring.m[ring.head];
		ring.head = (ring.head + 1) % RING;
		ring.count--;
		ok = true;
	}
	pthread_mutex_unlock(&ring.mu);
	return ok;
}

static size_t ring_pages(void)
{
	size_t n = 0;

	pthread_mutex_lock(&ring.mu);
	for (size_t i = 0; i < ring.count; i++)
		n += (size_t)1 << ring.m[(ring.head + i) % RING].order;
	pthread_mutex_unlock(&ring.mu);
	return n;
}

static void *churn_thread(void *arg)
{
	enum { HOLD = 64 };
	struct worker *w = arg;
	struct blk held[HOLD], b;
	uint64_t rs = 0x9E3779B97F4A7C15ULL * (w->id + 1), seq = 0;
	size_t nheld = 0;

	for (unsigned r = 0; r < w->rounds && !w->fail[0]; r++) {
		uint64_t x = rnd(&rs);
		size_t i;

		switch (x % 10) {
		case 0: case 1: case 2: case 3:
			if (nheld == HOLD) {
				i = (x >> 8) % nheld;
				free_one(w, &held[i]);
				held[i] = held[--nheld];
			}
			if (alloc_one(w, &rs, &seq, 4, 3, &b))
				held[nheld++] = b;
			break;
		case 4: case 5:
			if (nheld) {
				i = (x >> 8) % nheld;
				free_one(w, &held[i]);
				held[i] = held[--nheld];
			}
			break;
		case 6:		/* hand a block to another thread */
			if (nheld) {
				i = (x >> 8) % nheld;
				if (!ring_put(&held[i]))
					free_one(w, &held[i]);
				held[i] = held[--nheld];
			}
			break;
		case 7: case 8:	/* free someone else's block */
			if (ring_get(&b))
				free_one(w, &b);
			break;
		default:
			bulk_round(w, &rs, ((unsigned[]){ 0, PP_NOWAIT, PP_TRY })[(x >> 8) % 3]);
			break;
		}
	}
	while (nheld)
		free_one(w, &held[--nheld]);
	/* Exit with a warm cache and without pp_thread_drain(). */
	return NULL;
}

START_TEST(test_churn)
{
	enum { NT = 4, WAVES = 2, ROUNDS = 4000 };
	struct worker w[NT];
	struct pp_stats s;
	struct blk b;
	void *p;

	ck_assert_int_eq(pp_configure("high=32,batch=8"), 0);
	for (unsigned wave = 0; wave < WAVES; wave++) {
		memset(w, 0, sizeof(w));
		for (unsigned i = 0; i < NT; i++) {
			w[i].id = wave * NT + i + 1;
			w[i].rounds = ROUNDS;
			w[i].thr = spawn(churn_thread, &w[i]);
		}
		for (unsigned i = 0; i < NT; i++)
			join(w[i].thr);
		check_workers(w, NT);
		s = get_stats();
		ck_assert_uint_eq(s.threads, 0);	/* all exited, main has none */
		ck_assert_uint_eq(s.cached, 0);
		ck_assert_uint_eq(s.in_use, ring_pages());	/* only those */
		check_conservation();
	}

	/* Remote frees left in the ring are freed by the main thread. */
	memset(w, 0, sizeof(w));
	while (ring_get(&b))
		free_one(&w[0], &b);
	check_workers(w, 1);
	p = pp_alloc_page(0);	/* the main thread surely has a cache now */
	ck_assert_ptr_nonnull(p);
	pp_free_page(p);
	s = get_stats();
	ck_assert_uint_eq(s.in_use, 0);
	ck_assert_uint_eq(s.threads, 1);
	ck_assert_uint_gt(s.cached, 0);
	check_conservation();

	/* Everything cached belongs to the main thread. */
	pp_thread_drain();
	s = get_stats();
	ck_assert_uint_eq(s.threads, 0);
	ck_assert_uint_eq(s.cached, 0);
	ck_assert_uint_eq(s.free + s.reserved, s.committed);
	check_conservation();
}
END_TEST

/* ---- thread exit drains the cache ------------------------------------- */

static pthread_barrier_t ex_filled, ex_go;

static void *fill_and_exit(void *arg)
{
	enum { N = 100 };
	struct worker *w = arg;
	void *pg[N], *blk[PP_CACHE_ORDERS];

	for (size_t i = 0; i < N; i++) {
		pg[i] = pp_alloc_page(0);
		W_CHECK(w, pg[i] != NULL, "alloc failed");
	}
	for (unsigned k = 1; k < PP_CACHE_ORDERS; k++) {
		blk[k] = pp_alloc_pages(k, 0);
		W_CHECK(w, blk[k] != NULL, "alloc order %u failed", k);
	}
	for (size_t i = 0; i < N; i++)
		pp_free_page(pg[i]);
	for (unsigned k = 1; k < PP_CACHE_ORDERS; k++)
		pp_free_pages(blk[k], k);
	pthread_barrier_wait(&ex_filled);
	pthread_barrier_wait(&ex_go);
	return NULL;
}

START_TEST(test_thread_exit_drains)
{
	enum { NT = 3 };
	struct worker w[NT];
	struct pp_stats s;

	memset(w, 0, sizeof(w));
	ck_assert_int_eq(pp_configure("high=64,batch=16"), 0);
	ck_assert_int_eq(pthread_barrier_init(&ex_filled, NULL, NT + 1), 0);
	ck_assert_int_eq(pthread_barrier_init(&ex_go, NULL, NT + 1), 0);
	for (unsigned i = 0; i < NT; i++) {
		w[i].id = i + 1;
		w[i].thr = spawn(fill_and_exit, &w[i]);
	}
	pthread_barrier_wait(&ex_filled);
	s = get_stats();		/* every thread holds a warm cache */
	ck_assert_uint_eq(s.threads, NT);
	ck_assert_uint_ge(s.cached - s.cache_meta, NT);
	ck_assert_uint_ge(s.cache_meta, NT);
	ck_assert_uint_eq(s.in_use, 0);
	check_conservation();
	pthread_barrier_wait(&ex_go);
	for (unsigned i = 0; i < NT; i++)
		join(w[i].thr);
	check_workers(w, NT);

	s = get_stats();
	ck_assert_uint_eq(s.threads, 0);
	ck_assert_uint_eq(s.cached, 0);
	ck_assert_uint_eq(s.cache_meta, 0);
	ck_assert_uint_eq(s.in_use, 0);
	ck_assert_uint_eq(s.free + s.reserved, s.committed);
	check_conservation();
	pthread_barrier_destroy(&ex_filled);
	pthread_barrier_destroy(&ex_go);
}
END_TEST

/* ---- fork() while other threads allocate ------------------------------ */

static atomic_bool bg_stop;
static atomic_ulong bg_iters;

static void *bg_churn(void *arg)
{
	enum { HOLD = 32 };
	struct worker *w = arg;
	struct blk held[HOLD], b;
	uint64_t rs = 0xC0FFEEULL * (w->id + 1), seq = 0;
	size_t nheld = 0;

	while (!atomic_load(&bg_stop) && !w->fail[0]) {
		if (nheld == HOLD) {
			size_t i = rnd(&rs) % nheld;

			free_one(w, &held[i]);
			held[i] = held[--nheld];
		}
		if (alloc_one(w, &rs, &seq, 4, 3, &b))
			held[nheld++] = b;
		if (rnd(&rs) % 8 == 0)
			bulk_round(w, &rs, rnd(&rs) % 2 ? PP_NOWAIT : 0);
		atomic_fetch_add(&bg_iters, 1);
	}
	while (nheld)
		free_one(w, &held[--nheld]);
	return NULL;
}

static void child_say(const char *what, const char *why)
{
	char buf[300];
	int n = snprintf(buf, sizeof(buf), "fork child: %s%s%s\n", what,
			 why ? ": " : "", why ? why : "");
	ssize_t r = write(2, buf, n > 0 ? (size_t)n : 0);

	(void)r;
}

/* Runs in the fork()ed child: one thread, others' caches reclaimed. */
static int fork_child(void)
{
	struct worker w;
	struct blk held[64], b;
	uint64_t rs = 0x5eed, seq = 0;
	size_t nheld = 0;
	struct pp_stats s;
	char why[200];

	memset(&w, 0, sizeof(w));
	w.id = 99;
	s = get_stats();
	if (s.committed != s.in_use + s.cached + s.free + s.reserved) {
		snprintf(why, sizeof(why), "committed %zu, in_use %zu + cached %zu "
			 "+ free %zu + reserved %zu", s.committed, s.in_use,
			 s.cached, s.free, s.reserved);
		child_say("ledger broken at fork", why);
		return 2;
	}
	if (!conservation_ok(why, sizeof(why))) {
		child_say("conservation at fork", why);
		return 3;
	}
	for (unsigned r = 0; r < 600; r++) {
		if (nheld == 64) {
			size_t i = rnd(&rs) % nheld;

			free_one(&w, &held[i]);
			held[i] = held[--nheld];
		}
		if (alloc_one(&w, &rs, &seq, 3, 3, &b))
			held[nheld++] = b;
		if (r % 50 == 0)
			bulk_round(&w, &rs, r % 100 ? PP_NOWAIT : 0);
	}
	while (nheld)
		free_one(&w, &held[--nheld]);
	if (w.fail[0]) {
		child_say(w.fail, NULL);
		return 4;
	}
	s = get_stats();
	if (s.threads > 1) {
		child_say("other threads' caches still registered", NULL);
		return 5;
	}
	if (!conservation_ok(why, sizeof(why))) {
		child_say("conservation after churn", why);
		return 6;
	}
	pp_thread_drain();
	if (!conservation_ok(why, sizeof(why))) {
		child_say("conservation after drain", why);
		return 7;
	}
	return 0;
}

START_TEST(test_fork_while_allocating)
{
	enum { NT = 3, FORKS = 16 };
	struct worker w[NT];
	double t0;

	memset(w, 0, sizeof(w));
	ck_assert_int_eq(pp_configure("high=32,batch=8"), 0);
	for (unsigned i = 0; i < NT; i++) {
		w[i].id = i + 1;
		w[i].thr = spawn(bg_churn, &w[i]);
	}
	t0 = now_sec();
	while (atomic_load(&bg_iters) < 300 && now_sec() - t0 < 20)
		sched_yield();

	for (unsigned f = 0; f < FORKS; f++) {
		unsigned long before = atomic_load(&bg_iters);
		int status = 0;
		pid_t pid, r;

		/* let the churners move on between forks */
		t0 = now_sec();
		while (atomic_load(&bg_iters) < before + 50 && now_sec() - t0 < 5)
			sched_yield();
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0)
			_exit(fork_child());
		t0 = now_sec();
		while ((r = waitpid(pid, &status, WNOHANG)) == 0 &&
		       now_sec() - t0 < 20)
			usleep(2000);
		if (r == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			ck_abort_msg("fork %u: child hung (deadlock after fork?)", f);
		}
		ck_assert_int_eq(r, pid);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			      "fork %u: child %s %d", f,
			      WIFEXITED(status) ? "exited with" : "killed by signal",
			      WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	}
	atomic_store(&bg_stop, true);
	for (unsigned i = 0; i < NT; i++)
		join(w[i].thr);
	check_workers(w, NT);
	ck_assert_uint_eq(get_stats().in_use, 0);
	check_conservation();
}
END_TEST

/* ---- PP_NOWAIT under contention --------------------------------------- */

static atomic_bool ct_stop;

static void *hammer(void *arg)
{
	enum { HOLD = 48 };
	struct worker *w = arg;
	struct blk held[HOLD], b;
	uint64_t rs = 0xABCDEFULL, seq = 0;
	size_t nheld = 0;

	while (!atomic_load(&ct_stop) && !w->fail[0]) {
		if (nheld == HOLD) {
			size_t i = rnd(&rs) % nheld;

			free_one(w, &held[i]);
			held[i] = held[--nheld];
		}
		if (alloc_one(w, &rs, &seq, 3, 1, &b))	/* flags 0 only */
			held[nheld++] = b;
		else
			W_CHECK(w, 0, "flags-0 allocation failed");
		if (rnd(&rs) % 16 == 0)
			bulk_round(w, &rs, 0);
	}
	while (nheld)
		free_one(w, &held[--nheld]);
	return NULL;
}

/* Takes the global lock in short bursts so that trylocks do fail. */
static void *lock_pulser(void *arg)
{
	atomic_ulong spin;

	(void)arg;
	atomic_init(&spin, 0);
	while (!atomic_load(&ct_stop)) {
		pp_test_lock();
		for (unsigned i = 0; i < 20000; i++)
			atomic_fetch_add_explicit(&spin, 1, memory_order_relaxed);
		pp_test_unlock();
		usleep(50);
	}
	return NULL;
}

START_TEST(test_nowait_contention)
{
	enum { HOLD = 48 };
	struct worker w[3];
	struct blk held[HOLD], b;
	uint64_t rs = 0x1234567ULL, seq = 0;
	size_t nheld = 0, ok = 0, eagain = 0, bulk_ok = 0;
	struct pp_stats s;
	pthread_t pulser;
	double t0 = now_sec();

	if (getenv("PP_TEST_VALGRIND")) {	/* make check-valgrind */
		fprintf(stderr, "test_nowait_contention: not under valgrind, whose scheduler "
			"runs one thread at a time: a trylock may never meet the lock held\n");
		return;
	}
	memset(w, 0, sizeof(w));
	ck_assert_int_eq(pp_configure("high=8,batch=4"), 0);
	w[0].id = 1;
	w[1].id = 2;
	w[0].thr = spawn(hammer, &w[0]);
	pulser = spawn(lock_pulser, NULL);

	/*
	 * NOWAIT never grows the arena: commit the first growth here rather
	 * than count on the hammer having run (on a loaded machine it may not
	 * have for the whole loop, which then saw nothing but EAGAIN).
	 */
	pp_free_page(must_alloc(0));
	w[2].id = 3;	/* this thread: PP_NOWAIT only */
	/* Until both outcomes were seen (bounded by time, not iterations). */
	for (unsigned long it = 0; !w[2].fail[0]; it++) {
		uint64_t x = rnd(&rs);
		unsigned order = (unsigned)(x % 5), flags = PP_NOWAIT;
		void *p;
		int err;

		/* Go on until a trylock was refused (not only an empty list). */
		if (it > 4000 && it % 512 == 0 &&
		    ((ok >= 2000 && eagain >= 20 && get_stats().trylock_fails) ||
		     now_sec() - t0 > 15))
			break;
		if (nheld == HOLD || (nheld && (x >> 8) % 3 == 0)) {
			size_t i = (x >> 12) % nheld;

			free_one(&w[2], &held[i]);
			held[i] = held[--nheld];
		}
		if ((x >> 20) % 16 == 0) {
			void *pg[8] = { NULL };
			size_t n = pp_alloc_pages_bulk(PP_NOWAIT, 8, pg);

			for (size_t i = 0; i < 8; i++)
				W_CHECK(&w[2], (i < n) == (pg[i] != NULL),
					"NOWAIT bulk: %zu filled, slot %zu %p", n, i, pg[i]);
			bulk_ok += n;
			pp_free_pages_bulk(8, pg);
			continue;
		}
		if ((x >> 24) % 4 == 0)
			flags |= PP_ZERO;
		errno = 0;
		p = pp_alloc_pages(order, flags);
		err = errno;
		if (!p) {
			W_CHECK(&w[2], err == EAGAIN,
				"NOWAIT order %u: NULL with errno %d", order, err);
			eagain++;
			continue;
		}
		ok++;
		W_CHECK(&w[2], block_aligned(p, order), "NOWAIT %p misaligned", p);
		if (flags & PP_ZERO)
			W_CHECK(&w[2], zeroed(p, pp_page_size() << order),
				"NOWAIT|ZERO block %p not zero", p);
		b.p = p;
		b.order = order;
		b.tag = ((uint64_t)3 << 48) | ++seq;
		tag_block(p, order, b.tag);
		held[nheld++] = b;
	}
	while (nheld)
		free_one(&w[2], &held[--nheld]);
	atomic_store(&ct_stop, true);
	join(w[0].thr);
	join(pulser);
	check_workers(w, 3);
	ck_assert_uint_gt(ok, 0);
	ck_assert_msg(eagain > 0, "no NOWAIT allocation ever failed (%zu ok): "
		      "the lock-busy path was not exercised", ok);
	s = get_stats();
	ck_assert_uint_gt(s.trylock_fails, 0);
	ck_assert_uint_eq(s.in_use, 0);
	check_conservation();
}
END_TEST

static Suite *threads_suite(void)
{
	Suite *s = suite_create("threads");
	TCase *tc = new_tcase("threads");

	tcase_add_test(tc, test_churn);
	tcase_add_test(tc, test_thread_exit_drains);
	tcase_add_test(tc, test_fork_while_allocating);
	tcase_add_test(tc, test_nowait_contention);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(threads_suite());
}
