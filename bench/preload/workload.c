/* SPDX-License-Identifier: MIT */
/*
 * workload.c - preload-bench's child: N threads replacing live buffers of
 * 4-64 KiB (malloc, calloc, posix_memalign, realloc growth), every page
 * written and checked, a quarter handed to the next thread to free; and
 * the check that the intended allocator serves malloc().  The workload in
 * full is described in main.c.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <gnu/libc-version.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pagepool.h"		/* struct pp_stats only: nothing is linked */
#include "preload.h"

#define NOINLINE	__attribute__((noinline))

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

int child_main(enum config cfg, int nthreads, unsigned long ops, bool verify,
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

