/* SPDX-License-Identifier: MIT */
/*
 * preload-bench - a page-heavy multithreaded program under the LD_PRELOAD
 * shim, under jemalloc's preload and under plain glibc, side by side.
 *
 *   preload-bench --shim PATH [--quick] [--runs R] [--threads N] [--ops N]
 *                 [--csv FILE] [--no-verify]
 *
 * Configurations: glibc (no LD_PRELOAD), jemalloc (LD_PRELOAD=
 * libjemalloc.so.2; skipped with a note when it does not load) and pagepool
 * (LD_PRELOAD=the shim given with --shim; required).  The parent
 * re-executes itself (/proc/self/exe --child CONFIG) once per configuration
 * and run, the runs interleaving the configurations; it times each child
 * from fork to exit (wall clock) and takes its peak RSS from wait4()'s
 * ru_maxrss.  The table shows the medians over the runs.
 *
 * The workload (one child): N threads, each with a working set of WSET
 * slots and its own seeded xorshift generator, do OPS steps each.  A step
 * picks a random slot.  An occupied slot is, 1 time in 16, grown with
 * realloc() (4-32 KiB more, up to 128 KiB); else its buffer goes: 1 time in
 * 4 through a mutex-protected ring (RING slots) to the next thread, which
 * checks and frees it - a cross-thread free; when the ring is full the
 * thread sleeps until there is room, emptying its own ring meanwhile -
 * otherwise it is checked and freed at once.  An emptied slot gets a new
 * buffer of 4-64 KiB (uniform; a quarter of the sizes rounded down to whole
 * pages): 1 in 32 from posix_memalign(4096), 2 in 32 from calloc(), the
 * rest from malloc().  Every buffer gets one byte written in each 4 KiB, a
 * header at its start and a mark at its end, all checked before it is freed
 * and after realloc(); 1 calloc() buffer in 8 first has its header and end
 * checked to be zero.  Every 8 steps a thread frees what its ring brought.
 * At the end each thread frees its working set and empties its ring until
 * all threads are done.  Every run makes the same calls with the same sizes
 * in each thread; only which thread frees a handed-over buffer when, and how
 * often a thread waits for a full ring, depend on scheduling.
 *
 * The child checks it runs under the intended allocator: pagepool needs
 * dlsym(RTLD_DEFAULT, "pp_owns") and pp_owns(malloc(16384)) == 1; jemalloc
 * needs "mallocx"; glibc needs neither.  --no-verify skips the pagepool
 * check (for trying the driver with a stand-in shim).
 *
 * Child protocol (lines on stdout):
 *   V <config> <version text>
 *   R <config> <threads> <ops> <workload-ns> <allocs> <xfers> <xfer-waits>
 *     <reallocs> <memaligns> <callocs>
 *   P <pool-peak-committed-bytes>          (pagepool only, from pp_stats)
 * Child exit status: 0 done, 2 allocator not loaded (jemalloc: skipped),
 * else failed.
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
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pagepool.h"		/* struct pp_stats only: nothing is linked */
#include "benchutil.h"

#define EXIT_SKIPPED	2

#define WSET		256		/* live buffers per thread */
#define RING		256		/* cross-thread ring slots per thread */
#define DRAIN_EVERY	8		/* steps between ring drains (power of two) */
#define WAIT_MS		1		/* longest sleep on a ring */
#define MIN_SIZE	4096		/* new buffers: MIN_SIZE .. MAX_SIZE bytes */
#define MAX_SIZE	65536
#define GROW_MIN	4096		/* realloc growth: GROW_MIN .. GROW_MAX_STEP more */
#define GROW_MAX_STEP	32768
#define GROW_LIMIT	131072		/* no buffer grows beyond this */
#define MARK_PAGE	4096		/* one byte written per MARK_PAGE bytes */
#define HDR_SIZE	16
#define END_SIZE	8
#define ALIGN		4096		/* posix_memalign alignment */
#define VERIFY_SIZE	16384		/* the pp_owns(malloc()) check */
#define CHECK_ZERO_EVERY 8		/* callocs per check of their zeroes */

#define DEF_THREADS	4
#define MAX_THREADS	256
#define FULL_OPS	400000UL	/* steps per thread */
#define QUICK_OPS	100000UL
#define FULL_RUNS	5
#define QUICK_RUNS	3

#define NOINLINE	__attribute__((noinline))

enum config { C_GLIBC, C_JE, C_PP, NR_CONFIG };

static const char *const config_names[NR_CONFIG] = { "glibc", "jemalloc", "pagepool" };
static const char je_preload[] = "libjemalloc.so.2";

