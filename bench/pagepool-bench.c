/* SPDX-License-Identifier: MIT */
/*
 * pagepool-bench - page allocation backends side by side, in one run.
 *
 *   pagepool-bench [--quick] [--runs N] [--workload NAME[,NAME...]] [--csv FILE]
 *                  [--latency-csv FILE]
 *
 * Backends: pagepool-try (pp_alloc_page_try, falling back to
 * pp_alloc_page(0) when this thread's cache is empty), pagepool
 * (pp_alloc_page(0)), jemalloc (mallocx with MALLOCX_ALIGN(page)), glibc
 * (posix_memalign), and, when their libraries are installed, mimalloc
 * (mi_malloc_aligned) and tcmalloc (posix_memalign under
 * libtcmalloc_minimal); for the latency workload also none (no allocator:
 * the floor).  Every backend runs in its own processes: the parent
 * re-executes itself (/proc/self/exe --backend NAME --workload LIST) once
 * per backend and run, and once more for the latency workload (a fresh
 * process, whatever the others leave in the allocator), with LD_PRELOAD set
 * for the allocators that replace malloc; each child prints result lines on
 * stdout, which the parent reads through a pipe; the tables show the median
 * over the runs (the latency table: of each column separately).
 *
 * Each timed loop runs a fixed number of pairs or pages or until a time
 * budget is spent, whichever comes first (so slow backends cannot stretch
 * the run), after an untimed warm-up; it reports ns per pair or page.
 *
 * Workloads (every allocated page gets one byte written, for every backend):
 *   pair    allocate one page, free it; ns per pair
 *   batch   allocate 1000 pages, then free them all; ns per page
 *   bulk    pp_alloc_pages_bulk(0, 64) + pp_free_pages_bulk(64) against a
 *           loop of 64 single allocations then 64 frees (pagepool, and
 *           jemalloc as the reference); ns per page
 *   remote  a producer thread allocates and hands pages through a 1024-slot
 *           single-producer/single-consumer ring to a consumer thread that
 *           frees them; wall ns per page
 *   orders  64 live blocks of orders 0-3; each step frees a random one and
 *           allocates a block of a random order in its place (orders
 *           weighted 8:4:2:1; one seeded sequence for every backend); each
 *           block aligned to its size (pp_alloc_pages(order, 0), or
 *           PP_TRY falling back to 0 for pagepool-try; mallocx with
 *           MALLOCX_ALIGN(size); posix_memalign(size); mi_malloc_aligned);
 *           ns per step (one free + one allocation)
 *   latency the time of each single call, clock_gettime(CLOCK_MONOTONIC)
 *           before and after it, less the timer's own cost (the median of a
 *           back-to-back calibration loop in the same process).  The
 *           measuring thread allocates 512 pages one call at a time, then
 *           frees them one call at a time, over and over, while a churn
 *           thread does the same with 1024-page rounds of the same backend
 *           (so both cross their thread caches and take the allocator's
 *           locks).  Ops: pagepool try (pp_alloc_page_try), nowait
 *           (pp_alloc_page(PP_NOWAIT)), alloc0 (pp_alloc_page(0)) in
 *           rotating rounds, a NULL from try or nowait followed by an
 *           untimed pp_alloc_page(0); free (pp_free_page, in the alloc0
 *           rounds); the other allocators' alloc and free; none: the same
 *           loop around an empty noinline call while the churn thread
 *           touches pages without an allocator (the machine's own stalls).
 *           Samples go to a histogram of 1-ns buckets up to 100 us plus a
 *           list of the longer ones, so the percentiles are exact.  It
 *           prints its own table (and --latency-csv).
 *
 * Child protocol (one line each, on stdout):
 *   R <workload> <row> <ns-per-op> <fallback-%, or -1>
 *   L <backend> <op> <calls> <p50> <p99> <p99.9> <p99.99> <max> <over-10us> <nulls>
 *           (latency: ns after the timer's cost; nulls: NULL returns of
 *           try and nowait)
 *   T <timer-ns> <timer-min-ns> <timer-p99-ns>	(latency: the timer's cost)
 *   C <backend> <pages-per-s>	(latency: the churn thread's rate)
 *   V <backend> <version text>
 * Child exit status: 0 done, 2 backend not available (skipped), else failed.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <gnu/libc-version.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pagepool.h"
#include "benchutil.h"

#define BATCH_PAGES	1000
#define BULK_PAGES	64
#define RING_SLOTS	1024		/* power of two */
#define ORD_LIVE	64		/* orders: live blocks (power of two) */
#define ORD_SEQ		65536		/* orders: steps before the sequence repeats */
#define ORD_SEED	0x9e3779b97f4a7c15ull
#define LAT_ROUND	512		/* latency: pages per round, measuring thread */
#define CHURN_PAGES	1024		/* latency: pages per round, churn thread */
#define LAT_BUCKETS	100000		/* latency: 1-ns histogram buckets (100 us) */
#define LAT_OVER_NS	10000		/* latency: calls above this are counted */
#define NONE_PAGES	1024		/* latency, none: pages per thread (power of two) */
#define EXIT_SKIPPED	2

#define ALWAYS_INLINE	inline __attribute__((always_inline))
#define NOINLINE	__attribute__((noinline))

/* ---- backends ----------------------------------------------------------- */

enum backend { BK_TRY, BK_PP, BK_JE, BK_GLIBC, BK_MI, BK_TC, BK_NONE, NR_BK };
enum workload { WL_PAIR, WL_BATCH, WL_BULK, WL_REMOTE, WL_ORDERS, WL_LATENCY, NR_WL };

#define W(x) (1u << (x))

static const struct bkinfo {
	const char *name;
	const char *preload;	/* library to LD_PRELOAD, or NULL */
	bool required;		/* its failure fails the run */
	unsigned workloads;	/* mask of W(WL_*) it runs */
} bks[NR_BK] = {
	[BK_TRY]   = { "pagepool-try", NULL, true,
		       W(WL_PAIR) | W(WL_BATCH) | W(WL_REMOTE) | W(WL_ORDERS) },
	[BK_PP]    = { "pagepool", NULL, true, W(WL_PAIR) | W(WL_BATCH) | W(WL_BULK) |
		       W(WL_REMOTE) | W(WL_ORDERS) | W(WL_LATENCY) },
	[BK_JE]    = { "jemalloc", "libjemalloc.so.2", false, W(WL_PAIR) | W(WL_BATCH) |
		       W(WL_BULK) | W(WL_REMOTE) | W(WL_ORDERS) | W(WL_LATENCY) },
	[BK_GLIBC] = { "glibc", NULL, true,
		       W(WL_PAIR) | W(WL_BATCH) | W(WL_REMOTE) | W(WL_ORDERS) | W(WL_LATENCY) },
	[BK_MI]    = { "mimalloc", "libmimalloc.so.2", false,
		       W(WL_PAIR) | W(WL_BATCH) | W(WL_REMOTE) | W(WL_ORDERS) | W(WL_LATENCY) },
	[BK_TC]    = { "tcmalloc", "libtcmalloc_minimal.so.4", false,
		       W(WL_PAIR) | W(WL_BATCH) | W(WL_REMOTE) | W(WL_ORDERS) | W(WL_LATENCY) },
	[BK_NONE]  = { "none", NULL, true, W(WL_LATENCY) },
};

static const char *const wl_names[NR_WL] = { "pair", "batch", "bulk", "remote", "orders",
					     "latency" };

/* Entry points of the preloaded allocators, found with dlsym(). */
static void *(*je_mallocx)(size_t, int);
static void (*je_dallocx)(void *, int);
static int (*je_mallctl)(const char *, void *, size_t *, void *, size_t);
static void *(*mi_malloc_aligned_p)(size_t, size_t);
static void (*mi_free_p)(void *);
static int (*mi_version_p)(void);
static const char *(*tc_version_p)(int *, int *, const char **);

static size_t page_size;
static int je_align_flag;		/* MALLOCX_ALIGN(page_size) */
static unsigned long try_fallbacks;	/* pagepool-try misses, producer only */
static volatile uintptr_t sink;		/* keeps results observable */

