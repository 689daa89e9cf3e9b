/* SPDX-License-Identifier: MIT */
/*
 * remote.c - the remote workload of pagepool-bench: a producer thread
 * allocates pages (each written) and hands them through a 1024-slot
 * single-producer/single-consumer ring to a consumer thread that frees
 * them; wall ns per page.
 */
#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "backends.h"

#define RING_SLOTS	1024		/* power of two */

struct ring {
	_Alignas(64) atomic_size_t head;	/* written by the producer */
	_Alignas(64) atomic_size_t tail;	/* written by the consumer */
	_Alignas(64) atomic_size_t end;		/* SIZE_MAX, then the final head */
	atomic_int consumer_ready;
	enum backend bk;
	_Alignas(64) void *slot[RING_SLOTS];
};

/* The consumer frees what it pops until the producer has set the end. */
static ALWAYS_INLINE void consume_impl(alloc_fn *A, free_fn *F, struct ring *rg)
{
	size_t tail = 0, head = 0;
	unsigned spins = 0;

	(void)A;
	atomic_store_explicit(&rg->consumer_ready, 1, memory_order_release);
	for (;;) {
		void *p;

		while (tail == head) {
			head = atomic_load_explicit(&rg->head, memory_order_acquire);
			if (tail != head)
				break;
			if (atomic_load_explicit(&rg->end, memory_order_acquire) == tail)
				return;
			cpu_relax(&spins);
		}
		p = rg->slot[tail & (RING_SLOTS - 1)];
		atomic_store_explicit(&rg->tail, ++tail, memory_order_release);
		F(p);
	}
}

static void consume(struct ring *rg)
{
	DISPATCH(rg->bk, consume_impl, rg)
}

static void *consumer_main(void *arg)
{
	consume(arg);
	return NULL;
}

/*
 * Produce from ring position @pos up to @max pages or for @budget ns;
 * returns the new position.
 */
static ALWAYS_INLINE size_t produce_impl(alloc_fn *A, free_fn *F, struct ring *rg,
					size_t pos, size_t max, double budget)
{
	size_t last = pos + max, tail = atomic_load_explicit(&rg->tail, memory_order_acquire);
	double t0 = now_ns();
	unsigned spins = 0;

	(void)F;
	while (pos < last && now_ns() - t0 < budget) {
		size_t end = last - pos < CHECK_UNITS ? last : pos + CHECK_UNITS;

		for (; pos < end; pos++) {
			void *p = A();

			if (__builtin_expect(!p, 0))
				oom();
			touch(p, pos);
			while (pos - tail >= RING_SLOTS) {
				tail = atomic_load_explicit(&rg->tail, memory_order_acquire);
				if (pos - tail >= RING_SLOTS)
					cpu_relax(&spins);
			}
			rg->slot[pos & (RING_SLOTS - 1)] = p;
			atomic_store_explicit(&rg->head, pos + 1, memory_order_release);
		}
	}
	return pos;
}

static size_t produce(struct ring *rg, size_t pos, size_t max, double budget)
{
	DISPATCH(rg->bk, produce_impl, rg, pos, max, budget)
}

/*
 * remote: warm up (@warm pages or @warm_budget ns), wait for the consumer
 * to catch up, then time up to @max pages or @budget ns plus the consumer
 * freeing the last of them.
 */
static struct meas do_remote(enum backend bk, size_t warm, double warm_budget, size_t max,
			     double budget)
{
	static struct ring rg;
	pthread_t th;
	unsigned spins = 0;
	size_t pos, done;
	double t;
	int err;

	atomic_store(&rg.head, 0);
	atomic_store(&rg.tail, 0);
	atomic_store(&rg.end, SIZE_MAX);
	atomic_store(&rg.consumer_ready, 0);
	rg.bk = bk;
	err = pthread_create(&th, NULL, consumer_main, &rg);
	if (err)
		die("pthread_create: %s", strerror(err));
	while (!atomic_load_explicit(&rg.consumer_ready, memory_order_acquire))
		cpu_relax(&spins);
	pos = produce(&rg, 0, warm, warm_budget);
	while (atomic_load_explicit(&rg.tail, memory_order_acquire) != pos)
		cpu_relax(&spins);
	try_fallbacks = 0;
	t = now_ns();
	done = produce(&rg, pos, max, budget);
	atomic_store_explicit(&rg.end, done, memory_order_release);
	err = pthread_join(th, NULL);
	if (err)
		die("pthread_join: %s", strerror(err));
	t = now_ns() - t;
	return (struct meas){ t, done - pos };
}

void run_remote(enum backend bk, const struct sizes *sz)
{
	static void *arr[BULK_PAGES];
	struct meas m;

	prewarm_try(bk, BULK_PAGES, arr);
	m = do_remote(bk, sz->pages / 10, sz->warm_budget, sz->pages, sz->budget);
	report(WL_REMOTE, bks[bk].name, m, fallback_pct(bk, m.units));
}
