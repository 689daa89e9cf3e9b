/* SPDX-License-Identifier: MIT */
/*
 * resize.c - pp_exact_shrink() and pp_exact_grow(): a run changes its
 * length in place, gives back or takes exactly the pages between.
 */
#include "exact.h"

/* ---- shrink --------------------------------------------------------------- */

/* Shrink a run from @n to @m pages: fewer pages held, the rest intact. */
static void shrink_case(size_t n, size_t m, unsigned align, uint64_t seed)
{
	size_t start = in_use(), got, bad;
	char *p;

	set_where("pp_exact_alloc(%zu, %u, 0) shrunk to %zu", n, align, m);
	p = pp_exact_alloc(n, align, 0);
	ck_assert_msg(p != NULL, "%s: allocation failed: %s", where, strerror(errno));
	fill_run(p, n, seed);
	ck_assert_uint_eq(in_use(), start + n);
	pp_exact_shrink("test_shrink", p, m);
	got = pp_exact_pages("test_shrink", p);
	ck_assert_msg(got == m, "%s: pp_exact_pages says %zu", where, got);
	ck_assert_msg(in_use() == start + m, "%s: in_use %zu, want %zu (start %zu + %zu)",
		      where, in_use(), start + m, start, m);
	bad = bad_word(p, m, seed);
	ck_assert_msg(bad == SIZE_MAX, "%s: word %zu (page %zu) of the kept pages changed",
		      where, bad, bad == SIZE_MAX ? 0 : bad * 8 / ps());
	check_first_piece(p, m);
	check_pieces(p, m);
	check_given_back(p, m, n);
	check_ledger(1);
	pp_exact_free("test_shrink", p);
	ck_assert_msg(in_use() == start, "%s: freed, in_use %zu, want %zu", where, in_use(),
		      start);
	check_ledger(0);
}

START_TEST(test_shrink)
{
	static const size_t pairs[][2] = {
		{ 5, 3 }, { 8, 1 }, { 1024, 513 }, { 100, 99 }, { 2, 1 }, { 3, 1 },
		{ 3, 2 }, { 7, 4 }, { 16, 15 }, { 33, 17 }, { 40, 24 }, { 64, 33 },
		{ 129, 128 }, { 513, 1 }, { 1000, 999 }, { 1023, 512 }, { 1024, 1 },
		{ 1024, 1023 }, { 255, 254 },
	};

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
		for (unsigned a = 0; a <= 4; a += 2)
			shrink_case(pairs[i][0], pairs[i][1], a, i * 4 + a);
	ck_assert_uint_eq(in_use(), 0);
}
END_TEST

/* A run shrunk again and again, then grown back into by new runs. */
START_TEST(test_shrink_chain)
{
	static const size_t steps[] = { 1000, 777, 512, 511, 100, 64, 63, 5, 1 };
	size_t start = in_use(), bad;
	char *p = pp_exact_alloc(steps[0], 0, 0), *q;

	ck_assert_ptr_nonnull(p);
	fill_run(p, steps[0], 42);
	for (size_t i = 1; i < sizeof(steps) / sizeof(steps[0]); i++) {
		size_t m = steps[i];

		set_where("run of %zu shrunk to %zu", steps[i - 1], m);
		pp_exact_shrink("test_shrink_chain", p, m);
		ck_assert_uint_eq(pp_exact_pages("test_shrink_chain", p), m);
		ck_assert_uint_eq(in_use(), start + m);
		bad = bad_word(p, m, 42);
		ck_assert_msg(bad == SIZE_MAX, "%s: word %zu changed", where, bad);
		check_first_piece(p, m);
		check_pieces(p, m);
		check_given_back(p, m, steps[i - 1]);
		check_ledger(1);
	}
	/* The pages given back are usable: a run as long as they are fits. */
	q = pp_exact_alloc(999, 0, PP_NOWAIT);
	set_where("a run of 999 after the shrinks");
	if (q) {
		fill_run(q, 999, 43);
		ck_assert_msg(bad_word(p, 1, 42) == SIZE_MAX, "%s overwrote the shrunk run", where);
		check_ledger(2);
		pp_exact_free("test_shrink_chain", q);
	}
	pp_exact_free("test_shrink_chain", p);
	ck_assert_uint_eq(in_use(), start);
	check_ledger(0);
}
END_TEST

