/* SPDX-License-Identifier: MIT */
/*
 * test_exact.c - runs of an exact number of pages (lib/exact.c): the hidden
 * pp_exact_alloc(), pp_exact_pages(), pp_exact_free(), pp_exact_shrink() and
 * pp_exact_grow() behind the preload shim.
 *
 * White-box: besides pp_stats() and the pp_test_audit() ledger, the tests
 * walk the descriptors under the global lock (tiling_ok()) to see that the
 * block heads tile the committed pages exactly - a piece marked inside
 * another block would otherwise go unnoticed - and that only the runs held
 * have a run length (span) recorded.
 *
 * Each test runs in its own forked child (Check's CK_FORK), so each starts
 * with a fresh, uninitialised pool and may call pp_configure() first.
 */
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <unistd.h>

#include "testutil.h"

static unsigned ilog2(size_t n)
{
	unsigned k = 0;

	while (n >>= 1)
		k++;
	return k;
}

static unsigned ilog2_up(size_t n)
{
	unsigned k = ilog2(n);

	return ((size_t)1 << k) < n ? k + 1 : k;
}

/* Run lengths every size test walks: 1..64, then a selection up to 1024. */
static const size_t big_sizes[] = { 100, 127, 129, 255, 511, 513, 1000, 1023, 1024 };
#define NSMALL	64
#define NBIG	(sizeof(big_sizes) / sizeof(big_sizes[0]))
#define NSIZES	(NSMALL + NBIG)

static size_t size_at(size_t i)
{
	return i < NSMALL ? i + 1 : big_sizes[i - NSMALL];
}

/* A cap of two max-order blocks, whatever the page size. */
static void configure_two_blocks(void)
{
	char conf[64];

	snprintf(conf, sizeof(conf), "cap=%zu", 2 * (ps() << PP_MAX_ORDER));
	ck_assert_int_eq(pp_configure(conf), 0);
}

/* What the current check is about, for failure messages. */
static char where[160];

