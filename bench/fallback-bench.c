/* SPDX-License-Identifier: MIT */
/*
 * fallback-bench - a kfree_rcu-like flood whose pointer blocks are taken
 * without blocking (PP_TRY, PP_NOWAIT): how often the fallback path is taken
 * and how much memory is held, by per-thread cache size and refill policy.
 *
 *   fallback-bench [--quick] [--runs R] [--threads N] [--delay-ms D]
 *                  [--rate R] [--objects N] [--reclaim remote|local|both]
 *                  [--sample-us U] [--precommit MIB] [--csv FILE]
 *
 * This is the experiment the seed thread asked for and never ran ("we do
 * not have any meaningful numbers"; "~400 pages to cover the bandwidth").
 *
 * The workload.  N flooder threads (default 2) each "kvfree_rcu" a stream of
 * objects, paced to R objects/s per thread (default 10M; 0 = flat out).  An
 * object is a dummy pointer (an id, never dereferenced: no malloc, so only
 * the pool's pages are measured).  Each needs a slot in the thread's current
 * page-sized pointer block (a pool page: a 3-word header and 509 pointers
 * with 4 KiB pages).  When there is no current block - the last one filled -
 * the next object asks for a new block page with the mode under test:
 *   try         pp_alloc_page_try(): this thread's cache only
 *   nowait      pp_alloc_page(PP_NOWAIT): cache, then a trylock refill
 *   try+nowait  pp_alloc_page_try(), then pp_alloc_page(PP_NOWAIT) (the
 *               kernel's order of attempts; in pagepool PP_NOWAIT already
 *               pops the cache first, so this row is a replicate of nowait:
 *               the difference between the two is run-to-run noise)
 * If that fails the object takes the fallback path (the kernel links it
 * through its embedded rcu_head, or waits for a grace period): here it is
 * counted and its id added to an overflow checksum.  As kvfree_call_rcu()
 * does, every object retries the allocation while there is no block.
 * A full block is "handed to RCU" with a time stamp; it is freed with
 * pp_free_page() once a grace period - a fixed delay D, default 10 ms like
 * liburcu's call_rcu thread, --delay-ms 1 or 100 for the other regimes -
 * has passed since, after its pointers are "freed" (read and summed, as
 * kfree_bulk() walks the array).  Who frees the block:
 *   remote  a reclaimer thread: each flooder pushes full blocks on a
 *           lock-free stack, the reclaimer takes them, sleeps until the
 *           oldest is due and frees it.  The pages go into the reclaimer's
 *           cache and back to the global lists in batches, so a flooder's
 *           cache only ever refills from the global lists: PP_TRY alone has
 *           nothing to live on
 *   local   the flooder frees its own due blocks (checked every 256
 *           objects): the kernel's case, where kfree_rcu_work runs on the
 *           CPU whose per-CPU block list it drains, so block pages return
 *           to that CPU's pcp list
 *
 * The sweep: reclaim model x mode x refill policy x per-thread cache size
 * high (16, 64, 256, 1024 pages).  Policies:
 *   small    batch = high/8 (small refills and drains)
 *   large    batch = high/2
 *   prefill  batch = high/2, and each flooder warms its cache before the
 *            flood: pp_alloc_pages_bulk(0, high) then pp_free_pages_bulk()
 *            (the kernel's later answer: a per-CPU stash of spare blocks)
 * Pool options are fixed at first use, so every configuration runs in a
 * process of its own: the parent re-executes itself (/proc/self/exe
 * --child ...) with PAGEPOOL_CONF="<yours>,high=H,batch=B".  The child
 * initialises the pool and commits --precommit MiB of it (allocated with
 * flags 0 in 4 MiB blocks and freed, untouched), because PP_NOWAIT never
 * grows the arena: the kernel's zone has its free memory already; a
 * fallback here should mean "lock busy" or "cache empty", not "no memory".
 *
 * Measured per configuration: objects queued, blocks needed (objects / 509,
 * per thread), fallbacks (objects that took the fallback path) and their
 * share of the objects (= of the block slots needed), peak pages in flight
 * (blocks handed to RCU and not yet freed: exact, taken by the freeing
 * thread just before each free and by the monitor) and its mean, peak pages
 * held (the pool's in_use + cached: pp_stats() sampled by a monitor thread
 * every --sample-us, default 1 ms, while every flooder is queueing;
 * pp_stats() takes the global lock, a small perturbation of the trylocks
 * measured) and the largest "held - in flight" of one sample (what the
 * caches cost), peak RSS (ru_maxrss of the child), and ns per object (the
 * flooders' thread CPU time per object: slot store, block allocation,
 * hand-over, pacing checks; the sleeps themselves excluded).  The child
 * checks that every object was either freed from a block or counted as a
 * fallback (count and id checksum) and that no pool page is still in use
 * at the end.
 *
 * Child protocol (one line on stdout):
 *   R <mode> <policy> <reclaim> <high> <batch> <threads> <delay-ms>
 *     <objects> <blocks-needed> <blocks-got> <fallbacks> <peak-inflight>
 *     <mean-inflight> <peak-held> <peak-held-beyond-inflight> <samples>
 *     <maxrss-KiB> <start-rss-KiB> <cpu-ns> <wall-ns> <min-free>
 *     <trylock-fails> <refills> <drains>
 * Child exit status: 0 done, else failed.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pagepool.h"
#include "benchutil.h"

#define MAX_THREADS	64
#define DEF_THREADS	2
#define DEF_DELAY_MS	10
/*
 * Objects per second per flooder.  10M with 509 pointers per block is ~19.6k
 * blocks/s per thread: two threads and a 10 ms grace period keep ~393 pages
 * in flight, the seed's "~400 pages to cover the bandwidth".
 */