static NOINLINE __attribute__((noreturn)) void oom(void)
{
	die("allocation failed: %s", strerror(errno));
}

static NOINLINE void *try_fallback(void)
{
	try_fallbacks++;
	return pp_alloc_page(0);
}

static ALWAYS_INLINE void *a_try(void)
{
	void *p = pp_alloc_page_try();

	return __builtin_expect(p != NULL, 1) ? p : try_fallback();
}

static ALWAYS_INLINE void *a_pp(void)
{
	return pp_alloc_page(0);
}

static ALWAYS_INLINE void f_pp(void *p)
{
	pp_free_page(p);
}

static ALWAYS_INLINE void *a_je(void)
{
	return je_mallocx(page_size, je_align_flag);
}

static ALWAYS_INLINE void f_je(void *p)
{
	je_dallocx(p, 0);
}

/* glibc, and tcmalloc when it is preloaded (it interposes these). */
static ALWAYS_INLINE void *a_memalign(void)
{
	void *p;

	return posix_memalign(&p, page_size, page_size) == 0 ? p : NULL;
}

static ALWAYS_INLINE void f_libc(void *p)
{
	free(p);
}

static ALWAYS_INLINE void *a_mi(void)
{
	return mi_malloc_aligned_p(page_size, page_size);
}

static ALWAYS_INLINE void f_mi(void *p)
{
	mi_free_p(p);
}

/* The one write per page that every backend and workload does. */
static ALWAYS_INLINE void touch(void *p, size_t i)
{
	((volatile char *)p)[0] = (char)i;
}

/*
 * none (latency only): an empty call.  It hands out the next page of this
 * thread's own buffer (set up by none_init()) so that the loop around it
 * touches memory as with an allocator; freeing does nothing.
 */
static __thread char *none_base;
static __thread size_t none_next;

static NOINLINE void *a_none(void)
{
	return none_base + (none_next++ & (NONE_PAGES - 1)) * page_size;
}

static NOINLINE void f_none(void *p)
{
	__asm__ __volatile__("" : : "r"(p) : "memory");
}

/* Map @bytes, faulted in now (no page fault inside a timed loop later). */
static void *map_populated(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (p == MAP_FAILED)
		die("mmap %zu bytes: %s", bytes, strerror(errno));
	memset(p, 0, bytes);
	return p;
}

static void none_init(void)
{
	none_base = map_populated(NONE_PAGES * page_size);
	none_next = 0;
}

/* Allocation of 2^order pages aligned to their size, per backend (orders). */
static NOINLINE void *try_fallback_order(unsigned order)
{
	try_fallbacks++;
	return pp_alloc_pages(order, 0);
}

static ALWAYS_INLINE void *ao_try(unsigned order)
{
	void *p = pp_alloc_pages(order, PP_TRY);

	return __builtin_expect(p != NULL, 1) ? p : try_fallback_order(order);
}

static ALWAYS_INLINE void *ao_pp(unsigned order)
{
	return pp_alloc_pages(order, 0);
}

static ALWAYS_INLINE void fo_pp(void *p, unsigned order)
{
	pp_free_pages(p, order);
}

static ALWAYS_INLINE void *ao_je(unsigned order)
{
	/* MALLOCX_ALIGN(size) is MALLOCX_LG_ALIGN(log2(size)), the log itself. */
	return je_mallocx(page_size << order, je_align_flag + (int)order);
}

static ALWAYS_INLINE void fo_je(void *p, unsigned order)
{
	(void)order;
	je_dallocx(p, 0);
}

static ALWAYS_INLINE void *ao_memalign(unsigned order)
{
	void *p;

	return posix_memalign(&p, page_size << order, page_size << order) == 0 ? p : NULL;
}

static ALWAYS_INLINE void fo_libc(void *p, unsigned order)
{
	(void)order;
	free(p);
}

static ALWAYS_INLINE void *ao_mi(unsigned order)
{
	return mi_malloc_aligned_p(page_size << order, page_size << order);
}

static ALWAYS_INLINE void fo_mi(void *p, unsigned order)
{
	(void)order;
	mi_free_p(p);
}


/*
 * Each workload is an always-inline template taking the backend's alloc and
 * free; the dispatch switches below instantiate it per backend, so the
 * timed loops make direct calls (or, for the dlsym'd allocators, one
 * indirect call, as a PLT call would).
 */
#define DISPATCH(bk, impl, ...)							\
	switch (bk) {								\
	case BK_TRY:   return impl(a_try, f_pp, __VA_ARGS__);			\
	case BK_PP:    return impl(a_pp, f_pp, __VA_ARGS__);			\
	case BK_JE:    return impl(a_je, f_je, __VA_ARGS__);			\
	case BK_GLIBC: return impl(a_memalign, f_libc, __VA_ARGS__);		\
	case BK_MI:    return impl(a_mi, f_mi, __VA_ARGS__);			\
	case BK_TC:    return impl(a_memalign, f_libc, __VA_ARGS__);		\
	case BK_NONE:  return impl(a_none, f_none, __VA_ARGS__);		\
	default:       abort();							\
	}

/* The same for the orders workload's allocation and free of 2^order pages. */
#define DISPATCH_ORDER(bk, impl, ...)						\
	switch (bk) {								\
	case BK_TRY:   return impl(ao_try, fo_pp, __VA_ARGS__);			\
	case BK_PP:    return impl(ao_pp, fo_pp, __VA_ARGS__);			\
	case BK_JE:    return impl(ao_je, fo_je, __VA_ARGS__);			\
	case BK_GLIBC: return impl(ao_memalign, fo_libc, __VA_ARGS__);		\
	case BK_MI:    return impl(ao_mi, fo_mi, __VA_ARGS__);			\
	case BK_TC:    return impl(ao_memalign, fo_libc, __VA_ARGS__);		\
	default:       abort();							\
	}

typedef void *alloc_fn(void);
typedef void free_fn(void *);
typedef void *alloc_order_fn(unsigned);
typedef void free_order_fn(void *, unsigned);

/*
 * A timed loop runs up to @max units (pairs or pages) or until @budget ns
 * have passed, whichever comes first, looking at the clock about every
 * CHECK_UNITS units; it reports the time and the units done.
 */
#define CHECK_UNITS 4096

struct meas {
	double ns;
	size_t units;
};

/* pair: alloc + free pairs. */
static ALWAYS_INLINE struct meas pair_impl(alloc_fn *A, free_fn *F, size_t max,
					   double budget)
{
	uintptr_t acc = 0;
	double t0 = now_ns(), t = t0;
	size_t i = 0;

	while (i < max && t - t0 < budget) {
		size_t end = max - i < CHECK_UNITS ? max : i + CHECK_UNITS;

		for (; i < end; i++) {
			void *p = A();

			if (__builtin_expect(!p, 0))
				oom();
			touch(p, i);
			acc ^= (uintptr_t)p;
			F(p);
		}
		t = now_ns();
	}
	sink ^= acc;
	return (struct meas){ t - t0, i };
}

static struct meas do_pair(enum backend bk, size_t max, double budget)
{
	DISPATCH(bk, pair_impl, max, budget)
}

/* batch (and the single-page loop of bulk): rounds of @k allocs then @k frees. */
static ALWAYS_INLINE struct meas batch_impl(alloc_fn *A, free_fn *F, size_t max,
					    double budget, size_t k, void **arr)
{
	size_t rounds = max / k, per_check = CHECK_UNITS / k ? CHECK_UNITS / k : 1, r = 0;
	uintptr_t acc = 0;
	double t0 = now_ns(), t = t0;

	while (r < rounds && t - t0 < budget) {
		size_t end = rounds - r < per_check ? rounds : r + per_check;

		for (; r < end; r++) {
			for (size_t i = 0; i < k; i++) {
				void *p = A();

				if (__builtin_expect(!p, 0))
					oom();
				touch(p, i);
				arr[i] = p;
			}
			for (size_t i = 0; i < k; i++) {
				acc ^= (uintptr_t)arr[i];
				F(arr[i]);
			}
		}
		t = now_ns();
	}
	sink ^= acc;
	return (struct meas){ t - t0, r * k };
}