static void set_where(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_where(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(where, sizeof(where), fmt, ap);
	va_end(ap);
}

/* ---- contents ------------------------------------------------------------ */

static uint64_t pattern(uint64_t seed, size_t k)
{
	return ((seed << 24) + k) * 0x9E3779B97F4A7C15ULL | 1;	/* never 0 */
}

/* Write every byte of the @n-page run at @p (word by word). */
static void fill_run(void *p, size_t n, uint64_t seed)
{
	uint64_t *w = p;
	size_t words = n * ps() / sizeof(*w);

	for (size_t k = 0; k < words; k++)
		w[k] = pattern(seed, k);
}

/* The first word of [@p, @n pages) that fill_run() did not leave, or SIZE_MAX. */
static size_t bad_word(const void *p, size_t n, uint64_t seed)
{
	const uint64_t *w = p;
	size_t words = n * ps() / sizeof(*w);

	for (size_t k = 0; k < words; k++)
		if (w[k] != pattern(seed, k))
			return k;
	return SIZE_MAX;
}

/* The first nonzero word of [@p, @len bytes), or SIZE_MAX. */
static size_t nonzero_word(const void *p, size_t len)
{
	const uint64_t *w = p;

	for (size_t k = 0; k < len / sizeof(*w); k++)
		if (w[k])
			return k;
	return SIZE_MAX;
}

/* ---- the white-box ledger ----------------------------------------------- */

/*
 * tiling_ok() - walking from page 0 by block sizes lands on a block head
 * every time and crosses only tails (state NONE): the heads tile the
 * committed pages.  Counts in @spans the descriptors that record a run
 * length.  Quiescent points only.
 */
static bool tiling_ok(char *why, size_t len, size_t *spans)
{
	bool ok = true;
	size_t n, idx = 0;

	*spans = 0;
	pp_test_lock();
	n = pp_g.committed;
	for (size_t i = 0; i < n; i++)
		*spans += load_relaxed(&pp_g.desc[i].span) != 0;
	while (ok && idx < n) {
		const struct pp_desc *d = &pp_g.desc[idx];
		unsigned st = pp_state(d), order = load_relaxed(&d->order);
		size_t pages = (size_t)1 << order;

		if (st == PP_PG_NONE) {
			snprintf(why, len, "page %zu is a tail of no block (no head covers it)", idx);
			ok = false;
		} else if (order > PP_MAX_ORDER || (idx & (pages - 1)) || idx + pages > n) {
			snprintf(why, len, "page %zu heads a misaligned or overhanging block of order %u",
				 idx, order);
			ok = false;
		}
		for (size_t j = 1; ok && j < pages; j++) {
			const struct pp_desc *t = &pp_g.desc[idx + j];

			if (pp_state(t) != PP_PG_NONE) {
				snprintf(why, len, "page %zu (state %u, order %u) is a head inside the "
					 "order-%u block (state %u) at page %zu", idx + j,
					 pp_state(t), load_relaxed(&t->order), order, st, idx);
				ok = false;
			}
		}
		idx += pages;
	}
	for (size_t i = 0; ok && i < n; i++) {
		const struct pp_desc *d = &pp_g.desc[i];

		if (load_relaxed(&d->span) && pp_state(d) != PP_PG_USED) {
			snprintf(why, len, "page %zu records a run of %u pages but is not in use "
				 "(state %u)", i, (unsigned)load_relaxed(&d->span), pp_state(d));
			ok = false;
		}
	}
	pp_test_unlock();
	return ok;
}

/*
 * check_ledger() - pp_stats() and the audit agree (committed == free +
 * cached + used + pending + meta, listed == free, no bad descriptor), the
 * heads tile the committed pages, and exactly @runs runs are recorded.
 */
#define check_ledger(runs) check_ledger_at(__FILE__, __LINE__, (runs))
static void check_ledger_at(const char *file, int line, size_t runs)
{
	char why[256];
	size_t spans;

	ck_assert_msg(conservation_ok(why, sizeof(why)), "%s:%d (%s): ledger broken: %s",
		      file, line, where, why);
	ck_assert_msg(tiling_ok(why, sizeof(why), &spans), "%s:%d (%s): blocks broken: %s",
		      file, line, where, why);
	ck_assert_msg(spans == runs, "%s:%d (%s): %zu descriptors record a run length, "
		      "%zu runs are held", file, line, where, spans, runs);
}

/*
 * The @n-page run at @p is cut into blocks from its start, each the largest
 * block aligned to its size (in the address space: the arena is aligned to
 * a max-order block) that fits: each block's first page is an allocated
 * block of that order, every other page of the run heads nothing.  For a
 * run whose start is aligned to 2^floor(log2 n) pages (every new run) these
 * are the blocks of n's binary decomposition, largest first.
 */
static void check_pieces(const char *p, size_t n)
{
	size_t o = 0;

	while (o < n) {
		uintptr_t a = (uintptr_t)(p + o * ps());
		unsigned k = PP_MAX_ORDER;
		size_t pages;
		int got;

		while (k > 0 && ((a & ((ps() << k) - 1)) || o + ((size_t)1 << k) > n))
			k--;
		pages = (size_t)1 << k;
		got = pp_block_order(p + o * ps());
		ck_assert_msg(got == (int)k, "%s: page %zu of the run (a block of %zu pages): "
			      "pp_block_order %d, want %u", where, o, pages, got, k);
		for (size_t j = 1; j < pages; j++) {
			got = pp_block_order(p + (o + j) * ps());
			ck_assert_msg(got == -1, "%s: page %zu of the run, inside a block of %zu "
				      "pages at page %zu, is a block of order %d", where, o + j,
				      pages, o, got);
		}
		o += pages;
	}
}

/* A new (or shrunk) run starts with the largest block of n's decomposition. */
static void check_first_piece(const char *p, size_t n)
{
	int got = pp_block_order(p);

	ck_assert_msg(got == (int)ilog2(n), "%s: the run's first block has order %d, want "
		      "floor(log2 %zu) = %u", where, got, n, ilog2(n));
}

/* Pages [@from, @to) of @p are not allocated blocks (they were given back). */
static void check_given_back(const char *p, size_t from, size_t to)
{
	for (size_t j = from; j < to; j++) {
		int got = pp_block_order(p + j * ps());

		ck_assert_msg(got == -1, "%s: page %zu, beyond the run's %zu pages, is still "
			      "an allocated block of order %d", where, j, from, got);
	}
}

/* ---- every size, every small alignment ---------------------------------- */

/* Allocate, check and free one run of @n pages, filled from @seed. */
static void one_run(size_t n, unsigned align, uint64_t seed)
{
	unsigned want = align > ilog2(n) ? align : ilog2(n);
	size_t before = in_use(), got, bad;
	char *p;

	set_where("pp_exact_alloc(%zu, %u, 0)", n, align);
	errno = 0;
	p = pp_exact_alloc(n, align, 0);
	ck_assert_msg(p != NULL, "%s failed: %s", where, strerror(errno));
	ck_assert_msg(block_aligned(p, want), "%s = %p: not aligned to 2^%u pages", where,
		      (void *)p, want);
	got = pp_exact_pages("test_one_run", p);
	ck_assert_msg(got == n, "%s: pp_exact_pages says %zu", where, got);
	ck_assert_msg(in_use() == before + n, "%s: in_use %zu -> %zu, want +%zu", where,
		      before, in_use(), n);
	fill_run(p, n, seed);
	check_first_piece(p, n);
	check_pieces(p, n);
	check_ledger(1);
	bad = bad_word(p, n, seed);
	ck_assert_msg(bad == SIZE_MAX, "%s: word %zu (page %zu) of the run changed", where,
		      bad, bad == SIZE_MAX ? 0 : bad * 8 / ps());
	pp_exact_free("test_one_run", p);
	ck_assert_msg(in_use() == before, "%s: freed, in_use %zu, was %zu", where, in_use(),
		      before);
	check_ledger(0);
}

START_TEST(test_sizes_aligns)
{
	size_t start = in_use();

	for (size_t i = 0; i < NSIZES; i++)
		for (unsigned a = 0; a <= 4; a++)
			one_run(size_at(i), a, i * 8 + a);
	ck_assert_uint_eq(in_use(), start);
}
END_TEST

/* Alignment beyond the run's own size: up to a whole max-order block. */
START_TEST(test_big_align)
{
	static const size_t ns[] = { 1, 3, 17, 100, 513, 1024 };
	static const unsigned aligns[] = { 5, 7, 9, PP_MAX_ORDER };

	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
		for (size_t j = 0; j < sizeof(aligns) / sizeof(aligns[0]); j++)
			one_run(ns[i], aligns[j], 1000 + i * 8 + j);
	check_ledger(0);
}
END_TEST

/* Many runs held at once: disjoint, each still whole. */
START_TEST(test_many_held)
{
	char *p[NSIZES];
	size_t start = in_use(), total = 0, held = 0;

	for (size_t i = 0; i < NSIZES; i++) {
		size_t n = size_at(i);

		set_where("held run %zu: pp_exact_alloc(%zu, %zu, 0)", i, n, i % 5);
		p[i] = pp_exact_alloc(n, (unsigned)(i % 5), 0);
		ck_assert_msg(p[i] != NULL, "%s failed: %s", where, strerror(errno));
		fill_run(p[i], n, 5000 + i);
		total += n;
		held++;
	}
	set_where("%zu runs held", held);
	ck_assert_uint_eq(in_use(), start + total);
	check_ledger(held);
	for (size_t i = 0; i < NSIZES; i++) {
		size_t bad = bad_word(p[i], size_at(i), 5000 + i);

		ck_assert_msg(bad == SIZE_MAX, "run %zu (%zu pages at %p): word %zu overwritten: "
			      "runs overlap", i, size_at(i), (void *)p[i], bad);
		ck_assert_uint_eq(pp_exact_pages("test_many_held", p[i]), size_at(i));
		set_where("held run %zu of %zu pages", i, size_at(i));
		check_first_piece(p[i], size_at(i));
		check_pieces(p[i], size_at(i));
	}
	/* Free the odd ones, check the rest, then the even ones backwards. */
	for (size_t i = 1; i < NSIZES; i += 2) {
		pp_exact_free("test_many_held", p[i]);
		total -= size_at(i);
		held--;
	}
	set_where("%zu runs held after freeing the odd ones", held);
	ck_assert_uint_eq(in_use(), start + total);
	check_ledger(held);
	for (size_t i = 0; i < NSIZES; i += 2)
		ck_assert_msg(bad_word(p[i], size_at(i), 5000 + i) == SIZE_MAX,
			      "run %zu changed when its neighbours were freed", i);
	for (size_t i = (NSIZES - 1) & ~(size_t)1;; i -= 2) {
		pp_exact_free("test_many_held", p[i]);
		if (i == 0)
			break;
	}
	set_where("all runs freed");
	ck_assert_uint_eq(in_use(), start);
	check_ledger(0);
}
END_TEST

/* ---- the pieces go back to the buddy and coalesce ----------------------- */

START_TEST(test_coalesce)
{
	enum { MAXRUNS = 512 };
	char *p[MAXRUNS];
	size_t nr = 0, total = 0, nblocks, busy = 0;
	uint64_t seed = 0x1234567;
	struct pp_stats s, s2;
	void **blocks;

	/* Runs of every shape over several max-order blocks, half of them short. */
	while (total < 6000 && nr < MAXRUNS) {
		size_t n = 1 + rnd(&seed) % (nr % 2 ? 8 : 300);
		unsigned a = (unsigned)(rnd(&seed) % 5);

		p[nr] = pp_exact_alloc(n, a, 0);
		ck_assert_msg(p[nr] != NULL, "pp_exact_alloc(%zu, %u, 0) failed: %s", n, a,
			      strerror(errno));
		memset(p[nr], 0x77, ps());
		total += n;
		nr++;
	}
	ck_assert_uint_eq(in_use(), total);
	set_where("%zu runs of %zu pages held", nr, total);
	check_ledger(nr);
	/* Free them in a shuffled order. */
	for (size_t i = nr - 1; i > 0; i--) {
		size_t j = rnd(&seed) % (i + 1);
		char *t = p[i];

		p[i] = p[j];
		p[j] = t;
	}
	for (size_t i = 0; i < nr; i++)
		pp_exact_free("test_coalesce", p[i]);
	pp_thread_drain();
	s = get_stats();
	set_where("all runs freed, cache drained");
	ck_assert_uint_eq(s.in_use, 0);
	ck_assert_msg(s.cached == 0 && s.free == s.committed,
		      "after the drain: committed %zu, free %zu, cached %zu", s.committed,
		      s.free, s.cached);
	check_ledger(0);
	/* White-box: no free block below the largest order is left. */
	pp_test_lock();
	for (unsigned k = 0; k < PP_MAX_ORDER; k++)
		busy |= (size_t)(pp_g.head[k] != PP_NIL) << k;
	pp_test_unlock();
	ck_assert_msg(busy == 0, "free lists of orders below %d not empty (bitmap %#zx): "
		      "the pieces did not coalesce", PP_MAX_ORDER, busy);
	/* And so every committed page comes back as a max-order block, no growth. */
	ck_assert_uint_eq(s.committed % ((size_t)1 << PP_MAX_ORDER), 0);
	nblocks = s.committed >> PP_MAX_ORDER;
	blocks = calloc(nblocks, sizeof(*blocks));
	ck_assert_ptr_nonnull(blocks);
	for (size_t i = 0; i < nblocks; i++) {
		blocks[i] = pp_alloc_pages(PP_MAX_ORDER, 0);
		ck_assert_msg(blocks[i] != NULL, "order-%d block %zu of %zu: %s", PP_MAX_ORDER,
			      i, nblocks, strerror(errno));
	}
	s2 = get_stats();
	ck_assert_msg(s2.grows == s.grows && s2.committed == s.committed,
		      "the arena grew (grows %zu -> %zu, committed %zu -> %zu) to find %zu "
		      "order-%d blocks in %zu free pages", s.grows, s2.grows, s.committed,
		      s2.committed, nblocks, PP_MAX_ORDER, s.free);
	for (size_t i = 0; i < nblocks; i++)
		pp_free_pages(blocks[i], PP_MAX_ORDER);
	free(blocks);
	check_ledger(0);
}
END_TEST

/* ---- PP_ZERO -------------------------------------------------------------- */

START_TEST(test_zero_dirty)
{
	static const size_t ns[] = { 1, 2, 3, 5, 7, 8, 13, 31, 64, 100, 255, 500, 1000 };
	enum { CAP_PAGES_MAX = 4096 };
	static unsigned char dirty[CAP_PAGES_MAX];	/* by page index */
	static void *pages[CAP_PAGES_MAX];
	size_t np = 0, seen_dirty = 0, seen = 0;

	/* A small arena, every page of it allocated and dirtied once. */
	configure_two_blocks();
	while (np < CAP_PAGES_MAX && (pages[np] = pp_alloc_page(0)) != NULL) {
		memset(pages[np], 0xA5, ps());
		dirty[pp_index(pages[np])] = 1;
		np++;
	}
	ck_assert_uint_gt(np, PP_EXACT_MAX);
	for (size_t i = 0; i < np; i++)
		pp_free_page(pages[i]);
	pp_thread_drain();
	check_ledger(0);

	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		for (unsigned a = 0; a <= 3; a += 3) {
			size_t n = ns[i], idx, bad, ndirty = 0;
			char *p;

			set_where("pp_exact_alloc(%zu, %u, PP_ZERO) on dirty pages", n, a);
			p = pp_exact_alloc(n, a, PP_ZERO);
			ck_assert_msg(p != NULL, "%s failed: %s", where, strerror(errno));
			idx = pp_index(p);
			for (size_t j = 0; j < n; j++)
				ndirty += dirty[idx + j];
			bad = nonzero_word(p, n * ps());
			ck_assert_msg(bad == SIZE_MAX, "%s: word %zu (page %zu of the run, %s) "
				      "is %#llx, not zero", where, bad, bad * 8 / ps(),
				      dirty[idx + bad * 8 / ps()] ? "dirtied before" : "never dirtied",
				      (unsigned long long)((uint64_t *)p)[bad]);
			/* PP_ZERO zeroes the run only: the page behind it stays as it was. */
			if (n < ((size_t)1 << (a > ilog2_up(n) ? a : ilog2_up(n))) && dirty[idx + n])
				ck_assert_msg(nonzero_word(p + n * ps(), ps()) != SIZE_MAX,
					      "%s: the page behind the run was zeroed too", where);
			ck_assert_uint_eq(pp_exact_pages("test_zero", p), n);
			seen += n;
			seen_dirty += ndirty;
			memset(p, 0x5A, n * ps());
			for (size_t j = 0; j < n; j++)
				dirty[idx + j] = 1;
			pp_exact_free("test_zero", p);
			check_ledger(0);
		}
	}
	/* Only the cache's own storage pages escaped the dirtying. */
	ck_assert_msg(seen_dirty * 10 >= seen * 9, "only %zu of the %zu pages handed out "
		      "with PP_ZERO had been dirtied: the test proved little", seen_dirty, seen);
	ck_assert_uint_eq(in_use(), 0);
}
END_TEST

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

