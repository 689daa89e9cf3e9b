/* SPDX-License-Identifier: MIT */
/*
 * flood.c - fallback-bench's child: one configuration of the
 * kfree_rcu-like flood (flooder threads filling page-sized pointer blocks
 * taken with PP_TRY or PP_NOWAIT, a grace period, a reclaimer or the
 * flooders freeing them, a monitor sampling pp_stats), checked to lose no
 * object, and its R line.  The workload in full is described in main.c.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "pagepool.h"
#include "fallback.h"

/* A block: a pool page of pointers waiting for a grace period. */
struct block {
	struct block *next;		/* hand-over stack, then the FIFO */
	uint64_t due_ns;		/* when its grace period has passed */
	size_t nr;			/* pointers in use */
	void *ptr[];			/* slots of them */
};

struct flooder {
	/* Shared with the reclaimer and the monitor. */
	_Atomic(struct block *) handed;	/* remote: full blocks, newest first */
	atomic_size_t pushed;		/* blocks handed to RCU */
	atomic_size_t freed;		/* blocks freed after their grace period */
	/* The freeing side's (reclaimer for remote, the flooder for local). */
	struct block *fifo, *fifo_tail;	/* blocks in flight, oldest first */
	uint64_t freed_objs, freed_sum;
	/* The flooder's own. */
	pthread_t th;
	unsigned id;
	uint64_t all_sum;		/* ids of every object queued */
	uint64_t fallbacks, fb_sum;	/* objects that took the fallback */
	uint64_t blocks_got;
	uint64_t cpu_ns, wall_ns;
} __attribute__((aligned(64)));

static struct child {
	enum mode mode;
	enum policy policy;
	enum reclaim reclaim;
	unsigned high, batch;
	struct params p;
	uint64_t delay_ns;
	struct flooder *fl;
	pthread_barrier_t start;
	atomic_bool flooders_done;	/* stop for the reclaimer */
	atomic_bool stop_monitor;
	atomic_bool flooding;		/* from the start barrier ... */
	atomic_uint producing;		/* ... while every flooder still queues */
	atomic_size_t peak_inflight;
	size_t peak_held, min_free;	/* the monitor's */
	size_t peak_extra;		/* max of held - in flight, same sample */
	uint64_t samples;
	double inflight_sum;		/* over the monitor's samples */
} cx;

