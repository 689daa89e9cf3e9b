/* SPDX-License-Identifier: MIT */
/*
 * test_rcu.c - libpagepool-rcu (include/pagepool/rcu.h): deferred frees
 * after an RCU grace period.
 *
 * Built twice: -DPP_TEST_FLAVOR_MEMB (linked with liburcu-memb) and
 * -DPP_TEST_FLAVOR_QSBR (liburcu-qsbr).  Everything flavour-specific goes
 * through the struct rcu_flavor_struct pointer `fl`, except the call_rcu
 * fork hooks, which the flavour struct does not carry.
 *
 * Conventions, so that one source serves both flavours:
 *   - every thread that queues or reads registers with the flavour;
 *   - a registered thread stays offline except while it reads (with
 *     urcu-qsbr an online thread that reports no quiescent state stops every
 *     grace period, and "online" counts as a read-side critical section for
 *     the calls that wait; with urcu-memb offline/online are no-ops);
 *   - readers load shared slots with __atomic_load_n(ACQUIRE) and writers
 *     publish with __atomic_exchange_n / __atomic_store_n(RELEASE), not
 *     rcu_dereference(), so that ThreadSanitizer sees the publication.
 *
 * Each test runs in its own forked child (CK_FORK): a fresh pool, which the
 * test may pp_configure() before pp_rcu_init().
 *
 * PP_TEST_BROKEN_WRITER=1 in the environment runs, instead of the suite,
 * one deliberately broken canary stress (the writer frees at once, without
 * RCU) that must report violations: proof that the readers' checks can fail.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#if defined(PP_TEST_FLAVOR_MEMB)
#include <urcu/urcu-memb.h>
#define FLAVOR_NAME	"memb"
#define FLAVOR_QSBR	0
static const struct rcu_flavor_struct *const fl = &urcu_memb_flavor;
static void fork_before(void) { urcu_memb_call_rcu_before_fork(); }
static void fork_after_parent(void) { urcu_memb_call_rcu_after_fork_parent(); }
static void fork_after_child(void) { urcu_memb_call_rcu_after_fork_child(); }
#elif defined(PP_TEST_FLAVOR_QSBR)
#include <urcu/urcu-qsbr.h>
#define FLAVOR_NAME	"qsbr"
#define FLAVOR_QSBR	1
static const struct rcu_flavor_struct *const fl = &urcu_qsbr_flavor;
static void fork_before(void) { urcu_qsbr_call_rcu_before_fork(); }
static void fork_after_parent(void) { urcu_qsbr_call_rcu_after_fork_parent(); }
static void fork_after_child(void) { urcu_qsbr_call_rcu_after_fork_child(); }
#else
#error "build with -DPP_TEST_FLAVOR_MEMB or -DPP_TEST_FLAVOR_QSBR"
#endif

#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pagepool/rcu.h"
#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

#ifdef __SANITIZE_THREAD__
/*
 * The fork tests start threads in the child of a multi-threaded parent
 * (liburcu's call_rcu thread, pagepool-rcu's helper thread), which
 * ThreadSanitizer refuses by default (die_after_fork=1).
 */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
	return "die_after_fork=0";
}
#define SLOWDOWN 10	/* sanitizer builds: less done in the same time */
#elif SANITIZED
#define SLOWDOWN 3
#else
#define SLOWDOWN 1
#endif

#define ld_acq(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define st_rel(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define add_rlx(p, n)	__atomic_fetch_add((p), (n), __ATOMIC_RELAXED)

/* ---- small helpers ---------------------------------------------------- */

static double ms_since(double t0)
{
	return (now_sec() - t0) * 1000.0;
}