/* ---- flags ---------------------------------------------------------------- */

START_TEST(test_flags)
{
	struct pp_stats s;
	char *p, *big[3];

	/* A fresh pool: PP_TRY and PP_NOWAIT find nothing and commit nothing. */
	errno = 0;
	ck_assert_ptr_null(pp_exact_alloc(5, 0, PP_TRY));
	ck_assert_int_eq(errno, EAGAIN);
	errno = 0;
	ck_assert_ptr_null(pp_exact_alloc(100, 0, PP_NOWAIT | PP_ZERO));
	ck_assert_int_eq(errno, EAGAIN);
	s = get_stats();
	ck_assert_uint_eq(s.committed, 0);
	/* Warm, with room to spare: PP_NOWAIT takes from the lists, no growth. */
	for (int i = 0; i < 3; i++) {
		big[i] = pp_exact_alloc(PP_EXACT_MAX, 0, 0);
		ck_assert_ptr_nonnull(big[i]);
	}
	for (int i = 0; i < 3; i++)
		pp_exact_free("test_flags", big[i]);
	s = get_stats();
	set_where("PP_NOWAIT runs after warming");
	for (size_t n = 1; n <= 200; n += 13) {
		p = pp_exact_alloc(n, 0, PP_NOWAIT | PP_ZERO);
		ck_assert_msg(p != NULL, "pp_exact_alloc(%zu, 0, PP_NOWAIT|PP_ZERO): %s", n,
			      strerror(errno));
		ck_assert_uint_eq(nonzero_word(p, n * ps()), SIZE_MAX);
		ck_assert_uint_eq(pp_exact_pages("test_flags", p), n);
		check_ledger(1);
		pp_exact_free("test_flags", p);
	}
	ck_assert_uint_eq(get_stats().grows, s.grows);
	/* PP_TRY takes no lock: a run longer than the cached blocks never comes. */
	for (size_t n = 9; n <= PP_EXACT_MAX; n *= 3) {
		errno = 0;
		p = pp_exact_alloc(n, 0, PP_TRY);
		ck_assert_msg(p == NULL && errno == EAGAIN, "pp_exact_alloc(%zu, 0, PP_TRY) "
			      "= %p, errno %d: want NULL, EAGAIN", n, (void *)p, errno);
	}
	ck_assert_uint_eq(in_use(), 0);
	check_ledger(0);
}
END_TEST