static struct meas do_batch(enum backend bk, size_t max, double budget, size_t k,
			    void **arr)
{
	DISPATCH(bk, batch_impl, max, budget, k, arr)
}

/* bulk: rounds of pp_alloc_pages_bulk(0, 64) + pp_free_pages_bulk(64). */
static struct meas do_bulk64(size_t max, double budget)
{
	void *arr[BULK_PAGES] = { NULL };
	size_t rounds = max / BULK_PAGES, r = 0;
	uintptr_t acc = 0;
	double t0 = now_ns(), t = t0;

	while (r < rounds && t - t0 < budget) {
		size_t end = rounds - r < CHECK_UNITS / BULK_PAGES ? rounds
								    : r + CHECK_UNITS / BULK_PAGES;

		for (; r < end; r++) {
			size_t got = pp_alloc_pages_bulk(0, BULK_PAGES, arr);

			while (__builtin_expect(got < BULK_PAGES, 0)) {
				size_t more = pp_alloc_pages_bulk(0, BULK_PAGES, arr);

				if (more == got)
					oom();
				got = more;
			}
			for (size_t i = 0; i < BULK_PAGES; i++)
				touch(arr[i], i);
			acc ^= (uintptr_t)arr[BULK_PAGES - 1];
			pp_free_pages_bulk(BULK_PAGES, arr);
			memset(arr, 0, sizeof(arr));	/* bulk fills NULL slots only */
		}
		t = now_ns();
	}
	sink ^= acc;
	return (struct meas){ t - t0, r * BULK_PAGES };
}

/* ---- remote: SPSC ring between a producer and a consumer thread ------ */

struct ring {
	_Alignas(64) atomic_size_t head;	/* written by the producer */
	_Alignas(64) atomic_size_t tail;	/* written by the consumer */
	_Alignas(64) atomic_size_t end;		/* SIZE_MAX, then the final head */
	atomic_int consumer_ready;
	enum backend bk;
	_Alignas(64) void *slot[RING_SLOTS];
};

static inline void cpu_relax(unsigned *spins)
{
	if (++*spins < 256) {
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#elif defined(__aarch64__)
		__asm__ __volatile__("yield");
#endif
	} else {
		*spins = 0;
		sched_yield();	/* the other side may share our CPU */
	}
}

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

/* ---- orders: blocks of orders 0-3, random replacement ------------------ */

_Static_assert(ORD_LIVE <= 64 && !(ORD_LIVE & (ORD_LIVE - 1)), "slot fits in 6 bits");

/* The steps: the slot to replace (low 6 bits) and the new block's order (top 2). */
static uint8_t ord_seq[ORD_SEQ];

struct ord_state {
	void *blk[ORD_LIVE];
	unsigned order[ORD_LIVE];
	size_t pos;			/* next step in ord_seq */
};

/* One seeded sequence (splitmix64), the same for every backend. */
static void orders_init(void)
{
	uint64_t x = ORD_SEED;

	for (size_t i = 0; i < ORD_SEQ; i++) {
		uint64_t r, w;
		unsigned order;

		x += 0x9e3779b97f4a7c15ull;
		r = x;
		r = (r ^ (r >> 30)) * 0xbf58476d1ce4e5b9ull;
		r = (r ^ (r >> 27)) * 0x94d049bb133111ebull;
		r ^= r >> 31;
		w = (r >> 32) % 15;		/* orders 0..3 weighted 8:4:2:1 */
		order = w < 8 ? 0 : w < 12 ? 1 : w < 14 ? 2 : 3;
		ord_seq[i] = (uint8_t)((r & (ORD_LIVE - 1)) | order << 6);
	}
}

/* Every page of a block gets one byte written. */
static ALWAYS_INLINE void touch_block(void *p, unsigned order, size_t i)
{
	for (size_t j = 0; j < (size_t)1 << order; j++)
		((volatile char *)p)[j * page_size] = (char)i;
}

/* Allocate the working set (@fill) or free it; untimed. */
static ALWAYS_INLINE void orders_fill_impl(alloc_order_fn *A, free_order_fn *F,
					   struct ord_state *st, bool fill)
{
	for (size_t s = 0; s < ORD_LIVE; s++) {
		if (!fill) {
			F(st->blk[s], st->order[s]);
			st->blk[s] = NULL;
			continue;
		}
		st->order[s] = ord_seq[s] >> 6;
		st->blk[s] = A(st->order[s]);
		if (!st->blk[s])
			oom();
		touch_block(st->blk[s], st->order[s], s);
	}
	st->pos = 0;
}

static void do_orders_fill(enum backend bk, struct ord_state *st, bool fill)
{
	DISPATCH_ORDER(bk, orders_fill_impl, st, fill)
}

/* Steps: free the block in the step's slot, allocate one of the step's order. */
static ALWAYS_INLINE struct meas orders_impl(alloc_order_fn *A, free_order_fn *F,
					     struct ord_state *st, size_t max, double budget)
{
	uintptr_t acc = 0;
	double t0 = now_ns(), t = t0;
	size_t i = 0, pos = st->pos;

	while (i < max && t - t0 < budget) {
		size_t end = max - i < CHECK_UNITS ? max : i + CHECK_UNITS;

		for (; i < end; i++, pos++) {
			unsigned e = ord_seq[pos & (ORD_SEQ - 1)];
			unsigned slot = e & (ORD_LIVE - 1), order = e >> 6;
			void *p;

			F(st->blk[slot], st->order[slot]);
			p = A(order);
			if (__builtin_expect(!p, 0))
				oom();
			touch_block(p, order, i);
			acc ^= (uintptr_t)p;
			st->blk[slot] = p;
			st->order[slot] = order;
		}
		t = now_ns();
	}
	st->pos = pos;
	sink ^= acc;
	return (struct meas){ t - t0, i };
}

static struct meas do_orders(enum backend bk, struct ord_state *st, size_t max, double budget)
{
	DISPATCH_ORDER(bk, orders_impl, st, max, budget)
}

/* ---- latency: each call timed while a churn thread allocates and frees -- */

enum lat_op { OP_EMPTY, OP_TRY, OP_NOWAIT, OP_ALLOC0, OP_ALLOC, OP_FREE, NR_OP };

static const char *const op_names[NR_OP] = { "empty", "try", "nowait", "alloc0", "alloc",
					     "free" };

/* Exact samples: a counter per ns below LAT_BUCKETS, the longer ones listed. */
struct hist {
	uint32_t *bucket;	/* LAT_BUCKETS counters */
	uint32_t *over;		/* samples of LAT_BUCKETS ns or more */
	size_t nover, cap;	/* entries used, and mapped, in @over */
	size_t n;		/* samples */
	size_t nulls;		/* calls that returned NULL (try, nowait) */
};

#define LAT_OVER_CAP	65536	/* first size of a hist's list of long samples */
#define LAT_CALIB	200000	/* back-to-back timer pairs to calibrate */

static uint64_t timer_ns;	/* the timer's own cost, taken off every sample */