#define DEF_RATE	10000000UL
#define FULL_OBJECTS	5000000UL	/* per thread: ~0.5 s, ~50 grace periods */
#define FULL_RUNS	3
#define QUICK_OBJECTS	1500000UL	/* per thread: ~0.15 s */
#define QUICK_RUNS	1
#define DEF_SAMPLE_US	1000
#define MIN_PRECOMMIT_MIB 64
#define CHUNK		256		/* objects between pacing/reclaim checks */
#define PACE_SLACK_NS	100000		/* sleep when this far ahead of the pace */
#define ZERO_PCT	0.1		/* "fallback rate ~0": below this % */

static const unsigned highs[] = { 16, 64, 256, 1024 };
#define NR_HIGH (sizeof(highs) / sizeof(highs[0]))

enum mode { M_TRY, M_NOWAIT, M_TRY_NOWAIT, NR_MODE };
enum policy { P_SMALL, P_LARGE, P_PREFILL, NR_POLICY };
enum reclaim { R_REMOTE, R_LOCAL, NR_RECLAIM };

static const char *const mode_names[NR_MODE] = { "try", "nowait", "try+nowait" };
static const char *const policy_names[NR_POLICY] = { "small", "large", "prefill" };
static const char *const policy_desc[NR_POLICY] = { "batch=high/8", "batch=high/2",
						    "batch=high/2, cache prefilled" };
static const char *const reclaim_names[NR_RECLAIM] = { "remote", "local" };

static size_t page_size;
static size_t slots;			/* pointers per block */

/* Settings shared by parent and child (the parent passes them on). */
struct params {
	unsigned threads;
	unsigned delay_ms;
	unsigned long rate;		/* objects/s per thread; 0 = flat out */
	unsigned long objects;		/* per thread */
	unsigned sample_us;
	unsigned long precommit_mib;	/* 0 = automatic */
};

static unsigned batch_of(enum policy p, unsigned high)
{
	unsigned b = p == P_SMALL ? high / 8 : high / 2;

	return b ? b : 1;
}

/* ---- child: one configuration ------------------------------------------- */

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

/* VmRSS of this process in KiB, or 0. */
static long rss_now_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
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