/* In a child: an unknown flag is refused (with a message) like pp_alloc_pages(). */
static void child_bad_flags(void)
{
	size_t before = get_stats().in_use;
	void *p;
	int e;

	for (unsigned f = 0x8; f <= 0x80000000u && f; f <<= 4) {
		errno = 0;
		p = pp_exact_alloc(2, 0, f | PP_ZERO);
		e = errno;
		if (p != NULL || e != EINVAL || get_stats().in_use != before) {
			dprintf(STDERR_FILENO, "@@FAIL flags %#x: returned %p errno %d (%s)\n",
				f, p, e, strerror(e));
			_exit(1);
		}
	}
}

START_TEST(test_bad_flags)
{
	struct child c;
	char how[128];

	run_child(child_bad_flags, &c, NULL);
	describe(c.status, how, sizeof(how));
	ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0,
		      "pp_exact_alloc(2, 0, unknown flag): want NULL with EINVAL; child %s, "
		      "stderr: \"%.800s\"", how, c.err);
	ck_assert_msg(strstr(c.err, "unknown flags") != NULL,
		      "no message about the unknown flags; stderr: \"%.800s\"", c.err);
}
END_TEST

/* ---- large runs give their pages back at once -------------------------- */

/*
 * Runs too long for the caches (more than 8 pages) are cut and given back
 * under the lock: the pieces coalesce at once, so allocating and freeing
 * them over and over needs no new memory and leaves nothing in the cache.
 * (Shrunk, they stay longer than 8 pages here: a run shrunk to 8 pages or
 * fewer goes back through the cache.)
 */