/* Shrinking to 0 pages, to the same length or longer changes nothing. */
START_TEST(test_shrink_noop)
{
	static const size_t ms[] = { 0, 12, 13, 100, SIZE_MAX };
	char *p = pp_exact_alloc(12, 1, 0);
	size_t start = in_use();

	ck_assert_ptr_nonnull(p);
	fill_run(p, 12, 7);
	for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
		set_where("run of 12 \"shrunk\" to %zu", ms[i]);
		pp_exact_shrink("test_shrink_noop", p, ms[i]);
		ck_assert_msg(pp_exact_pages("test_shrink_noop", p) == 12, "%s: now %zu pages",
			      where, pp_exact_pages("test_shrink_noop", p));
		ck_assert_uint_eq(in_use(), start);
		ck_assert_uint_eq(bad_word(p, 12, 7), SIZE_MAX);
		check_pieces(p, 12);
		check_ledger(1);
	}
	pp_exact_free("test_shrink_noop", p);
	check_ledger(0);
}
END_TEST

/* ---- grow in place ---------------------------------------------------------- */

/*
 * Oracle for pp_exact_grow(): are pages [@lo, @hi) committed and all in
 * free blocks of the global lists (or on the pending list, which the lock
 * absorbs)?  Found by walking the heads from page 0, not by the library's
 * own search.
 */
static bool range_free(size_t lo, size_t hi)
{
	bool ok;
	size_t idx = 0;

	pp_test_lock();
	ok = hi <= pp_g.committed;
	while (ok && idx < hi) {
		const struct pp_desc *d = &pp_g.desc[idx];
		size_t pages = (size_t)1 << load_relaxed(&d->order);
		unsigned st = pp_state(d);

		if (st == PP_PG_NONE) {
			ok = false;		/* tiling_ok() says why */
			break;
		}
		if (idx + pages > lo && st != PP_PG_FREE && st != PP_PG_PENDING)
			ok = false;
		idx += pages;
	}
	pp_test_unlock();
	return ok;
}

/*
 * Grow the @n-page run at @p (filled from @seed) to @m pages; the result
 * must be what range_free() predicts.  Returns the run's length after.
 */
static size_t grow_case(char *p, size_t n, size_t m, uint64_t seed, size_t runs)
{
	size_t idx = pp_index(p), before = in_use(), got, bad;
	bool want = m <= PP_EXACT_MAX && (m <= n ? m == n : range_free(idx + n, idx + m));
	bool res;

	set_where("pp_exact_grow(run of %zu at page %zu, %zu)", n, idx, m);
	res = pp_exact_grow("test_grow", p, m);
	ck_assert_msg(res == want, "%s returned %d, want %d (pages behind the run %s)", where,
		      res, want, want ? "all free" : "not all free");
	got = pp_exact_pages("test_grow", p);
	if (res && m > n) {
		ck_assert_msg(got == m, "%s: grown, but pp_exact_pages says %zu", where, got);
		ck_assert_msg(in_use() == before + m - n, "%s: in_use %zu -> %zu, want +%zu",
			      where, before, in_use(), m - n);
	} else {
		ck_assert_msg(got == n, "%s: not grown, but pp_exact_pages says %zu", where, got);
		ck_assert_msg(in_use() == before, "%s: not grown, in_use %zu -> %zu", where,
			      before, in_use());
	}
	bad = bad_word(p, n, seed);
	ck_assert_msg(bad == SIZE_MAX, "%s: word %zu (page %zu) of the old pages changed",
		      where, bad, bad == SIZE_MAX ? 0 : bad * 8 / ps());
	fill_run(p, got, seed);
	check_pieces(p, got);
	check_ledger(runs);
	return got;
}

