/* SPDX-License-Identifier: MIT */
/*
 * reuse.c - memory that comes back: PP_ZERO on reused blocks, the buddies
 * coalescing to max-order blocks, and the cap reusing what the caches hold.
 */
#include "arena.h"

/* ---- PP_ZERO on reused memory ----------------------------------------- */

/*
 * Allocate with PP_ZERO, check zero, dirty it, free it; repeat until a block
 * comes back that was dirtied before (only then does the test prove
 * anything: fresh mmap memory is zero anyway).
 */
static void zero_reuse(unsigned order)
{
	enum { ROUNDS = 24 + 64 };	/* past the quarantine of tracking mode (lib/track.c) */
	void *seen[ROUNDS];
	size_t nseen = 0, len = block_bytes(order);
	unsigned reused = 0;

	for (unsigned r = 0; r < ROUNDS && reused < 3; r++) {
		void *p = pp_alloc_pages(order, PP_ZERO);

		ck_assert_msg(p != NULL, "order %u: NULL (%s)", order,
			      strerror(errno));
		ck_assert(block_aligned(p, order));
		for (size_t i = 0; i < nseen; i++)
			if (seen[i] == p) {
				reused++;
				break;
			}
		ck_assert_msg(all_zero(p, len),
			      "order %u round %u: PP_ZERO block %p is not zero%s",
			      order, r, p, reused ? " (reused block)" : "");
		memset(p, 0xA5, len);
		seen[nseen++] = p;
		pp_free_pages(p, order);
	}
	ck_assert_msg(reused > 0,
		      "order %u: never got a dirtied block back; cannot test zeroing",
		      order);
	check_conservation();
}

START_TEST(test_zero_reused_small)
{
	for (unsigned o = 0; o < PP_CACHE_ORDERS; o++)
		zero_reuse(o);
}
END_TEST

START_TEST(test_zero_reused_large)
{
	zero_reuse(6);
	zero_reuse(PP_MAX_ORDER);
}
END_TEST

/* PP_ZERO combined with PP_TRY / PP_NOWAIT: the cache's dirty page is zeroed. */
START_TEST(test_zero_with_modes)
{
	static const unsigned modes[] = { PP_TRY, PP_NOWAIT, 0 };
	size_t len = ps();

	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		char *p = pp_alloc_page(0);
		char *q;

		ck_assert_ptr_nonnull(p);
		memset(p, 0x5A, len);
		pp_free_page(p);	/* into this thread's cache */
		errno = 0;
		q = pp_alloc_page(modes[m] | PP_ZERO);
		ck_assert_msg(q != NULL, "mode %#x|PP_ZERO after a free: NULL (%s)",
			      modes[m], strerror(errno));
		ck_assert_msg(all_zero(q, len), "mode %#x|PP_ZERO: page %p not zero%s",
			      modes[m], (void *)q, q == p ? " (the dirtied page)" : "");
		pp_free_page(q);
	}
	check_conservation();
}
END_TEST

/* ---- coalescing ---------------------------------------------------------- */

START_TEST(test_coalesce_to_max_order)
{
	const size_t blk = block_bytes(PP_MAX_ORDER), npages = blk / ps();
	char conf[64];
	void **v = calloc(npages + 1, sizeof(*v));
	struct pp_stats s;
	size_t n;
	void *big;

	ck_assert_ptr_nonnull(v);
	snprintf(conf, sizeof(conf), "cap=%zuK", blk >> 10);
	ck_assert_int_eq(pp_configure(conf), 0);
	n = fill_order0(v, npages + 1);
	ck_assert_msg(n >= npages / 2, "only %zu pages under a one-block cap", n);
	check_conservation();
	/* Free in a scattered order: odd indices, then even, backwards. */
	for (size_t i = 1; i < n; i += 2)
		pp_free_page(v[i]);
	for (size_t i = (n - 1) & ~(size_t)1;; i -= 2) {
		pp_free_page(v[i]);
		if (i < 2)
			break;
	}
	pp_thread_drain();
	s = get_stats();
	ck_assert_uint_eq(s.in_use, 0);
	ck_assert_msg(s.cached == 0 && s.cache_meta == 0,
		      "pp_thread_drain left cached %zu (meta %zu)", s.cached,
		      s.cache_meta);
	ck_assert_uint_eq(s.free, s.committed);
	check_conservation();

	errno = 0;
	big = pp_alloc_pages(PP_MAX_ORDER, 0);
	ck_assert_msg(big != NULL,
		      "max-order block after freeing everything: NULL (%s); buddy did not coalesce",
		      strerror(errno));
	ck_assert(block_aligned(big, PP_MAX_ORDER));
	memset(big, 1, blk);
	s = get_stats();
	ck_assert_uint_eq(s.in_use, npages);
	ck_assert_uint_le(s.committed * ps(), blk);
	check_conservation();
	pp_free_pages(big, PP_MAX_ORDER);
	check_conservation();
	free(v);
}
END_TEST

/*
 * flags 0 fails only when no memory exists: under a cap, after order-0 pages
 * are freed into this thread's cache, order-1 blocks can still be had from
 * that memory (the cache is given back to coalesce before ENOMEM).
 */
START_TEST(test_cap_reuses_cached_memory)
{
	const size_t cap = 8 * MIB, max = cap / ps() + 1;
	void **v = calloc(max, sizeof(*v));
	struct pp_stats s;
	size_t n, nb = 0, left;

	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(pp_configure("cap=8M"), 0);
	n = fill_order0(v, max);
	for (size_t i = 0; i < n; i++)
		pp_free_page(v[i]);
	ck_assert_uint_gt(cached_pages(), 0);
	for (;;) {
		void *p;

		errno = 0;
		p = pp_alloc_pages(1, 0);
		if (!p)
			break;
		ck_assert_uint_lt(nb, max);
		v[nb++] = p;
	}
	ck_assert_int_eq(errno, ENOMEM);
	s = get_stats();
	left = s.free + s.cached - s.cache_meta;
	ck_assert_msg(left <= 4,
		      "order 1 failed with ENOMEM while %zu pages were free or cached "
		      "(free %zu, cached %zu, meta %zu, %zu blocks had)",
		      left, s.free, s.cached, s.cache_meta, nb);
	ck_assert_uint_le(s.committed * ps(), cap);
	check_conservation();
	for (size_t i = 0; i < nb; i++)
		pp_free_pages(v[i], 1);
	check_conservation();
	free(v);
}
END_TEST

/* ---- into the test case ----------------------------------------------- */

void add_reuse_tests(TCase *tc)
{
	tcase_add_test(tc, test_zero_reused_small);
	tcase_add_test(tc, test_zero_reused_large);
	tcase_add_test(tc, test_zero_with_modes);
	tcase_add_test(tc, test_coalesce_to_max_order);
	tcase_add_test(tc, test_cap_reuses_cached_memory);
}
