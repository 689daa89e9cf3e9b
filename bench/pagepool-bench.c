/* SPDX-License-Identifier: MIT */
/*
 * pagepool-bench - page allocation backends side by side, in one run.
 *
 *   pagepool-bench [--quick] [--runs N] [--workload NAME] [--csv FILE]
 *
 * Backends: pagepool-try (pp_alloc_page_try, falling back to
 * pp_alloc_page(0) when this thread's cache is empty), pagepool
 * (pp_alloc_page(0)), jemalloc (mallocx with MALLOCX_ALIGN(page)), glibc
 * (posix_memalign), and, when their libraries are installed, mimalloc
 * (mi_malloc_aligned) and tcmalloc (posix_memalign under
 * libtcmalloc_minimal).  Every backend runs in its own processes: the parent
 * re-executes itself (/proc/self/exe --backend NAME) once per backend and
 * run, with LD_PRELOAD set for the allocators that replace malloc; each
 * child prints result lines on stdout, which the parent reads through a
 * pipe; the table shows the median over the runs.
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
 *
 * Child protocol (one line each, on stdout):
 *   R <workload> <row> <ns-per-op> <fallback-%, or -1>
 *   V <backend> <version text>
 * Child exit status: 0 done, 2 backend not available (skipped), else failed.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
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
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pagepool.h"
#include "benchutil.h"

#define BATCH_PAGES	1000
#define BULK_PAGES	64
#define RING_SLOTS	1024		/* power of two */
#define EXIT_SKIPPED	2

#define ALWAYS_INLINE	inline __attribute__((always_inline))
#define NOINLINE	__attribute__((noinline))

/* ---- backends ----------------------------------------------------------- */

enum backend { BK_TRY, BK_PP, BK_JE, BK_GLIBC, BK_MI, BK_TC, NR_BK };
enum workload { WL_PAIR, WL_BATCH, WL_BULK, WL_REMOTE, NR_WL };

#define W(x) (1u << (x))

static const struct bkinfo {
	const char *name;
	const char *preload;	/* library to LD_PRELOAD, or NULL */
	bool required;		/* its failure fails the run */
	unsigned workloads;	/* mask of W(WL_*) it runs */
} bks[NR_BK] = {
	[BK_TRY]   = { "pagepool-try", NULL, true, W(WL_PAIR) | W(WL_BATCH) | W(WL_REMOTE) },
	[BK_PP]    = { "pagepool", NULL, true,
		       W(WL_PAIR) | W(WL_BATCH) | W(WL_BULK) | W(WL_REMOTE) },
	[BK_JE]    = { "jemalloc", "libjemalloc.so.2", false,
		       W(WL_PAIR) | W(WL_BATCH) | W(WL_BULK) | W(WL_REMOTE) },
	[BK_GLIBC] = { "glibc", NULL, true, W(WL_PAIR) | W(WL_BATCH) | W(WL_REMOTE) },
	[BK_MI]    = { "mimalloc", "libmimalloc.so.2", false,
		       W(WL_PAIR) | W(WL_BATCH) | W(WL_REMOTE) },
	[BK_TC]    = { "tcmalloc", "libtcmalloc_minimal.so.4", false,
		       W(WL_PAIR) | W(WL_BATCH) | W(WL_REMOTE) },
};

static const char *const wl_names[NR_WL] = { "pair", "batch", "bulk", "remote" };

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
	default:       abort();							\
	}

typedef void *alloc_fn(void);
typedef void free_fn(void *);

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

/* ---- child: one backend, one process ----------------------------------- */

struct sizes {
	size_t pair;		/* most pairs per timed loop */
	size_t pages;		/* most pages per timed loop (batch, bulk, remote) */
	double budget;		/* most ns per timed loop */
	double warm_budget;	/* most ns per warm-up loop (a tenth of the units) */
};

static const struct sizes quick_sizes = { 5000000, 5000000, 0.4e9, 0.1e9 };
static const struct sizes full_sizes = { 20000000, 20000000, 1.5e9, 0.3e9 };

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
};
#define NR_ROWS (sizeof(rows) / sizeof(rows[0]))

static char versions[NR_BK][128];

static struct row *find_row(const char *wl, const char *name)
{
	for (size_t i = 0; i < NR_ROWS; i++)
		if (!strcmp(wl_names[rows[i].wl], wl) && !strcmp(rows[i].name, name))
			return &rows[i];
	return NULL;
}