/* ---- the workload (child) ------------------------------------------------ */

struct buf {
	unsigned char *p;
	size_t size;
	uint32_t tag;		/* random: what stamp() writes */
};

/* One producer (the previous thread), one consumer (the owner). */
struct ring {
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* count changed, or all_done */
	unsigned head, count;
	unsigned waiters;		/* sleeping on cond */
	struct buf slot[RING];
};

struct counters {
	unsigned long allocs, xfers, xfer_waits, reallocs, memaligns, callocs;
};

struct worker {
	struct ring in;			/* buffers other threads hand to this one */
	struct buf set[WSET];
	struct counters c;
	uint64_t rng;
	unsigned long ops;
	struct worker *next;		/* the neighbour that frees our hand-overs */
	pthread_t tid;
} __attribute__((aligned(64)));

static pthread_barrier_t start_barrier;
static atomic_int nr_done;		/* workers past their last step */
static atomic_bool all_done;		/* nr_done == nr_workers */
static int nr_workers;

static inline uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static NOINLINE __attribute__((noreturn, format(printf, 2, 3)))
void corrupt(const struct buf *b, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: child: buffer %p (%zu bytes, tag %08x): ",
		program_invocation_short_name, (void *)b->p, b->size, b->tag);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

static NOINLINE __attribute__((noreturn)) void oom(const char *call, size_t size)
{
	die("child: %s(%zu) failed: %s", call, size, strerror(errno));
}

static inline uint64_t end_mark(const struct buf *b)
{
	return ((uint64_t)b->tag * 0x9E3779B97F4A7C15ULL) ^ b->size;
}

static inline unsigned char page_byte(uint32_t tag, size_t k)
{
	return (unsigned char)(tag + k * 7 + 1);
}

/* Header, one byte per MARK_PAGE after the first, end mark: every page. */
static void stamp(const struct buf *b)
{
	uint32_t hdr[4] = { b->tag, (uint32_t)b->size, ~b->tag, 0x5a5aa5a5u };
	uint64_t end = end_mark(b);

	memcpy(b->p, hdr, sizeof(hdr));
	for (size_t off = MARK_PAGE, k = 1; off < b->size - END_SIZE; off += MARK_PAGE, k++)
		b->p[off] = page_byte(b->tag, k);
	memcpy(b->p + b->size - END_SIZE, &end, sizeof(end));
}

/* Check what stamp() wrote, @size being the size it was stamped with. */
static void check(const struct buf *b, size_t size, const char *when)
{
	struct buf was = *b;
	uint32_t hdr[4];
	uint64_t end;

	was.size = size;
	memcpy(hdr, b->p, sizeof(hdr));
	if (hdr[0] != b->tag || hdr[1] != (uint32_t)size || hdr[2] != ~b->tag ||
	    hdr[3] != 0x5a5aa5a5u)
		corrupt(b, "%s: header overwritten", when);
	for (size_t off = MARK_PAGE, k = 1; off < size - END_SIZE; off += MARK_PAGE, k++)
		if (b->p[off] != page_byte(b->tag, k))
			corrupt(b, "%s: byte at offset %zu overwritten", when, off);
	memcpy(&end, b->p + size - END_SIZE, sizeof(end));
	if (end != end_mark(&was))
		corrupt(b, "%s: end mark overwritten", when);
}

/*
 * calloc(): the header and end mark stamp() will write must be zero.  Only
 * those two places, and only for 1 calloc() in CHECK_ZERO_EVERY: reading a
 * page the allocator left unmapped maps the zero page, and the write that
 * follows costs a second fault and a TLB shootdown (an IPI to every CPU the
 * process runs on), which would dominate the run for an allocator that
 * hands out fresh pages if every calloc() were read before it is written.
 */
static void check_zero(const struct buf *b)
{
	static const unsigned char zero[HDR_SIZE];

	if (memcmp(b->p, zero, HDR_SIZE) || memcmp(b->p + b->size - END_SIZE, zero, END_SIZE))
		corrupt(b, "calloc: memory not zeroed");
}

static void dispose(struct buf *b)
{
	check(b, b->size, "free");
	free(b->p);
	b->p = NULL;
}