static void sleep_ms(double ms)
{
	long ns = (long)(ms * 1e6);
	struct timespec ts = { ns / 1000000000L, ns % 1000000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static size_t rcu_spares(void)
{
	size_t v = 0;

	ck_assert_int_eq(pp_option("rcu_spares", &v), 0);
	return v;
}

/* What pp_rcu_barrier() may leave in use per thread that queued and lives. */
static size_t slack(size_t threads)
{
	return threads * (2 * rcu_spares() + 1);
}

/* Register this thread; it stays offline until it reads (see the top). */
static void reg(void)
{
	fl->register_thread();
	fl->thread_offline();
}

static void unreg(void)
{
	fl->unregister_thread();
}

/* Enter / leave a read-side critical section (qsbr: online for it). */
static void reader_enter(void)
{
	fl->thread_online();
	fl->read_lock();
}

static void reader_leave(void)
{
	fl->read_unlock();
	fl->thread_offline();
}

/* The test's main thread: optional options, registration, pp_rcu_init(). */
static void rcu_setup(const char *conf)
{
	if (conf)
		ck_assert_msg(pp_configure(conf) == 0, "pp_configure(\"%s\") failed", conf);
	reg();
	ck_assert_msg(pp_rcu_init(fl) == 0, "pp_rcu_init(%s) failed: %s", FLAVOR_NAME,
		      strerror(errno));
}

/* Poll in_use every 2 ms until it is <= @limit; ms since @t0, or -1. */
static double wait_in_use_le(size_t limit, double t0, double timeout_ms)
{
	for (;;) {
		if (in_use() <= limit)
			return ms_since(t0);
		if (ms_since(t0) > timeout_ms)
			return -1;
		sleep_ms(2);
	}
}

/* Wait (yielding) for an int flag to reach @want; false after @timeout_ms. */
static bool wait_flag(const int *flag, int want, double timeout_ms)
{
	double t0 = now_sec();

	while (ld_acq(flag) < want) {
		if (ms_since(t0) > timeout_ms)
			return false;
		sleep_ms(1);
	}
	return true;
}

/* Heap bytes in use in the main arena; 0 under sanitizers (not glibc's malloc). */
static size_t heap_in_use(void)
{
#if SANITIZED
	return 0;
#else
	return mallinfo2().uordblks;
#endif
}

/*
 * A watchdog for a call that must not block: fails the test (instead of
 * letting it hang until Check's timeout) if not stopped within @secs.
 */
struct watchdog {
	pthread_t thr;
	int done;
	double secs;
	const char *what;
};

static void *watchdog_main(void *arg)
{
	struct watchdog *w = arg;
	double t0 = now_sec();

	while (!ld_acq(&w->done)) {
		if (now_sec() - t0 > w->secs)
			ck_abort_msg("%s: still blocked after %.0f s", w->what, w->secs);
		sleep_ms(5);
	}
	return NULL;
}

static void watchdog_start(struct watchdog *w, double secs, const char *what)
{
	w->done = 0;
	w->secs = secs;
	w->what = what;
	w->thr = spawn(watchdog_main, w);
}

static void watchdog_stop(struct watchdog *w)
{
	st_rel(&w->done, 1);
	join(w->thr);
}

/* ---- canary objects ---------------------------------------------------
 *
 * An object is a pool block (orders 0..2) or a heap object (64..2048
 * bytes).  Its header says where it is, its generation and size, with a
 * hash of all that; every 8-byte word of the body holds a pattern derived
 * from the address, the generation and the word's index.  The rcu_head
 * pagepool may write (pp_rcu_free_head()'s fallback) is not checked.
 */
#define HEAP_KIND	0xffu
#define OBJ_MIN		64u
#define OBJ_HEAP_MAX	2048u
#define OBJ_MAX_ORDER	2u

struct obj {
	uint64_t gen;		/* from 1 */
	uint32_t size;		/* bytes, the whole object */
	uint32_t kind;		/* pool order, or HEAP_KIND */
	uint64_t check;		/* hdr_hash() */
	struct rcu_head head;	/* for pp_rcu_free_head(); not checked */
	uint64_t body[];	/* body_word() */
};

static inline uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xBF58476D1CE4E5B9ULL;
	x ^= x >> 27;
	x *= 0x94D049BB133111EBULL;
	x ^= x >> 31;
	return x;
}

static inline uint64_t hdr_hash(const void *o, uint64_t gen, uint32_t size, uint32_t kind)
{
	return mix((uintptr_t)o ^ mix(gen) ^ ((uint64_t)size << 32 | kind) ^ 0x5ca1ab1eULL);
}

static inline uint64_t body_word(const void *o, uint64_t gen, size_t i)
{
	return mix((uintptr_t)o + gen * 0x9E3779B97F4A7C15ULL + i);
}

static size_t body_words(uint32_t size)
{
	return (size - offsetof(struct obj, body)) / sizeof(uint64_t);
}

/*
 * The readers' check of one object; the generation it holds, or 0 when the
 * object is not intact (freed and reused under the reader).  Keep every
 * read of RCU-protected memory in here.
 *
 * ThreadSanitizer cannot see RCU grace periods, so to it these reads race
 * with the frees after the grace period and with the reuse of the memory.
 * no_sanitize_thread: TSan does not track them at all.  A suppression
 * (tests/tsan.supp names this function too) is not enough on its own: TSan
 * matches it against the reader's stack only while it can restore that
 * stack, and the frees come a grace period and up to rcu_delay_ms / 2
 * later, past its history; and each suppressed report costs a
 * symbolization, which slowed the canary stress thirtyfold under TSan.
 * The canary checks still catch an early free, and ASan a heap one.
 */
__attribute__((noinline, no_sanitize_thread))
static uint64_t rcu_test_reader_check(const struct obj *o)
{
	uint64_t gen = o->gen;
	uint32_t size = o->size, kind = o->kind;
	size_t n;

	if (o->check != hdr_hash(o, gen, size, kind) || gen == 0)
		return 0;
	if (kind == HEAP_KIND ? size < OBJ_MIN || size > OBJ_HEAP_MAX
			      : kind > OBJ_MAX_ORDER || size != ps() << kind)
		return 0;
	n = body_words(size);
	for (size_t i = 0; i < n; i++)
		if (o->body[i] != body_word(o, gen, i))
			return 0;
	return gen;
}

static void obj_fill(struct obj *o, uint64_t gen, uint32_t size, uint32_t kind)
{
	size_t n = body_words(size);

	o->gen = gen;
	o->size = size;
	o->kind = kind;
	o->check = hdr_hash(o, gen, size, kind);
	memset(&o->head, 0, sizeof(o->head));
	for (size_t i = 0; i < n; i++)
		o->body[i] = body_word(o, gen, i);
}

static struct obj *obj_new_pool(unsigned order, uint64_t gen)
{
	struct obj *o = pp_alloc_pages(order, 0);

	ck_assert_msg(o != NULL, "pp_alloc_pages(%u) failed: %s", order, strerror(errno));
	obj_fill(o, gen, (uint32_t)(ps() << order), order);
	return o;
}

static struct obj *obj_new_heap(uint32_t size, uint64_t gen)
{
	struct obj *o;

	size &= ~7u;
	o = malloc(size);
	ck_assert_ptr_nonnull(o);
	obj_fill(o, gen, size, HEAP_KIND);
	return o;
}

static struct obj *obj_new_random(uint64_t *rs, uint64_t gen)
{
	uint64_t x = rnd(rs);

	if (x & 1)
		return obj_new_pool((unsigned)((x >> 8) % (OBJ_MAX_ORDER + 1)), gen);
	return obj_new_heap(OBJ_MIN + (uint32_t)((x >> 16) % (OBJ_HEAP_MAX - OBJ_MIN + 1)), gen);
}

/* Free at once, without RCU (the broken writer only, and never-published objects). */
static void obj_free_now(struct obj *o)
{
	if (o->kind == HEAP_KIND)
		free(o);
	else
		pp_free_pages(o, o->kind);
}

/* ---- 1. canary stress ------------------------------------------------- */

#define NSLOTS		16
#define NREADERS	3
#define WRITER_RATE	20000.0		/* swaps per second, at most */
#define STRESS_MAX_SECS	60.0		/* a writer short of min_swaps stops here */

enum writer_mode { W_RCU, W_BROKEN };

static struct {
	enum writer_mode mode;
	double secs;
	struct obj *slots[NSLOTS];
	int stop;		/* the time is up: the writer ends once it made min_swaps */
	int quit;		/* the writer has ended: readers and reuser end */
	size_t min_swaps;
	/* results */
	size_t checks, sections, violations, swaps, by_free, by_head, reused;
	struct {
		const void *p;
		uint64_t gen1, gen2;
		int taken;
	} first;
} st;

static void spin(unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		__asm__ __volatile__("" ::: "memory");
}

static void *stress_reader(void *arg)
{
	uint64_t rs = 0xfeed0000ULL + (uintptr_t)arg;
	size_t checks = 0, sections = 0, bad = 0;

	reg();
	fl->thread_online();
	while (!ld_acq(&st.quit)) {
		fl->read_lock();
		for (int k = 0; k < 4; k++) {
			const struct obj *o = __atomic_load_n(&st.slots[rnd(&rs) % NSLOTS],
							      __ATOMIC_ACQUIRE);
			uint64_t g1, g2;

			if (!o)
				continue;
			g1 = rcu_test_reader_check(o);
			spin((unsigned)(rnd(&rs) % 4000));	/* a short spin ... */
			g2 = rcu_test_reader_check(o);		/* ... then again */
			checks += 2;
			if (g1 == 0 || g2 != g1) {
				bad++;
				if (!__atomic_exchange_n(&st.first.taken, 1, __ATOMIC_ACQ_REL)) {
					st.first.p = o;
					st.first.gen1 = g1;
					st.first.gen2 = g2;
				}
			}
		}
		fl->read_unlock();
		fl->read_quiescent_state();	/* qsbr; a no-op with memb */
		sections++;
	}
	fl->thread_offline();
	unreg();
	add_rlx(&st.checks, checks);
	add_rlx(&st.sections, sections);
	add_rlx(&st.violations, bad);
	return NULL;
}

static void retire(struct obj *o, uint64_t *rs, size_t *by_free, size_t *by_head)
{
	if (st.mode == W_BROKEN) {
		obj_free_now(o);	/* the bug the readers must catch */
	} else if (rnd(rs) & 1) {
		pp_rcu_free(o);
		++*by_free;
	} else {
		pp_rcu_free_head(o, &o->head);
		++*by_head;
	}
}

static void *stress_writer(void *arg)
{
	uint64_t rs = 0xabcdef12345ULL, gen = 0;
	size_t swaps = 0, by_free = 0, by_head = 0;
	double t0 = now_sec();

	(void)arg;
	/*
	 * Offline all along (qsbr): it never reads, and with rcu_blocks=0
	 * pp_rcu_free() waits for a grace period, which an online qsbr
	 * thread may not.
	 */
	reg();
	/* Past the time, until min_swaps (bounded: the assertions then tell). */
	while (!ld_acq(&st.stop) ||
	       (swaps < st.min_swaps && now_sec() - t0 < STRESS_MAX_SECS)) {
		unsigned i = (unsigned)(rnd(&rs) % NSLOTS);
		struct obj *o = obj_new_random(&rs, ++gen), *old;

		old = __atomic_exchange_n(&st.slots[i], o, __ATOMIC_ACQ_REL);
		if (old)
			retire(old, &rs, &by_free, &by_head);
		swaps++;
		while ((double)swaps > (now_sec() - t0) * WRITER_RATE && !ld_acq(&st.stop))
			sleep_ms(0.2);
	}
	for (unsigned i = 0; i < NSLOTS; i++) {
		struct obj *old = __atomic_exchange_n(&st.slots[i], NULL, __ATOMIC_ACQ_REL);

		if (old)
			retire(old, &rs, &by_free, &by_head);
	}
	unreg();
	add_rlx(&st.swaps, swaps);
	add_rlx(&st.by_free, by_free);
	add_rlx(&st.by_head, by_head);
	return NULL;
}

/* Takes memory the moment it is freed and scribbles a different pattern. */
static void *stress_reuser(void *arg)
{
	enum { HOLD = 16 };
	struct {
		void *p;
		int order;	/* -1: heap */
	} held[HOLD];
	uint64_t rs = 0x7777ULL;
	size_t n = 0;

	(void)arg;
	memset(held, 0, sizeof(held));
	while (!ld_acq(&st.quit)) {
		size_t k = n % HOLD;
		uint64_t x = rnd(&rs);
		size_t size;

		if (held[k].p) {
			if (held[k].order < 0)
				free(held[k].p);
			else
				pp_free_pages(held[k].p, (unsigned)held[k].order);
		}
		if (x & 1) {
			held[k].order = (int)((x >> 8) % (OBJ_MAX_ORDER + 1));
			size = ps() << held[k].order;
			held[k].p = pp_alloc_pages((unsigned)held[k].order, 0);
		} else {
			held[k].order = -1;
			size = OBJ_MIN + (x >> 16) % (OBJ_HEAP_MAX - OBJ_MIN + 1);
			held[k].p = malloc(size);
		}
		if (held[k].p)
			memset(held[k].p, 0xA5 ^ (int)(n & 0x3f), size);
		n++;
	}
	for (size_t k = 0; k < HOLD; k++) {
		if (!held[k].p)
			continue;
		if (held[k].order < 0)
			free(held[k].p);
		else
			pp_free_pages(held[k].p, (unsigned)held[k].order);
	}
	add_rlx(&st.reused, n);
	return NULL;
}

/*
 * Readers, one writer, one reuser for st.secs; then everything is flushed.
 * Small per-thread pool caches and one malloc arena, so that what the
 * grace-period callbacks free is what the reuser gets next.
 */
/*
 * Run the stress for @secs, and on until the writer made @min_swaps swaps:
 * a loaded machine (make -j, distcheck) slows the writer, and a throughput
 * floor is not what these tests are about.
 */
static void stress_run(enum writer_mode mode, const char *conf, double secs, size_t min_swaps)
{
	pthread_t rd[NREADERS], wr, ru;
	size_t base;

	memset(&st, 0, sizeof(st));
	st.mode = mode;
	st.secs = secs;
	st.min_swaps = min_swaps;
	mallopt(M_ARENA_MAX, 1);	/* glibc: one arena for every thread */
	rcu_setup(conf);
	base = in_use();
	for (uintptr_t i = 0; i < NREADERS; i++)
		rd[i] = spawn(stress_reader, (void *)i);
	wr = spawn(stress_writer, NULL);
	ru = spawn(stress_reuser, NULL);
	sleep_ms(secs * 1000);
	st_rel(&st.stop, 1);
	join(wr);
	st_rel(&st.quit, 1);
	join(ru);
	for (int i = 0; i < NREADERS; i++)
		join(rd[i]);
	if (mode == W_BROKEN)
		return;
	pp_rcu_barrier();
	/* The only thread that queued has exited: its blocks went back too. */
	ck_assert_msg(in_use() == base,
		      "after the stress and pp_rcu_barrier(): in_use %zu, was %zu",
		      in_use(), base);
	check_conservation();
}

static void stress_assert_clean(const char *what, size_t min_swaps)
{
	if (getenv("PP_TEST_VERBOSE"))
		fprintf(stderr, "%s (%s): %zu violations, %zu checks in %zu sections, %zu swaps "
			"(%zu pp_rcu_free, %zu pp_rcu_free_head), %zu reuser allocations\n",
			what, FLAVOR_NAME, st.violations, st.checks, st.sections, st.swaps,
			st.by_free, st.by_head, st.reused);
	ck_assert_msg(st.violations == 0,
		      "%s: %zu canary violations in %zu checks (first: %p, generation %llu "
		      "then %llu): an object was freed or reused under a reader",
		      what, st.violations, st.checks, st.first.p,
		      (unsigned long long)st.first.gen1, (unsigned long long)st.first.gen2);
	ck_assert_msg(st.swaps >= min_swaps, "%s: the writer made only %zu swaps (want %zu)",
		      what, st.swaps, min_swaps);
	ck_assert_msg(st.checks >= 20000 / SLOWDOWN, "%s: the readers made only %zu checks",
		      what, st.checks);
	ck_assert_msg(st.by_free > 0 && st.by_head > 0,
		      "%s: both forms must be used (pp_rcu_free %zu, pp_rcu_free_head %zu)",
		      what, st.by_free, st.by_head);
	ck_assert_msg(st.reused > 10000 / SLOWDOWN, "%s: the reuser made only %zu "
		      "allocations", what, st.reused);
}

/* A correct writer under @conf: no violations, at least @min_swaps swaps. */
static void stress_case(const char *conf, const char *what, size_t min_swaps)
{
	stress_run(W_RCU, conf, 1.6, min_swaps);
	stress_assert_clean(what, min_swaps);
}

START_TEST(test_canary_stress)
{
	stress_case("high=16,batch=8", "blocks", 1000 / SLOWDOWN);
}
END_TEST

/*
 * rcu_delay_ms=10: the helper thread takes the writer's partly filled block
 * every 5 ms or so, racing with the writer appending to it.
 */
START_TEST(test_canary_stress_short_delay)
{
	stress_case("high=16,batch=8,rcu_delay_ms=10", "rcu_delay_ms=10", 1000 / SLOWDOWN);
}
END_TEST

/*
 * rcu_blocks=0: pp_rcu_free() waits and frees, pp_rcu_free_head() uses the
 * head.  Each pp_rcu_free() waits for a grace period here: fewer swaps.
 */
START_TEST(test_canary_stress_fallback)
{
	stress_case("high=16,batch=8,rcu_blocks=0", "rcu_blocks=0", 100 / SLOWDOWN);
}
END_TEST

/*
 * rcu_inflight=64K (16 pages): nearly every full block goes to the helper
 * thread, which waits for grace periods itself, and the writer helps it
 * when it falls behind - instead of call_rcu().
 */
START_TEST(test_canary_stress_inflight)
{
	stress_case("high=16,batch=8,rcu_inflight=64K", "rcu_inflight=64K", 1000 / SLOWDOWN);
}
END_TEST

/* Not in the suite: PP_TEST_BROKEN_WRITER=1 runs it alone; violations expected. */
START_TEST(test_canary_broken_writer)
{
	stress_run(W_BROKEN, "high=16,batch=8", 1.6, 0);
	fprintf(stderr, "broken writer (%s): %zu violations in %zu checks, %zu sections, "
		"%zu swaps, %zu reuser allocations\n", FLAVOR_NAME, st.violations, st.checks,
		st.sections, st.swaps, st.reused);
	ck_assert_msg(st.violations > 0,
		      "the writer freed without RCU, yet the readers saw no violation "
		      "(%zu checks)", st.checks);
}
END_TEST

/* ---- 2. pp_rcu_barrier() ---------------------------------------------- */

/*
 * 100,000 pool pages and some heap objects, then one barrier.  @conf: no
 * hand-on by age during the test (only the barrier frees the last, partly
 * filled block, which holds pages, queued last), and rcu_inflight.
 */
static void barrier_100k(const char *conf)
{
	enum { PAGES = 100000, HEAP = 2000 };
	size_t base, before, after, heap0, heap1;

	rcu_setup(conf);
	base = in_use();
	heap0 = heap_in_use();
	/* Heap objects past glibc's tcache sizes, so mallinfo2() sees them freed. */
	for (size_t i = 0; i < HEAP; i++) {
		struct obj *o = malloc(1100 + (i * 53) % 3000);

		ck_assert_ptr_nonnull(o);
		if (i & 1)
			pp_rcu_free(o);
		else
			pp_rcu_free_head(o, &o->head);
	}
	for (size_t i = 0; i < PAGES; i++) {
		uint64_t *p = pp_alloc_page(0);

		ck_assert_msg(p != NULL, "pp_alloc_page failed at %zu: %s", i, strerror(errno));
		*p = i;
		pp_rcu_free(p);
	}
	before = in_use();
	ck_assert_msg(before > base + slack(1),
		      "before the barrier only %zu pages in use (base %zu): nothing pending?",
		      before, base);
	pp_rcu_barrier();
	after = in_use();
	ck_assert_msg(after >= base && after <= base + slack(1),
		      "after pp_rcu_barrier(): in_use %zu, base %zu, allowed slack %zu "
		      "(2*rcu_spares+1); %zu before the barrier", after, base, slack(1), before);
	if (!SANITIZED) {
		heap1 = heap_in_use();
		if (getenv("PP_TEST_VERBOSE"))
			fprintf(stderr, "barrier_100k: in_use %zu before the barrier, %zu after "
				"(base %zu); heap %zu -> %zu bytes\n", before, after, base, heap0,
				heap1);
		ck_assert_msg(heap1 < heap0 + ((size_t)1 << 20),
			      "heap in use %zu after the barrier, %zu before queueing: "
			      "heap objects not freed?", heap1, heap0);
	}
	check_conservation();
}

/* Every full block through call_rcu(). */
START_TEST(test_barrier_100k)
{
	barrier_100k("rcu_delay_ms=3600000,rcu_inflight=0");
}
END_TEST

/* Past 1 MiB in flight, blocks through the helper thread (and the writer). */
START_TEST(test_barrier_100k_inflight)
{
	barrier_100k("rcu_delay_ms=3600000,rcu_inflight=1M");
}
END_TEST

/*
 * rcu_inflight bounds the pages waiting for call_rcu(): with a flavour whose
 * call_rcu() keeps the callbacks and never runs them, 100,000 pages queued
 * by one thread stay in use without the bound and mostly come back with it.
 */
enum { STASH_MAX = 4096 };
static struct rcu_head *stash[STASH_MAX];
static void (*stash_fn[STASH_MAX])(struct rcu_head *);
static size_t nstash;

static void stash_call_rcu(struct rcu_head *head, void (*func)(struct rcu_head *))
{
	ck_assert_uint_lt(nstash, STASH_MAX);	/* only this test's thread queues */
	stash[nstash] = head;
	stash_fn[nstash++] = func;
}

/* The largest number of pages in use above the start while queueing. */
static size_t inflight_peak(const char *conf)
{
	enum { PAGES = 100000 };
	struct rcu_flavor_struct stash_fl = *fl;
	size_t base, peak = 0;

	stash_fl.update_call_rcu = stash_call_rcu;
	ck_assert_int_eq(pp_configure(conf), 0);
	reg();
	ck_assert_int_eq(pp_rcu_init(&stash_fl), 0);
	base = in_use();
	for (size_t i = 0; i < PAGES; i++) {
		uint64_t *p = pp_alloc_page(0);

		ck_assert_ptr_nonnull(p);
		*p = i;
		pp_rcu_free(p);
		if (in_use() - base > peak)
			peak = in_use() - base;
	}
	/* Now run what call_rcu() kept, as liburcu would have. */
	for (size_t i = 0; i < nstash; i++)
		stash_fn[i](stash[i]);
	pp_rcu_barrier();
	ck_assert_uint_le(in_use(), base + slack(1));
	check_conservation();
	if (getenv("PP_TEST_VERBOSE"))
		fprintf(stderr, "inflight_peak(%s): %zu pages, %zu callbacks kept\n", conf, peak,
			nstash);
	return peak;
}

START_TEST(test_inflight_bounded)
{
	size_t peak = inflight_peak("rcu_delay_ms=3600000,rcu_inflight=4M");

	/* 4 MiB: two blocks of pages through call_rcu(), the rest past the bound. */
	ck_assert_msg(nstash >= 1, "rcu_inflight=4M: no block went to call_rcu()");
	ck_assert_msg(peak < 60000, "rcu_inflight=4M, callbacks never run: %zu of 100,000 "
		      "queued pages in use at once", peak);
}
END_TEST

/* Control: without the bound, nothing comes back until the callbacks run. */
START_TEST(test_inflight_unbounded_control)
{
	size_t peak = inflight_peak("rcu_delay_ms=3600000,rcu_inflight=0");

	ck_assert_msg(peak >= 99000, "rcu_inflight=0, callbacks never run, yet only %zu "
		      "of 100,000 queued pages were in use at once", peak);
}
END_TEST

/*
 * Many pointers (full blocks and a partial one), then the thread goes quiet:
 * with no barrier, all of it is freed within rcu_delay_ms (200 here) plus a
 * grace period, like a single pointer.
 */
START_TEST(test_many_pages_quiet_bound)
{
	enum { PAGES = 5000 };
	double t0, dt, bound = SANITIZED ? 400 : 300;
	size_t base, queued;

	rcu_setup("rcu_delay_ms=200");
	base = in_use();
	for (size_t i = 0; i < PAGES; i++)
		pp_rcu_free(pp_alloc_page(0));
	t0 = now_sec();
	queued = in_use();
	dt = wait_in_use_le(base + slack(1), t0, 5000);
	ck_assert_msg(dt >= 0, "%d pages queued, then quiet: in_use still %zu after 5 s "
		      "(base %zu, slack %zu; %zu right after queueing)", PAGES, in_use(),
		      base, slack(1), queued);
	ck_assert_msg(dt <= bound, "%d pages queued, then quiet: freed after %.1f ms, the "
		      "bound is %.0f ms (rcu_delay_ms=200)", PAGES, dt, bound);
	pp_rcu_barrier();
	ck_assert_uint_le(in_use(), base + slack(1));
	check_conservation();
}
END_TEST

/* Threads that queued a partial block and stay alive and quiet. */
#define QUEUERS	4
#define QPAGES	100

static struct {
	int ready, leave;
	int pages;			/* per queuer; QPAGES unless set */
} qs;

static void *partial_queuer(void *arg)
{
	int pages = qs.pages ? qs.pages : QPAGES;

	(void)arg;
	reg();				/* offline: a quiet thread (qsbr) */
	for (int i = 0; i < pages; i++)
		pp_rcu_free(pp_alloc_page(0));
	pp_rcu_free(malloc(256));
	add_rlx(&qs.ready, 1);
	while (!ld_acq(&qs.leave))
		sleep_ms(1);
	unreg();
	return NULL;
}

/* Start QUEUERS partial_queuer()s and wait until each has queued. */
static void queuers_start(pthread_t *t, double timeout_ms)
{
	for (int i = 0; i < QUEUERS; i++)
		t[i] = spawn(partial_queuer, NULL);
	ck_assert_msg(wait_flag(&qs.ready, QUEUERS, timeout_ms), "queuers did not start");
}

/* Let the queuers exit: then all they queued is back (@base in use). */
static void queuers_leave(const pthread_t *t, size_t base)
{
	st_rel(&qs.leave, 1);
	for (int i = 0; i < QUEUERS; i++)
		join(t[i]);
	ck_assert_msg(in_use() == base, "after the queuers exited: in_use %zu, base %zu",
		      in_use(), base);
	check_conservation();
}

START_TEST(test_barrier_takes_other_threads_partials)
{
	pthread_t t[QUEUERS];
	size_t base, mid, after;

	rcu_setup("rcu_delay_ms=3600000");
	base = in_use();
	queuers_start(t, 10000);
	sleep_ms(50);
	mid = in_use();
	/* QPAGES pages and one block each, none of it due for an hour. */
	ck_assert_msg(mid >= base + QUEUERS * (QPAGES + 1),
		      "before the barrier: in_use %zu, want >= %zu", mid,
		      base + QUEUERS * (QPAGES + 1));
	pp_rcu_barrier();
	after = in_use();
	ck_assert_msg(after <= base + slack(QUEUERS),
		      "pp_rcu_barrier() left %zu pages in use (base %zu, slack %zu): the "
		      "other threads' partly filled blocks were not flushed", after, base,
		      slack(QUEUERS));
	queuers_leave(t, base);
}
END_TEST

/*
 * The same with full blocks too: their grace periods end while the threads
 * are quiet, and the barrier must free them as well, wherever the library
 * keeps them meanwhile.
 */
START_TEST(test_barrier_takes_other_threads_full_blocks)
{
	pthread_t t[QUEUERS];
	size_t base, after;

	rcu_setup("rcu_delay_ms=3600000");
	base = in_use();
	qs.pages = 2500;		/* a few full blocks and a partial one each */
	queuers_start(t, 20000);
	sleep_ms(200);			/* the full blocks' grace periods end */
	if (getenv("PP_TEST_VERBOSE"))
		fprintf(stderr, "full blocks of quiet threads: in_use %zu before the "
			"barrier (base %zu)\n", in_use(), base);
	pp_rcu_barrier();
	after = in_use();
	ck_assert_msg(after <= base + slack(QUEUERS),
		      "pp_rcu_barrier() left %zu pages in use (base %zu, slack %zu) of "
		      "%d queued by quiet threads", after, base, slack(QUEUERS),
		      QUEUERS * qs.pages);
	queuers_leave(t, base);
}
END_TEST

/* ---- rcu_inflight: the helper thread, and callers that help it ---------- */

/* Pointers per block: a 48-byte header, then pointers (README, "block"). */
static size_t block_cap(void)
{
	return (pp_page_size() - 48) / sizeof(void *);
}

static struct {
	int entered, leave, probe_started, probe_done, queued;
	uint64_t call_start_ns;		/* of queue_pages()'s call in flight, 0: none */
} hs;

/* A reader that stays in one read-side section until told to leave. */
static void *section_reader(void *arg)
{
	(void)arg;
	reg();
	reader_enter();
	st_rel(&hs.entered, 1);
	while (!ld_acq(&hs.leave))
		sleep_ms(1);
	reader_leave();
	unreg();
	return NULL;
}

#define STALL_MS 300	/* a pp_rcu_free() call this long is waiting, not slow */

/*
 * Tells the holding reader to leave once queue_pages() has been inside one
 * pp_rcu_free() call for STALL_MS (it is waiting for the reader: helping),
 * or has queued everything (it never waited), or after 60 s.  Derived from
 * what the queueing thread does, not from a guess of how long queueing
 * takes: a loaded machine under ThreadSanitizer takes seconds for it.
 */
static void *leave_when_stalled(void *arg)
{
	double t0 = now_sec();

	(void)arg;
	while (!ld_acq(&hs.queued) && ms_since(t0) < 60000) {
		uint64_t start = __atomic_load_n(&hs.call_start_ns, __ATOMIC_ACQUIRE);

		if (start && now_sec() * 1e9 - (double)start >= STALL_MS * 1e6)
			break;
		sleep_ms(5);
	}
	st_rel(&hs.leave, 1);
	return NULL;
}

/* Queue @blocks full blocks of pool pages; the longest single call, in ms. */
static double queue_pages(size_t blocks)
{
	double longest = 0;

	for (size_t i = 0; i < blocks * block_cap(); i++) {
		uint64_t *p = pp_alloc_page(0);
		double t0 = now_sec(), dt;

		ck_assert_ptr_nonnull(p);
		*p = i;
		__atomic_store_n(&hs.call_start_ns, (uint64_t)(t0 * 1e9), __ATOMIC_RELEASE);
		pp_rcu_free(p);
		__atomic_store_n(&hs.call_start_ns, 0, __ATOMIC_RELEASE);
		dt = ms_since(t0);
		if (dt > longest)
			longest = dt;
	}
	st_rel(&hs.queued, 1);
	return longest;
}

/*
 * Another thread holds a read-side section, so the helper thread's grace
 * period cannot end: past rcu_inflight this (offline) thread's full blocks
 * pile up for it, and once 32 wait, a pp_rcu_free() call helps - and so
 * waits until the reader has left, which it does once that call has waited
 * STALL_MS.  Without the help every call returns at once, all 40 blocks are
 * queued, and only then does the reader leave.
 */
START_TEST(test_inflight_caller_helps)
{
	pthread_t r, w;
	size_t base;
	double longest;

	rcu_setup("rcu_inflight=4K");
	base = in_use();
	r = spawn(section_reader, NULL);
	ck_assert(wait_flag(&hs.entered, 1, 10000));
	w = spawn(leave_when_stalled, NULL);
	longest = queue_pages(40);
	join(w);
	join(r);
	if (getenv("PP_TEST_VERBOSE"))
		fprintf(stderr, "inflight_caller_helps: longest pp_rcu_free %.1f ms\n", longest);
	ck_assert_msg(longest >= STALL_MS, "no pp_rcu_free() call waited for the reader "
		      "(longest %.1f ms): the caller never helped the helper thread", longest);
	pp_rcu_barrier();
	ck_assert_uint_le(in_use(), base + slack(1));
	check_conservation();
}
END_TEST

/* Waits for a grace period; done is set when it has ended. */
static void *gp_probe(void *arg)
{
	(void)arg;
	reg();
	st_rel(&hs.probe_started, 1);
	fl->update_synchronize_rcu();
	st_rel(&hs.probe_done, 1);
	unreg();
	return NULL;
}

/*
 * A thread inside a read-side section (urcu-qsbr: online) queues 40 blocks
 * past rcu_inflight: it must not help (that waits for a grace period, and a
 * qsbr thread would have to go offline, ending its section).  A grace period
 * started meanwhile must not end before the thread leaves its section.
 */
START_TEST(test_inflight_reader_never_quiesces)
{
	pthread_t probe;
	size_t base;

	rcu_setup("rcu_inflight=4K");
	base = in_use();
	reader_enter();
	probe = spawn(gp_probe, NULL);
	ck_assert(wait_flag(&hs.probe_started, 1, 10000));
	sleep_ms(50);			/* the probe is inside synchronize_rcu() */
	queue_pages(40);
	ck_assert_msg(!ld_acq(&hs.probe_done), "a grace period ended while the queueing "
		      "thread was still inside its read-side section");
	reader_leave();
	join(probe);
	pp_rcu_barrier();
	ck_assert_uint_le(in_use(), base + slack(1));
	check_conservation();
}
END_TEST

static struct {
	int queued, leave;
	size_t in_use_before;
	double t_queued;
} hq;

/* Queues exactly one full block past rcu_inflight, then stays quiet. */
static void *one_block_thread(void *arg)
{
	(void)arg;
	reg();
	hq.in_use_before = in_use();
	hq.t_queued = now_sec();
	queue_pages(1);
	st_rel(&hq.queued, 1);
	while (!ld_acq(&hq.leave))
		sleep_ms(2);
	unreg();
	return NULL;
}

/*
 * The one full block goes to the helper thread, which sleeps untimed (no
 * partly filled block anywhere): the push must wake it.  Freed within the
 * spec's bound, rcu_delay_ms (it goes back to its quiet owner, whose expired
 * blocks the helper frees at rcu_delay_ms / 2).
 */
START_TEST(test_inflight_block_of_quiet_thread)
{
	pthread_t t;
	double dt;

	rcu_setup("rcu_inflight=4K");
	t = spawn(one_block_thread, NULL);
	ck_assert(wait_flag(&hq.queued, 1, 10000));
	/* Back to where it started but for the thread's block page and spares. */
	dt = wait_in_use_le(hq.in_use_before + slack(1), hq.t_queued, 4000);
	ck_assert_msg(dt >= 0 && dt <= 1000, "a block handed to the helper thread by a quiet "
		      "thread: its pages freed after %.0f ms (-1: not within 4 s)", dt);
	st_rel(&hq.leave, 1);
	join(t);
	pp_rcu_barrier();
	check_conservation();
}
END_TEST

/* ---- 3. a quiet thread's partial block is handed on by age ------------- */

static struct {
	double t_queued;
	size_t in_use_queued;
	int queued, leave;
} qt;

static void *quiet_thread(void *arg)
{
	struct obj *h = obj_new_heap(128, 1);
	void *p;

	(void)arg;
	reg();				/* offline: quiet (qsbr) */
	p = pp_alloc_page(0);
	ck_assert_ptr_nonnull(p);
	qt.t_queued = now_sec();
	pp_rcu_free(p);
	pp_rcu_free_head(h, &h->head);
	qt.in_use_queued = in_use();	/* the page and its block */
	st_rel(&qt.queued, 1);
	while (!ld_acq(&qt.leave))	/* alive, quiet, never exits meanwhile */
		sleep_ms(2);
	unreg();
	return NULL;
}

static void quiet_case(const char *conf, double bound_ms)
{
	pthread_t t;
	double dt;

	rcu_setup(conf);
	t = spawn(quiet_thread, NULL);
	ck_assert_msg(wait_flag(&qt.queued, 1, 10000), "the quiet thread did not queue");
	dt = wait_in_use_le(qt.in_use_queued - 1, qt.t_queued, bound_ms + 3000);
	ck_assert_msg(dt >= 0, "%s: the quiet thread's page not freed after %.0f ms",
		      conf ? conf : "defaults", bound_ms + 3000);
	if (getenv("PP_TEST_VERBOSE"))
		fprintf(stderr, "quiet thread (%s): freed after %.1f ms\n",
			conf ? conf : "defaults", dt);
	ck_assert_msg(dt <= bound_ms, "%s: the quiet thread's page was freed %.1f ms "
		      "after it was queued; the bound is %.0f ms", conf ? conf : "defaults",
		      dt, bound_ms);
	st_rel(&qt.leave, 1);
	join(t);
	pp_rcu_barrier();
	check_conservation();
}

START_TEST(test_quiet_thread_default_delay)
{
	quiet_case(NULL, 1000);		/* rcu_delay_ms=1000: the spec's bound, strictly */
}
END_TEST

START_TEST(test_quiet_thread_delay_200)
{
	quiet_case("rcu_delay_ms=200", SANITIZED ? 400 : 300);
}
END_TEST

/* ---- 4. an exiting thread's partial block is handed on at once --------- */

static double exit_queued_at;

static void *exiting_thread(void *arg)
{
	struct obj *h = obj_new_heap(64, 1);
	void *p;

	(void)arg;
	reg();
	p = pp_alloc_page(0);
	ck_assert_ptr_nonnull(p);
	exit_queued_at = now_sec();
	pp_rcu_free(p);
	pp_rcu_free(h);
	unreg();
	return NULL;			/* the partial block goes at exit */
}

static void exit_case(const char *conf)
{
	pthread_t t;
	size_t base;
	double dt;

	rcu_setup(conf);
	base = in_use();
	t = spawn(exiting_thread, NULL);
	join(t);
	/* The page and the block: both go back once the grace period is over. */
	dt = wait_in_use_le(base, exit_queued_at, 4000);
	ck_assert_msg(dt >= 0, "%s: the exited thread's page not freed after 4 s (in_use "
		      "%zu, base %zu)", conf ? conf : "defaults", in_use(), base);
	if (getenv("PP_TEST_VERBOSE"))
		fprintf(stderr, "exited thread (%s): freed after %.1f ms\n",
			conf ? conf : "defaults", dt);
	ck_assert_msg(dt <= 1000, "%s: the exited thread's page was freed %.1f ms after "
		      "it was queued; the bound is 1000 ms", conf ? conf : "defaults", dt);
	check_conservation();
}

START_TEST(test_exited_thread_default_delay)
{
	exit_case(NULL);
}
END_TEST

START_TEST(test_exited_thread_long_delay)
{
	exit_case("rcu_delay_ms=3600000");	/* handed on at exit, not by age */
}
END_TEST

/* ---- 5. the fallbacks, forced with rcu_blocks=0 ------------------------ */

/* (a) The rcu_head path never blocks, even inside a read-side section. */
START_TEST(test_fallback_head_in_read_section)
{
	struct watchdog w;
	struct obj *p, *h;
	size_t base, held;
	double dt;

	rcu_setup("rcu_blocks=0");
	base = in_use();
	p = obj_new_pool(0, 1);
	h = obj_new_heap(256, 2);
	held = in_use();
	reader_enter();
	watchdog_start(&w, 10, "pp_rcu_free_head() inside a read-side section, rcu_blocks=0");
	pp_rcu_free_head(p, &p->head);
	pp_rcu_free_head(h, &h->head);
	watchdog_stop(&w);
	sleep_ms(50);
	/* Still inside: no grace period can have ended, nothing is freed. */
	ck_assert_msg(in_use() == held, "page freed while its reader is still inside "
		      "(in_use %zu, held %zu)", in_use(), held);
	ck_assert_msg(rcu_test_reader_check(p) == 1 && rcu_test_reader_check(h) == 2,
		      "objects changed under their reader");
	reader_leave();
	/* The helper thread frees objects queued through their head: no barrier. */
	dt = wait_in_use_le(base, now_sec(), 3000);
	ck_assert_msg(dt >= 0, "page queued through its rcu_head not freed 3 s after the "
		      "reader left (in_use %zu, base %zu)", in_use(), base);
	pp_rcu_barrier();
	ck_assert_uint_eq(in_use(), base);	/* no blocks at all with rcu_blocks=0 */
	check_conservation();
}
END_TEST

static struct {
	struct obj *slot;
	int inside, left;
	double t_in, t_left;
	size_t checks, bad;
} fw;

/* Holds a read-side section for 200 ms with the object it read. */
static void *holding_reader(void *arg)
{
	const struct obj *o;

	(void)arg;
	reg();
	reader_enter();
	o = __atomic_load_n(&fw.slot, __ATOMIC_ACQUIRE);
	fw.t_in = now_sec();
	st_rel(&fw.inside, 1);
	while (ms_since(fw.t_in) < 200) {
		if (!o || !rcu_test_reader_check(o))
			fw.bad++;
		fw.checks++;
		sleep_ms(1);
	}
	fw.t_left = now_sec();
	st_rel(&fw.left, 1);		/* before the unlock: the grace period may end at once */
	reader_leave();
	unreg();
	return NULL;
}

/* (b) pp_rcu_free() waits for the grace period and frees before returning. */
START_TEST(test_fallback_free_waits_for_readers)
{
	struct watchdog w;
	struct obj *p, *q;
	size_t base, before;
	pthread_t t;
	double t_call, t_ret;
	int left;

	rcu_setup("rcu_blocks=0");
	base = in_use();

	/* No reader: freed when the call returns. */
	p = obj_new_pool(0, 1);
	before = in_use();
	pp_rcu_free(p);
	ck_assert_msg(in_use() == before - 1, "rcu_blocks=0: pp_rcu_free() returned with "
		      "the page still in use (in_use %zu, was %zu)", in_use(), before);
	pp_rcu_free(obj_new_heap(512, 2));
	ck_assert_uint_eq(in_use(), base);

	/* A reader holds the object for 200 ms: the call must wait for it. */
	q = obj_new_pool(1, 3);
	st_rel(&fw.slot, q);
	t = spawn(holding_reader, NULL);
	ck_assert_msg(wait_flag(&fw.inside, 1, 10000), "the reader did not start");
	st_rel(&fw.slot, NULL);		/* unpublished: new readers cannot find it */
	before = in_use();
	watchdog_start(&w, 20, "pp_rcu_free() with rcu_blocks=0 and a 200 ms reader");
	t_call = now_sec();
	pp_rcu_free(q);
	t_ret = now_sec();
	left = ld_acq(&fw.left);
	watchdog_stop(&w);
	ck_assert_msg(left, "pp_rcu_free() returned %.1f ms after the call while the reader "
		      "(inside for %.1f ms) was still in its read-side section",
		      (t_ret - t_call) * 1000, (t_ret - fw.t_in) * 1000);
	ck_assert_msg(t_ret >= fw.t_left, "returned before the reader left");
	ck_assert_msg(in_use() == before - 2, "rcu_blocks=0: pp_rcu_free() returned with "
		      "the order-1 block still in use (in_use %zu, was %zu)", in_use(), before);
	join(t);
	ck_assert_msg(fw.bad == 0, "the reader saw its object change %zu times in %zu checks",
		      fw.bad, fw.checks);
	pp_rcu_barrier();
	ck_assert_uint_eq(in_use(), base);
	check_conservation();
}
END_TEST

/* With blocks (the default) pp_rcu_free() may be called inside a section. */
START_TEST(test_blocks_free_in_read_section)
{
	struct watchdog w;
	struct obj *p, *h;
	size_t base, held;

	rcu_setup(NULL);
	base = in_use();
	p = obj_new_pool(2, 1);
	h = obj_new_heap(100, 2);
	reader_enter();
	watchdog_start(&w, 10, "pp_rcu_free() inside a read-side section");
	pp_rcu_free(p);
	pp_rcu_free(h);
	watchdog_stop(&w);
	held = in_use();
	sleep_ms(20);
	ck_assert_msg(in_use() >= held && rcu_test_reader_check(p) == 1,
		      "the block was freed under its reader");
	reader_leave();
	pp_rcu_barrier();
	ck_assert_msg(in_use() <= base + slack(1), "in_use %zu, base %zu", in_use(), base);
	check_conservation();
}
END_TEST

/* ---- children that must abort with a message (run_child) ---------------- */

static void child_fail(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
static void child_fail(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dprintf(STDERR_FILENO, "@@FAIL ");
	vdprintf(STDERR_FILENO, fmt, ap);
	dprintf(STDERR_FILENO, "\n");
	va_end(ap);
	_exit(code);
}

/*
 * In a run_child() child: die of SIGALRM after @secs.  Check's own SIGALRM
 * handler (inherited through fork) would kill the whole test instead.
 */
static void child_alarm(unsigned secs)
{
	signal(SIGALRM, SIG_DFL);
	alarm(secs);
}

/*
 * In a run_child() child (no Check calls there): never hang (SIGALRM tells
 * the parent it would have), then options, registration, pp_rcu_init().
 */
static void child_setup(const char *conf, bool init)
{
	child_alarm(20);
	if (conf && pp_configure(conf))
		child_fail(97, "pp_configure(\"%s\") failed", conf);
	reg();
	if (init && pp_rcu_init(fl))
		child_fail(96, "pp_rcu_init failed");
}

static size_t child_slack(void)
{
	size_t v = 0;

	if (pp_option("rcu_spares", &v))
		child_fail(95, "pp_option(rcu_spares) failed");
	return 2 * v + 1;
}

/* (c) misuse: a call that has to wait, from inside a read-side section. */
static void child_free_in_read_lock(void)
{
	void *p;

	child_setup("rcu_blocks=0", true);
	p = must_alloc(0);
	reader_enter();
	mark(p);
	pp_rcu_free(p);
}

/* Online but outside read_lock(): a read-side section for qsbr, not for memb. */
static void child_free_online(void)
{
	void *p;

	child_setup("rcu_blocks=0", true);
	p = must_alloc(0);
	fl->thread_online();
	mark(p);
	pp_rcu_free(p);
	if (pp_block_order(p) >= 0)
		child_fail(2, "pp_rcu_free() returned with the page not freed");
}

START_TEST(test_fallback_free_in_read_section_aborts)
{
	expect_abort(child_free_in_read_lock, "pp_rcu_free", "read-side", true);
}
END_TEST

START_TEST(test_fallback_free_online)
{
	if (FLAVOR_QSBR)	/* qsbr: online is a read-side critical section */
		expect_abort(child_free_online, "pp_rcu_free", "read-side", true);
	else			/* memb: online means nothing; the call waits and frees */
		expect_survive(child_free_online, "memb, online, pp_rcu_free()");
}
END_TEST

static void child_barrier_in_read_lock(void)
{
	child_setup(NULL, true);
	pp_rcu_free(must_alloc(0));
	reader_enter();
	mark(NULL);
	pp_rcu_barrier();
	if (!FLAVOR_QSBR)
		return;
	/* qsbr: taken offline for the wait, online again afterwards. */
	if (!fl->read_ongoing())
		child_fail(2, "qsbr: pp_rcu_barrier() left an online caller offline");
	reader_leave();
}

START_TEST(test_barrier_in_read_section)
{
	if (FLAVOR_QSBR)
		expect_survive(child_barrier_in_read_lock, "qsbr, online, pp_rcu_barrier()");
	else
		expect_abort(child_barrier_in_read_lock, "pp_rcu_barrier", "read-side", false);
}
END_TEST

/* ---- 6. bad input ----------------------------------------------------- */

static void bad_interior_free(void)
{
	char *p;

	child_setup(NULL, true);
	p = must_alloc(2);
	mark(p + ps());
	pp_rcu_free(p + ps());
}

static void bad_interior_head(void)
{
	char *p;

	child_setup(NULL, true);
	p = must_alloc(2);
	mark(p + 2 * ps());
	pp_rcu_free_head(p + 2 * ps(), (struct rcu_head *)(p + 2 * ps() + 64));
}

static void bad_misaligned_free(void)
{
	char *p;

	child_setup(NULL, true);
	p = must_alloc(0);
	mark(p + 8);
	pp_rcu_free(p + 8);
}

static void bad_already_freed(void)
{
	void *p;

	child_setup(NULL, true);
	p = must_alloc(0);
	pp_free_page(p);
	mark(p);
	pp_rcu_free(p);
}

static void bad_already_freed_head(void)
{
	struct obj *p;

	child_setup(NULL, true);
	p = must_alloc(1);
	pp_free_pages(p, 1);
	mark(p);
	pp_rcu_free_head(p, &p->head);
}

static void bad_head_before_pool(void)
{
	char *p;

	child_setup(NULL, true);
	p = must_alloc(0);
	pp_free_page(p);		/* p + 1 page is the block; p is not */
	p = must_alloc(1);
	mark(p);
	pp_rcu_free_head(p, (struct rcu_head *)p - 1);
}

static void bad_head_before_heap(void)
{
	char *h;

	child_setup(NULL, true);
	h = malloc(256);
	mark(h);
	pp_rcu_free_head(h, (struct rcu_head *)(void *)(h - 64));
}

static void bad_head_null(void)
{
	void *p;

	child_setup(NULL, true);
	p = must_alloc(0);
	mark(p);
	pp_rcu_free_head(p, NULL);
}

static void bad_head_beyond(void)
{
	char *p;

	child_setup(NULL, true);
	p = must_alloc(0);
	mark(p);
	pp_rcu_free_head(p, (struct rcu_head *)(p + ps()));
}

static void bad_head_straddles(void)
{
	char *p;

	child_setup(NULL, true);
	p = must_alloc(1);
	mark(p);
	pp_rcu_free_head(p, (struct rcu_head *)(p + 2 * ps() - 8));
}

/* Control: the last rcu_head that fits in an order-1 block is accepted. */
static void ok_head_last(void)
{
	char *p;

	child_setup(NULL, true);
	p = must_alloc(1);
	mark(p);
	pp_rcu_free_head(p, (struct rcu_head *)(p + 2 * ps()) - 1);
	pp_rcu_barrier();
}

static void bad_before_init_free(void)
{
	void *p;

	child_setup(NULL, false);
	p = must_alloc(0);
	mark(p);
	pp_rcu_free(p);
}

static void bad_before_init_head(void)
{
	struct obj *p;

	child_setup(NULL, false);
	p = must_alloc(0);
	mark(p);
	pp_rcu_free_head(p, &p->head);
}

static void bad_before_init_barrier(void)
{
	child_setup(NULL, false);
	mark(NULL);
	pp_rcu_barrier();
}

static void bad_queued_twice(void)
{
	void *p;

	child_setup(NULL, true);
	p = must_alloc(0);
	pp_rcu_free(p);
	mark(p);
	pp_rcu_free(p);
	pp_rcu_barrier();
}

static void bad_queued_then_freed(void)
{
	void *p;

	child_setup(NULL, true);
	p = must_alloc(0);
	pp_rcu_free(p);
	pp_free_page(p);
	mark(p);
	pp_rcu_barrier();
}

START_TEST(test_bad_interior)
{
	expect_abort(bad_interior_free, "pp_rcu_free", NULL, true);
	expect_abort(bad_interior_head, "pp_rcu_free_head", NULL, true);
	expect_abort(bad_misaligned_free, "pp_rcu_free", NULL, true);
}
END_TEST

START_TEST(test_bad_already_freed)
{
	expect_abort(bad_already_freed, "pp_rcu_free", NULL, true);
	expect_abort(bad_already_freed_head, "pp_rcu_free_head", NULL, true);
}
END_TEST

START_TEST(test_bad_head)
{
	expect_abort(bad_head_before_pool, "pp_rcu_free_head", NULL, true);
	expect_abort(bad_head_before_heap, "pp_rcu_free_head", NULL, true);
	expect_abort(bad_head_null, "pp_rcu_free_head", NULL, true);
	expect_abort(bad_head_beyond, "pp_rcu_free_head", NULL, true);
	expect_abort(bad_head_straddles, "pp_rcu_free_head", NULL, true);
	expect_survive(ok_head_last, "an rcu_head in the last bytes of an order-1 block");
}
END_TEST

START_TEST(test_bad_before_init)
{
	expect_abort(bad_before_init_free, "pp_rcu_free", "pp_rcu_init", false);
	expect_abort(bad_before_init_head, "pp_rcu_free_head", "pp_rcu_init", false);
	expect_abort(bad_before_init_barrier, "pp_rcu_barrier", "pp_rcu_init", false);
}
END_TEST

/*
 * Caught after the grace period, when the block is freed; a page queued
 * twice in one block is caught by libpagepool's bulk free (which names
 * pp_free_pages_bulk), so only the abort and the address are required.
 */
START_TEST(test_bad_queued_twice)
{
	expect_abort(bad_queued_twice, NULL, "free", true);
	expect_abort(bad_queued_then_freed, NULL, "free", true);
}
END_TEST

static void other_quiescent_state(void)
{
}

/* pp_rcu_init(@flavor) with its stderr into @msg and its errno into *@e. */
static int init_captured(const struct rcu_flavor_struct *flavor, int *e, char *msg,
			 size_t len)
{
	struct capture cap;
	int r;

	capture_begin(&cap);
	errno = 0;
	r = pp_rcu_init(flavor);
	*e = errno;
	capture_end(&cap, msg, len);
	return r;
}

START_TEST(test_init_errors)
{
	struct rcu_flavor_struct incomplete = *fl, other = *fl;
	char msg[1024];
	size_t base;
	int r, e;

	r = init_captured(NULL, &e, msg, sizeof(msg));
	ck_assert_msg(r == -1 && e == EINVAL, "pp_rcu_init(NULL): %d, errno %d", r, e);
	ck_assert_msg(has_word(msg, "pp_rcu_init"), "no message naming pp_rcu_init: \"%s\"", msg);

	incomplete.read_ongoing = NULL;
	r = init_captured(&incomplete, &e, msg, sizeof(msg));
	ck_assert_msg(r == -1 && e == EINVAL, "flavour without read_ongoing: %d, errno %d", r, e);

	rcu_setup(NULL);
	ck_assert_msg(pp_rcu_init(fl) == 0, "a second pp_rcu_init() with the same flavour "
		      "failed: %s", strerror(errno));

	/* Another flavour: another address (and one entry point changed). */
	other.read_quiescent_state = other_quiescent_state;
	r = init_captured(&other, &e, msg, sizeof(msg));
	ck_assert_msg(r == -1 && e == EBUSY, "pp_rcu_init(another flavour): %d, errno %d", r, e);
	ck_assert_msg(has_word(msg, "pp_rcu_init"), "no message naming pp_rcu_init: \"%s\"", msg);

	/* The first flavour is still the one in use. */
	base = in_use();
	pp_rcu_free(pp_alloc_page(0));
	pp_rcu_barrier();
	ck_assert_uint_le(in_use(), base + slack(1));
	check_conservation();
}
END_TEST

START_TEST(test_null_is_noop)
{
	struct rcu_head head;
	struct capture cap;
	char msg[1024];
	size_t base;

	/* Before pp_rcu_init() too: NULL does nothing. */
	capture_begin(&cap);
	pp_rcu_free(NULL);
	pp_rcu_free_head(NULL, NULL);
	capture_end(&cap, msg, sizeof(msg));
	ck_assert_msg(msg[0] == '\0', "NULL before pp_rcu_init() printed: \"%s\"", msg);

	rcu_setup(NULL);
	base = in_use();
	capture_begin(&cap);
	pp_rcu_free(NULL);
	pp_rcu_free_head(NULL, NULL);
	pp_rcu_free_head(NULL, &head);
	capture_end(&cap, msg, sizeof(msg));
	ck_assert_msg(msg[0] == '\0', "NULL printed: \"%s\"", msg);
	ck_assert_uint_eq(in_use(), base);
	pp_rcu_barrier();
	ck_assert_uint_eq(in_use(), base);
	check_conservation();
}
END_TEST

/* ---- 7. fork ----------------------------------------------------------
 *
 * liburcu's rule for fork() without exec() (its README, "Interaction with
 * fork()"): with urcu-memb and urcu-qsbr every registration must be
 * released before fork() - a thread that does not exist in the child leaves
 * its registry entry behind, in memory glibc hands to the child's next new
 * thread (a grace period in the child then crashes or spins) - and programs
 * that use call_rcu call the flavour's call_rcu fork hooks around it.  So
 * the other thread unregisters once it has queued (it stays alive and quiet,
 * its partly filled block in place), and this thread unregisters before
 * fork() and registers again on both sides.
 */
static void fork_prepare(void)
{
	unreg();
	fork_before();
}

static void fork_parent(void)
{
	fork_after_parent();
	reg();
}

static void fork_child(void)
{
	fork_after_child();
	reg();
}

static size_t fork_base;

static void *fork_queuer(void *arg)
{
	(void)arg;
	reg();
	for (int i = 0; i < QPAGES; i++)
		pp_rcu_free(pp_alloc_page(0));
	pp_rcu_free(malloc(256));
	unreg();			/* liburcu: no registration across fork() */
	add_rlx(&qs.ready, 1);
	while (!ld_acq(&qs.leave))
		sleep_ms(1);
	return NULL;
}

static void *child_exiting_thread(void *arg)
{
	(void)arg;
	reg();
	pp_rcu_free(must_alloc(0));
	unreg();
	return NULL;
}

/*
 * The fork child: one thread left.  The other thread's partial block (in
 * use at the fork, see the parent) and this thread's must be freed here.
 */
static void fork_child_main(void)
{
	char why[256];
	size_t s, slack1;
	pthread_t t;
	double t0;

	child_alarm(30);
	fork_child();
	mark(NULL);
	slack1 = child_slack();
	for (int i = 0; i < 1200; i++)	/* full blocks (call_rcu) and a partial one */
		pp_rcu_free(must_alloc(i % 3 == 0 ? 1 : 0));
	pp_rcu_free(malloc(100));
	pp_rcu_barrier();
	s = in_use();
	if (s > fork_base + slack1)
		child_fail(2, "after pp_rcu_barrier() in the child: in_use %zu, base %zu, "
			   "slack %zu", s, fork_base, slack1);
	if (!conservation_ok(why, sizeof(why)))
		child_fail(3, "conservation: %s", why);
	/* The helper thread restarts lazily: an exiting thread's block is freed. */
	if (pthread_create(&t, NULL, child_exiting_thread, NULL) || pthread_join(t, NULL))
		child_fail(4, "pthread_create/join");
	t0 = now_sec();
	while (in_use() > s) {
		if (ms_since(t0) > 2000)
			child_fail(5, "an exited thread's page not freed 2 s after its exit "
				   "in the fork child (in_use %zu, want %zu): no helper thread?",
				   in_use(), s);
		sleep_ms(2);
	}
	if (!conservation_ok(why, sizeof(why)))
		child_fail(6, "conservation at the end: %s", why);
}

static void fork_check_child(const struct child *c, const char *what)
{
	char how[128];

	describe(c->status, how, sizeof(how));
	ck_assert_msg(WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0 &&
		      strstr(c->err, "@@SURVIVED") != NULL,
		      "%s: fork child %s%s; stderr: \"%.1500s\"", what, how,
		      WIFSIGNALED(c->status) && WTERMSIG(c->status) == SIGALRM ?
		      " (hung: deadlock after fork?)" : "", c->err);
}

START_TEST(test_fork_child_frees)
{
	static struct child c;
	pthread_t t;

	rcu_setup("rcu_delay_ms=3600000");
	fork_base = in_use();
	t = spawn(fork_queuer, NULL);		/* a second thread with a partial block */
	ck_assert_msg(wait_flag(&qs.ready, 1, 10000), "the queuer did not start");
	for (int i = 0; i < 10; i++)		/* and one of our own */
		pp_rcu_free(pp_alloc_page(0));
	ck_assert_uint_ge(in_use(), fork_base + QPAGES + 10 + 2);

	fork_prepare();
	run_child(fork_child_main, &c, "@@SURVIVED\n");
	fork_parent();
	fork_check_child(&c, "free and barrier in the child");

	/* The parent is unaffected. */
	pp_rcu_barrier();
	ck_assert_uint_le(in_use(), fork_base + slack(2));
	st_rel(&qs.leave, 1);
	join(t);
	ck_assert_uint_le(in_use(), fork_base + slack(1));
	check_conservation();
}
END_TEST

/*
 * Threads that queue (past rcu_inflight, so full blocks go through the
 * hand-off list) and exit, while this thread forks: a thread's exit frees
 * its spare, expired and drain blocks, and a fork in the middle of that must
 * not leave the child a block already freed, which the child would give
 * back again (a double free aborts).  liburcu's rule is kept with a
 * writer-preferring rwlock: a worker holds it for reading while registered.
 */
enum { FX_WORKERS = 3 };
static pthread_rwlock_t fx_lock;
static int fx_stop;

static void *fx_worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	int rounds = 2 + (int)(rand_r(&seed) % 8);

	for (int r = 0; r < rounds && !ld_acq(&fx_stop); r++) {
		int n = 100 + (int)(rand_r(&seed) % 1500);

		pthread_rwlock_rdlock(&fx_lock);
		reg();
		/* No Check call here: the child would find Check's lock held. */
		for (int i = 0; i < n; i++) {
			void *o = i % 7 == 3 ? malloc(64) : pp_alloc_page(0);

			if (!o)
				abort();
			pp_rcu_free(o);
		}
		unreg();
		pthread_rwlock_unlock(&fx_lock);
	}
	return NULL;		/* its exit (ppr_thread_exit) may meet a fork */
}

/* A worker; plain pthread calls, not spawn(): no Check call off the main thread. */
static pthread_t fx_start(unsigned *seed)
{
	pthread_t t;

	if (pthread_create(&t, NULL, fx_worker, (void *)(uintptr_t)rand_r(seed)))
		abort();
	return t;
}

/* Keeps FX_WORKERS workers alive, replacing each one that exits. */
static void *fx_spawner(void *arg)
{
	pthread_t t[FX_WORKERS];
	unsigned seed = 7;

	(void)arg;
	for (int i = 0; i < FX_WORKERS; i++)
		t[i] = fx_start(&seed);
	while (!ld_acq(&fx_stop))
		for (int i = 0; i < FX_WORKERS; i++)
			if (pthread_tryjoin_np(t[i], NULL) == 0)
				t[i] = fx_start(&seed);
			else
				sleep_ms(0.3);
	for (int i = 0; i < FX_WORKERS; i++)
		pthread_join(t[i], NULL);
	return NULL;
}

static void fx_child(void)
{
	char why[256];

	child_alarm(30);
	fork_child();
	pp_rcu_barrier();
	if (!conservation_ok(why, sizeof(why)))
		child_fail(2, "conservation after the barrier: %s", why);
}

START_TEST(test_fork_while_threads_exit)
{
	static struct child c;
	pthread_rwlockattr_t attr;
	pthread_t sp;
	int forks = SANITIZED ? 10 : 60;

	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&fx_lock, &attr);
	rcu_setup("rcu_inflight=4K");
	sp = spawn(fx_spawner, NULL);
	for (int f = 0; f < forks; f++) {
		sleep_ms(5);
		pthread_rwlock_wrlock(&fx_lock);
		fork_prepare();
		run_child(fx_child, &c, "@@SURVIVED\n");
		fork_parent();
		pthread_rwlock_unlock(&fx_lock);
		fork_check_child(&c, "fork while threads queue and exit");
	}
	st_rel(&fx_stop, 1);
	join(sp);
	pp_rcu_barrier();
	check_conservation();
}
END_TEST