/* Parse a child's output; false if it reported nothing valid. */
static bool collect(enum backend bk, FILE *in)
{
	char *line = NULL;
	size_t cap = 0;
	bool any = false;

	while (getline(&line, &cap, in) > 0) {
		char wl[32], name[32];
		double ns, fb;
		int off = 0;
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
	unsigned wl_mask;
	const char *workload;	/* as given, or NULL */
	const char *csv;
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

static int spawn(const struct opts *o, enum backend bk, bool probe)
{
	struct child_env child;
	const char *args[8];
	int n = 0, status;
	bool got = false;
	pid_t pid;
	FILE *in;

	args[n++] = o->argv0;
	args[n++] = "--backend";
	args[n++] = bks[bk].name;
	if (o->quick)
		args[n++] = "--quick";
	if (o->workload) {
		args[n++] = "--workload";
		args[n++] = o->workload;
	}
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

static int parent_main(const struct opts *o, int argc, char **argv)
{
	bool avail[NR_BK], failed[NR_BK] = { false }, any_fail = false;
	char skipped[256] = "";
	double t_start = now_ns();
	struct utsname un;
	char cpu[128];
	FILE *csv = NULL;
	int b;

	for (b = 0; b < NR_BK; b++) {
		avail[b] = (bks[b].workloads & o->wl_mask) != 0;
		if (avail[b] && bks[b].preload && spawn(o, (enum backend)b, true) != 0) {
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

	/* Runs interleave the backends, so drift in the machine hits them all. */
	for (int run = 1; run <= o->runs; run++) {
		for (b = 0; b < NR_BK; b++) {
			double t;
			int rc;

			if (!avail[b])
				continue;
			t = now_ns();
			rc = spawn(o, (enum backend)b, false);
			fprintf(stderr, "[run %d/%d] %-13s %5.1f s%s\n", run, o->runs, bks[b].name,
				(now_ns() - t) / 1e9,
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

	/* Header, table, footer. */
	if (uname(&un) != 0)
		snprintf(un.machine, sizeof(un.machine), "unknown");
	cpu_model(cpu, sizeof(cpu));
	printf("pagepool-bench: %s, %d CPUs, %s; page size %zu bytes%s\n\n", un.machine,
	       nr_cpus(), cpu, page_size, o->quick ? "; quick mode" : "");
	printf("| workload | backend | ns/op (median of %d) | x jemalloc |\n", o->runs);
	printf("|---|---|--:|--:|\n");
	if (csv)
		fprintf(csv, "workload,backend,ns_per_op,x_jemalloc,runs,min_ns,max_ns\n");
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
	       "remote = per page (remote: wall time, producer + consumer thread).\n",
	       BATCH_PAGES, BULK_PAGES);
	printf("x jemalloc = jemalloc ns / backend ns (above 1: faster than jemalloc).\n");
	printf("Every allocated page gets one byte written, in every workload, for every "
	       "backend.\n");
	{
		const struct sizes *sz = o->quick ? &quick_sizes : &full_sizes;

		printf("Each timed loop runs %zuM pairs or %zuM pages, or %.1f s, whichever "
		       "ends first, after an untimed warm-up.\n", sz->pair / 1000000,
		       sz->pages / 1000000, sz->budget / 1e9);
	}
	{
		bool first = true;

		for (size_t i = 0; i < NR_ROWS; i++) {
			if (strcmp(rows[i].name, "pagepool-try") || !rows[i].nfb)
				continue;
			if (first)
				printf("pagepool-try = pp_alloc_page_try(), falling back to "
				       "pp_alloc_page(0) when the thread cache is empty; fallbacks:");
			printf("%s %s %.1f%%", first ? "" : ",", wl_names[rows[i].wl],
			       median(rows[i].fb, rows[i].nfb));
			first = false;
		}
		if (!first)
			printf(".\n");
	}
	printf("Versions:");
	for (b = 0; b < NR_BK; b++)
		if (versions[b][0] && b != BK_TRY)
			printf(" %s %s;", bks[b].name, versions[b]);
	printf(" PAGEPOOL_CONF=%s.\n", getenv("PAGEPOOL_CONF") ? getenv("PAGEPOOL_CONF") : "(unset)");
	if (skipped[0])
		printf("Not installed, skipped: %s.\n", skipped);
	for (b = 0; b < NR_BK; b++)
		if (failed[b])
			printf("FAILED: %s (see stderr).\n", bks[b].name);

	finish_report(csv, o->csv, t_start);
	return any_fail ? 1 : 0;
}

/* ---- options ------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pagepool-bench [--quick] [--runs N] [--workload NAME] [--csv FILE]\n"
		"  --quick          short run (well under a minute)\n"
		"  --runs N         processes per backend; the median is reported\n"
		"                   (default 3 with --quick, else 5)\n"
		"  --workload NAME  only pair, batch, bulk or remote\n"
		"  --csv FILE       also write the rows to FILE\n"
		"  --backend NAME   internal: run one backend and print raw results\n");
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "runs", required_argument, NULL, 'r' },
		{ "backend", required_argument, NULL, 'b' },
		{ "workload", required_argument, NULL, 'w' },
		{ "csv", required_argument, NULL, 'c' },
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
		case 'w': {
			int w;

			for (w = 0; w < NR_WL && strcmp(wl_names[w], optarg); w++)
				;
			if (w == NR_WL)
				die("--workload: unknown '%s' (pair, batch, bulk, remote)", optarg);
			o.wl_mask = W(w);
			o.workload = optarg;
			break;
		}
		case 'c':
			o.csv = optarg;
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
