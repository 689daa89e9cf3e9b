/* SPDX-License-Identifier: MIT */
/*
 * threads.c - threads and fork(): memory allocated on one thread and freed
 * on another, thread-specific data destructors that allocate at exit, and
 * fork() while other threads allocate.
 */
#include "preload.h"

/* ---- threads ---------------------------------------------------------- */

enum { NTHR = 8, XROUNDS = 300, XPER = 4, KEEP = 24 };

struct node {
	struct node *next;
	uint64_t tag;
};

static struct {
	pthread_mutex_t mu;
	struct node *head;
} mbox[NTHR];
static pthread_barrier_t xbar;
static void *kept[NTHR][KEEP];
static size_t kept_pages[NTHR][KEEP];
static int xerr;

static void xfail(void)
{
	__atomic_add_fetch(&xerr, 1, __ATOMIC_RELAXED);
}

static uint64_t mk_tag(size_t thr, size_t seq)
{
	return 0xC0DE000000000000ULL | ((uint64_t)thr << 32) | seq;
}

static void drain_box(size_t me)
{
	struct node *n;

	pthread_mutex_lock(&mbox[me].mu);
	n = mbox[me].head;
	mbox[me].head = NULL;
	pthread_mutex_unlock(&mbox[me].mu);
	while (n) {
		struct node *next = n->next;
		uint64_t end;

		memcpy(&end, (char *)n + PS - sizeof(end), sizeof(end));
		if (!owns(n) || (n->tag >> 48) != 0xC0DE || end != n->tag)
			xfail();
		free(n);
		n = next;
	}
}

static void *xthread(void *arg)
{
	size_t me = (size_t)(uintptr_t)arg, seq = 0;

	for (size_t r = 0; r < XROUNDS; r++) {
		size_t to = (me + 1 + r % (NTHR - 1)) % NTHR;

		for (size_t k = 0; k < XPER; k++) {
			struct node *n = malloc(PS);

			if (!n || !owns(n) || malloc_usable_size(n) != PS) {
				xfail();
				free(n);
				continue;
			}
			n->tag = mk_tag(me, seq++);
			memcpy((char *)n + PS - sizeof(n->tag), &n->tag, sizeof(n->tag));
			pthread_mutex_lock(&mbox[to].mu);
			n->next = mbox[to].head;
			mbox[to].head = n;
			pthread_mutex_unlock(&mbox[to].mu);
		}
		drain_box(me);
	}
	pthread_barrier_wait(&xbar);	/* every hand-over is done */
	drain_box(me);
	/* blocks that outlive this thread, freed by the main thread */
	for (size_t k = 0; k < KEEP; k++) {
		size_t pages = 1 + (me + k) % 4;

		kept[me][k] = malloc(pages * PS);
		kept_pages[me][k] = pages;
		if (!kept[me][k] || !owns(kept[me][k]))
			xfail();
		else
			fill(kept[me][k], 64, (unsigned)(me * KEEP + k));
	}
	return NULL;
}

START_TEST(test_threads_cross_free)
{
	pthread_t t[NTHR];
	size_t start, after_join, want = 0, after, threads0, threads1;

	free(opaque(malloc(PS)));	/* this thread has its cache before we count */
	threads0 = stats().threads;
	start = in_use();
	for (size_t i = 0; i < NTHR; i++) {
		pthread_mutex_init(&mbox[i].mu, NULL);
		mbox[i].head = NULL;
	}
	ck_assert_int_eq(pthread_barrier_init(&xbar, NULL, NTHR), 0);
	for (size_t i = 0; i < NTHR; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, xthread, (void *)(uintptr_t)i), 0);
	for (size_t i = 0; i < NTHR; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	after_join = in_use();
	for (size_t i = 0; i < NTHR; i++)
		for (size_t k = 0; k < KEEP; k++)
			want += kept_pages[i][k];
	ck_assert_int_eq(xerr, 0);
	ck_assert_msg(after_join - start == want,
		      "after the threads exited in_use is up %zu pages, they left %zu",
		      after_join - start, want);
	for (size_t i = 0; i < NTHR; i++)
		for (size_t k = 0; k < KEEP; k++) {
			ck_assert_msg(check_fill(kept[i][k], 64, (unsigned)(i * KEEP + k)) == 64,
				      "a dead thread's block was overwritten");
			free(kept[i][k]);
		}
	after = in_use();
	threads1 = stats().threads;
	ck_assert_msg(after == start, "in_use %zu at the end, %zu at the start", after, start);
	ck_assert_msg(threads1 == threads0, "%zu threads have a cache after the %d exited, %zu "
		      "before", threads1, NTHR, threads0);
	check_ledger("after the threads");
	pthread_barrier_destroy(&xbar);
}
END_TEST