static void new_buf(struct worker *w, struct buf *b, uint64_t r)
{
	size_t size = MIN_SIZE + (size_t)(r % (MAX_SIZE - MIN_SIZE + 1));
	unsigned kind;

	r >>= 20;
	if ((r & 3) == 0)			/* a quarter: whole pages */
		size &= ~(size_t)(MARK_PAGE - 1);
	r >>= 2;
	kind = r & 31;
	r >>= 5;
	b->size = size;
	b->tag = (uint32_t)r;
	if (kind == 0) {
		void *p;
		int err = posix_memalign(&p, ALIGN, size);

		if (err) {
			errno = err;
			oom("posix_memalign", size);
		}
		b->p = p;
		w->c.memaligns++;
		if ((uintptr_t)p & (ALIGN - 1))
			corrupt(b, "posix_memalign(%d): misaligned", ALIGN);
	} else if (kind <= 2) {
		b->p = calloc(1, size);
		if (!b->p)
			oom("calloc", size);
		if (w->c.callocs++ % CHECK_ZERO_EVERY == 0)
			check_zero(b);
	} else {
		b->p = malloc(size);
		if (!b->p)
			oom("malloc", size);
	}
	w->c.allocs++;
	stamp(b);
}

static void grow(struct worker *w, struct buf *b, uint64_t r)
{
	size_t old = b->size, size = old + GROW_MIN + (size_t)(r % (GROW_MAX_STEP - GROW_MIN + 1));
	void *p;

	if (size > GROW_LIMIT)
		size = GROW_LIMIT;
	check(b, old, "before realloc");
	p = realloc(b->p, size);
	if (!p)
		oom("realloc", size);
	b->p = p;
	check(b, old, "after realloc");
	b->size = size;
	stamp(b);
	w->c.reallocs++;
}

/* Deadline @ms milliseconds from now, on the clock of the rings' condvars. */
static struct timespec deadline(long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	return ts;
}

/* Push @b if @q has room; the caller holds q->lock. */
static bool ring_put_locked(struct ring *q, const struct buf *b)
{
	if (q->count == RING)
		return false;
	q->slot[(q->head + q->count) % RING] = *b;
	q->count++;
	if (q->waiters)		/* its owner, done with its steps, sleeps */
		pthread_cond_broadcast(&q->cond);
	return true;
}

/*
 * Push @b into @q; when @q is full, wait up to WAIT_MS for its owner to
 * empty it.  Returns false if it stayed full.
 */
static bool ring_push(struct ring *q, const struct buf *b, bool wait)
{
	bool ok;

	pthread_mutex_lock(&q->lock);
	ok = ring_put_locked(q, b);
	if (!ok && wait) {
		struct timespec until = deadline(WAIT_MS);

		q->waiters++;
		pthread_cond_timedwait(&q->cond, &q->lock, &until);
		q->waiters--;
		ok = ring_put_locked(q, b);
	}
	pthread_mutex_unlock(&q->lock);
	return ok;
}

/*
 * Take what @q holds (under the lock; a waiting producer is woken) and
 * check and free it outside.  @until_done: first sleep until @q has
 * something or every worker is done (all_done), whichever comes first.
 */
static void ring_drain(struct ring *q, bool until_done)
{
	struct buf got[RING];
	unsigned n;

	pthread_mutex_lock(&q->lock);
	while (until_done && !q->count && !atomic_load(&all_done)) {
		struct timespec until = deadline(WAIT_MS);

		q->waiters++;
		pthread_cond_timedwait(&q->cond, &q->lock, &until);
		q->waiters--;
	}
	n = q->count;
	for (unsigned i = 0; i < n; i++)
		got[i] = q->slot[(q->head + i) % RING];
	q->head = (q->head + n) % RING;
	q->count = 0;
	if (n && q->waiters)	/* its producer waits for room */
		pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	for (unsigned i = 0; i < n; i++)
		dispose(&got[i]);
}

/*
 * Hand @b to the next thread, which checks and frees it.  When its ring is
 * full, sleep until there is room, emptying our own ring between sleeps:
 * were every thread waiting on a full ring, each would empty its own within
 * WAIT_MS, so a cycle of full rings cannot stop them all.
 */
static void hand_over(struct worker *w, struct buf *b)
{
	if (!ring_push(&w->next->in, b, false)) {
		w->c.xfer_waits++;
		do
			ring_drain(&w->in, false);
		while (!ring_push(&w->next->in, b, true));
	}
	w->c.xfers++;
	b->p = NULL;
}

