/* SPDX-License-Identifier: MIT */
/*
 * threads.c - runs allocated on one thread and freed (shrunk, grown) on
 * another, through queues between worker threads.
 */
#include "exact.h"

/* ---- threads: allocated on one, freed on another ------------------------- */

#define NTHREADS	4
#define RUNS_PER_THREAD	2500	/* an allocation and a free each: 20000 operations */
#define QUEUE_MAX	64

/* Lives in the first page of a run in flight. */
struct run_link {
	struct run_link *next;
	size_t n;
	uint64_t tag;
	unsigned producer;
};

struct run_queue {
	pthread_mutex_t lock;
	struct run_link *head, *tail;
	size_t len;
};

struct worker {
	unsigned id;
	uint64_t seed;
	size_t consumed, foreign, shrunk, grown;
	char err[256];
};

static struct run_queue queues[NTHREADS];
static unsigned producers_done;
static bool stop_all;

static void worker_fail(struct worker *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void worker_fail(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	if (!w->err[0]) {
		va_start(ap, fmt);
		vsnprintf(w->err, sizeof(w->err), fmt, ap);
		va_end(ap);
	}
	__atomic_store_n(&stop_all, true, __ATOMIC_RELAXED);
}

static bool queue_push(struct run_queue *q, struct run_link *r)
{
	bool ok;

	pthread_mutex_lock(&q->lock);
	ok = q->len < QUEUE_MAX;
	if (ok) {
		r->next = NULL;
		if (q->tail)
			q->tail->next = r;
		else
			q->head = r;
		q->tail = r;
		q->len++;
	}
	pthread_mutex_unlock(&q->lock);
	return ok;
}

static struct run_link *queue_pop(struct run_queue *q)
{
	struct run_link *r;

	pthread_mutex_lock(&q->lock);
	r = q->head;
	if (r) {
		q->head = r->next;
		if (!q->head)
			q->tail = NULL;
		q->len--;
	}
	pthread_mutex_unlock(&q->lock);
	return r;
}

/* Tag every page of a run but the first (which holds the link). */
static void tag_run(struct run_link *r)
{
	for (size_t j = 1; j < r->n; j++)
		memcpy((char *)r + j * ps(), &r->tag, sizeof(r->tag));
}

static bool run_tagged(const struct run_link *r, size_t *bad_page)
{
	for (size_t j = 1; j < r->n; j++) {
		uint64_t t;

		memcpy(&t, (const char *)r + j * ps(), sizeof(t));
		if (t != r->tag) {
			*bad_page = j;
			return false;
		}
	}
	return true;
}

/* Check and free one run from @q (maybe shrinking it first). */
static bool consume_one(struct worker *w, struct run_queue *q)
{
	struct run_link *r = queue_pop(q);
	size_t n, got, bad = 0;

	if (!r)
		return false;
	n = r->n;
	got = pp_exact_pages("thread_pages", r);
	if (got != n)
		worker_fail(w, "run %p from thread %u: pp_exact_pages %zu, made with %zu",
			    (void *)r, r->producer, got, n);
	if (!run_tagged(r, &bad))
		worker_fail(w, "run %p of %zu pages from thread %u: page %zu overwritten "
			    "(runs overlap)", (void *)r, n, r->producer, bad);
	w->foreign += r->producer != w->id;
	if (n > 1 && rnd(&w->seed) % 4 == 0) {
		size_t m = 1 + rnd(&w->seed) % (n - 1);

		pp_exact_shrink("thread_shrink", r, m);
		got = pp_exact_pages("thread_pages", r);
		if (got != m)
			worker_fail(w, "run of %zu shrunk to %zu: pp_exact_pages %zu", n, m, got);
		w->shrunk++;
		n = m;
	}
	if (n < 40 && rnd(&w->seed) % 4 == 0) {
		size_t m = n + 1 + rnd(&w->seed) % 24;

		if (pp_exact_grow("thread_grow", r, m)) {
			got = pp_exact_pages("thread_pages", r);
			if (got != m)
				worker_fail(w, "run of %zu grown to %zu: pp_exact_pages %zu", n,
					    m, got);
			memset((char *)r + n * ps(), 0x6b, (m - n) * ps());
			w->grown++;
		}
	}
	pp_exact_free("thread_free", r);
	w->consumed++;
	return true;
}

static void *exact_worker(void *arg)
{
	struct worker *w = arg;
	struct run_queue *in = &queues[w->id], *out = &queues[(w->id + 1) % NTHREADS];

	for (size_t i = 0; i < RUNS_PER_THREAD; i++) {
		size_t n = 1 + rnd(&w->seed) % 40;
		unsigned a = (unsigned)(rnd(&w->seed) % 3);
		struct run_link *r;

		if (__atomic_load_n(&stop_all, __ATOMIC_RELAXED))
			break;
		r = pp_exact_alloc(n, a, 0);
		if (!r) {
			worker_fail(w, "pp_exact_alloc(%zu, %u, 0): %s", n, a, strerror(errno));
			break;
		}
		if (!block_aligned(r, a))
			worker_fail(w, "pp_exact_alloc(%zu, %u, 0) = %p: misaligned", n, a,
				    (void *)r);
		r->n = n;
		r->tag = ((uint64_t)w->id << 32 | i) * 0x9E3779B97F4A7C15ULL;
		r->producer = w->id;
		tag_run(r);
		/* The next thread frees it; while its queue is full, free ours. */
		while (!queue_push(out, r)) {
			if (__atomic_load_n(&stop_all, __ATOMIC_RELAXED)) {
				pp_exact_free("thread_free", r);
				break;
			}
			if (!consume_one(w, in))
				sched_yield();
		}
		consume_one(w, in);
	}
	__atomic_add_fetch(&producers_done, 1, __ATOMIC_SEQ_CST);
	for (;;) {
		if (consume_one(w, in))
			continue;
		if (__atomic_load_n(&producers_done, __ATOMIC_SEQ_CST) == NTHREADS)
			break;
		sched_yield();
	}
	while (consume_one(w, in))	/* pushed before the last producer finished */
		;
	return NULL;
}

START_TEST(test_threads)
{
	struct worker w[NTHREADS];
	pthread_t t[NTHREADS];
	size_t start, consumed = 0, foreign = 0, shrunk = 0, grown = 0;

	start = in_use();
	for (unsigned i = 0; i < NTHREADS; i++) {
		pthread_mutex_init(&queues[i].lock, NULL);
		queues[i].head = queues[i].tail = NULL;
		queues[i].len = 0;
		memset(&w[i], 0, sizeof(w[i]));
		w[i].id = i;
		w[i].seed = 0x9E3779B97F4A7C15ULL * (i + 1);
	}
	for (unsigned i = 0; i < NTHREADS; i++)
		t[i] = spawn(exact_worker, &w[i]);
	for (unsigned i = 0; i < NTHREADS; i++)
		join(t[i]);
	for (unsigned i = 0; i < NTHREADS; i++) {
		ck_assert_msg(!w[i].err[0], "thread %u: %s", i, w[i].err);
		ck_assert_ptr_null(queues[i].head);
		consumed += w[i].consumed;
		foreign += w[i].foreign;
		shrunk += w[i].shrunk;
		grown += w[i].grown;
	}
	ck_assert_uint_eq(consumed, NTHREADS * RUNS_PER_THREAD);
	ck_assert_msg(foreign == consumed, "only %zu of %zu runs freed on another thread",
		      foreign, consumed);
	ck_assert_uint_gt(shrunk, 0);
	ck_assert_uint_gt(grown, 0);
	set_where("after %zu runs over %d threads", consumed, NTHREADS);
	ck_assert_msg(in_use() == start, "in_use %zu after all runs were freed, was %zu",
		      in_use(), start);
	check_ledger(0);
	for (unsigned i = 0; i < NTHREADS; i++)
		pthread_mutex_destroy(&queues[i].lock);
}
END_TEST

/* ---- into the test case ----------------------------------------------- */

void add_threads_tests(TCase *tc)
{
	tcase_add_test(tc, test_threads);
}