/*
 * In the child, one pp_rcu_free() and then quiet: the pointer must be freed
 * within rcu_delay_ms (200 here) like anywhere else - whether or not this
 * thread had a partly filled block at the fork.
 */
static void fork_quiet_child(void)
{
	size_t s0;
	double t0, dt, bound = SANITIZED ? 400 : 300;
	void *p;

	child_alarm(30);
	fork_child();
	mark(NULL);
	s0 = in_use();			/* with a partial: + its pages and block */
	p = must_alloc(0);
	t0 = now_sec();
	pp_rcu_free(p);			/* the first call in the child */
	while (pp_block_order(p) >= 0) {
		if (ms_since(t0) > 2000)
			child_fail(2, "fork child: a quiet partial block was not freed 2 s "
				   "after the child's first pp_rcu_free() (rcu_delay_ms=200; "
				   "in_use %zu, %zu before the call)", in_use(), s0);
		sleep_ms(2);
	}
	dt = ms_since(t0);
	if (dt > bound)
		child_fail(3, "fork child: quiet partial block freed after %.1f ms, bound "
			   "%.0f ms", dt, bound);
}

static void fork_quiet_case(bool partial_at_fork)
{
	static struct child c;

	rcu_setup("rcu_delay_ms=200");
	if (partial_at_fork) {
		pp_rcu_free(pp_alloc_page(0));	/* handed on in 100 ms: fork first */
		/*
		 * That call started the helper thread.  Let it get going: a
		 * fork() while a thread is starting can leave a lock of the
		 * sanitizers' allocator (GCC 12's ASan does not lock it around
		 * fork) held for ever in the child, where the child's helper
		 * thread then hangs at its start.
		 */
		sleep_ms(20);
	}
	fork_prepare();
	run_child(fork_quiet_child, &c, "@@SURVIVED\n");
	fork_parent();
	fork_check_child(&c, partial_at_fork ?
			 "quiet thread in the child, partly filled block at the fork" :
			 "quiet thread in the child, no block at the fork");
	pp_rcu_barrier();
	check_conservation();
}