START_TEST(test_large_no_growth)
{
	static const size_t ns[] = { 9, 100, 129, 300, 513, 700, 1000, 1023, 1024 };
	struct pp_stats s0, s1;
	char *p, *q;

	/* Warm once: the arena holds two max-order blocks' worth. */
	p = pp_exact_alloc(PP_EXACT_MAX, 0, 0);
	q = pp_exact_alloc(PP_EXACT_MAX, 0, 0);
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(q);
	pp_exact_free("test_large", p);
	pp_exact_free("test_large", q);
	s0 = get_stats();
	for (int round = 0; round < 40; round++) {
		for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
			size_t n = ns[i], m = ns[(i + 3) % (sizeof(ns) / sizeof(ns[0]))];

			set_where("round %d: runs of %zu and %zu", round, n, m);
			p = pp_exact_alloc(n, (unsigned)(round % 3), 0);
			q = pp_exact_alloc(m, 0, 0);
			ck_assert_msg(p && q, "%s: %s", where, strerror(errno));
			if (round % 4 == 1)	/* still a large run */
				pp_exact_shrink("test_large", p, n / 2 > 9 ? n / 2 : 9);
			pp_exact_free("test_large", q);
			pp_exact_free("test_large", p);
		}
	}
	s1 = get_stats();
	ck_assert_msg(s1.grows == s0.grows && s1.committed == s0.committed,
		      "repeated large runs grew the arena: grows %zu -> %zu, committed %zu -> %zu",
		      s0.grows, s1.grows, s0.committed, s1.committed);
	ck_assert_msg(s1.cached == s0.cached, "large runs left pages in the cache: "
		      "cached %zu -> %zu", s0.cached, s1.cached);
	ck_assert_uint_eq(s1.in_use, 0);
	check_ledger(0);
}
END_TEST

/* ---- out of memory -------------------------------------------------------- */

START_TEST(test_cap_enomem)
{
	enum { MAXRUNS = 64 };
	char *p[MAXRUNS];
	size_t nr = 0, nr2 = 0, total = 0;
	int e;

	configure_two_blocks();
	for (;;) {
		ck_assert_uint_lt(nr, MAXRUNS);
		errno = 0;
		p[nr] = pp_exact_alloc(1000, 0, 0);
		if (!p[nr])
			break;
		fill_run(p[nr], 1000, nr);
		total += 1000;
		nr++;
	}
	e = errno;
	ck_assert_msg(e == ENOMEM, "capped pp_exact_alloc(1000) failed with errno %d (%s), "
		      "want ENOMEM", e, strerror(e));
	ck_assert_uint_eq(nr, 2);
	set_where("%zu runs of 1000 pages at the cap", nr);
	ck_assert_uint_eq(in_use(), total);
	check_ledger(nr);
	/* The pages behind the runs still serve short runs. */
	p[nr] = pp_exact_alloc(16, 0, 0);
	ck_assert_msg(p[nr] != NULL, "at the cap: no run of 16 pages: %s", strerror(errno));
	ck_assert_uint_eq(get_stats().grow_fails > 0, 1);
	for (size_t i = 0; i < nr; i++)
		ck_assert_uint_eq(bad_word(p[i], 1000, i), SIZE_MAX);
	for (size_t i = 0; i <= nr; i++)
		pp_exact_free("test_cap", p[i]);
	ck_assert_uint_eq(in_use(), 0);
	check_ledger(0);
	/* Nothing was lost: as many can be had again. */
	while ((p[nr2] = pp_exact_alloc(1000, 0, 0)) != NULL)
		nr2++;
	ck_assert_msg(nr2 == nr, "after freeing, %zu runs of 1000 fit; before, %zu", nr2, nr);
	for (size_t i = 0; i < nr2; i++)
		pp_exact_free("test_cap", p[i]);
	check_ledger(0);
}
END_TEST

/* ---- bad arguments: EINVAL ---------------------------------------------- */

static const struct {
	size_t npages;
	unsigned align;
} einval_cases[] = {
	{ 0, 0 }, { 0, 3 }, { PP_EXACT_MAX + 1, 0 }, { SIZE_MAX, 0 },
	{ 1, PP_MAX_ORDER + 1 }, { 5, PP_MAX_ORDER + 1 }, { 100, PP_MAX_ORDER + 1 },
	{ PP_EXACT_MAX, PP_MAX_ORDER + 1 }, { 1, UINT_MAX }, { 100, UINT_MAX },
};
static size_t einval_case;

