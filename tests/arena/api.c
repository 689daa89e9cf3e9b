/* SPDX-License-Identifier: MIT */
/*
 * api.c - the public API's plain contracts: the page size, every order
 * aligned and writable, blocks disjoint, bad orders and flags refused (and
 * the message naming the call), pp_owns() and pp_block_order(), NULL frees
 * and pp_stats()'s out_size.
 */
#include "arena.h"

/* ---- page size ---------------------------------------------------------- */

START_TEST(test_page_size)
{
	long sys = sysconf(_SC_PAGESIZE);
	struct pp_stats s;

	ck_assert_int_gt(sys, 0);
	ck_assert_uint_eq(pp_page_size(), (size_t)sys);
	ck_assert_uint_eq(pp_page_size() & (pp_page_size() - 1), 0);
	/* "does not initialise the pool": configuration is still possible. */
	ck_assert_msg(pp_configure("cap=64M") == 0,
		      "pp_page_size() initialised the pool (pp_configure: %s)",
		      strerror(errno));
	s = get_stats();
	ck_assert_uint_eq(s.page_size, (size_t)sys);
}
END_TEST

/* ---- alignment, length, disjointness ------------------------------------ */

START_TEST(test_all_orders_aligned_writable)
{
	struct blk b[PP_MAX_ORDER + 1];
	size_t pages = 0;

	for (unsigned o = 0; o <= PP_MAX_ORDER; o++) {
		struct pp_stats s;

		errno = 0;
		b[o].p = pp_alloc_pages(o, 0);
		b[o].order = o;
		ck_assert_msg(b[o].p != NULL, "order %u: NULL (%s)", o,
			      strerror(errno));
		ck_assert_msg(block_aligned(b[o].p, o),
			      "order %u block %p not aligned to %zu", o,
			      (void *)b[o].p, block_bytes(o));
		/* Writable over its whole length. */
		memset(b[o].p, 0x40 + (int)o, block_bytes(o));
		pages += (size_t)1 << o;
		s = get_stats();
		ck_assert_uint_eq(s.in_use, pages);
	}
	check_disjoint(b, PP_MAX_ORDER + 1);
	/* Nothing written to one block landed in another. */
	for (unsigned o = 0; o <= PP_MAX_ORDER; o++)
		ck_assert_msg(all_byte(b[o].p, block_bytes(o), 0x40 + o),
			      "order %u block %p was overwritten", o,
			      (void *)b[o].p);
	check_conservation();
	for (unsigned o = 0; o <= PP_MAX_ORDER; o++)
		pp_free_pages(b[o].p, o);
	ck_assert_uint_eq(get_stats().in_use, 0);
	check_conservation();
}
END_TEST