static ALWAYS_INLINE uint64_t tick(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The counters are mapped and faulted in now: no page fault while timing. */
static void hist_init(struct hist *h)
{
	h->bucket = map_populated(LAT_BUCKETS * sizeof(*h->bucket));
	h->cap = LAT_OVER_CAP;
	h->over = map_populated(h->cap * sizeof(*h->over));
	h->nover = h->n = h->nulls = 0;
}

static void hist_reset(struct hist *h)
{
	memset(h->bucket, 0, LAT_BUCKETS * sizeof(*h->bucket));
	h->nover = h->n = h->nulls = 0;
}

static void hist_destroy(struct hist *h)
{
	munmap(h->bucket, LAT_BUCKETS * sizeof(*h->bucket));
	munmap(h->over, h->cap * sizeof(*h->over));
}

static NOINLINE void hist_add_long(struct hist *h, uint64_t ns)
{
	if (h->nover == h->cap) {
		void *p = mremap(h->over, h->cap * sizeof(*h->over),
				 2 * h->cap * sizeof(*h->over), MREMAP_MAYMOVE);

		if (p == MAP_FAILED)
			die("mremap: %s", strerror(errno));
		h->over = p;
		h->cap *= 2;
	}
	h->over[h->nover++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

/* Record the call timed from @t0 to @t1, less the timer's cost. */
static ALWAYS_INLINE void hist_add(struct hist *h, uint64_t t0, uint64_t t1)
{
	uint64_t ns = t1 - t0;

	ns = ns > timer_ns ? ns - timer_ns : 0;
	h->n++;
	if (__builtin_expect(ns < LAT_BUCKETS, 1))
		h->bucket[ns]++;
	else
		hist_add_long(h, ns);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Call once all samples are in, before hist_rank(). */
static void hist_sort(struct hist *h)
{
	qsort(h->over, h->nover, sizeof(*h->over), cmp_u32);
}

/* The sample of 1-based rank @r in increasing order. */
static uint64_t hist_rank(const struct hist *h, size_t r)
{
	size_t cum = 0;

	for (size_t i = 0; i < LAT_BUCKETS; i++) {
		cum += h->bucket[i];
		if (cum >= r)
			return i;
	}
	return h->over[r - cum - 1];
}

/* Nearest rank: the least sample with at least @num/@den of all at or below it. */
static uint64_t hist_pct(const struct hist *h, uint64_t num, uint64_t den)
{
	uint64_t r = ((uint64_t)h->n * num + den - 1) / den;

	return hist_rank(h, r ? (size_t)r : 1);
}

/*
 * The timer's cost: the median of back-to-back pairs of tick(); *@min the
 * least, *@p99 the 99th percentile (the step above the median shows the
 * clock's granularity).
 */
static uint64_t calibrate_timer(struct hist *h, uint64_t *min, uint64_t *p99)
{
	uint64_t med;

	timer_ns = 0;
	hist_reset(h);
	for (size_t i = 0; i < LAT_CALIB; i++) {
		uint64_t t0 = tick();
		uint64_t t1 = tick();

		hist_add(h, t0, t1);
	}
	hist_sort(h);
	med = hist_pct(h, 1, 2);
	*min = hist_rank(h, 1);
	*p99 = hist_pct(h, 99, 100);
	hist_reset(h);
	return med;
}

static ALWAYS_INLINE void *a_try_only(void)
{
	return pp_alloc_page_try();
}

static ALWAYS_INLINE void *a_nowait(void)
{
	return pp_alloc_page(PP_NOWAIT);
}

/*
 * One round of the measuring thread: LAT_ROUND allocations, each call timed
 * into @ha, then LAT_ROUND frees, each call timed into @hf (NULL: untimed).
 * @may_fail (try, nowait): a NULL is counted and followed by an untimed
 * pp_alloc_page(0).
 */
static ALWAYS_INLINE void lat_round(alloc_fn *A, free_fn *F, bool may_fail, void **arr,
				    struct hist *ha, struct hist *hf)
{
	for (size_t i = 0; i < LAT_ROUND; i++) {
		uint64_t t0 = tick();
		void *p = A();
		uint64_t t1 = tick();

		hist_add(ha, t0, t1);
		if (__builtin_expect(!p, 0)) {
			if (!may_fail)
				oom();
			ha->nulls++;
			p = pp_alloc_page(0);
			if (!p)
				oom();
		}
		touch(p, i);
		arr[i] = p;
	}
	for (size_t i = 0; i < LAT_ROUND; i++) {
		if (hf) {
			uint64_t t0 = tick();

			F(arr[i]);
			hist_add(hf, t0, tick());
		} else {
			F(arr[i]);
		}
	}
}

/*
 * Up to @rounds rounds, or until @budget ns have passed; pagepool's rounds
 * rotate through try, nowait and alloc0 (with free).
 */
static void lat_rounds(enum backend bk, size_t rounds, double budget, void **arr,
			 struct hist *h)
{
	uint64_t t0 = tick();
	size_t r;

	for (r = 0; r < rounds && (double)(tick() - t0) < budget; r++) {
		switch (bk) {
		case BK_PP:
			lat_round(a_try_only, f_pp, true, arr, &h[OP_TRY], NULL);
			lat_round(a_nowait, f_pp, true, arr, &h[OP_NOWAIT], NULL);
			lat_round(a_pp, f_pp, false, arr, &h[OP_ALLOC0], &h[OP_FREE]);
			break;
		case BK_JE:
			lat_round(a_je, f_je, false, arr, &h[OP_ALLOC], &h[OP_FREE]);
			break;
		case BK_GLIBC:
		case BK_TC:
			lat_round(a_memalign, f_libc, false, arr, &h[OP_ALLOC], &h[OP_FREE]);
			break;
		case BK_MI:
			lat_round(a_mi, f_mi, false, arr, &h[OP_ALLOC], &h[OP_FREE]);
			break;
		case BK_NONE:
			lat_round(a_none, f_none, false, arr, &h[OP_EMPTY], NULL);
			break;
		default:
			abort();
		}
	}
}

/* The churn thread: rounds of CHURN_PAGES allocations then frees, until told. */
struct churn {
	enum backend bk;
	atomic_bool stop;
	atomic_size_t pages;	/* allocated and freed so far */
};

static ALWAYS_INLINE void churn_impl(alloc_fn *A, free_fn *F, struct churn *c)
{
	static void *arr[CHURN_PAGES];

	while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
		for (size_t i = 0; i < CHURN_PAGES; i++) {
			void *p = A();

			if (__builtin_expect(!p, 0))
				oom();
			touch(p, i);
			arr[i] = p;
		}
		for (size_t i = 0; i < CHURN_PAGES; i++)
			F(arr[i]);
		atomic_fetch_add_explicit(&c->pages, CHURN_PAGES, memory_order_relaxed);
	}
}

static void churn(struct churn *c)
{
	DISPATCH(c->bk, churn_impl, c)
}

static void *churn_main(void *arg)
{
	struct churn *c = arg;

	if (c->bk == BK_NONE)
		none_init();
	churn(c);
	if (c->bk == BK_NONE)
		munmap(none_base, NONE_PAGES * page_size);
	return NULL;
}

static void report_latency(enum backend bk, enum lat_op op, struct hist *h)
{
	size_t over = h->nover;

	hist_sort(h);
	for (size_t i = LAT_OVER_NS + 1; i < LAT_BUCKETS; i++)
		over += h->bucket[i];
	printf("L %s %s %zu %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
	       " %zu %zu\n", bks[bk].name, op_names[op], h->n, hist_pct(h, 1, 2),
	       hist_pct(h, 99, 100), hist_pct(h, 999, 1000), hist_pct(h, 9999, 10000),
	       hist_rank(h, h->n), over, h->nulls);
}

/*
 * latency: calibrate the timer, start the churn thread, warm up (a tenth of
 * the rounds), then time about @samples calls of each op or for @budget ns.
 */
static void do_latency(enum backend bk, size_t samples, double budget)
{
	static void *arr[LAT_ROUND];
	static struct churn c;
	struct hist h[NR_OP];
	size_t rounds = (samples + LAT_ROUND - 1) / LAT_ROUND, pages;
	uint64_t tmin, tp99;
	pthread_t th;
	unsigned spins = 0;
	double t;
	int err;

	for (int op = 0; op < NR_OP; op++)
		hist_init(&h[op]);
	if (bk == BK_NONE)
		none_init();
	timer_ns = calibrate_timer(&h[0], &tmin, &tp99);
	printf("T %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", timer_ns, tmin, tp99);

	c.bk = bk;
	atomic_store(&c.stop, false);
	atomic_store(&c.pages, 0);
	err = pthread_create(&th, NULL, churn_main, &c);
	if (err)
		die("pthread_create: %s", strerror(err));
	while (!atomic_load_explicit(&c.pages, memory_order_relaxed))
		cpu_relax(&spins);

	lat_rounds(bk, rounds / 10 + 1, budget / 10, arr, h);
	for (int op = 0; op < NR_OP; op++)
		hist_reset(&h[op]);
	pages = atomic_load_explicit(&c.pages, memory_order_relaxed);
	t = now_ns();
	lat_rounds(bk, rounds, budget, arr, h);
	t = now_ns() - t;
	pages = atomic_load_explicit(&c.pages, memory_order_relaxed) - pages;

	atomic_store(&c.stop, true);
	err = pthread_join(th, NULL);
	if (err)
		die("pthread_join: %s", strerror(err));
	for (int op = 0; op < NR_OP; op++) {
		if (h[op].n)
			report_latency(bk, (enum lat_op)op, &h[op]);
		hist_destroy(&h[op]);
	}
	printf("C %s %.0f\n", bks[bk].name, (double)pages / (t / 1e9));
	fflush(stdout);
	if (bk == BK_NONE)
		munmap(none_base, NONE_PAGES * page_size);
}

/* ---- child: one backend, one process ----------------------------------- */

struct sizes {
	size_t pair;		/* most pairs (orders: steps) per timed loop */
	size_t pages;		/* most pages per timed loop (batch, bulk, remote) */
	double budget;		/* most ns per timed loop */
	double warm_budget;	/* most ns per warm-up loop (a tenth of the units) */
	size_t lat_samples;	/* latency: calls timed per op */
	double lat_budget;	/* latency: most ns for all of a backend's ops */
};

static const struct sizes quick_sizes = {
	.pair = 5000000, .pages = 5000000, .budget = 0.4e9, .warm_budget = 0.1e9,
	.lat_samples = 200000, .lat_budget = 1.0e9,
};
static const struct sizes full_sizes = {
	.pair = 20000000, .pages = 20000000, .budget = 1.5e9, .warm_budget = 0.3e9,
	.lat_samples = 1000000, .lat_budget = 5e9,
};

static void *sym(const char *name)
{
	void *p = dlsym(RTLD_DEFAULT, name);

	if (!p)
		die("dlsym(%s): %s", name, dlerror());
	return p;
}

/* Check the backend's library is loaded and find its entry points. */
static bool child_setup(enum backend bk)
{
	const struct bkinfo *b = &bks[bk];
	char ver[128];

	if (b->preload) {
		void *h = dlopen(b->preload, RTLD_NOLOAD | RTLD_LAZY);

		if (!h)
			return false;
		dlclose(h);
	}
	switch (bk) {
	case BK_TRY:
	case BK_PP:
		snprintf(ver, sizeof(ver), "%d.%d.%d", PAGEPOOL_VERSION_MAJOR,
			 PAGEPOOL_VERSION_MINOR, PAGEPOOL_VERSION_PATCH);
		break;
	case BK_JE: {
		const char *v = "?";
		size_t len = sizeof(v);

		*(void **)&je_mallocx = sym("mallocx");
		*(void **)&je_dallocx = sym("dallocx");
		*(void **)&je_mallctl = sym("mallctl");
		if (je_mallctl("version", &v, &len, NULL, 0) != 0)
			v = "?";
		snprintf(ver, sizeof(ver), "%.*s", (int)strcspn(v, "-"), v);
		break;
	}
	case BK_GLIBC:
		snprintf(ver, sizeof(ver), "%s", gnu_get_libc_version());
		break;
	case BK_MI: {
		int v;

		*(void **)&mi_malloc_aligned_p = sym("mi_malloc_aligned");
		*(void **)&mi_free_p = sym("mi_free");
		*(void **)&mi_version_p = sym("mi_version");
		v = mi_version_p();
		snprintf(ver, sizeof(ver), "%d.%d.%d", v / 100, v / 10 % 10, v % 10);
		break;
	}
	case BK_TC: {
		int maj, min;
		const char *patch;

		*(void **)&tc_version_p = sym("tc_version");
		snprintf(ver, sizeof(ver), "%s", tc_version_p(&maj, &min, &patch));
		break;
	}
	case BK_NONE:
		snprintf(ver, sizeof(ver), "-");
		break;
	default:
		abort();
	}
	printf("V %s %s\n", b->name, ver);
	return true;
}

static void report(enum workload wl, const char *row, struct meas m, double fb)
{
	if (!m.units)
		die("%s %s: no work done", wl_names[wl], row);
	printf("R %s %s %.3f %.2f\n", wl_names[wl], row, m.ns / (double)m.units, fb);
	fflush(stdout);
}

static double fallback_pct(enum backend bk, size_t units)
{
	return bk == BK_TRY ? 100.0 * (double)try_fallbacks / (double)units : -1;
}

/* Before timing pagepool-try: one pp_alloc_page(0)+free round of @k pages. */
static void prewarm_try(enum backend bk, size_t k, void **arr)
{
	if (bk == BK_TRY)
		do_batch(BK_PP, k, 1e12, k, arr);
}

static int child_main(enum backend bk, bool quick, unsigned wl_mask)
{
	const struct sizes *sz = quick ? &quick_sizes : &full_sizes;
	static void *arr[BATCH_PAGES];
	const char *name = bks[bk].name;
	struct meas m;

	alarm(quick ? 120 : 600);	/* a hung child fails, not the whole run */
	if (!child_setup(bk))
		return EXIT_SKIPPED;
	wl_mask &= bks[bk].workloads;

	if (wl_mask & W(WL_PAIR)) {
		prewarm_try(bk, 1, arr);
		do_pair(bk, sz->pair / 10, sz->warm_budget);
		try_fallbacks = 0;
		m = do_pair(bk, sz->pair, sz->budget);
		report(WL_PAIR, name, m, fallback_pct(bk, m.units));
	}
	if (wl_mask & W(WL_BATCH)) {
		prewarm_try(bk, BATCH_PAGES, arr);
		do_batch(bk, sz->pages / 10, sz->warm_budget, BATCH_PAGES, arr);
		try_fallbacks = 0;
		m = do_batch(bk, sz->pages, sz->budget, BATCH_PAGES, arr);
		report(WL_BATCH, name, m, fallback_pct(bk, m.units));
	}
	if (wl_mask & W(WL_BULK)) {
		if (bk == BK_PP) {
			do_bulk64(sz->pages / 10, sz->warm_budget);
			m = do_bulk64(sz->pages, sz->budget);
			report(WL_BULK, "pagepool-bulk64", m, -1);
		}
		do_batch(bk, sz->pages / 10, sz->warm_budget, BULK_PAGES, arr);
		m = do_batch(bk, sz->pages, sz->budget, BULK_PAGES, arr);
		report(WL_BULK, name, m, -1);
	}
	if (wl_mask & W(WL_REMOTE)) {
		prewarm_try(bk, BULK_PAGES, arr);
		m = do_remote(bk, sz->pages / 10, sz->warm_budget, sz->pages, sz->budget);
		report(WL_REMOTE, name, m, fallback_pct(bk, m.units));
	}
	if (wl_mask & W(WL_ORDERS)) {
		static struct ord_state st;

		orders_init();
		do_orders_fill(bk, &st, true);
		do_orders(bk, &st, sz->pair / 10, sz->warm_budget);
		try_fallbacks = 0;
		m = do_orders(bk, &st, sz->pair, sz->budget);
		report(WL_ORDERS, name, m, fallback_pct(bk, m.units));
		do_orders_fill(bk, &st, false);
	}
	if (wl_mask & W(WL_LATENCY))
		do_latency(bk, sz->lat_samples, sz->lat_budget);
	if (fflush(stdout) != 0 || ferror(stdout))
		die("writing results: %s", strerror(errno));
	return 0;
}

/* ---- parent: spawn the children, collect, print ------------------------ */

struct row {
	enum workload wl;
	const char *name;
	double v[MAX_RUNS];
	int nv;
	double fb[MAX_RUNS];	/* pagepool-try fallback %, when reported */
	int nfb;
};

/* Table rows in display order. */
#define ROW(w, n) { .wl = (w), .name = (n) }
static struct row rows[] = {
	ROW(WL_PAIR, "pagepool-try"), ROW(WL_PAIR, "pagepool"), ROW(WL_PAIR, "jemalloc"),
	ROW(WL_PAIR, "glibc"), ROW(WL_PAIR, "mimalloc"), ROW(WL_PAIR, "tcmalloc"),
	ROW(WL_BATCH, "pagepool-try"), ROW(WL_BATCH, "pagepool"), ROW(WL_BATCH, "jemalloc"),
	ROW(WL_BATCH, "glibc"), ROW(WL_BATCH, "mimalloc"), ROW(WL_BATCH, "tcmalloc"),
	ROW(WL_BULK, "pagepool-bulk64"), ROW(WL_BULK, "pagepool"), ROW(WL_BULK, "jemalloc"),
	ROW(WL_REMOTE, "pagepool-try"), ROW(WL_REMOTE, "pagepool"), ROW(WL_REMOTE, "jemalloc"),
	ROW(WL_REMOTE, "glibc"), ROW(WL_REMOTE, "mimalloc"), ROW(WL_REMOTE, "tcmalloc"),
	ROW(WL_ORDERS, "pagepool-try"), ROW(WL_ORDERS, "pagepool"), ROW(WL_ORDERS, "jemalloc"),
	ROW(WL_ORDERS, "glibc"), ROW(WL_ORDERS, "mimalloc"), ROW(WL_ORDERS, "tcmalloc"),
};
#define NR_ROWS (sizeof(rows) / sizeof(rows[0]))

/* The latency table: per (backend, op), each column's values over the runs. */
enum lat_stat { LS_CALLS, LS_P50, LS_P99, LS_P999, LS_P9999, LS_MAX, LS_OVER, LS_NULLS,
		NR_LS };

struct lat_row {
	enum backend bk;
	enum lat_op op;
	double v[NR_LS][MAX_RUNS];
	int nv;
};

#define LROW(b, o) { .bk = (b), .op = (o) }
static struct lat_row lat_rows[] = {
	LROW(BK_NONE, OP_EMPTY),
	LROW(BK_PP, OP_TRY), LROW(BK_PP, OP_NOWAIT), LROW(BK_PP, OP_ALLOC0), LROW(BK_PP, OP_FREE),
	LROW(BK_JE, OP_ALLOC), LROW(BK_JE, OP_FREE), LROW(BK_GLIBC, OP_ALLOC),
	LROW(BK_GLIBC, OP_FREE), LROW(BK_MI, OP_ALLOC), LROW(BK_MI, OP_FREE),
	LROW(BK_TC, OP_ALLOC), LROW(BK_TC, OP_FREE),
};
#define NR_LAT_ROWS (sizeof(lat_rows) / sizeof(lat_rows[0]))

/* T lines: the timer's cost per process, median, least and p99. */
static double timer_v[NR_BK * MAX_RUNS], timer_min_v[NR_BK * MAX_RUNS],
	      timer_p99_v[NR_BK * MAX_RUNS];
static int ntimer;
static double churn_v[NR_BK][MAX_RUNS];		/* C lines: churn pages per s */
static int nchurn[NR_BK];

static char versions[NR_BK][128];

static struct row *find_row(const char *wl, const char *name)
{
	for (size_t i = 0; i < NR_ROWS; i++)
		if (!strcmp(wl_names[rows[i].wl], wl) && !strcmp(rows[i].name, name))
			return &rows[i];
	return NULL;
}

static struct lat_row *find_lat_row(enum backend bk, const char *name, const char *op)
{
	if (strcmp(bks[bk].name, name))
		return NULL;
	for (size_t i = 0; i < NR_LAT_ROWS; i++)
		if (lat_rows[i].bk == bk && !strcmp(op_names[lat_rows[i].op], op))
			return &lat_rows[i];
	return NULL;
}

/* The median of any number of values (reorders @v). */
static double median_all(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}


/* Parse a child's output; false if it reported nothing valid. */
static bool collect(enum backend bk, FILE *in)
{
	char *line = NULL;
	size_t cap = 0;
	bool any = false;

	while (getline(&line, &cap, in) > 0) {
		char wl[32], name[32];
		double ns, fb, x[NR_LS];
		int off = 0;
		struct lat_row *lr;
		struct row *r;

		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "R %31s %31s %lf %lf", wl, name, &ns, &fb) == 4) {
			r = find_row(wl, name);
			if (!r || r->nv >= MAX_RUNS || !(ns > 0)) {
				fprintf(stderr, "pagepool-bench: %s: bad result line '%s'\n",
					bks[bk].name, line);
				continue;
			}
			r->v[r->nv++] = ns;
			if (fb >= 0)
				r->fb[r->nfb++] = fb;
			any = true;
		} else if (sscanf(line, "L %31s %31s %lf %lf %lf %lf %lf %lf %lf %lf", name, wl,
				  &x[0], &x[1], &x[2], &x[3], &x[4], &x[5], &x[6], &x[7]) == 2 + NR_LS) {
			lr = find_lat_row(bk, name, wl);
			if (!lr || lr->nv >= MAX_RUNS || !(x[LS_CALLS] > 0)) {
				fprintf(stderr, "pagepool-bench: %s: bad result line '%s'\n",
					bks[bk].name, line);
				continue;
			}
			for (int k = 0; k < NR_LS; k++)
				lr->v[k][lr->nv] = x[k];
			lr->nv++;
			any = true;
		} else if (sscanf(line, "T %lf %lf %lf", &x[0], &x[1], &x[2]) == 3) {
			if (ntimer < NR_BK * MAX_RUNS) {
				timer_v[ntimer] = x[0];
				timer_min_v[ntimer] = x[1];
				timer_p99_v[ntimer++] = x[2];
			}
		} else if (sscanf(line, "C %31s %lf", name, &x[0]) == 2 &&
			   !strcmp(name, bks[bk].name)) {
			if (nchurn[bk] < MAX_RUNS)
				churn_v[bk][nchurn[bk]++] = x[0];
		} else if (sscanf(line, "V %31s %n", name, &off) == 1 && off > 0) {
			snprintf(versions[bk], sizeof(versions[bk]), "%s", line + off);
		} else if (line[0]) {
			fprintf(stderr, "pagepool-bench: %s: unexpected output '%s'\n",
				bks[bk].name, line);
		}
	}
	free(line);
	return any;
}

struct opts {
	bool quick;
	int runs;
	unsigned wl_mask;	/* W(WL_*) bits */
	const char *csv;
	const char *lat_csv;	/* --latency-csv */
	const char *argv0;
};

/*
 * Run one child for @bk.  @probe: only check the backend's library loads
 * (stdout and stderr to /dev/null).  Returns the child's exit status: 0,
 * EXIT_SKIPPED, or -1 on failure (a message has been printed).
 */
struct child_env {
	enum backend bk;
	bool probe;
};

/* In the child, before exec: the backend's preload, the probe's silence. */
static void child_env(const void *arg)
{
	const struct child_env *c = arg;

	if (c->probe) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, STDERR_FILENO);
	}
	if (bks[c->bk].preload)
		setenv("LD_PRELOAD", bks[c->bk].preload, 1);
	if (c->probe)
		setenv("PAGEPOOL_BENCH_PROBE", "1", 1);
	else
		unsetenv("PAGEPOOL_BENCH_PROBE");
}