START_TEST(test_grow)
{
	char *p, *q;
	size_t n;

	/* Two max-order blocks committed and free: room behind a full run. */
	p = pp_exact_alloc(PP_EXACT_MAX, 0, 0);
	q = pp_exact_alloc(PP_EXACT_MAX, 0, 0);
	ck_assert(p && q);
	pp_exact_free("test_grow", q);
	pp_exact_free("test_grow", p);

	/* A large run's tail goes straight back to the lists: it can grow into it. */
	p = pp_exact_alloc(100, 0, 0);
	ck_assert_ptr_nonnull(p);
	fill_run(p, 100, 1);
	ck_assert_msg(range_free(pp_index(p) + 100, pp_index(p) + 128),
		      "the pages behind a run of 100 are not free on the lists");
	n = grow_case(p, 100, 128, 1, 1);
	ck_assert_uint_eq(n, 128);
	n = grow_case(p, n, 200, 1, 1);
	n = grow_case(p, n, 777, 1, 1);
	n = grow_case(p, n, PP_EXACT_MAX, 1, 1);
	ck_assert_uint_eq(n, PP_EXACT_MAX);	/* its whole block was free */
	/* Not longer than the longest run, even with free pages behind it. */
	ck_assert_msg(range_free(pp_index(p) + n, pp_index(p) + n + 1),
		      "no free page behind the full run: the next check proves nothing");
	ck_assert(!pp_exact_grow("test_grow", p, PP_EXACT_MAX + 1));
	ck_assert_uint_eq(pp_exact_pages("test_grow", p), n);
	n = grow_case(p, n, n, 1, 1);
	ck_assert(!pp_exact_grow("test_grow", p, n - 1));
	ck_assert(!pp_exact_grow("test_grow", p, 0));
	ck_assert_uint_eq(pp_exact_pages("test_grow", p), n);
	/* Shrunk, then grown back over the pages it gave back. */
	pp_exact_shrink("test_grow", p, 3);
	n = grow_case(p, 3, 300, 1, 1);
	ck_assert_uint_eq(n, 300);
	pp_exact_free("test_grow", p);
	check_ledger(0);

	/* A short run's tail sits in this thread's cache: not free on the lists. */
	q = pp_exact_alloc(5, 0, 0);
	ck_assert_ptr_nonnull(q);
	fill_run(q, 5, 2);
	ck_assert_msg(!range_free(pp_index(q) + 5, pp_index(q) + 8),
		      "the tail of a run of 5 is not in the cache");
	n = grow_case(q, 5, 8, 2, 1);
	ck_assert_uint_eq(n, 5);
	pp_thread_drain();	/* now it is on the lists */
	n = grow_case(q, 5, 8, 2, 1);
	ck_assert_uint_eq(n, 8);
	n = grow_case(q, 8, 40, 2, 1);
	pp_exact_free("test_grow", q);
	ck_assert_uint_eq(in_use(), 0);
	check_ledger(0);
}
END_TEST

/*
 * Runs allocated, freed, shrunk and grown at random: every grow does what
 * the oracle says, no run ever overlaps another, the ledger always holds.
 */
START_TEST(test_grow_random)
{
	enum { SLOTS = 24, OPS = 1500 };
	char *p[SLOTS] = { NULL };
	size_t len[SLOTS] = { 0 }, live = 0, grown = 0, refused = 0, pages = 0;
	uint64_t seed = 0xfeedf00d;

	for (int op = 0; op < OPS; op++) {
		size_t i = rnd(&seed) % SLOTS, r = rnd(&seed) % 10;

		if (!p[i]) {
			size_t n = 1 + rnd(&seed) % (r < 5 ? 8 : 300);
			unsigned a = (unsigned)(rnd(&seed) % 4);

			set_where("op %d: pp_exact_alloc(%zu, %u, 0)", op, n, a);
			p[i] = pp_exact_alloc(n, a, 0);
			ck_assert_msg(p[i] != NULL, "%s: %s", where, strerror(errno));
			len[i] = n;
			fill_run(p[i], n, i);
			live++;
			pages += n;
		} else if (r < 3) {
			pp_exact_free("test_grow_random", p[i]);
			p[i] = NULL;
			live--;
			pages -= len[i];
		} else if (r < 5) {
			size_t m = 1 + rnd(&seed) % len[i];

			pp_exact_shrink("test_grow_random", p[i], m);
			ck_assert_uint_eq(pp_exact_pages("test_grow_random", p[i]), m);
			pages -= len[i] - m;
			len[i] = m;
		} else {
			size_t m = len[i] + 1 + rnd(&seed) % (r < 8 ? 8 : 400);
			size_t got = grow_case(p[i], len[i], m, i, live);

			grown += got > len[i];
			refused += got == len[i];
			pages += got - len[i];
			len[i] = got;
		}
		if (op % 250 == 249)
			pp_thread_drain();
		ck_assert_msg(in_use() == pages, "op %d: in_use %zu, the runs hold %zu", op,
			      in_use(), pages);
		if (op % 50 == 0) {
			set_where("op %d", op);
			check_ledger(live);
			for (size_t j = 0; j < SLOTS; j++)
				ck_assert_msg(!p[j] || bad_word(p[j], len[j], j) == SIZE_MAX,
					      "op %d: run %zu (%zu pages) overwritten", op, j, len[j]);
		}
	}
	ck_assert_msg(grown > 100 && refused > 100, "%zu grows succeeded, %zu refused: "
		      "both outcomes should be common", grown, refused);
	for (size_t j = 0; j < SLOTS; j++)
		if (p[j])
			pp_exact_free("test_grow_random", p[j]);
	ck_assert_uint_eq(in_use(), 0);
	check_ledger(0);
}
END_TEST

/* ---- into the test case ----------------------------------------------- */

void add_resize_tests(TCase *tc)
{
	tcase_add_test(tc, test_shrink);
	tcase_add_test(tc, test_shrink_chain);
	tcase_add_test(tc, test_shrink_noop);
	tcase_add_test(tc, test_grow);
	tcase_add_test(tc, test_grow_random);
}