/* The last worker to finish its steps wakes those that sleep in ring_drain(). */
static void worker_done(struct worker *w)
{
	if (atomic_fetch_add(&nr_done, 1) + 1 < nr_workers)
		return;
	atomic_store(&all_done, true);
	for (int i = 0; i < nr_workers; i++, w = w->next) {
		pthread_mutex_lock(&w->in.lock);
		pthread_cond_broadcast(&w->in.cond);
		pthread_mutex_unlock(&w->in.lock);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(&start_barrier);
	for (unsigned long op = 0; op < w->ops; op++) {
		uint64_t r = xorshift(&w->rng);
		struct buf *b = &w->set[r % WSET];
		unsigned act;

		r /= WSET;
		act = r & 63;
		r >>= 6;
		if (b->p) {
			if (act < 4 && b->size + GROW_MIN <= GROW_LIMIT) {	/* 1 in 16 */
				grow(w, b, r);
				goto next;
			}
			if (act >= 48)						/* 1 in 4 */
				hand_over(w, b);
			else
				dispose(b);
		}
		new_buf(w, b, r);
next:
		if ((op & (DRAIN_EVERY - 1)) == DRAIN_EVERY - 1)
			ring_drain(&w->in, false);
	}
	for (int i = 0; i < WSET; i++)
		if (w->set[i].p)
			dispose(&w->set[i]);
	/* Keep emptying our ring, sleeping between, until nobody can hand us more. */
	worker_done(w);
	while (!atomic_load(&all_done))
		ring_drain(&w->in, true);
	ring_drain(&w->in, false);
	return NULL;
}

static void *sym(const char *name)
{
	return dlsym(RTLD_DEFAULT, name);
}

/*
 * Is the intended allocator the one serving malloc()?  Prints the V line.
 * @verify false: the pagepool configuration is not checked (a stand-in shim).
 * Returns 0, EXIT_SKIPPED (jemalloc not loaded), or 1 (wrong allocator).
 */
static int check_allocator(enum config cfg, bool verify)
{
	const char *pre = getenv("LD_PRELOAD"), *base = pre ? strrchr(pre, '/') : NULL;
	int (*owns)(const void *) = NULL;
	char ver[PATH_MAX + 64];

	*(void **)&owns = sym("pp_owns");
	switch (cfg) {
	case C_GLIBC:
		if (owns || sym("mallocx")) {
			fprintf(stderr, "%s: child: glibc: another allocator is loaded "
				"(LD_PRELOAD=%s)\n", program_invocation_short_name,
				pre ? pre : "(unset)");
			return 1;
		}
		snprintf(ver, sizeof(ver), "%s", gnu_get_libc_version());
		break;
	case C_JE: {
		int (*mallctl)(const char *, void *, size_t *, void *, size_t) = NULL;
		const char *v = "?";
		size_t len = sizeof(v);

		*(void **)&mallctl = sym("mallctl");
		if (!sym("mallocx") || !mallctl) {
			fprintf(stderr, "%s: child: jemalloc: mallocx not found: %s not "
				"loaded\n", program_invocation_short_name, je_preload);
			return EXIT_SKIPPED;
		}
		if (mallctl("version", &v, &len, NULL, 0) != 0)
			v = "?";
		snprintf(ver, sizeof(ver), "%.*s", (int)strcspn(v, "-"), v);
		break;
	}
	case C_PP:
		if (verify) {
			void *p;
			int owned;

			if (!owns) {
				fprintf(stderr, "%s: child: pagepool: pp_owns not found: the "
					"shim (LD_PRELOAD=%s) is not loaded\n",
					program_invocation_short_name, pre ? pre : "(unset)");
				return 1;
			}
			p = malloc(VERIFY_SIZE);
			if (!p)
				oom("malloc", VERIFY_SIZE);
			owned = owns(p);
			free(p);
			if (owned != 1) {
				fprintf(stderr, "%s: child: pagepool: pp_owns(malloc(%d)) = %d: "
					"the shim does not serve malloc (LD_PRELOAD=%s)\n",
					program_invocation_short_name, VERIFY_SIZE, owned,
					pre ? pre : "(unset)");
				return 1;
			}
		}
		snprintf(ver, sizeof(ver), "%s%s", base ? base + 1 : pre ? pre : "(unset)",
			 verify ? "" : " (not verified)");
		break;
	default:
		abort();
	}
	printf("V %s %s\n", config_names[cfg], ver);
	return 0;
}

static int child_main(enum config cfg, int nthreads, unsigned long ops, bool verify,
		      bool probe, bool quick)
{
	void (*stats)(struct pp_stats *, size_t) = NULL;
	struct counters sum = { 0 };
	pthread_condattr_t cattr;
	struct worker *w;
	void *mem;
	double t0, t1;
	int rc, err;

	alarm(quick ? 120 : 900);	/* a hung child fails, not the whole run */
	rc = check_allocator(cfg, verify);
	if (rc || probe)
		return rc;

	err = posix_memalign(&mem, _Alignof(struct worker), (size_t)nthreads * sizeof(*w));
	if (err) {
		errno = err;
		oom("posix_memalign", (size_t)nthreads * sizeof(*w));
	}
	w = memset(mem, 0, (size_t)nthreads * sizeof(*w));
	nr_workers = nthreads;
	if (pthread_barrier_init(&start_barrier, NULL, (unsigned)nthreads + 1) ||
	    pthread_condattr_init(&cattr) || pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC))
		die("child: pthread_barrier_init or pthread_condattr failed");
	for (int i = 0; i < nthreads; i++) {
		w[i].ops = ops;
		w[i].rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1) ^ 0xD1B54A32D192ED03ULL;
		w[i].next = &w[(i + 1) % nthreads];
		pthread_mutex_init(&w[i].in.lock, NULL);
		pthread_cond_init(&w[i].in.cond, &cattr);
	}
	pthread_condattr_destroy(&cattr);
	for (int i = 0; i < nthreads; i++) {
		err = pthread_create(&w[i].tid, NULL, worker_main, &w[i]);
		if (err)
			die("child: pthread_create: %s", strerror(err));
	}
	pthread_barrier_wait(&start_barrier);
	t0 = now_ns();
	for (int i = 0; i < nthreads; i++) {
		err = pthread_join(w[i].tid, NULL);
		if (err)
			die("child: pthread_join: %s", strerror(err));
	}
	t1 = now_ns();

	for (int i = 0; i < nthreads; i++) {
		sum.allocs += w[i].c.allocs;
		sum.xfers += w[i].c.xfers;
		sum.xfer_waits += w[i].c.xfer_waits;
		sum.reallocs += w[i].c.reallocs;
		sum.memaligns += w[i].c.memaligns;
		sum.callocs += w[i].c.callocs;
		pthread_mutex_destroy(&w[i].in.lock);
		pthread_cond_destroy(&w[i].in.cond);
	}
	free(w);
	printf("R %s %d %lu %.0f %lu %lu %lu %lu %lu %lu\n", config_names[cfg], nthreads, ops,
	       t1 - t0, sum.allocs, sum.xfers, sum.xfer_waits, sum.reallocs, sum.memaligns,
	       sum.callocs);
	*(void **)&stats = sym("pp_stats");
	if (cfg == C_PP && stats) {
		struct pp_stats st;

		memset(&st, 0, sizeof(st));
		stats(&st, sizeof(st));
		printf("P %zu\n", st.peak_committed * st.page_size);
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		die("child: writing results: %s", strerror(errno));
	return 0;
}