static int child_main(void)
{
	const unsigned nt = cx.p.threads;
	pthread_t reclaimer, monitor;
	uint64_t objs = 0, freed = 0, fbs = 0, sums = 0, fb_sums = 0, all = 0, got = 0;
	uint64_t needed = 0, cpu = 0, wall = 0;
	size_t high = 0, batch = 0;
	struct pp_stats st;
	struct rusage ru;
	long start_rss;
	int err;

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

/* ---- parent: the sweep ---------------------------------------------------- */

struct row {
	enum reclaim reclaim;
	enum mode mode;
	enum policy policy;
	unsigned high, batch;
	int nv;
	uint64_t objects, needed;
	double got[MAX_RUNS], fb[MAX_RUNS], inflight[MAX_RUNS], held[MAX_RUNS];
	double mean_infl[MAX_RUNS], extra[MAX_RUNS], samples[MAX_RUNS];
	double rss[MAX_RUNS], rss0[MAX_RUNS], ns[MAX_RUNS], wall[MAX_RUNS];
	double minfree[MAX_RUNS], tlf[MAX_RUNS], refills[MAX_RUNS], drains[MAX_RUNS];
	bool failed;
};

static struct row rows[NR_RECLAIM][NR_MODE][NR_POLICY][NR_HIGH];

struct opts {
	bool quick;
	int runs;
	int reclaim;			/* -1: both */
	struct params p;
	const char *csv;
	const char *argv0;
};

static void child_env(const void *arg)
{
	setenv("PAGEPOOL_CONF", arg, 1);
}

/* Parse the child's line into @r; false if it reported nothing valid. */
static bool collect(struct row *r, FILE *in)
{
	char *line = NULL;
	size_t cap = 0;
	bool any = false;

	while (getline(&line, &cap, in) > 0) {
		char mode[32], pol[32], rec[32];
		unsigned high, batch, threads, delay;
		uint64_t objs, needed, got, fbs, cpu, wall;
		size_t infl, held, extra, minfree, tlf, refills, drains;
		uint64_t samples;
		double mean_infl;
		long maxrss, rss0;

		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "R %31s %31s %31s %u %u %u %u %" SCNu64 " %" SCNu64 " %" SCNu64
			   " %" SCNu64 " %zu %lf %zu %zu %" SCNu64 " %ld %ld %" SCNu64 " %" SCNu64
			   " %zu %zu %zu %zu",
			   mode, pol, rec, &high, &batch, &threads, &delay, &objs, &needed, &got,
			   &fbs, &infl, &mean_infl, &held, &extra, &samples, &maxrss, &rss0, &cpu, &wall, &minfree, &tlf,
			   &refills, &drains) == 24 &&
		    !strcmp(mode, mode_names[r->mode]) && !strcmp(pol, policy_names[r->policy]) &&
		    !strcmp(rec, reclaim_names[r->reclaim]) && high == r->high &&
		    batch == r->batch && objs > 0 && !any && r->nv < MAX_RUNS) {
			int k = r->nv++;

			r->objects = objs;
			r->needed = needed;
			r->got[k] = (double)got;
			r->fb[k] = (double)fbs;
			r->inflight[k] = (double)infl;
			r->mean_infl[k] = mean_infl;
			r->extra[k] = (double)extra;
			r->samples[k] = (double)samples;
			r->held[k] = (double)held;
			r->rss[k] = (double)maxrss / 1024;
			r->rss0[k] = (double)rss0 / 1024;
			r->ns[k] = (double)cpu / (double)objs;
			r->wall[k] = (double)wall / 1e9;
			r->minfree[k] = (double)minfree;
			r->tlf[k] = (double)tlf;
			r->refills[k] = (double)refills;
			r->drains[k] = (double)drains;
			any = true;
		} else if (line[0]) {
			fprintf(stderr, "fallback-bench: unexpected child output '%s'\n", line);
		}
	}
	free(line);
	return any;
}