/* In a child: a sanitizer report on the way would fail it too. */
static void child_einval(void)
{
	size_t n = einval_cases[einval_case].npages;
	unsigned a = einval_cases[einval_case].align;
	size_t before = get_stats().in_use;
	void *p;
	int e;

	errno = 0;
	p = pp_exact_alloc(n, a, 0);
	e = errno;
	if (p != NULL || e != EINVAL || get_stats().in_use != before) {
		dprintf(STDERR_FILENO, "@@FAIL returned %p errno %d (%s), in_use %zu -> %zu\n",
			p, e, strerror(e), before, get_stats().in_use);
		_exit(1);
	}
}

START_TEST(test_einval)
{
	/* Warm the pool so that a bad call cannot hide behind initialisation. */
	void *p = pp_exact_alloc(1, 0, 0);

	ck_assert_ptr_nonnull(p);
	for (einval_case = 0; einval_case < sizeof(einval_cases) / sizeof(einval_cases[0]);
	     einval_case++) {
		struct child c;
		char how[128];

		run_child(child_einval, &c, NULL);
		describe(c.status, how, sizeof(how));
		ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0,
			      "pp_exact_alloc(%zu, %u, 0): want NULL with EINVAL; child %s, "
			      "stderr: \"%.800s\"", einval_cases[einval_case].npages,
			      einval_cases[einval_case].align, how, c.err);
	}
	pp_exact_free("test_einval", p);
	check_ledger(0);
}
END_TEST

/* ---- bad pointers: report naming the caller, abort ------------------------ */

/* In a child: a run, or exit 98. */
static char *must_run(size_t n)
{
	char *p = pp_exact_alloc(n, 0, 0);

	if (!p) {
		dprintf(STDERR_FILENO, "@@SETUP pp_exact_alloc(%zu) failed\n", n);
		_exit(98);
	}
	return p;
}

static void ok_free_run(void)
{
	char *p = must_run(5);

	mark(p);
	if (pp_exact_pages("xsize_ok", p) != 5)
		_exit(1);
	pp_exact_shrink("xshrink_ok", p, 2);
	pp_exact_free("xfree_ok", p);
	p = must_run(PP_EXACT_MAX);
	pp_exact_free("xfree_ok", p);
}

static void bad_interior_tail(void)
{
	char *p = must_run(5);

	mark(p + ps());			/* inside the run's first piece */
	pp_exact_free("xfree_interior_tail", p + ps());
}

static void bad_interior_piece(void)
{
	char *p = must_run(5);

	mark(p + 4 * ps());		/* heads the run's second piece */
	pp_exact_free("xfree_interior_piece", p + 4 * ps());
}

static void bad_interior_piece_big(void)
{
	char *p = must_run(100);

	mark(p + 96 * ps());		/* heads the run's last piece (4 pages) */
	pp_exact_free("xfree_interior_big", p + 96 * ps());
}

static void bad_double_free(void)
{
	char *p = must_run(5);

	pp_exact_free("xfree_first", p);
	mark(p);
	pp_exact_free("xfree_double", p);
}

static void bad_double_free_drained(void)
{
	char *p = must_run(3);

	pp_exact_free("xfree_first", p);
	pp_thread_drain();		/* its pieces coalesced on the free lists */
	mark(p);
	pp_exact_free("xfree_double_drained", p);
}

static void bad_double_free_max(void)
{
	char *p = must_run(PP_EXACT_MAX);

	pp_exact_free("xfree_first", p);
	mark(p);
	pp_exact_free("xfree_double_max", p);
}

static void bad_double_free_shrunk(void)
{
	char *p = must_run(9);

	pp_exact_shrink("xshrink_first", p, 4);
	pp_exact_free("xfree_first", p);
	mark(p);
	pp_exact_free("xfree_double_shrunk", p);
}

static void bad_plain_page(void)
{
	void *p = must_alloc(0);

	mark(p);
	pp_exact_free("xfree_plain_page", p);
}

static void bad_plain_block(void)
{
	void *p = must_alloc(3);

	mark(p);
	pp_exact_free("xfree_plain_block", p);
}

/* A plain block where a run just was: the run's length must be forgotten. */
static void bad_plain_after_run(void)
{
	char *p = must_run(5), *q;

	pp_exact_free("xfree_first", p);
	q = must_alloc(2);		/* most likely the run's first piece again */
	if (q != p)
		dprintf(STDERR_FILENO, "@@NOTE the order-2 block is not the old run\n");
	mark(q);
	pp_exact_free("xfree_plain_after_run", q);
}

static void bad_pages_misaligned(void)
{
	char *p = must_run(5);

	mark(p + 8);
	pp_exact_pages("xsize_misaligned", p + 8);
}

static void bad_pages_interior(void)
{
	char *p = must_run(7);

	mark(p + 6 * ps());
	pp_exact_pages("xsize_interior", p + 6 * ps());
}

static void bad_shrink_plain(void)
{
	void *p = must_alloc(2);

	mark(p);
	pp_exact_shrink("xshrink_plain", p, 1);
}

static void bad_grow_interior(void)
{
	char *p = must_run(100);

	mark(p + 64 * ps());
	pp_exact_grow("xgrow_interior", p + 64 * ps(), 200);
}

static void bad_grow_freed(void)
{
	char *p = must_run(20);

	pp_exact_free("xfree_first", p);
	mark(p);
	pp_exact_grow("xgrow_freed", p, 30);
}