/* Run the workloads of @wl_mask (W(WL_*) bits) for @bk in one child. */
static int spawn(const struct opts *o, enum backend bk, unsigned wl_mask, bool probe)
{
	struct child_env child;
	const char *args[8];
	char list[128] = "";
	int n = 0, status;
	bool got = false;
	pid_t pid;
	FILE *in;

	for (int w = 0; w < NR_WL; w++)
		if (wl_mask & W(w))
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 list[0] ? "," : "", wl_names[w]);
	args[n++] = o->argv0;
	args[n++] = "--backend";
	args[n++] = bks[bk].name;
	if (o->quick)
		args[n++] = "--quick";
	args[n++] = "--workload";
	args[n++] = list;
	args[n] = NULL;

	child.bk = bk;
	child.probe = probe;
	in = spawn_self(args, child_env, &child, &pid);
	if (!probe)
		got = collect(bk, in);
	else
		while (fgetc(in) != EOF)
			;
	fclose(in);
	status = wait_child(pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_SKIPPED)
		return EXIT_SKIPPED;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && (probe || got))
		return 0;
	if (WIFSIGNALED(status))
		fprintf(stderr, "pagepool-bench: %s: child killed by signal %d (%s)\n",
			bks[bk].name, WTERMSIG(status), strsignal(WTERMSIG(status)));
	else if (!probe)
		fprintf(stderr, "pagepool-bench: %s: child exited with status %d%s\n",
			bks[bk].name, WEXITSTATUS(status), got ? "" : ", no results");
	return -1;
}

