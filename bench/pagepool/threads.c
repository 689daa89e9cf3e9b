/* SPDX-License-Identifier: MIT */
/*
 * threads.c - the threads workload of pagepool-bench (issue 17): memory
 * held by idle threads.  Owns the workload's run in the child: the
 * processes per thread count, the bursts, the idle points at which memory
 * is read, and the H lines.  The parent's table is threads-table.c.
 *
 * For each T in THREADS_POINTS (4, 64, 256: more threads than CPUs on
 * purpose) a process of its own, forked from the backend's child before any
 * thread exists: T threads start together at a barrier, each runs @rounds
 * bursts (allocate 1,024 pages one call at a time, write a byte to each,
 * free them all), then blocks on a condition variable - idle, not exited.
 * Throughput: T * rounds * 1,024 pages over the burst phase, from the
 * barrier's release to the last thread's last free.  Then memory is read at
 * three points, the same for every backend:
 *   idle    at once, when every thread has finished its bursts;
 *   decay   after sleeping idle_ms (pagepool's reclaim_ms, passed by the
 *           parent) + 100 ms, then one allocation and free of a page on the
 *           main thread (pagepool: pp_alloc_page(0), a refill from an empty
 *           cache - the slow path that takes back caches idle for
 *           reclaim_ms - then pp_thread_drain() so that the main thread's
 *           own cache is not counted);
 *   decay2  the same once more: idleness is noted by one look and acted on
 *           by the next reclaim_ms later.
 * At each: resident memory (VmRSS), and for pagepool pp_stats() committed,
 * cached and free pages and the pages reclaimed so far.  The baseline is
 * VmRSS before the threads are created.
 *
 * The processes of the three T run one after another for their bursts:
 * the next is forked only when the one before has finished its bursts and
 * read its idle point, so a burst never shares the CPUs with another; their
 * sleeps overlap (a sleeping process's threads are blocked and use no CPU).
 * The parent runs every backend's child at once and hands them a baton
 * (PAGEPOOL_BENCH_BATON="READ-FD,WRITE-FD": a pipe holding one byte): a
 * process takes it before it creates its threads and gives it back after
 * its idle point, so no two bursts of any backends overlap either.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backends.h"

const unsigned threads_points[NR_THREADS_POINTS] = { 4, 64, 256 };
unsigned long threads_idle_ms = 1000;

struct tw {
	enum backend bk;
	unsigned rounds, nthreads;
	pthread_barrier_t start;
	atomic_uint ready;		/* threads at the start barrier */
	pthread_mutex_t mu;
	pthread_cond_t done_cv;		/* main waits: every burst done */
	pthread_cond_t quit_cv;		/* threads wait here, idle, for ever */
	unsigned done;
	double t_end;			/* the last thread's last free */
};

static ALWAYS_INLINE void bursts_impl(alloc_fn *A, free_fn *F, unsigned rounds)
{
	void *arr[THREADS_BURST];
	uintptr_t acc = 0;

	for (unsigned r = 0; r < rounds; r++) {
		for (size_t i = 0; i < THREADS_BURST; i++) {
			void *p = A();

			if (__builtin_expect(!p, 0))
				oom();
			touch(p, i);
			arr[i] = p;
		}
		for (size_t i = 0; i < THREADS_BURST; i++) {
			acc ^= (uintptr_t)arr[i];
			F(arr[i]);
		}
	}
	sink ^= acc;
}

static void bursts(enum backend bk, unsigned rounds)
{
	DISPATCH(bk, bursts_impl, rounds)
}

/* One allocation and free on this thread (the decay points). */
static ALWAYS_INLINE void one_impl(alloc_fn *A, free_fn *F, int unused)
{
	void *p = A();

	(void)unused;
	if (!p)
		oom();
	touch(p, 0);
	F(p);
}

static void one(enum backend bk)
{
	DISPATCH(bk, one_impl, 0)
}

static void *worker(void *arg)
{
	struct tw *w = arg;

	atomic_fetch_add(&w->ready, 1);
	pthread_barrier_wait(&w->start);
	bursts(w->bk, w->rounds);
	pthread_mutex_lock(&w->mu);
	if (++w->done == w->nthreads) {
		w->t_end = now_ns();
		pthread_cond_signal(&w->done_cv);
	}
	for (;;)		/* idle: blocked, not exited */
		pthread_cond_wait(&w->quit_cv, &w->mu);
	return NULL;
}

/* Memory at one point: VmRSS KiB; pagepool's stats (else -1). */
struct point {
	long rss_kib;
	long committed, cached, free, reclaimed;
};