/* One piece of a run freed behind its back: the run is no longer whole. */
static void bad_piece_freed(void)
{
	char *p = must_run(5);

	pp_free_page(p + 4 * ps());	/* the run's last piece, a valid page */
	mark(p);
	pp_exact_free("xfree_piece_gone", p);
}

static void bad_piece_freed_large(void)
{
	char *p = must_run(100);

	pp_free_pages(p + 64 * ps(), 5);	/* the run's second piece */
	mark(p);
	pp_exact_pages("xsize_piece_gone", p);
}

static void bad_free_stack(void)
{
	char local[64];

	must_run(1);
	mark(local);
	pp_exact_free("xfree_stack", local);
}

START_TEST(test_bad_pointers)
{
	expect_survive(ok_free_run, "valid pp_exact_pages/shrink/free");
	expect_abort(bad_interior_tail, "xfree_interior_tail", NULL, true);
	expect_abort(bad_interior_piece, "xfree_interior_piece", NULL, true);
	expect_abort(bad_interior_piece_big, "xfree_interior_big", NULL, true);
	expect_abort(bad_double_free, "xfree_double", NULL, true);
	expect_abort(bad_double_free_drained, "xfree_double_drained", NULL, true);
	expect_abort(bad_double_free_max, "xfree_double_max", NULL, true);
	expect_abort(bad_double_free_shrunk, "xfree_double_shrunk", NULL, true);
	expect_abort(bad_plain_page, "xfree_plain_page", NULL, true);
	expect_abort(bad_plain_block, "xfree_plain_block", NULL, true);
	expect_abort(bad_plain_after_run, "xfree_plain_after_run", NULL, true);
	expect_abort(bad_pages_misaligned, "xsize_misaligned", NULL, true);
	expect_abort(bad_pages_interior, "xsize_interior", NULL, true);
	expect_abort(bad_shrink_plain, "xshrink_plain", NULL, true);
	expect_abort(bad_grow_interior, "xgrow_interior", NULL, true);
	expect_abort(bad_grow_freed, "xgrow_freed", NULL, true);
	expect_abort(bad_free_stack, "xfree_stack", NULL, true);
	/* The report may name the piece rather than the run: no address check. */
	expect_abort(bad_piece_freed, "xfree_piece_gone", NULL, false);
	expect_abort(bad_piece_freed_large, "xsize_piece_gone", NULL, false);
}
END_TEST

/* ---- threads: allocated on one, freed on another ------------------------- */

#define NTHREADS	4
#define RUNS_PER_THREAD	2500	/* an allocation and a free each: 20000 operations */
#define QUEUE_MAX	64

/* Lives in the first page of a run in flight. */
struct run_link {
	struct run_link *next;
	size_t n;
	uint64_t tag;
	unsigned producer;
};

struct run_queue {
	pthread_mutex_t lock;
	struct run_link *head, *tail;
	size_t len;
};

struct worker {
	unsigned id;
	uint64_t seed;
	size_t consumed, foreign, shrunk, grown;
	char err[256];
};

static struct run_queue queues[NTHREADS];
static unsigned producers_done;
static bool stop_all;