/* ---- the driver (parent) ------------------------------------------------- */

struct opts {
	bool quick, verify;
	int runs, threads;
	unsigned long ops;
	const char *csv;
	const char *shim;	/* realpath of --shim */
	const char *argv0;
};

struct row {
	int nv;
	double ms[MAX_RUNS];		/* child wall time, fork to exit */
	double work_ms[MAX_RUNS];	/* the threads' part, as the child timed it */
	double cpu_ms[MAX_RUNS];	/* user + system time, from wait4() */
	double rss[MAX_RUNS];		/* ru_maxrss, MiB */
	double pool[MAX_RUNS];		/* pagepool: pool peak committed, MiB */
	int npool;
	unsigned long xfers, xfer_waits;	/* last run */
	char version[PATH_MAX + 64];
	bool avail, failed, skipped;
};

static struct row rows[NR_CONFIG];

struct child_env {
	enum config cfg;
	const char *shim;
	bool quiet;
};

/* In the child, before exec: its LD_PRELOAD; a probe's stderr silenced. */
static void child_env(const void *arg)
{
	const struct child_env *c = arg;

	if (c->quiet) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, STDERR_FILENO);
	}
	switch (c->cfg) {
	case C_GLIBC:
		unsetenv("LD_PRELOAD");
		break;
	case C_JE:
		setenv("LD_PRELOAD", je_preload, 1);
		break;
	case C_PP:
		setenv("LD_PRELOAD", c->shim, 1);
		break;
	default:
		abort();
	}
}

/* Read the child's lines into @r (one result at most); true if it reported. */
static bool collect(const struct opts *o, enum config cfg, struct row *r, FILE *in)
{
	char *line = NULL;
	size_t cap = 0;
	bool got = false;

	while (getline(&line, &cap, in) > 0) {
		char name[32];
		unsigned long ops, allocs, xfers, waits, reallocs, aligns, callocs;
		unsigned long long pool;
		double ns;
		int threads, off = 0;

		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "R %31s %d %lu %lf %lu %lu %lu %lu %lu %lu", name,
			   &threads, &ops, &ns, &allocs, &xfers, &waits, &reallocs, &aligns,
			   &callocs) == 10 &&
		    !strcmp(name, config_names[cfg]) && threads == o->threads && ops == o->ops &&
		    ns > 0 && !got && r->nv < MAX_RUNS) {
			r->work_ms[r->nv] = ns / 1e6;
			r->xfers = xfers;
			r->xfer_waits = waits;
			got = true;
		} else if (sscanf(line, "V %31s %n", name, &off) == 1 && off &&
			   !strcmp(name, config_names[cfg])) {
			snprintf(r->version, sizeof(r->version), "%s", line + off);
		} else if (sscanf(line, "P %llu", &pool) == 1 && r->npool < MAX_RUNS) {
			r->pool[r->npool++] = (double)pool / 1048576;
		} else if (line[0]) {
			fprintf(stderr, "%s: %s: unexpected output '%s'\n",
				program_invocation_short_name, config_names[cfg], line);
		}
	}
	free(line);
	return got;
}