static double row_median(enum workload wl, const char *name)
{
	struct row *r = find_row(wl_names[wl], name);

	return r && r->nv ? median(r->v, r->nv) : 0;
}

/* The main table (every workload but latency) and its notes. */
static void print_main_table(const struct opts *o, FILE *csv, int argc, char **argv)
{
	printf("| workload | backend | ns/op (median of %d) | x jemalloc |\n", o->runs);
	printf("|---|---|--:|--:|\n");
	for (size_t i = 0; i < NR_ROWS; i++) {
		struct row *r = &rows[i];
		double med, je;
		char ratio[32], runs[32] = "";

		if (!r->nv)
			continue;
		med = median(r->v, r->nv);
		je = row_median(r->wl, "jemalloc");
		fmt_ratio(ratio, sizeof(ratio), je, med);
		if (r->nv != o->runs)
			snprintf(runs, sizeof(runs), " (%d of %d runs)", r->nv, o->runs);
		printf("| %s | %s | %.1f%s | %s |\n", wl_names[r->wl], r->name, med, runs, ratio);
		if (csv)
			fprintf(csv, "%s,%s,%.3f,%s,%d,%.3f,%.3f\n", wl_names[r->wl], r->name,
				med, ratio, r->nv, min_of(r->v, r->nv), max_of(r->v, r->nv));
	}

	printf("\nmedian of %d processes per backend; command: ", o->runs);
	print_command(stdout, argc, argv);
	printf("\n\n");
	printf("ns/op: pair = one alloc + free; batch (%d pages), bulk (%d pages) and "
	       "remote = per page (remote: wall time, producer + consumer thread); "
	       "orders = one free + one allocation of 2^0..2^3 pages (weights 8:4:2:1, "
	       "%d live blocks, each aligned to its size).\n",
	       BATCH_PAGES, BULK_PAGES, ORD_LIVE);
	printf("x jemalloc = jemalloc ns / backend ns (above 1: faster than jemalloc).\n");
	printf("Every allocated page gets one byte written, in every workload, for every "
	       "backend.\n");
	{
		const struct sizes *sz = o->quick ? &quick_sizes : &full_sizes;

		printf("Each timed loop runs %zuM pairs (orders: steps) or %zuM pages, or "
		       "%.1f s, whichever ends first, after an untimed warm-up.\n",
		       sz->pair / 1000000, sz->pages / 1000000, sz->budget / 1e9);
	}
	{
		bool first = true;

		for (size_t i = 0; i < NR_ROWS; i++) {
			if (strcmp(rows[i].name, "pagepool-try") || !rows[i].nfb)
				continue;
			if (first)
				printf("pagepool-try = pp_alloc_page_try(), falling back to "
				       "pp_alloc_page(0) when the thread cache is empty (orders: "
				       "pp_alloc_pages(order, PP_TRY), then 0); fallbacks:");
			printf("%s %s %.1f%%", first ? "" : ",", wl_names[rows[i].wl],
			       median(rows[i].fb, rows[i].nfb));
			first = false;
		}
		if (!first)
			printf(".\n");
	}
}

