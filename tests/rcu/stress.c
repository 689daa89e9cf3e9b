/* SPDX-License-Identifier: MIT */
/*
 * stress.c - the canary stress: readers check objects while a writer swaps
 * them out and frees them through pp_rcu_free() / pp_rcu_free_head() and a
 * reuser scribbles over whatever memory comes back; no reader may see an
 * object change.  Also the deliberately broken writer (PP_TEST_BROKEN_WRITER,
 * harness.c) that proves the readers' checks can fail.
 */
#include "rcu.h"

/* ---- canary stress ---------------------------------------------------- */

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

/* ---- the test case ---------------------------------------------------- */

void add_stress_tests(Suite *s)
{
	TCase *tc = new_tcase("canary");

	tcase_add_test(tc, test_canary_stress);
	tcase_add_test(tc, test_canary_stress_short_delay);
	tcase_add_test(tc, test_canary_stress_fallback);
	tcase_add_test(tc, test_canary_stress_inflight);
	suite_add_tcase(s, tc);
}

/* The deliberately broken writer: its readers must see violations. */
Suite *broken_writer_suite(void)
{
	Suite *s = suite_create("rcu-" FLAVOR_NAME "-broken-writer");
	TCase *tc = new_tcase("broken");

	tcase_add_test(tc, test_canary_broken_writer);
	suite_add_tcase(s, tc);
	return s;
}