static double tv_ms(const struct timeval *tv)
{
	return (double)tv->tv_sec * 1e3 + (double)tv->tv_usec / 1e3;
}

/* wait_child() with the child's resource usage. */
static int wait_rusage(pid_t pid, struct rusage *ru)
{
	int status;

	while (wait4(pid, &status, 0, ru) < 0)
		if (errno != EINTR)
			die("wait4: %s", strerror(errno));
	return status;
}

/*
 * Run one child of @cfg.  @probe: only check the allocator loads (with
 * @quiet, stderr to /dev/null).  Returns 0, EXIT_SKIPPED, or -1 on failure
 * (a message has been printed).
 */
static int spawn(const struct opts *o, enum config cfg, bool probe, bool quiet)
{
	struct row *r = &rows[cfg];
	struct child_env env = { cfg, o->shim, quiet };
	char tbuf[16], obuf[32];
	const char *args[16];
	struct rusage ru;
	int n = 0, status;
	bool got = false;
	double t0, t1;
	pid_t pid;
	FILE *in;

	snprintf(tbuf, sizeof(tbuf), "%d", o->threads);
	snprintf(obuf, sizeof(obuf), "%lu", o->ops);
	args[n++] = o->argv0;
	args[n++] = "--child";
	args[n++] = config_names[cfg];
	args[n++] = "--threads";
	args[n++] = tbuf;
	args[n++] = "--ops";
	args[n++] = obuf;
	if (o->quick)
		args[n++] = "--quick";
	if (!o->verify)
		args[n++] = "--no-verify";
	if (probe)
		args[n++] = "--probe";
	args[n] = NULL;

	memset(&ru, 0, sizeof(ru));
	t0 = now_ns();
	in = spawn_self(args, child_env, &env, &pid);
	if (probe) {
		char *line = NULL;
		size_t cap = 0;

		while (getline(&line, &cap, in) > 0)
			;
		free(line);
	} else {
		got = collect(o, cfg, r, in);
	}
	fclose(in);
	status = wait_rusage(pid, &ru);
	t1 = now_ns();
	if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_SKIPPED)
		return EXIT_SKIPPED;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && (probe || got)) {
		if (!probe) {
			r->ms[r->nv] = (t1 - t0) / 1e6;
			r->rss[r->nv] = (double)ru.ru_maxrss / 1024;
			r->cpu_ms[r->nv] = tv_ms(&ru.ru_utime) + tv_ms(&ru.ru_stime);
			r->nv++;
		}
		return 0;
	}
	if (WIFSIGNALED(status))
		fprintf(stderr, "%s: %s: child killed by signal %d (%s)\n",
			program_invocation_short_name, config_names[cfg], WTERMSIG(status),
			strsignal(WTERMSIG(status)));
	else if (!quiet)
		fprintf(stderr, "%s: %s: child exited with status %d%s\n",
			program_invocation_short_name, config_names[cfg], WEXITSTATUS(status),
			probe || got ? "" : ", no results");
	return -1;
}

static double row_ms(enum config c)
{
	return rows[c].nv ? median(rows[c].ms, rows[c].nv) : 0;
}

static double row_rss(enum config c)
{
	return rows[c].nv ? median(rows[c].rss, rows[c].nv) : 0;
}