START_TEST(test_fork_child_quiet_bound)
{
	fork_quiet_case(false);
}
END_TEST

START_TEST(test_fork_child_quiet_bound_inherited_block)
{
	fork_quiet_case(true);
}
END_TEST

/* ---- the suite -------------------------------------------------------- */

static Suite *rcu_suite(void)
{
	Suite *s = suite_create("rcu-" FLAVOR_NAME);
	TCase *tc;

	tc = new_tcase("canary");
	tcase_add_test(tc, test_canary_stress);
	tcase_add_test(tc, test_canary_stress_short_delay);
	tcase_add_test(tc, test_canary_stress_fallback);
	tcase_add_test(tc, test_canary_stress_inflight);
	suite_add_tcase(s, tc);

	tc = new_tcase("barrier");
	tcase_add_test(tc, test_barrier_100k);
	tcase_add_test(tc, test_barrier_100k_inflight);
	tcase_add_test(tc, test_inflight_bounded);
	tcase_add_test(tc, test_inflight_unbounded_control);
	tcase_add_test(tc, test_inflight_caller_helps);
	tcase_add_test(tc, test_inflight_reader_never_quiesces);
	tcase_add_test(tc, test_inflight_block_of_quiet_thread);
	tcase_add_test(tc, test_many_pages_quiet_bound);
	tcase_add_test(tc, test_barrier_takes_other_threads_partials);
	tcase_add_test(tc, test_barrier_takes_other_threads_full_blocks);
	suite_add_tcase(s, tc);

	tc = new_tcase("bounds");
	tcase_add_test(tc, test_quiet_thread_default_delay);
	tcase_add_test(tc, test_quiet_thread_delay_200);
	tcase_add_test(tc, test_exited_thread_default_delay);
	tcase_add_test(tc, test_exited_thread_long_delay);
	suite_add_tcase(s, tc);

	tc = new_tcase("fallback");
	tcase_add_test(tc, test_fallback_head_in_read_section);
	tcase_add_test(tc, test_fallback_free_waits_for_readers);
	tcase_add_test(tc, test_blocks_free_in_read_section);
	tcase_add_test(tc, test_fallback_free_in_read_section_aborts);
	tcase_add_test(tc, test_fallback_free_online);
	tcase_add_test(tc, test_barrier_in_read_section);
	suite_add_tcase(s, tc);

	tc = new_tcase("badinput");
	tcase_add_test(tc, test_bad_interior);
	tcase_add_test(tc, test_bad_already_freed);
	tcase_add_test(tc, test_bad_head);
	tcase_add_test(tc, test_bad_before_init);
	tcase_add_test(tc, test_bad_queued_twice);
	tcase_add_test(tc, test_init_errors);
	tcase_add_test(tc, test_null_is_noop);
	suite_add_tcase(s, tc);

#ifdef __SANITIZE_ADDRESS__
	/*
	 * GCC 12's AddressSanitizer takes no lock of its allocator around
	 * fork(): a child of a threaded parent can deadlock inside malloc() when
	 * a parent thread was in ASan's allocator at the fork (seen at 03f7420:
	 * test_fork_child_frees, about 1 run in 35 under load, the child's new
	 * threads waiting on ASan's size-class mutex).  The fork tests run in
	 * the plain and the ThreadSanitizer builds.
	 */
	fprintf(stderr, "test_rcu: the fork tests are not run under AddressSanitizer\n");
	(void)test_fork_child_frees;
	(void)test_fork_while_threads_exit;
	(void)test_fork_child_quiet_bound;
	(void)test_fork_child_quiet_bound_inherited_block;
#else
	tc = new_tcase("fork");
	tcase_add_test(tc, test_fork_child_frees);
	tcase_add_test(tc, test_fork_while_threads_exit);
	tcase_add_test(tc, test_fork_child_quiet_bound);
	tcase_add_test(tc, test_fork_child_quiet_bound_inherited_block);
	suite_add_tcase(s, tc);
#endif
	return s;
}

/* The deliberately broken writer: its readers must see violations. */
static Suite *broken_suite(void)
{
	Suite *s = suite_create("rcu-" FLAVOR_NAME "-broken-writer");
	TCase *tc = new_tcase("broken");

	tcase_add_test(tc, test_canary_broken_writer);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	if (getenv("PP_TEST_BROKEN_WRITER"))
		return run_suite(broken_suite());
	return run_suite(rcu_suite());
}
