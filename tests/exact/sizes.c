/* SPDX-License-Identifier: MIT */
/*
 * sizes.c - every run length with every small alignment, many runs held at
 * once, the pieces going back to the buddy allocator and coalescing, and
 * PP_ZERO on reused memory.
 */
#include "exact.h"

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
			/* PP_ZERO zeroes the run only: the page behind it stays as it was
			 * (free: an ASan build poisons it, lib/track.h). */
#ifndef __SANITIZE_ADDRESS__
			if (n < ((size_t)1 << (a > ilog2_up(n) ? a : ilog2_up(n))) && dirty[idx + n])
				ck_assert_msg(nonzero_word(p + n * ps(), ps()) != SIZE_MAX,
					      "%s: the page behind the run was zeroed too", where);
#endif
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

/* ---- into the test case ----------------------------------------------- */

void add_sizes_tests(TCase *tc)
{
	tcase_add_test(tc, test_sizes_aligns);
	tcase_add_test(tc, test_big_align);
	tcase_add_test(tc, test_many_held);
	tcase_add_test(tc, test_coalesce);
	tcase_add_test(tc, test_zero_dirty);
}