static int parent_main(const struct opts *o, int argc, char **argv)
{
	double t_start = now_ns();
	bool any_fail = false;
	struct utsname un;
	char cpu[128];
	FILE *csv = NULL;

	/* Which configurations load: jemalloc may be missing, the shim may not. */
	rows[C_GLIBC].avail = true;
	rows[C_JE].avail = spawn(o, C_JE, true, true) == 0;
	if (!rows[C_JE].avail) {
		rows[C_JE].skipped = true;
		fprintf(stderr, "%s: note: jemalloc skipped (%s not installed or not "
			"loadable)\n", program_invocation_short_name, je_preload);
	}
	if (spawn(o, C_PP, true, false) != 0)
		die("the shim %s does not load or does not serve malloc (see above)", o->shim);
	rows[C_PP].avail = true;

	if (o->csv) {
		csv = fopen(o->csv, "w");
		if (!csv)
			die("%s: %s", o->csv, strerror(errno));
	}

	/* Runs interleave the configurations, so drift in the machine hits them all. */
	for (int run = 1; run <= o->runs; run++) {
		for (int c = 0; c < NR_CONFIG; c++) {
			struct row *r = &rows[c];
			int rc;

			if (!r->avail)
				continue;
			rc = spawn(o, (enum config)c, false, false);
			fprintf(stderr, "[run %d/%d] %-9s", run, o->runs, config_names[c]);
			if (rc == 0)
				fprintf(stderr, " %9.1f ms (threads %9.1f ms)  peak RSS "
					"%7.1f MiB\n", r->ms[r->nv - 1], r->work_ms[r->nv - 1],
					r->rss[r->nv - 1]);
			else
				fprintf(stderr, " %s\n", rc == EXIT_SKIPPED ? "skipped" : "FAILED");
			if (rc == EXIT_SKIPPED) {
				r->avail = false;
				r->skipped = true;
			} else if (rc != 0) {
				r->failed = true;
				any_fail = true;
			}
		}
	}

	/* Header, table, footer. */
	if (uname(&un) != 0) {
		snprintf(un.sysname, sizeof(un.sysname), "unknown");
		snprintf(un.release, sizeof(un.release), "unknown");
		snprintf(un.machine, sizeof(un.machine), "unknown");
	}
	cpu_model(cpu, sizeof(cpu));
	printf("preload-bench: %d threads x %lu steps, malloc/calloc/posix_memalign buffers of "
	       "%d-%d KiB (realloc growth to %d KiB), %d live per thread, 1 in 4 freed by the "
	       "next thread%s\n", o->threads, o->ops, MIN_SIZE >> 10, MAX_SIZE >> 10,
	       GROW_LIMIT >> 10, WSET, o->quick ? "; quick mode" : "");
	printf("machine: nproc %d (%ld online), %s, %s %s %s; page size %ld bytes\n",
	       nr_cpus(), sysconf(_SC_NPROCESSORS_ONLN), cpu, un.sysname, un.release,
	       un.machine, sysconf(_SC_PAGESIZE));
	printf("command: ");
	print_command(stdout, argc, argv);
	printf("\n\n");

	printf("| configuration | time ms (median of %d) | x glibc | x jemalloc | "
	       "peak RSS MiB (median) | RSS x jemalloc |\n", o->runs);
	printf("|---|--:|--:|--:|--:|--:|\n");
	if (csv)
		fprintf(csv, "config,time_ms_median,time_min,time_max,rss_mib_median,runs,"
			"threads,ops\n");
	for (int c = 0; c < NR_CONFIG; c++) {
		const struct row *r = &rows[c];
		double ms = row_ms((enum config)c), rss = row_rss((enum config)c);
		char xg[32], xj[32], xr[32], runs[32] = "";

		if (!r->nv) {
			printf("| %s | %s | | | | |\n", config_names[c],
			       r->skipped ? "skipped" : "FAILED");
			continue;
		}
		fmt_ratio(xg, sizeof(xg), ms, row_ms(C_GLIBC));
		fmt_ratio(xj, sizeof(xj), ms, row_ms(C_JE));
		fmt_ratio(xr, sizeof(xr), rss, row_rss(C_JE));
		if (r->nv != o->runs)
			snprintf(runs, sizeof(runs), " (%d of %d runs)", r->nv, o->runs);
		printf("| %s | %.1f%s | %s | %s | %.1f | %s |\n", config_names[c], ms, runs, xg,
		       xj, rss, xr);
		if (csv)
			fprintf(csv, "%s,%.3f,%.3f,%.3f,%.2f,%d,%d,%lu\n", config_names[c], ms,
				min_of(r->ms, r->nv), max_of(r->ms, r->nv), rss, r->nv,
				o->threads, o->ops);
	}

	printf("\nTime: each child process from fork to exit (wall clock, start-up and exit "
	       "included); peak RSS: its ru_maxrss from wait4().  x glibc, x jemalloc: the "
	       "ratio of the medians (below 1 is faster or smaller).  Each configuration "
	       "runs %d time%s, interleaved.\n", o->runs, o->runs == 1 ? "" : "s");
	for (int c = 0; c < NR_CONFIG; c++) {
		const struct row *r = &rows[c];

		if (!r->nv)
			continue;
		printf("%s: %s; threads' part %.1f ms, CPU time (user + system) %.1f ms "
		       "(medians)", config_names[c], r->version[0] ? r->version : "?",
		       median(r->work_ms, r->nv), median(r->cpu_ms, r->nv));
		if (r->npool)
			printf("; pool peak committed %.1f MiB (median)",
			       median(r->pool, r->npool));
		if (r->xfer_waits)
			printf("; %lu of %lu hand-overs waited for a full ring",
			       r->xfer_waits, r->xfer_waits + r->xfers);
		printf("\n");
	}
	printf("shim: %s; PAGEPOOL_CONF=%s%s\n", o->shim,
	       getenv("PAGEPOOL_CONF") ? getenv("PAGEPOOL_CONF") : "(unset)",
	       o->verify ? "" : "; --no-verify: the pagepool child was NOT checked to run "
	       "under the shim");
	if (rows[C_JE].skipped)
		printf("jemalloc: skipped (%s not installed or not loadable).\n", je_preload);
	for (int c = 0; c < NR_CONFIG; c++)
		if (rows[c].failed)
			printf("FAILED: %s in %d of %d runs (see stderr).\n", config_names[c],
			       o->runs - rows[c].nv, o->runs);

	finish_report(csv, o->csv, t_start);
	return any_fail ? 1 : 0;
}

