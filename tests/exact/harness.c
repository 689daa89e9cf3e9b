/* SPDX-License-Identifier: MIT */
/*
 * harness.c - test_exact's shared part and main(): sizes, what the current
 * check is about (where), run contents, and the white-box checks that
 * exact.h declares; the suite, one test case made of each file's tests.
 */
#include "exact.h"

/* ---- sizes and messages ------------------------------------------------ */

unsigned ilog2(size_t n)
{
	unsigned k = 0;

	while (n >>= 1)
		k++;
	return k;
}

unsigned ilog2_up(size_t n)
{
	unsigned k = ilog2(n);

	return ((size_t)1 << k) < n ? k + 1 : k;
}

size_t size_at(size_t i)
{
	return i < NSMALL ? i + 1 : big_sizes[i - NSMALL];
}

/* A cap of two max-order blocks, whatever the page size. */
void configure_two_blocks(void)
{
	char conf[64];

	snprintf(conf, sizeof(conf), "cap=%zu", 2 * (ps() << PP_MAX_ORDER));
	ck_assert_int_eq(pp_configure(conf), 0);
}

/* What the current check is about, for failure messages. */
char where[160];

void set_where(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(where, sizeof(where), fmt, ap);
	va_end(ap);
}

/* ---- contents ------------------------------------------------------------ */

uint64_t pattern(uint64_t seed, size_t k)
{
	return ((seed << 24) + k) * 0x9E3779B97F4A7C15ULL | 1;	/* never 0 */
}

/* Write every byte of the @n-page run at @p (word by word). */
void fill_run(void *p, size_t n, uint64_t seed)
{
	uint64_t *w = p;
	size_t words = n * ps() / sizeof(*w);

	for (size_t k = 0; k < words; k++)
		w[k] = pattern(seed, k);
}

/* The first word of [@p, @n pages) that fill_run() did not leave, or SIZE_MAX. */
size_t bad_word(const void *p, size_t n, uint64_t seed)
{
	const uint64_t *w = p;
	size_t words = n * ps() / sizeof(*w);

	for (size_t k = 0; k < words; k++)
		if (w[k] != pattern(seed, k))
			return k;
	return SIZE_MAX;
}

/* The first nonzero word of [@p, @len bytes), or SIZE_MAX. */
size_t nonzero_word(const void *p, size_t len)
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
bool tiling_ok(char *why, size_t len, size_t *spans)
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
void check_ledger_at(const char *file, int line, size_t runs)
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
void check_pieces(const char *p, size_t n)
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
void check_first_piece(const char *p, size_t n)
{
	int got = pp_block_order(p);

	ck_assert_msg(got == (int)ilog2(n), "%s: the run's first block has order %d, want "
		      "floor(log2 %zu) = %u", where, got, n, ilog2(n));
}

/* Pages [@from, @to) of @p are not allocated blocks (they were given back). */
void check_given_back(const char *p, size_t from, size_t to)
{
	for (size_t j = from; j < to; j++) {
		int got = pp_block_order(p + j * ps());

		ck_assert_msg(got == -1, "%s: page %zu, beyond the run's %zu pages, is still "
			      "an allocated block of order %d", where, j, from, got);
	}
}

/* ---- the suite ----------------------------------------------------------- */

static Suite *exact_suite(void)
{
	Suite *s = suite_create("exact");
	TCase *tc = new_tcase("exact");

	add_sizes_tests(tc);
	add_resize_tests(tc);
	add_flags_tests(tc);
	add_badptr_tests(tc);
	add_threads_tests(tc);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(exact_suite());
}
