/* SPDX-License-Identifier: MIT */
/*
 * harness.c - the libpagepool-rcu suite's shared part and main(): the
 * small helpers, the watchdog, the canary objects and the helpers of
 * run_child() children that rcu.h declares; the suite made of each file's
 * test case.  The tests themselves, by concern: stress.c (canary stress),
 * barrier.c (pp_rcu_barrier() and rcu_inflight), bounds.c (quiet and
 * exiting threads), fallback.c (rcu_blocks=0 and read-side sections),
 * badinput.c, fork.c.
 *
 * PP_TEST_BROKEN_WRITER=1 in the environment runs, instead of the suite,
 * one deliberately broken canary stress (the writer frees at once, without
 * RCU) that must report violations: proof that the readers' checks can fail.
 */
#include "rcu.h"

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
#endif

/* ---- small helpers ---------------------------------------------------- */

double ms_since(double t0)
{
	return (now_sec() - t0) * 1000.0;
}

void sleep_ms(double ms)
{
	long ns = (long)(ms * 1e6);
	struct timespec ts = { ns / 1000000000L, ns % 1000000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

size_t rcu_spares(void)
{
	size_t v = 0;

	ck_assert_int_eq(pp_option("rcu_spares", &v), 0);
	return v;
}

/* What pp_rcu_barrier() may leave in use per thread that queued and lives. */
size_t slack(size_t threads)
{
	return threads * (2 * rcu_spares() + 1);
}

/* Register this thread; it stays offline until it reads (rcu.h). */
void reg(void)
{
	fl->register_thread();
	fl->thread_offline();
}

void unreg(void)
{
	fl->unregister_thread();
}

/* Enter / leave a read-side critical section (qsbr: online for it). */
void reader_enter(void)
{
	fl->thread_online();
	fl->read_lock();
}

void reader_leave(void)
{
	fl->read_unlock();
	fl->thread_offline();
}

/* The test's main thread: optional options, registration, pp_rcu_init(). */
void rcu_setup(const char *conf)
{
	if (conf)
		ck_assert_msg(pp_configure(conf) == 0, "pp_configure(\"%s\") failed", conf);
	reg();
	ck_assert_msg(pp_rcu_init(fl) == 0, "pp_rcu_init(%s) failed: %s", FLAVOR_NAME,
		      strerror(errno));
}

/* Poll in_use every 2 ms until it is <= @limit; ms since @t0, or -1. */
double wait_in_use_le(size_t limit, double t0, double timeout_ms)
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
bool wait_flag(const int *flag, int want, double timeout_ms)
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
size_t heap_in_use(void)
{
#if SANITIZED
	return 0;
#else
	return mallinfo2().uordblks;
#endif
}

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

void watchdog_start(struct watchdog *w, double secs, const char *what)
{
	w->done = 0;
	w->secs = secs;
	w->what = what;
	w->thr = spawn(watchdog_main, w);
}

void watchdog_stop(struct watchdog *w)
{
	st_rel(&w->done, 1);
	join(w->thr);
}

/* ---- canary objects (rcu.h says what they hold) ---------------------- */

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
uint64_t rcu_test_reader_check(const struct obj *o)
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

struct obj *obj_new_pool(unsigned order, uint64_t gen)
{
	struct obj *o = pp_alloc_pages(order, 0);

	ck_assert_msg(o != NULL, "pp_alloc_pages(%u) failed: %s", order, strerror(errno));
	obj_fill(o, gen, (uint32_t)(ps() << order), order);
	return o;
}

struct obj *obj_new_heap(uint32_t size, uint64_t gen)
{
	struct obj *o;

	size &= ~7u;
	o = malloc(size);
	ck_assert_ptr_nonnull(o);
	obj_fill(o, gen, size, HEAP_KIND);
	return o;
}

struct obj *obj_new_random(uint64_t *rs, uint64_t gen)
{
	uint64_t x = rnd(rs);

	if (x & 1)
		return obj_new_pool((unsigned)((x >> 8) % (OBJ_MAX_ORDER + 1)), gen);
	return obj_new_heap(OBJ_MIN + (uint32_t)((x >> 16) % (OBJ_HEAP_MAX - OBJ_MIN + 1)), gen);
}

/* Free at once, without RCU (the broken writer only, and never-published objects). */
void obj_free_now(struct obj *o)
{
	if (o->kind == HEAP_KIND)
		free(o);
	else
		pp_free_pages(o, o->kind);
}

/* ---- children that must abort with a message (run_child) ---------------- */

void child_fail(int code, const char *fmt, ...)
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
void child_alarm(unsigned secs)
{
	signal(SIGALRM, SIG_DFL);
	alarm(secs);
}

/*
 * In a run_child() child (no Check calls there): never hang (SIGALRM tells
 * the parent it would have), then options, registration, pp_rcu_init().
 */
void child_setup(const char *conf, bool init)
{
	child_alarm(20);
	if (conf && pp_configure(conf))
		child_fail(97, "pp_configure(\"%s\") failed", conf);
	reg();
	if (init && pp_rcu_init(fl))
		child_fail(96, "pp_rcu_init failed");
}

size_t child_slack(void)
{
	size_t v = 0;

	if (pp_option("rcu_spares", &v))
		child_fail(95, "pp_option(rcu_spares) failed");
	return 2 * v + 1;
}

/* ---- the suite -------------------------------------------------------- */

static Suite *rcu_suite(void)
{
	Suite *s = suite_create("rcu-" FLAVOR_NAME);

	add_stress_tests(s);
	add_barrier_tests(s);
	add_bounds_tests(s);
	add_fallback_tests(s);
	add_badinput_tests(s);
	add_fork_tests(s);
	add_stall_tests(s);
	return s;
}

int main(void)
{
	if (getenv("PP_TEST_BROKEN_WRITER"))
		return run_suite(broken_writer_suite());
	return run_suite(rcu_suite());
}