/*
 * Thread-specific data destructors run after the shim's own (its key was
 * made first): they free pool memory and allocate more while the thread
 * dies.  Nothing may stay in use, and no cache may outlive the thread.
 */
static pthread_key_t dkey[3];

static void tsd_destructor(void *v)
{
	void *more;

	if (!v || !owns(v) || malloc_usable_size(v) != 2 * PS)
		xfail();
	free(v);
	more = opaque(malloc(3 * PS));
	if (!more || !owns(more))
		xfail();
	free(more);
}

static void *tsd_thread(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < 3; i++)
		if (pthread_setspecific(dkey[i], opaque(malloc(2 * PS))))
			xfail();
	free(opaque(malloc(PS)));
	return NULL;
}

START_TEST(test_thread_exit_destructors)
{
	size_t start, threads0, after, threads1;
	pthread_t t;

	for (size_t i = 0; i < 3; i++)
		ck_assert_int_eq(pthread_key_create(&dkey[i], tsd_destructor), 0);
	free(opaque(malloc(PS)));
	threads0 = stats().threads;
	start = in_use();
	for (int round = 0; round < 4; round++) {
		ck_assert_int_eq(pthread_create(&t, NULL, tsd_thread, NULL), 0);
		ck_assert_int_eq(pthread_join(t, NULL), 0);
	}
	after = in_use();
	threads1 = stats().threads;
	ck_assert_int_eq(xerr, 0);
	ck_assert_msg(after == start, "in_use up %zu pages after threads whose destructors "
		      "freed their blocks", after - start);
	ck_assert_msg(threads1 == threads0, "%zu threads have a cache after the threads "
		      "exited, %zu before (a dead thread's cache was left behind)", threads1,
		      threads0);
	check_ledger("after the threads");
}
END_TEST

/* ---- fork() while other threads allocate ------------------------------ */

static int churn_stop;
/*
 * Odd while the main thread is inside fork(): a page-sized malloc() that
 * finds the pool's lock taken by fork()'s prepare handler is served by the
 * C library instead of waiting (lib/buddy.c), and only then.
 */
static unsigned fork_gen;

static void *churner(void *arg)
{
	uint64_t s = 0x9E3779B97F4A7C15ULL * ((uintptr_t)arg + 1);
	void *held[8] = { NULL };

	while (!__atomic_load_n(&churn_stop, __ATOMIC_RELAXED)) {
		size_t i, pages;

		s ^= s >> 12;
		s ^= s << 25;
		s ^= s >> 27;
		i = (s >> 3) % 8;
		pages = 1 + (s >> 7) % 8;
		unsigned gen = __atomic_load_n(&fork_gen, __ATOMIC_SEQ_CST);

		free(held[i]);
		held[i] = (s & 1) ? malloc(pages * PS) : calloc(pages, PS);
		if (!held[i] || (!owns(held[i]) && !(gen & 1) &&
				 gen == __atomic_load_n(&fork_gen, __ATOMIC_SEQ_CST)))
			xfail();	/* NULL, or the C library's with no fork() about */
		else
			((char *)held[i])[pages * PS - 1] = 1;
		free(malloc(50 + (s >> 20) % 500));	/* and the C library's */
	}
	for (size_t i = 0; i < 8; i++)
		free(held[i]);
	return NULL;
}

static void *child_thread(void *arg)
{
	void *p = opaque(malloc(2 * PS));

	(void)arg;
	if (!p || !owns(p))
		return (void *)1;
	dirty(p, 3, 2 * PS);
	free(p);
	return NULL;
}

static int fork_report_fd = -1;	/* in a fork()ed child: where to say what failed */

/* In the fork()ed child: report a failed step, return 1. */
__attribute__((format(printf, 1, 2)))
static int child_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdprintf(fork_report_fd, fmt, ap);
	va_end(ap);
	return 1;
}

/* In the fork()ed child: the ledger balances, or say how it does not. */
static int child_ledger(const char *when)
{
	struct pp_stats s = stats();

	if (s.committed == s.in_use + s.cached + s.free + s.reserved)
		return 0;
	return child_fail("%s: committed %zu != in_use %zu + cached %zu + free %zu + "
			  "reserved %zu (pending %zu, cache_meta %zu, threads %zu)", when,
			  s.committed, s.in_use, s.cached, s.free, s.reserved, s.pending,
			  s.cache_meta, s.threads);
}