static void read_point(enum backend bk, struct point *pt)
{
	pt->rss_kib = rss_now_kib();
	pt->committed = pt->cached = pt->free = pt->reclaimed = -1;
	if (bk == BK_PP) {
		struct pp_stats s;

		pp_stats(&s, sizeof(s));
		pt->committed = (long)s.committed;
		pt->cached = (long)s.cached;
		pt->free = (long)s.free;
		pt->reclaimed = (long)s.reclaimed_pages;
	}
}

/* The baton (see the top): take it (@give false) or give it back. */
static void baton(bool give)
{
	const char *env = getenv("PAGEPOOL_BENCH_BATON");
	int fd[2];
	char c = 1;
	ssize_t n;

	if (!env || sscanf(env, "%d,%d", &fd[0], &fd[1]) != 2)
		return;
	do
		n = give ? write(fd[1], &c, 1) : read(fd[0], &c, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		die("threads: baton: %s", n < 0 ? strerror(errno) : "end of file");
}

static void sleep_ms(unsigned long ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The decay points: sleep past the interval, one slow-path allocation. */
static void decay_point(enum backend bk, struct point *pt)
{
	sleep_ms(threads_idle_ms + 100);
	one(bk);
	if (bk == BK_PP)
		pp_thread_drain();	/* the main thread's own cache: not counted */
	read_point(bk, pt);
}

/*
 * The process of one T: bursts, then the idle point; tell the backend's
 * child (@go: the next process may start) and read the decay points.
 */
static void one_process(enum backend bk, unsigned nthreads, unsigned rounds, int go)
{
	static struct tw w;
	struct point pt[3];
	long base;
	double t0, pps;
	char c = 1;
	int err;

	alarm(120);
	if (bk == BK_PP) {
		size_t v;

		if (pp_option("reclaim_ms", &v) != 0)	/* initialises the pool */
			die("pp_option(reclaim_ms): %s", strerror(errno));
	}
	w.bk = bk;
	w.rounds = rounds;
	w.nthreads = nthreads;
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.done_cv, NULL);
	pthread_cond_init(&w.quit_cv, NULL);
	err = pthread_barrier_init(&w.start, NULL, nthreads + 1);
	if (err)
		die("pthread_barrier_init: %s", strerror(err));
	base = rss_now_kib();

	baton(false);
	for (unsigned i = 0; i < nthreads; i++) {
		pthread_attr_t attr;
		pthread_t th;

		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		err = pthread_create(&th, &attr, worker, &w);
		pthread_attr_destroy(&attr);
		if (err)
			die("pthread_create (thread %u of %u): %s", i + 1, nthreads, strerror(err));
	}
	while (atomic_load(&w.ready) < nthreads)
		sleep_ms(1);
	t0 = now_ns();
	pthread_barrier_wait(&w.start);

	pthread_mutex_lock(&w.mu);
	while (w.done < nthreads)
		pthread_cond_wait(&w.done_cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	pps = (double)nthreads * rounds * THREADS_BURST / ((w.t_end - t0) / 1e9);
	read_point(bk, &pt[0]);
	baton(true);
	if (write(go, &c, 1) != 1)
		die("threads: pipe: %s", strerror(errno));
	close(go);
	decay_point(bk, &pt[1]);
	decay_point(bk, &pt[2]);

	printf("H %s %u %u %.0f %ld", bks[bk].name, nthreads, rounds, pps, base);
	for (int i = 0; i < 3; i++)
		printf(" %ld %ld %ld %ld %ld", pt[i].rss_kib, pt[i].committed, pt[i].cached,
		       pt[i].free, pt[i].reclaimed);
	printf("\n");
	if (fflush(stdout) != 0)
		die("writing results: %s", strerror(errno));
	_exit(0);		/* the idle threads go with the process */
}

void run_threads(enum backend bk, const struct sizes *sz)
{
	pid_t pids[NR_THREADS_POINTS];
	int failed = 0;

	fflush(stdout);
	for (int i = 0; i < NR_THREADS_POINTS; i++) {
		int fd[2];
		char c;

		if (pipe(fd) != 0)
			die("pipe: %s", strerror(errno));
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork: %s", strerror(errno));
		if (pids[i] == 0) {
			close(fd[0]);
			one_process(bk, threads_points[i], sz->threads_rounds, fd[1]);
		}
		close(fd[1]);
		/* Wait for its bursts (or its end) before the next one starts. */
		while (read(fd[0], &c, 1) < 0 && errno == EINTR)
			;
		close(fd[0]);
	}
	for (int i = 0; i < NR_THREADS_POINTS; i++) {
		int status;

		while (waitpid(pids[i], &status, 0) < 0)
			if (errno != EINTR)
				die("waitpid: %s", strerror(errno));
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "pagepool-bench: threads %s T=%u: process %s %d\n",
				bks[bk].name, threads_points[i],
				WIFSIGNALED(status) ? "killed by signal" : "exited with status",
				WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
			failed = 1;
		}
	}
	if (failed)
		exit(1);
}