/* The latency table and its notes; @command: print the command line too. */
static void print_latency_table(const struct opts *o, FILE *csv, bool command, int argc,
				char **argv)
{
	const struct sizes *sz = o->quick ? &quick_sizes : &full_sizes;
	bool any = false, first = true;

	printf("%slatency: ns per call, with a churn thread allocating and freeing "
	       "(median of %d processes per backend, each column separately)\n\n",
	       command ? "" : "\n", o->runs);
	printf("| backend | op | calls | p50 | p99 | p99.9 | p99.99 | max | over 10 us |\n");
	printf("|---|---|--:|--:|--:|--:|--:|--:|--:|\n");
	for (size_t i = 0; i < NR_LAT_ROWS; i++) {
		struct lat_row *lr = &lat_rows[i];
		double med[NR_LS];
		char runs[32] = "";

		if (!lr->nv)
			continue;
		any = true;
		for (int k = 0; k < NR_LS; k++)
			med[k] = median(lr->v[k], lr->nv);
		if (lr->nv != o->runs)
			snprintf(runs, sizeof(runs), " (%d of %d runs)", lr->nv, o->runs);
		printf("| %s%s | %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f |\n",
		       bks[lr->bk].name, runs, op_names[lr->op], med[LS_CALLS], med[LS_P50],
		       med[LS_P99], med[LS_P999], med[LS_P9999], med[LS_MAX], med[LS_OVER]);
		if (csv)
			fprintf(csv, "%s,%s,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%d\n",
				bks[lr->bk].name, op_names[lr->op], med[LS_CALLS], med[LS_P50],
				med[LS_P99], med[LS_P999], med[LS_P9999], med[LS_MAX],
				med[LS_OVER], lr->nv);
	}
	if (!any)
		printf("| (no results) | | | | | | | | |\n");

	printf("\n");
	if (command) {
		printf("median of %d processes per backend; command: ", o->runs);
		print_command(stdout, argc, argv);
		printf("\n\n");
	}
	printf("Each call timed alone: clock_gettime(CLOCK_MONOTONIC) before and after "
	       "(vDSO; no rdtsc of our own), less the timer's cost");
	if (ntimer) {
		double lo = min_of(timer_v, ntimer), hi = max_of(timer_v, ntimer);
		double least = min_of(timer_min_v, ntimer);

		printf(" = the median of %d back-to-back pairs in the same process: %.0f ns "
		       "(median of %d processes, %.0f-%.0f across them; the pairs' p99 %.0f ns, "
		       "least %.0f ns)", LAT_CALIB, median_all(timer_v, ntimer), ntimer, lo, hi,
		       median_all(timer_p99_v, ntimer), least);
	}
	printf(".  Samples keep the clock's granularity (a call shorter than one step "
	       "reads 0 or one step).  Percentiles are nearest-rank over exact samples "
	       "(1-ns histogram to %d us, longer ones listed); over 10 us = calls above "
	       "%d ns.\n", LAT_BUCKETS / 1000, LAT_OVER_NS);
	printf("Measuring thread: rounds of %d allocations, one call at a time, then %d "
	       "frees (every page touched), about %zuk calls per op or %.1f s per "
	       "process, after a warm-up of a tenth; meanwhile a churn thread allocates "
	       "and frees rounds of %d pages with the same backend.\n",
	       LAT_ROUND, LAT_ROUND, sz->lat_samples / 1000, sz->lat_budget / 1e9,
	       CHURN_PAGES);
	printf("pagepool: try = pp_alloc_page_try(), nowait = pp_alloc_page(PP_NOWAIT), "
	       "alloc0 = pp_alloc_page(0), in rotating rounds (a NULL from try or nowait is "
	       "timed, then an untimed pp_alloc_page(0) stands in); free = pp_free_page() "
	       "in the alloc0 rounds.  none = the same loop around an empty noinline call; "
	       "its churn thread touches pages without allocating.\n");
	for (size_t i = 0; i < NR_LAT_ROWS; i++) {
		struct lat_row *lr = &lat_rows[i];

		if (!lr->nv || (lr->op != OP_TRY && lr->op != OP_NOWAIT))
			continue;
		{
			double pct[MAX_RUNS];

			for (int k = 0; k < lr->nv; k++)
				pct[k] = 100.0 * lr->v[LS_NULLS][k] / lr->v[LS_CALLS][k];
			printf("%s %s returned NULL %.1f%%", first ? "NULL returns:" : ",",
			       op_names[lr->op], median(pct, lr->nv));
		}
		first = false;
	}
	if (!first)
		printf(" (median over processes).\n");
	first = true;
	for (int b = 0; b < NR_BK; b++) {
		if (!nchurn[b])
			continue;
		printf("%s %s %.1f", first ? "Churn thread, M pages allocated + freed per s:" : ",",
		       bks[b].name, median(churn_v[b], nchurn[b]) / 1e6);
		first = false;
	}
	if (!first)
		printf(".\n");
}