static void worker_fail(struct worker *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void worker_fail(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	if (!w->err[0]) {
		va_start(ap, fmt);
		vsnprintf(w->err, sizeof(w->err), fmt, ap);
		va_end(ap);
	}
	__atomic_store_n(&stop_all, true, __ATOMIC_RELAXED);
}

static bool queue_push(struct run_queue *q, struct run_link *r)
{
	bool ok;

	pthread_mutex_lock(&q->lock);
	ok = q->len < QUEUE_MAX;
	if (ok) {
		r->next = NULL;
		if (q->tail)
			q->tail->next = r;
		else
			q->head = r;
		q->tail = r;
		q->len++;
	}
	pthread_mutex_unlock(&q->lock);
	return ok;
}

static struct run_link *queue_pop(struct run_queue *q)
{
	struct run_link *r;

	pthread_mutex_lock(&q->lock);
	r = q->head;
	if (r) {
		q->head = r->next;
		if (!q->head)
			q->tail = NULL;
		q->len--;
	}
	pthread_mutex_unlock(&q->lock);
	return r;
}

/* Tag every page of a run but the first (which holds the link). */
static void tag_run(struct run_link *r)
{
	for (size_t j = 1; j < r->n; j++)
		memcpy((char *)r + j * ps(), &r->tag, sizeof(r->tag));
}

static bool run_tagged(const struct run_link *r, size_t *bad_page)
{
	for (size_t j = 1; j < r->n; j++) {
		uint64_t t;

		memcpy(&t, (const char *)r + j * ps(), sizeof(t));
		if (t != r->tag) {
			*bad_page = j;
			return false;
		}
	}
	return true;
}

/* Check and free one run from @q (maybe shrinking it first). */
static bool consume_one(struct worker *w, struct run_queue *q)
{
	struct run_link *r = queue_pop(q);
	size_t n, got, bad = 0;

	if (!r)
		return false;
	n = r->n;
	got = pp_exact_pages("thread_pages", r);
	if (got != n)
		worker_fail(w, "run %p from thread %u: pp_exact_pages %zu, made with %zu",
			    (void *)r, r->producer, got, n);
	if (!run_tagged(r, &bad))
		worker_fail(w, "run %p of %zu pages from thread %u: page %zu overwritten "
			    "(runs overlap)", (void *)r, n, r->producer, bad);
	w->foreign += r->producer != w->id;
	if (n > 1 && rnd(&w->seed) % 4 == 0) {
		size_t m = 1 + rnd(&w->seed) % (n - 1);

		pp_exact_shrink("thread_shrink", r, m);
		got = pp_exact_pages("thread_pages", r);
		if (got != m)
			worker_fail(w, "run of %zu shrunk to %zu: pp_exact_pages %zu", n, m, got);
		w->shrunk++;
		n = m;
	}
	if (n < 40 && rnd(&w->seed) % 4 == 0) {
		size_t m = n + 1 + rnd(&w->seed) % 24;

		if (pp_exact_grow("thread_grow", r, m)) {
			got = pp_exact_pages("thread_pages", r);
			if (got != m)
				worker_fail(w, "run of %zu grown to %zu: pp_exact_pages %zu", n,
					    m, got);
			memset((char *)r + n * ps(), 0x6b, (m - n) * ps());
			w->grown++;
		}
	}
	pp_exact_free("thread_free", r);
	w->consumed++;
	return true;
}

static void *exact_worker(void *arg)
{
	struct worker *w = arg;
	struct run_queue *in = &queues[w->id], *out = &queues[(w->id + 1) % NTHREADS];

	for (size_t i = 0; i < RUNS_PER_THREAD; i++) {
		size_t n = 1 + rnd(&w->seed) % 40;
		unsigned a = (unsigned)(rnd(&w->seed) % 3);
		struct run_link *r;

		if (__atomic_load_n(&stop_all, __ATOMIC_RELAXED))
			break;
		r = pp_exact_alloc(n, a, 0);
		if (!r) {
			worker_fail(w, "pp_exact_alloc(%zu, %u, 0): %s", n, a, strerror(errno));
			break;
		}
		if (!block_aligned(r, a))
			worker_fail(w, "pp_exact_alloc(%zu, %u, 0) = %p: misaligned", n, a,
				    (void *)r);
		r->n = n;
		r->tag = ((uint64_t)w->id << 32 | i) * 0x9E3779B97F4A7C15ULL;
		r->producer = w->id;
		tag_run(r);
		/* The next thread frees it; while its queue is full, free ours. */
		while (!queue_push(out, r)) {
			if (__atomic_load_n(&stop_all, __ATOMIC_RELAXED)) {
				pp_exact_free("thread_free", r);
				break;
			}
			if (!consume_one(w, in))
				sched_yield();
		}
		consume_one(w, in);
	}
	__atomic_add_fetch(&producers_done, 1, __ATOMIC_SEQ_CST);
	for (;;) {
		if (consume_one(w, in))
			continue;
		if (__atomic_load_n(&producers_done, __ATOMIC_SEQ_CST) == NTHREADS)
			break;
		sched_yield();
	}
	while (consume_one(w, in))	/* pushed before the last producer finished */
		;
	return NULL;
}

START_TEST(test_threads)
{
	struct worker w[NTHREADS];
	pthread_t t[NTHREADS];
	size_t start, consumed = 0, foreign = 0, shrunk = 0, grown = 0;

	start = in_use();
	for (unsigned i = 0; i < NTHREADS; i++) {
		pthread_mutex_init(&queues[i].lock, NULL);
		queues[i].head = queues[i].tail = NULL;
		queues[i].len = 0;
		memset(&w[i], 0, sizeof(w[i]));
		w[i].id = i;
		w[i].seed = 0x9E3779B97F4A7C15ULL * (i + 1);
	}
	for (unsigned i = 0; i < NTHREADS; i++)
		t[i] = spawn(exact_worker, &w[i]);
	for (unsigned i = 0; i < NTHREADS; i++)
		join(t[i]);
	for (unsigned i = 0; i < NTHREADS; i++) {
		ck_assert_msg(!w[i].err[0], "thread %u: %s", i, w[i].err);
		ck_assert_ptr_null(queues[i].head);
		consumed += w[i].consumed;
		foreign += w[i].foreign;
		shrunk += w[i].shrunk;
		grown += w[i].grown;
	}
	ck_assert_uint_eq(consumed, NTHREADS * RUNS_PER_THREAD);
	ck_assert_msg(foreign == consumed, "only %zu of %zu runs freed on another thread",
		      foreign, consumed);
	ck_assert_uint_gt(shrunk, 0);
	ck_assert_uint_gt(grown, 0);
	set_where("after %zu runs over %d threads", consumed, NTHREADS);
	ck_assert_msg(in_use() == start, "in_use %zu after all runs were freed, was %zu",
		      in_use(), start);
	check_ledger(0);
	for (unsigned i = 0; i < NTHREADS; i++)
		pthread_mutex_destroy(&queues[i].lock);
}
END_TEST

static Suite *exact_suite(void)
{
	Suite *s = suite_create("exact");
	TCase *tc = new_tcase("exact");

	tcase_add_test(tc, test_sizes_aligns);
	tcase_add_test(tc, test_big_align);
	tcase_add_test(tc, test_many_held);
	tcase_add_test(tc, test_coalesce);
	tcase_add_test(tc, test_zero_dirty);
	tcase_add_test(tc, test_shrink);
	tcase_add_test(tc, test_shrink_chain);
	tcase_add_test(tc, test_shrink_noop);
	tcase_add_test(tc, test_grow);
	tcase_add_test(tc, test_grow_random);
	tcase_add_test(tc, test_flags);
	tcase_add_test(tc, test_bad_flags);
	tcase_add_test(tc, test_large_no_growth);
	tcase_add_test(tc, test_cap_enomem);
	tcase_add_test(tc, test_einval);
	tcase_add_test(tc, test_bad_pointers);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(exact_suite());
}