START_TEST(test_mixed_orders_disjoint)
{
	static const unsigned orders[] = {
		0, 3, 1, 5, 0, 2, PP_MAX_ORDER, 4, 0, 7, 1, 0, 2, 6, 3, 0,
		9, 0, 1, 8, 2, 0, 0, 3, 5, 1, 0, 4, 2, 0, 1, 0,
	};
	enum { N = sizeof(orders) / sizeof(orders[0]) };
	struct blk b[N + N / 2];
	size_t n = 0;
	uint64_t seed = 0x1234567;

	for (size_t i = 0; i < N; i++) {
		b[n].order = orders[i];
		b[n].p = pp_alloc_pages(orders[i], 0);
		ck_assert_ptr_nonnull(b[n].p);
		ck_assert(block_aligned(b[n].p, orders[i]));
		tag_block(b[n].p, b[n].order, 0xb10c0000 + n);
		n++;
	}
	check_disjoint(b, n);
	check_conservation();

	/* Free every other block, allocate again, and recheck everything. */
	for (size_t i = 0; i < n; i += 2) {
		pp_free_pages(b[i].p, b[i].order);
		b[i].p = NULL;
	}
	for (size_t i = 0; i < n; i += 2) {
		b[i].order = (unsigned)(rnd(&seed) % 8);
		b[i].p = pp_alloc_pages(b[i].order, 0);
		ck_assert_ptr_nonnull(b[i].p);
		ck_assert(block_aligned(b[i].p, b[i].order));
		tag_block(b[i].p, b[i].order, 0xb10c0000 + i);
	}
	while (n < N + N / 2) {
		b[n].order = (unsigned)(rnd(&seed) % 4);
		b[n].p = pp_alloc_pages(b[n].order, 0);
		ck_assert_ptr_nonnull(b[n].p);
		tag_block(b[n].p, b[n].order, 0xb10c0000 + n);
		n++;
	}
	check_disjoint(b, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(tag_ok(b[i].p, b[i].order, 0xb10c0000 + i),
			      "block %zu (%p, order %u) was overwritten", i,
			      (void *)b[i].p, b[i].order);
	check_conservation();
	for (size_t i = 0; i < n; i++)
		pp_free_pages(b[i].p, b[i].order);
	ck_assert_uint_eq(get_stats().in_use, 0);
	check_conservation();
}
END_TEST

/* ---- bad order / flags --------------------------------------------------- */

START_TEST(test_bad_order)
{
	static const unsigned bad[] = { PP_MAX_ORDER + 1, 32, 63, 64, UINT_MAX };
	static const unsigned modes[] = { 0, PP_ZERO, PP_NOWAIT, PP_TRY };
	struct capture c;
	char msg[4096];

	capture_begin(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
			void *p;

			errno = 0;
			p = pp_alloc_pages(bad[i], modes[m]);
			if (p != NULL || errno != EINVAL) {
				capture_end(&c, msg, sizeof(msg));
				ck_abort_msg("order %u flags %#x: %p errno %d, want NULL/EINVAL",
					     bad[i], modes[m], p, errno);
			}
		}
	capture_end(&c, msg, sizeof(msg));
	ck_assert_msg(strstr(msg, "pp_alloc_pages") != NULL,
		      "no message naming pp_alloc_pages on stderr: \"%.500s\"", msg);
	/* A rejected call commits nothing, and the pool still works. */
	ck_assert_uint_eq(get_stats().committed, 0);
	{
		void *p = pp_alloc_pages(PP_MAX_ORDER, 0);

		ck_assert_ptr_nonnull(p);
		pp_free_pages(p, PP_MAX_ORDER);
	}
	check_conservation();
}
END_TEST

START_TEST(test_bad_flags)
{
	static const unsigned bad[] = { 0x8, 0x10, 0x100, 0x80000000u,
					0x8 | PP_ZERO, UINT_MAX };
	struct capture c;
	char msg[4096];

	capture_begin(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		void *p, *q;
		int e1, e2;

		errno = 0;
		p = pp_alloc_page(bad[i]);
		e1 = errno;
		errno = 0;
		q = pp_alloc_pages(2, bad[i]);
		e2 = errno;
		if (p || q || e1 != EINVAL || e2 != EINVAL) {
			capture_end(&c, msg, sizeof(msg));
			ck_abort_msg("flags %#x: page %p errno %d, pages %p errno %d; want NULL/EINVAL",
				     bad[i], p, e1, q, e2);
		}
	}
	capture_end(&c, msg, sizeof(msg));
	ck_assert_msg(strstr(msg, "pp_alloc_page") != NULL,
		      "no message naming the call on stderr: \"%.500s\"", msg);
	ck_assert_uint_eq(get_stats().committed, 0);
	{
		void *p = pp_alloc_page(PP_ZERO);

		ck_assert_ptr_nonnull(p);
		pp_free_page(p);
	}
	check_conservation();
}
END_TEST

/* The EINVAL message names the function that was called. */
START_TEST(test_bad_flags_names_call)
{
	struct capture c;
	char msg[4096];
	void *p;

	capture_begin(&c);
	p = pp_alloc_page(0x8);
	capture_end(&c, msg, sizeof(msg));
	ck_assert_ptr_null(p);
	ck_assert_msg(has_word(msg, "pp_alloc_page"),
		      "pp_alloc_page(0x8): message does not name pp_alloc_page: \"%.500s\"",
		      msg);
	capture_begin(&c);
	p = pp_alloc_pages(PP_MAX_ORDER + 1, 0);
	capture_end(&c, msg, sizeof(msg));
	ck_assert_ptr_null(p);
	ck_assert_msg(has_word(msg, "pp_alloc_pages"),
		      "pp_alloc_pages(11, 0): message does not name pp_alloc_pages: \"%.500s\"",
		      msg);
}
END_TEST

/* ---- pp_owns(), pp_block_order() ---------------------------------------- */

START_TEST(test_owns_and_block_order)
{
	static char in_data[64];
	int on_stack;
	void *heap = calloc(1, 64), *blk[PP_MAX_ORDER + 1];

	/* Before the pool exists nothing is the pool's. */
	ck_assert_int_eq(pp_owns(heap), 0);
	errno = 0;
	ck_assert_int_eq(pp_block_order(heap), -1);
	ck_assert_int_eq(errno, EINVAL);
	for (unsigned o = 0; o <= PP_MAX_ORDER; o++) {
		blk[o] = pp_alloc_pages(o, 0);
		ck_assert_ptr_nonnull(blk[o]);
		ck_assert_int_eq(pp_owns(blk[o]), 1);
		ck_assert_int_eq(pp_owns((char *)blk[o] + block_bytes(o) - 1), 1);
		ck_assert_int_eq(pp_block_order(blk[o]), (int)o);
		if (o) {	/* an interior page is the pool's but no block */
			errno = 0;
			ck_assert_int_eq(pp_block_order((char *)blk[o] + ps()), -1);
			ck_assert_int_eq(errno, EINVAL);
		}
		errno = 0;
		ck_assert_int_eq(pp_block_order((char *)blk[o] + 8), -1);	/* misaligned */
		ck_assert_int_eq(errno, EINVAL);
	}
	ck_assert_int_eq(pp_owns(heap), 0);
	ck_assert_int_eq(pp_owns(in_data), 0);
	ck_assert_int_eq(pp_owns(&on_stack), 0);
	ck_assert_int_eq(pp_owns(NULL), 0);
	ck_assert_int_eq(pp_block_order(heap), -1);
	ck_assert_int_eq(pp_block_order(NULL), -1);
	for (unsigned o = 0; o <= PP_MAX_ORDER; o++) {
		pp_free_pages(blk[o], o);
		/* Freed (cached or on the lists): still the pool's, no longer a block. */
		ck_assert_int_eq(pp_owns(blk[o]), 1);
		errno = 0;
		ck_assert_int_eq(pp_block_order(blk[o]), -1);
		ck_assert_int_eq(errno, EINVAL);
	}
	free(heap);
	check_conservation();
}
END_TEST

/* ---- NULL frees, stats size --------------------------------------------- */

START_TEST(test_free_null_noop)
{
	void *p = pp_alloc_pages(2, 0);
	struct pp_stats a, b;

	ck_assert_ptr_nonnull(p);
	a = get_stats();
	pp_free_page(NULL);
	for (unsigned o = 0; o <= PP_MAX_ORDER; o++)
		pp_free_pages(NULL, o);
	b = get_stats();
	ck_assert_uint_eq(b.in_use, a.in_use);
	ck_assert_uint_eq(b.cached, a.cached);
	ck_assert_uint_eq(b.free, a.free);
	check_conservation();
	pp_free_pages(p, 2);
	check_conservation();
}
END_TEST

START_TEST(test_stats_out_size)
{
	struct pp_stats s;
	const size_t part = offsetof(struct pp_stats, in_use);
	void *p = pp_alloc_page(0);

	ck_assert_ptr_nonnull(p);
	memset(&s, 0xEE, sizeof(s));
	pp_stats(&s, part);
	ck_assert_uint_eq(s.page_size, ps());
	ck_assert_uint_gt(s.committed, 0);
	ck_assert_msg(all_byte((char *)&s + part, sizeof(s) - part, 0xEE),
		      "pp_stats wrote past out_size");
	pp_free_page(p);
}
END_TEST

/* ---- into the test case ----------------------------------------------- */

void add_api_tests(TCase *tc)
{
	tcase_add_test(tc, test_owns_and_block_order);
	tcase_add_test(tc, test_page_size);
	tcase_add_test(tc, test_all_orders_aligned_writable);
	tcase_add_test(tc, test_mixed_orders_disjoint);
	tcase_add_test(tc, test_bad_order);
	tcase_add_test(tc, test_bad_flags);
	tcase_add_test(tc, test_bad_flags_names_call);
	tcase_add_test(tc, test_free_null_noop);
	tcase_add_test(tc, test_stats_out_size);
}