/* In the fork()ed child: 0, or 1 with what failed on fork_report_fd. */
static int fork_child_work(void)
{
	size_t start = in_use();
	pthread_t t;
	void *ret = (void *)1;
	char *p, *q;

	if (child_ledger("ledger right after fork()"))
		return 1;
	p = opaque(malloc(3 * PS));
	if (!p || !owns(p) || malloc_usable_size(p) != 3 * PS)
		return child_fail("malloc(3 pages) = %p: pp_owns %d, usable %zu", (void *)p,
				  p ? owns(p) : -1, p ? malloc_usable_size(p) : 0);
	dirty(p, 0x5C, 3 * PS);
	if (in_use() != start + 3)
		return child_fail("malloc(3 pages) raised in_use by %zu", in_use() - start);
	q = opaque(malloc(100));
	if (!q || owns(q))
		return child_fail("malloc(100) = %p is pool or NULL", (void *)q);
	dirty(q, 1, 100);
	free(q);
	q = opaque(calloc(2, PS));
	if (!q || !owns(q) || first_nonzero(q, 2 * PS) != 2 * PS)
		return child_fail("calloc(2, page) = %p: not pool or not zeroed", (void *)q);
	free(q);
	p = opaque(realloc(p, 6 * PS));
	if (!p || !owns(p))
		return child_fail("realloc(3 pages -> 6) = %p is not pool", (void *)p);
	free(p);
	if (in_use() != start)
		return child_fail("in_use %zu after the frees, %zu before", in_use(), start);
	if (pthread_create(&t, NULL, child_thread, NULL) || pthread_join(t, &ret) || ret)
		return child_fail("a new thread's pool malloc failed");
	return child_ledger("ledger at the end");
}

START_TEST(test_fork_while_threads_allocate)
{
	enum { NCHURN = 3, NFORK = 12 };
	pthread_t t[NCHURN];
	int status[NFORK];
	char said[NFORK][400];

	__atomic_store_n(&churn_stop, 0, __ATOMIC_RELAXED);
	for (size_t i = 0; i < NCHURN; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, churner, (void *)(uintptr_t)i), 0);
	for (int i = 0; i < NFORK; i++) {
		struct timespec ts = { 0, 3 * 1000 * 1000 };
		int fds[2];
		ssize_t k, n = 0;
		pid_t pid;

		nanosleep(&ts, NULL);	/* let the churners move on */
		status[i] = -1;
		said[i][0] = '\0';
		if (pipe(fds) != 0)
			continue;
		__atomic_fetch_add(&fork_gen, 1, __ATOMIC_SEQ_CST);
		pid = fork();
		__atomic_fetch_add(&fork_gen, 1, __ATOMIC_SEQ_CST);
		if (pid == 0) {
			close(fds[0]);
			fork_report_fd = fds[1];
			alarm(10);
			_exit(fork_child_work());
		}
		close(fds[1]);
		if (pid > 0) {
			while ((k = read(fds[0], said[i] + n, sizeof(said[i]) - 1 - (size_t)n)) > 0 ||
			       (k < 0 && errno == EINTR))
				if (k > 0)
					n += k;
			said[i][n] = '\0';
			while (waitpid(pid, &status[i], 0) < 0 && errno == EINTR)
				;
		}
		close(fds[0]);
	}
	__atomic_store_n(&churn_stop, 1, __ATOMIC_RELAXED);
	for (size_t i = 0; i < NCHURN; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	ck_assert_int_eq(xerr, 0);
	for (int i = 0; i < NFORK; i++) {
		char how[128];

		describe(status[i], how, sizeof(how));
		ck_assert_msg(status[i] != -1, "fork %d failed", i);
		ck_assert_msg(WIFEXITED(status[i]) && WEXITSTATUS(status[i]) == 0,
			      "child of fork %d (other threads allocating) %s%s: %s", i, how,
			      WIFSIGNALED(status[i]) && WTERMSIG(status[i]) == SIGALRM ?
			      " (hung)" : "", said[i]);
	}
}
END_TEST

/* ---- the tests, into their test cases ---------------------------------- */

void add_threads_tests(struct preload_tcases *t)
{
	tcase_add_test(t->threads, test_threads_cross_free);
	tcase_add_test(t->threads, test_thread_exit_destructors);
	tcase_add_test(t->threads, test_fork_while_threads_allocate);
}