/* ---- options ------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: preload-bench --shim PATH [--quick] [--runs R] [--threads N] [--ops N]\n"
		"                     [--csv FILE] [--no-verify]\n"
		"  --shim PATH      the LD_PRELOAD shim (libpagepool-preload.so); required\n"
		"  --quick          short run (%d runs, %lu steps per thread)\n"
		"  --runs R         processes per configuration; the median is reported\n"
		"                   (default %d)\n"
		"  --threads N      worker threads (default %d)\n"
		"  --ops N          steps per thread (default %lu; --quick %lu)\n"
		"  --csv FILE       also write the rows to FILE\n"
		"  --no-verify      do not check the pagepool child runs under the shim\n"
		"                   (to try the driver with a stand-in)\n"
		"  --child CONFIG   run the workload in this process and print the raw result\n"
		"                   (CONFIG: glibc, jemalloc, pagepool; set LD_PRELOAD\n"
		"                   yourself); for profilers\n",
		QUICK_RUNS, QUICK_OPS, FULL_RUNS, DEF_THREADS, FULL_OPS, QUICK_OPS);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "shim", required_argument, NULL, 's' },
		{ "quick", no_argument, NULL, 'q' },
		{ "runs", required_argument, NULL, 'r' },
		{ "threads", required_argument, NULL, 't' },
		{ "ops", required_argument, NULL, 'o' },
		{ "csv", required_argument, NULL, 'c' },
		{ "no-verify", no_argument, NULL, 'V' },
		{ "child", required_argument, NULL, 'C' },
		{ "probe", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .verify = true, .threads = DEF_THREADS, .argv0 = argv[0] };
	const char *child = NULL, *shim = NULL;
	bool probe = false;
	int c;

	while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (c) {
		case 's':
			shim = optarg;
			break;
		case 'q':
			o.quick = true;
			break;
		case 'r':
			o.runs = parse_runs(optarg);
			break;
		case 't':
			o.threads = (int)parse_ulong("--threads", optarg, 1, MAX_THREADS);
			break;
		case 'o':
			o.ops = parse_ulong("--ops", optarg, 1, 1UL << 40);
			break;
		case 'c':
			o.csv = optarg;
			break;
		case 'V':
			o.verify = false;
			break;
		case 'C':
			child = optarg;
			break;
		case 'P':
			probe = true;
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
	if (!o.ops)
		o.ops = o.quick ? QUICK_OPS : FULL_OPS;

	if (child) {
		int cfg;

		for (cfg = 0; cfg < NR_CONFIG && strcmp(config_names[cfg], child); cfg++)
			;
		if (cfg == NR_CONFIG)
			die("--child: unknown configuration '%s' (glibc, jemalloc, pagepool)",
			    child);
		return child_main((enum config)cfg, o.threads, o.ops, o.verify, probe, o.quick);
	}

	if (!shim)
		die("--shim PATH is required (the LD_PRELOAD shim, in the build tree "
		    "preload/.libs/libpagepool-preload.so)");
	o.shim = realpath(shim, NULL);
	if (!o.shim)
		die("--shim %s: %s", shim, strerror(errno));
	if (!o.runs)
		o.runs = o.quick ? QUICK_RUNS : FULL_RUNS;
	return parent_main(&o, argc, argv);
}