/* Run one child for @r; 0, or -1 on failure (a message has been printed). */
static int spawn(const struct opts *o, struct row *r)
{
	char conf[512], high[16], batch[16], thr[16], delay[16], rate[32], objs[32];
	char samp[16], pre[32];
	const char *user = getenv("PAGEPOOL_CONF");
	const char *args[24];
	int n = 0, status;
	bool got;
	pid_t pid;
	FILE *in;

	/* high_max=high: the cache size under test stays fixed (no growth). */
	snprintf(conf, sizeof(conf), "%s%shigh=%u,high_max=%u,batch=%u", user && *user ? user : "",
		 user && *user ? "," : "", r->high, r->high, r->batch);
	snprintf(high, sizeof(high), "%u", r->high);
	snprintf(batch, sizeof(batch), "%u", r->batch);
	snprintf(thr, sizeof(thr), "%u", o->p.threads);
	snprintf(delay, sizeof(delay), "%u", o->p.delay_ms);
	snprintf(rate, sizeof(rate), "%lu", o->p.rate);
	snprintf(objs, sizeof(objs), "%lu", o->p.objects);
	snprintf(samp, sizeof(samp), "%u", o->p.sample_us);
	snprintf(pre, sizeof(pre), "%lu", o->p.precommit_mib);
	args[n++] = o->argv0;
	args[n++] = "--threads";
	args[n++] = thr;
	args[n++] = "--delay-ms";
	args[n++] = delay;
	args[n++] = "--rate";
	args[n++] = rate;
	args[n++] = "--objects";
	args[n++] = objs;
	args[n++] = "--sample-us";
	args[n++] = samp;
	args[n++] = "--precommit";
	args[n++] = pre;
	args[n++] = "--child";
	args[n++] = mode_names[r->mode];
	args[n++] = policy_names[r->policy];
	args[n++] = reclaim_names[r->reclaim];
	args[n++] = high;
	args[n++] = batch;
	args[n] = NULL;

	in = spawn_self(args, child_env, conf, &pid);
	got = collect(r, in);
	fclose(in);
	status = wait_child(pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && got)
		return 0;
	if (got)		/* the result of a failed child does not count */
		r->nv--;
	fprintf(stderr, "fallback-bench: %s/%s/%s high=%u: child %s %d\n",
		reclaim_names[r->reclaim], mode_names[r->mode], policy_names[r->policy], r->high,
		WIFSIGNALED(status) ? "killed by signal" : "exited with status",
		WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	return -1;
}

static double med(const double *v, int n)
{
	return n ? median(v, n) : 0;
}

/* The lowest free-list level any run's monitor saw; -1 if none sampled. */
static double min_free(const struct row *r)
{
	double m = -1;

	for (int k = 0; k < r->nv; k++)
		if (r->samples[k] > 0 && (m < 0 || r->minfree[k] < m))
			m = r->minfree[k];
	return m;
}

/* A run whose monitor took fewer than half the samples the run should give. */
static bool starved(const struct row *r, unsigned sample_us)
{
	for (int k = 0; k < r->nv; k++)
		if (r->samples[k] < r->wall[k] * 1e6 / sample_us / 2)
			return true;
	return false;
}

static double row_pct(const struct row *r)
{
	return 100.0 * med(r->fb, r->nv) / (double)r->objects;
}

/* "12.3", "0.042", "3.3e-05", "0": a percentage readable at both ends. */
static const char *fmt_pct(char *buf, size_t len, double pct)
{
	if (pct == 0)
		snprintf(buf, len, "0");
	else if (pct < 0.01)
		snprintf(buf, len, "%.2g", pct);
	else if (pct < 1)
		snprintf(buf, len, "%.3f", pct);
	else
		snprintf(buf, len, "%.1f", pct);
	return buf;
}

static bool reclaim_on(const struct opts *o, int rc)
{
	return o->reclaim < 0 || o->reclaim == rc;
}

static int parent_main(const struct opts *o, int argc, char **argv)
{
	double t_start = now_ns(), expect;
	bool any_fail = false;
	struct utsname un;
	char cpu[128], b1[32];
	const char *user = getenv("PAGEPOOL_CONF");
	FILE *csv = NULL;
	int total = 0, done = 0;

	for (int rc = 0; rc < NR_RECLAIM; rc++)
		for (int m = 0; m < NR_MODE; m++)
			for (int p = 0; p < NR_POLICY; p++)
				for (size_t h = 0; h < NR_HIGH; h++) {
					struct row *r = &rows[rc][m][p][h];

					r->reclaim = (enum reclaim)rc;
					r->mode = (enum mode)m;
					r->policy = (enum policy)p;
					r->high = highs[h];
					r->batch = batch_of(r->policy, highs[h]);
					total += reclaim_on(o, rc) ? o->runs : 0;
				}
	if (o->csv) {
		csv = fopen(o->csv, "w");
		if (!csv)
			die("%s: %s", o->csv, strerror(errno));
	}

	/* Runs interleave the configurations, so drift hits them all. */
	for (int run = 1; run <= o->runs; run++)
		for (int rc = 0; rc < NR_RECLAIM; rc++) {
			if (!reclaim_on(o, rc))
				continue;
			for (int m = 0; m < NR_MODE; m++)
				for (int p = 0; p < NR_POLICY; p++)
					for (size_t h = 0; h < NR_HIGH; h++) {
						struct row *r = &rows[rc][m][p][h];
						double t = now_ns();
						int k;

						done++;
						if (spawn(o, r) != 0) {
							r->failed = any_fail = true;
							fprintf(stderr, "[%d/%d] FAILED\n", done,
								total);
							continue;
						}
						k = r->nv - 1;
						fprintf(stderr, "[%d/%d] %-6s %-10s %-7s high %4u "
							"batch %3u: fallback %8s%%  in flight %5.0f  "
							"held %5.0f  %.2f s\n", done, total,
							reclaim_names[rc], mode_names[m],
							policy_names[p], r->high, r->batch,
							fmt_pct(b1, sizeof(b1),
								100 * r->fb[k] / (double)r->objects),
							r->inflight[k], r->held[k],
							(now_ns() - t) / 1e9);
					}
		}

	if (uname(&un) != 0) {
		snprintf(un.sysname, sizeof(un.sysname), "unknown");
		snprintf(un.release, sizeof(un.release), "unknown");
		snprintf(un.machine, sizeof(un.machine), "unknown");
	}
	cpu_model(cpu, sizeof(cpu));
	expect = o->p.rate ? (double)o->p.rate * o->p.threads * o->p.delay_ms / 1e3 /
		 (double)slots : 0;
	printf("fallback-bench: kfree_rcu-like flood, %u flooder thread%s, grace period %u ms, "
	       "%s, %lu objects per thread%s\n", o->p.threads, o->p.threads == 1 ? "" : "s",
	       o->p.delay_ms, o->p.rate ? "paced" : "flat out", o->p.objects,
	       o->quick ? "; quick mode" : "");
	if (o->p.rate)
		printf("rate: %lu objects/s per thread (%.0f blocks/s of %zu pointers): "
		       "expected pages in flight = threads x rate x grace period / %zu = %.0f "
		       "(the seed's estimate: ~400)\n", o->p.rate, (double)o->p.rate /
		       (double)slots, slots, slots, expect);
	printf("machine: nproc %d (%ld online), %s, %s %s %s; page size %zu bytes\n",
	       nr_cpus(), sysconf(_SC_NPROCESSORS_ONLN), cpu, un.sysname, un.release,
	       un.machine, page_size);
	printf("command: ");
	print_command(stdout, argc, argv);
	printf("\n\n");

	printf("| reclaim | mode | policy | high | batch | objects | blocks | fallbacks | "
	       "fallback %% | peak in flight | mean in flight | peak held | held beyond in flight | "
	       "peak RSS MiB | ns/object | trylock fails |\n");
	printf("|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
	if (csv)
		fprintf(csv, "mode,high,batch,threads,delay_ms,objects,blocks,fallbacks,"
			"fallback_pct,peak_inflight_pages,peak_held_pages,peak_rss_mib,"
			"ns_per_object,policy,reclaim,rate_per_thread,runs,blocks_got,"
			"trylock_fails,refills,drains,start_rss_mib,min_free_pages,run_s,"
			"mean_inflight_pages,peak_held_beyond_inflight_pages,monitor_samples\n");
	for (int rc = 0; rc < NR_RECLAIM; rc++) {
		if (!reclaim_on(o, rc))
			continue;
		for (int m = 0; m < NR_MODE; m++)
			for (int p = 0; p < NR_POLICY; p++)
				for (size_t h = 0; h < NR_HIGH; h++) {
					const struct row *r = &rows[rc][m][p][h];
					double pct, infl, held;

					if (!r->nv) {
						printf("| %s | %s | %s | %u | %u | FAILED | | | | | "
						       "| | | | | |\n", reclaim_names[rc],
						       mode_names[m], policy_names[p], r->high,
						       r->batch);
						continue;
					}
					pct = row_pct(r);
					infl = med(r->inflight, r->nv);
					held = med(r->held, r->nv);
					printf("| %s | %s | %s | %u | %u | %" PRIu64 " | %" PRIu64
					       " | %.0f | %s | %.0f | %.0f | %.0f | %.0f | %.1f | "
					       "%.1f | %.0f |\n", reclaim_names[rc], mode_names[m],
					       policy_names[p], r->high, r->batch, r->objects,
					       r->needed, med(r->fb, r->nv),
					       fmt_pct(b1, sizeof(b1), pct), infl,
					       med(r->mean_infl, r->nv), held,
					       med(r->extra, r->nv), med(r->rss, r->nv),
					       med(r->ns, r->nv), med(r->tlf, r->nv));
					if (csv)
						fprintf(csv, "%s,%u,%u,%u,%u,%" PRIu64 ",%" PRIu64
							",%.0f,%.6f,%.0f,%.0f,%.2f,%.3f,%s,%s,%lu,"
							"%d,%.0f,%.0f,%.0f,%.0f,%.2f,%.0f,%.3f,"
							"%.1f,%.0f,%.0f\n",
							mode_names[m], r->high, r->batch,
							o->p.threads, o->p.delay_ms, r->objects,
							r->needed, med(r->fb, r->nv), pct, infl,
							held, med(r->rss, r->nv),
							med(r->ns, r->nv), policy_names[p],
							reclaim_names[rc], o->p.rate, r->nv,
							med(r->got, r->nv), med(r->tlf, r->nv),
							med(r->refills, r->nv),
							med(r->drains, r->nv),
							med(r->rss0, r->nv),
							min_free(r),
							med(r->wall, r->nv),
							med(r->mean_infl, r->nv),
							med(r->extra, r->nv),
							med(r->samples, r->nv));
				}
	}

	/* The same, pivoted: fallback % and pages held by cache size. */
	printf("\nFallback %% (peak pages held) by per-thread cache size high:\n\n");
	printf("| reclaim | mode | policy |");
	for (size_t h = 0; h < NR_HIGH; h++)
		printf(" high %u |", highs[h]);
	printf("\n|---|---|---|");
	for (size_t h = 0; h < NR_HIGH; h++)
		printf("--:|");
	printf("\n");
	for (int rc = 0; rc < NR_RECLAIM; rc++) {
		if (!reclaim_on(o, rc))
			continue;
		for (int m = 0; m < NR_MODE; m++)
			for (int p = 0; p < NR_POLICY; p++) {
				printf("| %s | %s | %s |", reclaim_names[rc], mode_names[m],
				       policy_names[p]);
				for (size_t h = 0; h < NR_HIGH; h++) {
					const struct row *r = &rows[rc][m][p][h];

					if (r->nv)
						printf(" %s (%.0f) |",
						       fmt_pct(b1, sizeof(b1), row_pct(r)),
						       med(r->held, r->nv));
					else
						printf(" FAILED |");
				}
				printf("\n");
			}
	}

	/* Where the fallback rate drops to ~0, and what that costs. */
	printf("\nSmallest cache size at which the fallback rate is below %.1f%%:\n\n",
	       ZERO_PCT);
	printf("| reclaim | mode | policy | high | fallback %% | mean in flight | peak in flight | "
	       "peak held | held beyond in flight | peak held MiB |\n");
	printf("|---|---|---|--:|--:|--:|--:|--:|--:|--:|\n");
	for (int rc = 0; rc < NR_RECLAIM; rc++) {
		if (!reclaim_on(o, rc))
			continue;
		for (int m = 0; m < NR_MODE; m++)
			for (int p = 0; p < NR_POLICY; p++) {
				const struct row *z = NULL;

				for (size_t h = 0; h < NR_HIGH && !z; h++)
					if (rows[rc][m][p][h].nv &&
					    row_pct(&rows[rc][m][p][h]) < ZERO_PCT)
						z = &rows[rc][m][p][h];
				if (!z) {
					printf("| %s | %s | %s | none up to %u | | | | | | |\n",
					       reclaim_names[rc], mode_names[m], policy_names[p],
					       highs[NR_HIGH - 1]);
					continue;
				}
				printf("| %s | %s | %s | %u | %s | %.0f | %.0f | %.0f | %.0f | %.1f |\n",
				       reclaim_names[rc], mode_names[m], policy_names[p], z->high,
				       fmt_pct(b1, sizeof(b1), row_pct(z)),
				       med(z->mean_infl, z->nv), med(z->inflight, z->nv),
				       med(z->held, z->nv), med(z->extra, z->nv),
				       med(z->held, z->nv) * (double)page_size / 1048576);
			}
	}

	printf("\nEach configuration ran in its own process (PAGEPOOL_CONF=%s%shigh=H,batch=B), "
	       "%d time%s%s; the pool was committed in advance (--precommit; PP_NOWAIT "
	       "never grows it).\n", user && *user ? user : "", user && *user ? "," : "",
	       o->runs, o->runs == 1 ? "" : "s",
	       o->runs > 1 ? ", interleaved; every column is the median of its own" : "");
	for (int p = 0; p < NR_POLICY; p++)
		printf("policy %s: %s.\n", policy_names[p], policy_desc[p]);
	printf("reclaim remote: a reclaimer thread frees the blocks after the grace period "
	       "(remote frees); local: each flooder frees its own due blocks (the kernel's "
	       "per-CPU kfree_rcu_work).\n");
	printf("blocks: blocks needed (objects / %zu pointers per block, per thread); "
	       "fallbacks: objects that found no block (every object retries, as "
	       "kvfree_call_rcu does), %% of the objects = %% of the block slots needed.\n",
	       slots);
	printf("peak in flight: blocks handed to RCU and not yet freed (pages; exact); mean "
	       "in flight: its average over the monitor's samples during the flood; peak held: "
	       "pp_stats in_use + cached, sampled every %u us (in flight, the blocks being "
	       "filled, every thread's cache and the caches' own pages); held beyond in "
	       "flight: the largest held - in flight of one sample (what the caches cost); "
	       "peak RSS: the child's ru_maxrss, whole process; ns/object: flooder thread CPU "
	       "time per object, pacing sleeps excluded but not their system-call cost (the "
	       "fallback path itself is only counted, not paid for); trylock fails: the "
	       "pool's count (refills and drains).\n", o->p.sample_us);
	printf("try+nowait is nowait with an extra failed cache pop (PP_NOWAIT pops the cache "
	       "first): read the difference between the two as run-to-run noise.\n");
	for (int rc = 0; rc < NR_RECLAIM; rc++)
		for (int m = 0; m < NR_MODE; m++)
			for (int p = 0; p < NR_POLICY; p++)
				for (size_t h = 0; h < NR_HIGH; h++) {
					const struct row *r = &rows[rc][m][p][h];

					if (r->failed)
						printf("FAILED: %s/%s/%s high=%u in %d of %d "
						       "runs (see stderr).\n", reclaim_names[rc],
						       mode_names[m], policy_names[p], r->high,
						       o->runs - r->nv, o->runs);
					if (r->nv && min_free(r) >= 0 && min_free(r) < r->batch)
						printf("NOTE: %s/%s/%s high=%u: the global free "
						       "lists ran down to %.0f pages; some fallbacks "
						       "may be \"no memory\" (raise --precommit).\n",
						       reclaim_names[rc], mode_names[m],
						       policy_names[p], r->high, min_free(r));
					if (r->nv && starved(r, o->p.sample_us))
						printf("NOTE: %s/%s/%s high=%u: the monitor thread "
						       "got too few samples (machine busy): its "
						       "columns (held, mean in flight) are "
						       "unreliable.\n", reclaim_names[rc],
						       mode_names[m], policy_names[p], r->high);
				}

	finish_report(csv, o->csv, t_start);
	return any_fail ? 1 : 0;
}

/* ---- options --------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: fallback-bench [--quick] [--runs R] [--threads N] [--delay-ms D]\n"
		"                      [--rate R] [--objects N] [--reclaim remote|local|both]\n"
		"                      [--sample-us U] [--precommit MIB] [--csv FILE]\n"
		"  --quick          short run (%lu objects per thread, one run, under 20 s)\n"
		"  --runs R         processes per configuration, interleaved; medians\n"
		"                   (default %d; --quick %d)\n"
		"  --threads N      flooder threads (default %d)\n"
		"  --delay-ms D     the grace period (default %d; try 1 and 100)\n"
		"  --rate R         objects/s per flooder; 0 = flat out (default %lu)\n"
		"  --objects N      objects per flooder (default %lu; --quick %lu)\n"
		"  --reclaim WHO    remote (a reclaimer thread frees), local (the flooder\n"
		"                   frees its own), or both (default)\n"
		"  --sample-us U    pp_stats() sampling period of the monitor (default %d)\n"
		"  --precommit MIB  pool memory committed before the flood (default:\n"
		"                   4x the expected pages in flight plus full caches,\n"
		"                   at least %d MiB; 0 = that default)\n"
		"  --csv FILE       also write the rows to FILE\n"
		"  --child MODE POLICY RECLAIM HIGH BATCH\n"
		"                   run one configuration in this process and print the raw\n"
		"                   result line (MODE: try, nowait, try+nowait; POLICY: small,\n"
		"                   large, prefill); PAGEPOOL_CONF must set the same high and\n"
		"                   batch\n",
		QUICK_OBJECTS, FULL_RUNS, QUICK_RUNS, DEF_THREADS, DEF_DELAY_MS, DEF_RATE,
		FULL_OBJECTS, QUICK_OBJECTS,
		DEF_SAMPLE_US, MIN_PRECOMMIT_MIB);
}

static int find_name(const char *const *names, int n, const char *s, const char *what)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(names[i], s))
			return i;
	die("unknown %s '%s'", what, s);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "runs", required_argument, NULL, 'r' },
		{ "threads", required_argument, NULL, 't' },
		{ "delay-ms", required_argument, NULL, 'd' },
		{ "rate", required_argument, NULL, 'R' },
		{ "objects", required_argument, NULL, 'n' },
		{ "reclaim", required_argument, NULL, 'w' },
		{ "sample-us", required_argument, NULL, 's' },
		{ "precommit", required_argument, NULL, 'p' },
		{ "csv", required_argument, NULL, 'c' },
		{ "child", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = {
		.runs = 0, .reclaim = -1, .argv0 = argv[0],
		.p = { .threads = DEF_THREADS, .delay_ms = DEF_DELAY_MS, .rate = DEF_RATE,
		       .sample_us = DEF_SAMPLE_US },
	};
	const char *child = NULL;
	long ps;
	int c;

	while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (c) {
		case 'q':
			o.quick = true;
			break;
		case 'r':
			o.runs = parse_runs(optarg);
			break;
		case 't':
			o.p.threads = (unsigned)parse_ulong("--threads", optarg, 1, MAX_THREADS);
			break;
		case 'd':
			o.p.delay_ms = (unsigned)parse_ulong("--delay-ms", optarg, 1, 10000);
			break;
		case 'R':
			o.p.rate = parse_ulong("--rate", optarg, 0, 10000000000UL);
			break;
		case 'n':
			o.p.objects = parse_ulong("--objects", optarg, 1, 1UL << 40);
			break;
		case 'w':
			o.reclaim = !strcmp(optarg, "both") ? -1 :
				    find_name(reclaim_names, NR_RECLAIM, optarg, "reclaim model");
			break;
		case 's':
			o.p.sample_us = (unsigned)parse_ulong("--sample-us", optarg, 10, 1000000);
			break;
		case 'p':
			o.p.precommit_mib = parse_ulong("--precommit", optarg, 0, 1UL << 20);
			break;
		case 'c':
			o.csv = optarg;
			break;
		case 'C':
			child = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}

	ps = sysconf(_SC_PAGESIZE);
	if (ps <= 0 || (ps & (ps - 1)))
		die("bad page size %ld", ps);
	page_size = (size_t)ps;
	if (pp_page_size() != page_size)
		die("pp_page_size() %zu != system page size %zu", pp_page_size(), page_size);
	slots = (page_size - offsetof(struct block, ptr)) / sizeof(void *);
	if (!o.p.objects)
		o.p.objects = o.quick ? QUICK_OBJECTS : FULL_OBJECTS;
	if (!o.runs)
		o.runs = o.quick ? QUICK_RUNS : FULL_RUNS;

	if (child) {
		if (optind + 4 != argc)
			die("--child MODE POLICY RECLAIM HIGH BATCH: wrong number of arguments");
		cx.mode = (enum mode)find_name(mode_names, NR_MODE, child, "mode");
		cx.policy = (enum policy)find_name(policy_names, NR_POLICY, argv[optind],
						   "policy");
		cx.reclaim = (enum reclaim)find_name(reclaim_names, NR_RECLAIM,
						     argv[optind + 1], "reclaim model");
		cx.high = (unsigned)parse_ulong("HIGH", argv[optind + 2], 1, 65536);
		cx.batch = (unsigned)parse_ulong("BATCH", argv[optind + 3], 1, cx.high);
		cx.p = o.p;
		return child_main();
	}
	if (optind < argc) {
		usage(stderr);
		return 1;
	}
	return parent_main(&o, argc, argv);
}