static inline uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = { .tv_sec = (time_t)(t / 1000000000u),
			       .tv_nsec = (long)(t % 1000000000u) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void atomic_max(atomic_size_t *a, size_t v)
{
	size_t cur = atomic_load_explicit(a, memory_order_relaxed);

	while (v > cur && !atomic_compare_exchange_weak_explicit(a, &cur, v,
								 memory_order_relaxed,
								 memory_order_relaxed))
		;
}

/* Blocks in flight now, over all flooders (freed read first: never negative). */
static size_t inflight_now(void)
{
	size_t pushed = 0, freed = 0;

	for (unsigned i = 0; i < cx.p.threads; i++) {
		freed += atomic_load_explicit(&cx.fl[i].freed, memory_order_acquire);
		pushed += atomic_load_explicit(&cx.fl[i].pushed, memory_order_acquire);
	}
	return pushed - freed;
}

/* The id of object @i of flooder @id: a fake pointer, never dereferenced. */
static inline void *obj_id(unsigned id, uint64_t i)
{
	return (void *)(uintptr_t)((i << 8) | (id + 1));
}

/* After the grace period: "free" the pointers (kfree_bulk), then the block. */
static void free_block(struct flooder *f, struct block *b)
{
	uint64_t sum = 0;

	for (size_t k = 0; k < b->nr; k++)
		sum += (uint64_t)(uintptr_t)b->ptr[k];
	f->freed_sum += sum;
	f->freed_objs += b->nr;
	pp_free_page(b);
	atomic_fetch_add_explicit(&f->freed, 1, memory_order_release);
}

/* Free @f's blocks that are due at @now, oldest first; the freeing thread. */
static void free_due(struct flooder *f, uint64_t now)
{
	if (!f->fifo || f->fifo->due_ns > now)
		return;
	atomic_max(&cx.peak_inflight, inflight_now());	/* a local maximum */
	while (f->fifo && f->fifo->due_ns <= now) {
		struct block *b = f->fifo;

		f->fifo = b->next;
		free_block(f, b);
	}
	if (!f->fifo)
		f->fifo_tail = NULL;
}

static void fifo_append(struct flooder *f, struct block *b)
{
	b->next = NULL;
	if (f->fifo_tail)
		f->fifo_tail->next = b;
	else
		f->fifo = b;
	f->fifo_tail = b;
}

/* Hand a full (or the last, partial) block to "RCU". */
static void hand_over(struct flooder *f, struct block *b, uint64_t now)
{
	b->due_ns = now + cx.delay_ns;
	if (cx.reclaim == R_LOCAL) {
		fifo_append(f, b);
	} else {
		struct block *h = atomic_load_explicit(&f->handed, memory_order_relaxed);

		do
			b->next = h;
		while (!atomic_compare_exchange_weak_explicit(&f->handed, &h, b,
							      memory_order_release,
							      memory_order_relaxed));
	}
	atomic_fetch_add_explicit(&f->pushed, 1, memory_order_release);
}

/* A new block page, the way the mode under test may take it. */
static inline struct block *get_block(enum mode m)
{
	void *p;

	switch (m) {
	case M_TRY:
		return pp_alloc_page_try();
	case M_NOWAIT:
		return pp_alloc_page(PP_NOWAIT);
	case M_TRY_NOWAIT:
		p = pp_alloc_page_try();
		return p ? p : pp_alloc_page(PP_NOWAIT);
	default:
		abort();
	}
}

/* Warm this thread's cache: @high pages in one bulk call, freed into it. */
static void prefill(unsigned high)
{
	void **pages = calloc(high, sizeof(*pages));
	size_t got;

	if (!pages)
		die("child: calloc: %s", strerror(errno));
	got = pp_alloc_pages_bulk(0, high, pages);
	if (got < high)
		fprintf(stderr, "fallback-bench: child: prefill got %zu of %u pages\n", got, high);
	pp_free_pages_bulk(got, pages);
	free(pages);
}

static void flood(struct flooder *f, enum mode m)
{
	const uint64_t n = cx.p.objects;
	const bool local = cx.reclaim == R_LOCAL;
	const double ns_per_obj = cx.p.rate ? 1e9 / (double)cx.p.rate : 0;
	uint64_t t0, now, c0, sum = 0;
	struct block *cur = NULL;

	t0 = now = mono_ns();
	c0 = thread_cpu_ns();
	for (uint64_t i = 0; i < n; i++) {
		void *obj = obj_id(f->id, i);

		if ((i & (CHUNK - 1)) == 0 && i) {
			now = mono_ns();
			if (ns_per_obj > 0) {
				uint64_t due = t0 + (uint64_t)((double)i * ns_per_obj);

				if (due > now + PACE_SLACK_NS) {
					sleep_until(due);
					now = mono_ns();
				}
			}
			if (local)
				free_due(f, now);
		}
		sum += (uint64_t)(uintptr_t)obj;
		if (__builtin_expect(!cur, 0)) {
			cur = get_block(m);
			if (!cur) {		/* the fallback path */
				f->fallbacks++;
				f->fb_sum += (uint64_t)(uintptr_t)obj;
				continue;
			}
			f->blocks_got++;
			cur->nr = 0;
		}
		cur->ptr[cur->nr++] = obj;
		if (cur->nr == slots) {
			hand_over(f, cur, mono_ns());
			cur = NULL;
		}
	}
	if (cur)
		hand_over(f, cur, mono_ns());
	f->cpu_ns = thread_cpu_ns() - c0;
	f->wall_ns = mono_ns() - t0;
	f->all_sum = sum;
	atomic_fetch_sub_explicit(&cx.producing, 1, memory_order_release);

	/* Local: this thread is its own reclaimer; wait out the last grace period. */
	while (local && f->fifo) {
		sleep_until(f->fifo->due_ns);
		free_due(f, mono_ns());
	}
}

static void *flooder_main(void *arg)
{
	struct flooder *f = arg;
	int err;

	if (cx.policy == P_PREFILL)
		prefill(cx.high);
	err = pthread_barrier_wait(&cx.start);
	if (err && err != PTHREAD_BARRIER_SERIAL_THREAD)
		die("child: pthread_barrier_wait: %s", strerror(err));
	flood(f, cx.mode);
	return NULL;
}

/* Remote: take what the flooders handed over, free what is due, sleep. */
static void *reclaimer_main(void *arg)
{
	(void)arg;
	for (;;) {
		bool done = atomic_load_explicit(&cx.flooders_done, memory_order_acquire);
		uint64_t now, next;
		bool any = false;

		for (unsigned i = 0; i < cx.p.threads; i++) {
			struct flooder *f = &cx.fl[i];
			struct block *b = atomic_exchange_explicit(&f->handed, NULL,
								   memory_order_acquire);
			struct block *rev = NULL;

			while (b) {		/* newest first: reverse */
				struct block *nx = b->next;

				b->next = rev;
				rev = b;
				b = nx;
			}
			while (rev) {
				struct block *nx = rev->next;

				fifo_append(f, rev);
				rev = nx;
			}
		}
		now = mono_ns();
		next = now + cx.delay_ns;
		for (unsigned i = 0; i < cx.p.threads; i++) {
			struct flooder *f = &cx.fl[i];

			free_due(f, now);
			if (f->fifo) {
				any = true;
				if (f->fifo->due_ns < next)
					next = f->fifo->due_ns;
			}
		}
		/* Everything handed over before "done" was taken above. */
		if (done && !any)
			break;
		sleep_until(next);
	}
	return NULL;
}

static void *monitor_main(void *arg)
{
	struct timespec ts = { .tv_sec = cx.p.sample_us / 1000000,
			       .tv_nsec = (long)(cx.p.sample_us % 1000000) * 1000 };

	(void)arg;
	cx.min_free = SIZE_MAX;
	while (!atomic_load_explicit(&cx.stop_monitor, memory_order_acquire)) {
		struct pp_stats st;
		size_t held;

		size_t infl;

		if (!atomic_load_explicit(&cx.flooding, memory_order_acquire) ||
		    atomic_load_explicit(&cx.producing, memory_order_acquire) != cx.p.threads) {
			nanosleep(&ts, NULL);	/* only the flood itself is sampled */
			continue;
		}
		pp_stats(&st, sizeof(st));
		infl = inflight_now();
		held = st.in_use + st.cached;
		if (held > cx.peak_held)
			cx.peak_held = held;
		if (held > infl && held - infl > cx.peak_extra)
			cx.peak_extra = held - infl;
		if (st.free < cx.min_free)
			cx.min_free = st.free;
		atomic_max(&cx.peak_inflight, infl);
		cx.inflight_sum += (double)infl;
		cx.samples++;
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* Automatic precommit: 4x the expected pages in flight plus every cache full. */
static unsigned long precommit_auto(const struct params *p, unsigned high)
{
	double rate = p->rate ? (double)p->rate : 2e9;	/* flat out: a generous guess */
	double inflight = rate * p->threads * (p->delay_ms + 2) / 1e3 / (double)slots;
	double pages = 4 * inflight + 2.0 * high * (p->threads + 1) + 1024;
	unsigned long mib = (unsigned long)(pages * (double)page_size / 1048576) + 1;

	return mib < MIN_PRECOMMIT_MIB ? MIN_PRECOMMIT_MIB : mib;
}

/* Commit @mib MiB of the arena (4 MiB blocks, allocated and freed, untouched). */
static void precommit(unsigned long mib)
{
	size_t block = page_size << PP_MAX_ORDER;
	size_t n = (size_t)(((uint64_t)mib << 20) + block - 1) / block;
	void **v = calloc(n, sizeof(*v));

	if (!v)
		die("child: calloc: %s", strerror(errno));
	for (size_t i = 0; i < n; i++) {
		v[i] = pp_alloc_pages(PP_MAX_ORDER, 0);
		if (!v[i])
			die("child: committing %lu MiB of the pool: %s", mib, strerror(errno));
	}
	for (size_t i = 0; i < n; i++)
		pp_free_pages(v[i], PP_MAX_ORDER);
	free(v);
}

size_t block_slots(void)
{
	return (page_size - offsetof(struct block, ptr)) / sizeof(void *);
}

int child_main(const struct config *c)
{
	const unsigned nt = c->p.threads;
	pthread_t reclaimer, monitor;
	uint64_t objs = 0, freed = 0, fbs = 0, sums = 0, fb_sums = 0, all = 0, got = 0;
	uint64_t needed = 0, cpu = 0, wall = 0;
	size_t high = 0, batch = 0;
	struct pp_stats st;
	struct rusage ru;
	long start_rss;
	int err;

	cx.mode = c->mode;
	cx.policy = c->policy;
	cx.reclaim = c->reclaim;
	cx.high = c->high;
	cx.batch = c->batch;
	cx.p = c->p;
	/* Initialise the pool (fixes the options) and check ours took. */
	if (pp_option("high", &high) != 0 || pp_option("batch", &batch) != 0)
		die("child: pp_option: %s", strerror(errno));
	if (high != cx.high || batch != cx.batch)
		die("child: the pool runs with high=%zu batch=%zu, not high=%u batch=%u "
		    "(PAGEPOOL_CONF='%s')", high, batch, cx.high, cx.batch,
		    getenv("PAGEPOOL_CONF") ? getenv("PAGEPOOL_CONF") : "");
	precommit(cx.p.precommit_mib ? cx.p.precommit_mib : precommit_auto(&cx.p, cx.high));

	cx.delay_ns = (uint64_t)cx.p.delay_ms * 1000000u;
	cx.fl = aligned_alloc(64, nt * sizeof(*cx.fl));
	if (!cx.fl)
		die("child: aligned_alloc: %s", strerror(errno));
	memset(cx.fl, 0, nt * sizeof(*cx.fl));
	atomic_store(&cx.producing, nt);
	err = pthread_barrier_init(&cx.start, NULL, nt + 1);
	if (err)
		die("child: pthread_barrier_init: %s", strerror(err));
	start_rss = rss_now_kib();

	err = pthread_create(&monitor, NULL, monitor_main, NULL);
	if (!err && cx.reclaim == R_REMOTE)
		err = pthread_create(&reclaimer, NULL, reclaimer_main, NULL);
	for (unsigned i = 0; i < nt && !err; i++) {
		cx.fl[i].id = i;
		err = pthread_create(&cx.fl[i].th, NULL, flooder_main, &cx.fl[i]);
	}
	if (err)
		die("child: pthread_create: %s", strerror(err));
	err = pthread_barrier_wait(&cx.start);
	if (err && err != PTHREAD_BARRIER_SERIAL_THREAD)
		die("child: pthread_barrier_wait: %s", strerror(err));
	atomic_store_explicit(&cx.flooding, true, memory_order_release);
	for (unsigned i = 0; i < nt; i++) {
		err = pthread_join(cx.fl[i].th, NULL);
		if (err)
			die("child: pthread_join: %s", strerror(err));
	}
	atomic_store_explicit(&cx.flooding, false, memory_order_release);
	atomic_store_explicit(&cx.flooders_done, true, memory_order_release);
	if (cx.reclaim == R_REMOTE && (err = pthread_join(reclaimer, NULL)))
		die("child: pthread_join: %s", strerror(err));
	atomic_store_explicit(&cx.stop_monitor, true, memory_order_release);
	if ((err = pthread_join(monitor, NULL)))
		die("child: pthread_join: %s", strerror(err));

	/* No object lost: each was freed from a block or took the fallback. */
	for (unsigned i = 0; i < nt; i++) {
		const struct flooder *f = &cx.fl[i];

		objs += cx.p.objects;
		needed += (cx.p.objects + slots - 1) / slots;
		freed += f->freed_objs;
		fbs += f->fallbacks;
		sums += f->freed_sum;
		fb_sums += f->fb_sum;
		all += f->all_sum;
		got += f->blocks_got;
		cpu += f->cpu_ns;
		wall = f->wall_ns > wall ? f->wall_ns : wall;
		if (atomic_load(&f->pushed) != f->blocks_got || atomic_load(&f->freed) != f->blocks_got)
			die("child: flooder %u: %" PRIu64 " blocks taken, %zu handed over, %zu "
			    "freed", i, f->blocks_got, atomic_load(&f->pushed),
			    atomic_load(&f->freed));
	}
	if (freed + fbs != objs || sums + fb_sums != all)
		die("child: objects lost: %" PRIu64 " queued, %" PRIu64 " freed from blocks, "
		    "%" PRIu64 " fallbacks (checksums %s)", objs, freed, fbs,
		    sums + fb_sums == all ? "agree" : "differ");
	pp_stats(&st, sizeof(st));
	if (st.in_use != 0 || st.committed != st.in_use + st.cached + st.free + st.reserved)
		die("child: pool ledger after the run: committed %zu, in use %zu, cached %zu, "
		    "free %zu, reserved %zu", st.committed, st.in_use, st.cached, st.free,
		    st.reserved);
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		die("child: getrusage: %s", strerror(errno));

	printf("R %s %s %s %u %u %u %u %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %zu %.1f "
	       "%zu %zu %" PRIu64 " %ld %ld %" PRIu64 " %" PRIu64 " %zu %zu %zu %zu\n",
	       mode_names[cx.mode],
	       policy_names[cx.policy], reclaim_names[cx.reclaim], cx.high, cx.batch, nt,
	       cx.p.delay_ms, objs, needed, got, fbs, atomic_load(&cx.peak_inflight),
	       cx.samples ? cx.inflight_sum / (double)cx.samples : 0.0,
	       cx.peak_held, cx.peak_extra, cx.samples, ru.ru_maxrss, start_rss,
	       cpu, wall, cx.samples ? cx.min_free : 0, st.trylock_fails,
	       st.refills, st.drains);
	if (fflush(stdout) != 0 || ferror(stdout))
		die("child: writing results: %s", strerror(errno));
	return 0;
}