static int parent_main(const struct opts *o, int argc, char **argv)
{
	bool avail[NR_BK], failed[NR_BK] = { false }, any_fail = false;
	char skipped[256] = "";
	double t_start = now_ns();
	struct utsname un;
	char cpu[128];
	FILE *csv = NULL, *lat_csv = NULL;
	int b;

	for (b = 0; b < NR_BK; b++) {
		avail[b] = (bks[b].workloads & o->wl_mask) != 0;
		if (avail[b] && bks[b].preload &&
		    spawn(o, (enum backend)b, bks[b].workloads & o->wl_mask, true) != 0) {
			avail[b] = false;
			fprintf(stderr, "pagepool-bench: note: %s skipped (%s not installed or not loadable)\n",
				bks[b].name, bks[b].preload);
			snprintf(skipped + strlen(skipped), sizeof(skipped) - strlen(skipped),
				 "%s%s", skipped[0] ? ", " : "", bks[b].name);
		}
	}
	if (o->csv) {
		csv = fopen(o->csv, "w");
		if (!csv)
			die("%s: %s", o->csv, strerror(errno));
	}
	if (o->lat_csv) {
		lat_csv = fopen(o->lat_csv, "w");
		if (!lat_csv)
			die("%s: %s", o->lat_csv, strerror(errno));
	}

	/*
	 * Runs interleave the backends, so drift in the machine hits them all.
	 * The latency workload gets a process of its own: what the others
	 * leave behind in an allocator (dirty pages, purging) is not measured.
	 */
	for (int run = 1; run <= o->runs; run++) {
		for (b = 0; b < NR_BK; b++) {
			unsigned mask = bks[b].workloads & o->wl_mask;
			unsigned parts[2] = { mask & ~W(WL_LATENCY), mask & W(WL_LATENCY) };

			for (int i = 0; i < 2; i++) {
				double t;
				int rc;

				if (!avail[b] || !parts[i])
					continue;
				t = now_ns();
				rc = spawn(o, (enum backend)b, parts[i], false);
				fprintf(stderr, "[run %d/%d] %-13s %-8s %5.1f s%s\n", run, o->runs,
					bks[b].name, i ? "latency" : "", (now_ns() - t) / 1e9,
					rc == 0 ? "" : rc == EXIT_SKIPPED ? " (skipped)" : " FAILED");
				if (rc == EXIT_SKIPPED) {
					avail[b] = false;
					fprintf(stderr, "pagepool-bench: note: %s skipped: %s not loaded\n",
						bks[b].name, bks[b].preload ? bks[b].preload : "library");
				} else if (rc != 0) {
					failed[b] = true;
					if (bks[b].required || bks[b].preload)
						any_fail = true;
				}
			}
		}
	}

	/* Header, tables, footer. */
	if (uname(&un) != 0)
		snprintf(un.machine, sizeof(un.machine), "unknown");
	cpu_model(cpu, sizeof(cpu));
	printf("pagepool-bench: %s, %d CPUs, %s; page size %zu bytes%s\n\n", un.machine,
	       nr_cpus(), cpu, page_size, o->quick ? "; quick mode" : "");
	if (csv)
		fprintf(csv, "workload,backend,ns_per_op,x_jemalloc,runs,min_ns,max_ns\n");
	if (o->wl_mask & ~W(WL_LATENCY))
		print_main_table(o, csv, argc, argv);
	if (lat_csv)
		fprintf(lat_csv, "backend,op,calls,p50_ns,p99_ns,p999_ns,p9999_ns,max_ns,"
			"over_10us,runs\n");
	if (o->wl_mask & W(WL_LATENCY))
		print_latency_table(o, lat_csv, !(o->wl_mask & ~W(WL_LATENCY)), argc, argv);
	printf("Versions:");
	for (b = 0; b < NR_BK; b++)
		if (versions[b][0] && b != BK_TRY && b != BK_NONE)
			printf(" %s %s;", bks[b].name, versions[b]);
	printf(" PAGEPOOL_CONF=%s.\n", getenv("PAGEPOOL_CONF") ? getenv("PAGEPOOL_CONF") : "(unset)");
	if (skipped[0])
		printf("Not installed, skipped: %s.\n", skipped);
	for (b = 0; b < NR_BK; b++)
		if (failed[b])
			printf("FAILED: %s (see stderr).\n", bks[b].name);

	if (lat_csv && fclose(lat_csv) != 0)
		die("%s: %s", o->lat_csv, strerror(errno));
	finish_report(csv, o->csv, t_start);
	return any_fail ? 1 : 0;
}

/* ---- options ------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pagepool-bench [--quick] [--runs N] [--workload NAME[,NAME...]]\n"
		"                      [--csv FILE] [--latency-csv FILE]\n"
		"  --quick              short run (well under a minute)\n"
		"  --runs N             processes per backend; the median is reported\n"
		"                       (default 3 with --quick, else 5)\n"
		"  --workload NAME      only pair, batch, bulk, remote, orders or latency\n"
		"                       (several: separated by commas)\n"
		"  --csv FILE           also write the main table's rows to FILE\n"
		"  --latency-csv FILE   also write the latency table's rows to FILE\n"
		"  --backend NAME       internal: run one backend and print raw results\n");
}

/* The argument of --workload: names separated by commas. */
static unsigned parse_workloads(const char *arg)
{
	unsigned mask = 0;
	const char *p = arg;

	do {
		size_t len = strcspn(p, ",");
		int w;

		for (w = 0; w < NR_WL; w++)
			if (strlen(wl_names[w]) == len && !strncmp(wl_names[w], p, len))
				break;
		if (w == NR_WL)
			die("--workload: unknown '%.*s' (pair, batch, bulk, remote, orders, "
			    "latency)", (int)len, p);
		mask |= W(w);
		p += len;
	} while (*p++ == ',');
	return mask;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "runs", required_argument, NULL, 'r' },
		{ "backend", required_argument, NULL, 'b' },
		{ "workload", required_argument, NULL, 'w' },
		{ "csv", required_argument, NULL, 'c' },
		{ "latency-csv", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .runs = 0, .wl_mask = (1u << NR_WL) - 1, .argv0 = argv[0] };
	const char *backend = NULL;
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
		case 'b':
			backend = optarg;
			break;
		case 'w':
			o.wl_mask = parse_workloads(optarg);
			break;
		case 'c':
			o.csv = optarg;
			break;
		case 'l':
			o.lat_csv = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 1;
	}
	if (!o.runs)
		o.runs = o.quick ? 3 : 5;

	ps = sysconf(_SC_PAGESIZE);
	if (ps <= 0 || (ps & (ps - 1)))
		die("bad page size %ld", ps);
	page_size = (size_t)ps;
	if (pp_page_size() != page_size)
		die("pp_page_size() %zu != system page size %zu", pp_page_size(), page_size);
	je_align_flag = __builtin_ctzl(page_size);	/* MALLOCX_ALIGN(page_size) */

	if (backend) {
		for (int b = 0; b < NR_BK; b++)
			if (!strcmp(bks[b].name, backend)) {
				if (getenv("PAGEPOOL_BENCH_PROBE"))
					return child_setup((enum backend)b) ? 0 : EXIT_SKIPPED;
				return child_main((enum backend)b, o.quick, o.wl_mask);
			}
		die("--backend: unknown '%s'", backend);
	}
	return parent_main(&o, argc, argv);
}
