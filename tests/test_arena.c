/* SPDX-License-Identifier: MIT */
/*
 * test_arena.c - the arena and the buddy layer, through the public API.
 *
 * Each test runs in its own forked child (Check's CK_FORK), so each starts
 * with a fresh, uninitialised pool and may call pp_configure() first.
 */
#include <limits.h>
#include <unistd.h>

#include "testutil.h"

#define MIB ((size_t)1 << 20)

static size_t block_bytes(unsigned order)
{
	return ps() << order;
}

/* True when every byte of [p, p+len) equals @c. */
static bool all_byte(const void *p, size_t len, unsigned char c)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i] != c)
			return false;
	return true;
}

struct blk {
	char *p;
	unsigned order;
};

/* Fail if any two of the blocks share a byte. */
static void check_disjoint(const struct blk *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uintptr_t lo = (uintptr_t)b[i].p, hi = lo + block_bytes(b[i].order);

		for (size_t j = i + 1; j < n; j++) {
			uintptr_t lo2 = (uintptr_t)b[j].p;
			uintptr_t hi2 = lo2 + block_bytes(b[j].order);

			ck_assert_msg(hi <= lo2 || hi2 <= lo,
				      "blocks overlap: [%p,+order %u) and [%p,+order %u)",
				      (void *)b[i].p, b[i].order,
				      (void *)b[j].p, b[j].order);
		}
	}
}

static size_t cached_pages_now(void)
{
	struct pp_stats s = get_stats();

	return s.cached - s.cache_meta;
}

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

/* ---- PP_ZERO on reused memory ----------------------------------------- */

/*
 * Allocate with PP_ZERO, check zero, dirty it, free it; repeat until a block
 * comes back that was dirtied before (only then does the test prove
 * anything: fresh mmap memory is zero anyway).
 */
static void zero_reuse(unsigned order)
{
	enum { ROUNDS = 24 };
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

/* ---- the cap ------------------------------------------------------------- */

static size_t fill_order0(void **v, size_t max)
{
	size_t n = 0;

	for (;;) {
		void *p;

		errno = 0;
		p = pp_alloc_page(0);
		if (!p)
			break;
		ck_assert_msg(n < max, "more than %zu pages under the cap", max);
		v[n++] = p;
	}
	ck_assert_msg(errno == ENOMEM, "flags 0 allocation failed with errno %d (%s), want ENOMEM",
		      errno, strerror(errno));
	return n;
}

START_TEST(test_cap_order0)
{
	const size_t cap = 8 * MIB, max = cap / ps() + 1;
	void **v = calloc(max, sizeof(*v));
	struct pp_stats s;
	size_t n, n2;

	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(pp_configure("cap=8M"), 0);
	n = fill_order0(v, max);
	s = get_stats();
	ck_assert_uint_eq(s.cap_bytes, cap);
	ck_assert_msg(s.committed * ps() <= cap, "committed %zu pages > cap",
		      s.committed);
	ck_assert_msg(n * ps() >= cap / 2, "only %zu pages before ENOMEM under an 8M cap", n);
	ck_assert_uint_eq(s.in_use, n);
	/* flags 0 fails only when no memory exists. */
	ck_assert_msg(s.free == 0 && s.cached == s.cache_meta,
		      "ENOMEM while memory was free: free %zu cached %zu (meta %zu)",
		      s.free, s.cached, s.cache_meta);
	ck_assert_uint_ge(s.grow_fails, 1);
	ck_assert_uint_le(s.peak_committed * ps(), cap);
	check_conservation();

	/* Still refused, still ENOMEM. */
	errno = 0;
	ck_assert_ptr_null(pp_alloc_page(0));
	ck_assert_int_eq(errno, ENOMEM);

	/* Free everything: every page comes back, and can be had again. */
	for (size_t i = 0; i < n; i++)
		pp_free_page(v[i]);
	ck_assert_uint_eq(get_stats().in_use, 0);
	check_conservation();
	n2 = fill_order0(v, max);
	ck_assert_msg(n2 == n, "second fill got %zu pages, first %zu: pages lost",
		      n2, n);
	ck_assert_uint_le(get_stats().committed * ps(), cap);
	for (size_t i = 0; i < n2; i++)
		pp_free_page(v[i]);
	check_conservation();
	free(v);
}
END_TEST

START_TEST(test_cap_max_order)
{
	const size_t blk = block_bytes(PP_MAX_ORDER), cap = 2 * blk;
	char conf[64];
	void *b[8];
	size_t n = 0;
	struct pp_stats s;

	snprintf(conf, sizeof(conf), "cap=%zuK", cap >> 10);
	ck_assert_int_eq(pp_configure(conf), 0);
	for (;;) {
		void *p;

		errno = 0;
		p = pp_alloc_pages(PP_MAX_ORDER, 0);
		if (!p)
			break;
		ck_assert_msg(n < 2, "a third max-order block under a cap of two");
		b[n++] = p;
	}
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_msg(n >= 1, "no max-order block at all under a cap of two");
	s = get_stats();
	ck_assert_uint_le(s.committed * ps(), cap);
	ck_assert_uint_eq(s.cap_bytes, cap);
	check_conservation();
	while (n)
		pp_free_pages(b[--n], PP_MAX_ORDER);
	check_conservation();
}
END_TEST

START_TEST(test_arena_limit)
{
	const size_t arena = 16 * MIB, blk = block_bytes(PP_MAX_ORDER);
	void *b[64];
	size_t n = 0;
	struct pp_stats s;

	ck_assert_int_eq(pp_configure("arena=16M"), 0);
	for (;;) {
		void *p;

		errno = 0;
		p = pp_alloc_pages(PP_MAX_ORDER, 0);
		if (!p)
			break;
		ck_assert_msg(n < arena / blk, "more max-order blocks than fit a 16M arena");
		b[n++] = p;
	}
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_uint_ge(n, 1);
	s = get_stats();
	ck_assert_uint_eq(s.arena_bytes, arena);
	ck_assert_uint_le(s.committed * ps(), arena);
	check_conservation();
	while (n)
		pp_free_pages(b[--n], PP_MAX_ORDER);
	check_conservation();
}
END_TEST

/* ---- PP_NOWAIT / PP_TRY never grow --------------------------------------- */

START_TEST(test_nowait_fresh_no_grow)
{
	static const unsigned orders[] = { 0, 2, 5, PP_MAX_ORDER };
	struct pp_stats s;
	void *p;

	for (size_t i = 0; i < sizeof(orders) / sizeof(orders[0]); i++) {
		errno = 0;
		p = pp_alloc_pages(orders[i], PP_NOWAIT);
		ck_assert_msg(p == NULL, "PP_NOWAIT order %u on a fresh pool: %p",
			      orders[i], p);
		ck_assert_int_eq(errno, EAGAIN);
		errno = 0;
		ck_assert_ptr_null(pp_alloc_pages(orders[i], PP_NOWAIT | PP_ZERO));
		ck_assert_int_eq(errno, EAGAIN);
	}
	errno = 0;
	ck_assert_ptr_null(pp_alloc_page(PP_NOWAIT));
	ck_assert_int_eq(errno, EAGAIN);
	s = get_stats();
	ck_assert_uint_eq(s.committed, 0);
	ck_assert_uint_eq(s.grows, 0);

	/* flags 0 does grow. */
	p = pp_alloc_page(0);
	ck_assert_ptr_nonnull(p);
	s = get_stats();
	ck_assert_uint_gt(s.committed, 0);
	ck_assert_uint_ge(s.grows, 1);
	pp_free_page(p);
	check_conservation();
}
END_TEST

START_TEST(test_try_fresh_no_grow)
{
	static const unsigned orders[] = { 0, 1, 3, 4, PP_MAX_ORDER };
	struct pp_stats s;

	errno = 0;
	ck_assert_ptr_null(pp_alloc_page_try());
	ck_assert_int_eq(errno, EAGAIN);
	errno = 0;
	ck_assert_ptr_null(pp_alloc_page(PP_TRY));
	ck_assert_int_eq(errno, EAGAIN);
	for (size_t i = 0; i < sizeof(orders) / sizeof(orders[0]); i++) {
		errno = 0;
		ck_assert_ptr_null(pp_alloc_pages(orders[i], PP_TRY | PP_ZERO));
		ck_assert_int_eq(errno, EAGAIN);
	}
	s = get_stats();
	ck_assert_uint_eq(s.committed, 0);
	ck_assert_uint_eq(s.grows, 0);
	check_conservation();
}
END_TEST

/* With the arena's committed memory used up, PP_NOWAIT fails, flags 0 grows. */
START_TEST(test_nowait_exhausted_no_grow)
{
	struct pp_stats s0, s;
	size_t max, n = 0;
	void **v, *p0, *p;

	p0 = pp_alloc_page(0);
	ck_assert_ptr_nonnull(p0);
	s0 = get_stats();
	ck_assert_uint_gt(s0.committed, 0);
	max = s0.committed + 1;
	v = calloc(max, sizeof(*v));
	ck_assert_ptr_nonnull(v);
	for (;;) {
		errno = 0;
		p = pp_alloc_page(PP_NOWAIT);
		if (!p)
			break;
		ck_assert_msg(n < max, "PP_NOWAIT handed out more pages than committed");
		v[n++] = p;
	}
	ck_assert_int_eq(errno, EAGAIN);
	s = get_stats();
	ck_assert_msg(s.committed == s0.committed && s.grows == s0.grows,
		      "PP_NOWAIT grew the arena: committed %zu -> %zu, grows %zu -> %zu",
		      s0.committed, s.committed, s0.grows, s.grows);
	/* Single-threaded, the trylock never fails: all free memory was used. */
	ck_assert_msg(s.free == 0 && s.cached == s.cache_meta,
		      "PP_NOWAIT gave up with memory free: free %zu cached %zu meta %zu",
		      s.free, s.cached, s.cache_meta);
	ck_assert_uint_eq(s.in_use, n + 1);
	check_conservation();

	/* flags 0 now grows. */
	p = pp_alloc_page(0);
	ck_assert_ptr_nonnull(p);
	s = get_stats();
	ck_assert_uint_gt(s.committed, s0.committed);
	ck_assert_uint_eq(s.grows, s0.grows + 1);
	pp_free_page(p);
	for (size_t i = 0; i < n; i++)
		pp_free_page(v[i]);
	pp_free_page(p0);
	check_conservation();
	free(v);
}
END_TEST

/* ---- grows --------------------------------------------------------------- */

START_TEST(test_grows_counter)
{
	enum { MAXB = 64 };
	void *b[MAXB];
	struct pp_stats prev, s;
	size_t n = 0, growths = 0;
	void *p;

	prev = get_stats();
	ck_assert_uint_eq(prev.grows, 0);
	ck_assert_uint_eq(prev.committed, 0);
	p = pp_alloc_page(0);
	ck_assert_ptr_nonnull(p);
	s = get_stats();
	ck_assert_uint_ge(s.grows, 1);
	ck_assert_uint_gt(s.committed, 0);
	ck_assert_uint_eq(s.peak_committed, s.committed);
	prev = s;
	/* Max-order blocks until the arena has grown twice more. */
	while (n < MAXB && growths < 2) {
		b[n] = pp_alloc_pages(PP_MAX_ORDER, 0);
		ck_assert_ptr_nonnull(b[n]);
		n++;
		s = get_stats();
		if (s.committed > prev.committed) {
			ck_assert_msg(s.grows > prev.grows,
				      "committed grew %zu -> %zu but grows stayed %zu",
				      prev.committed, s.committed, s.grows);
			growths++;
		} else {
			ck_assert_msg(s.grows == prev.grows,
				      "grows %zu -> %zu without committing more",
				      prev.grows, s.grows);
		}
		ck_assert_uint_ge(s.peak_committed, s.committed);
		prev = s;
	}
	ck_assert_msg(growths == 2, "%zu max-order blocks and the arena grew %zu times",
		      n, growths);
	ck_assert_uint_eq(s.grow_fails, 0);
	check_conservation();
	while (n)
		pp_free_pages(b[--n], PP_MAX_ORDER);
	pp_free_page(p);
	s = get_stats();
	ck_assert_uint_eq(s.grows, prev.grows);	/* frees never grow */
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
	ck_assert_uint_gt(cached_pages_now(), 0);
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

static Suite *arena_suite(void)
{
	Suite *s = suite_create("arena");
	TCase *tc = new_tcase("arena");

	tcase_add_test(tc, test_owns_and_block_order);
	tcase_add_test(tc, test_page_size);
	tcase_add_test(tc, test_all_orders_aligned_writable);
	tcase_add_test(tc, test_mixed_orders_disjoint);
	tcase_add_test(tc, test_bad_order);
	tcase_add_test(tc, test_bad_flags);
	tcase_add_test(tc, test_zero_reused_small);
	tcase_add_test(tc, test_zero_reused_large);
	tcase_add_test(tc, test_zero_with_modes);
	tcase_add_test(tc, test_cap_order0);
	tcase_add_test(tc, test_cap_max_order);
	tcase_add_test(tc, test_arena_limit);
	tcase_add_test(tc, test_nowait_fresh_no_grow);
	tcase_add_test(tc, test_try_fresh_no_grow);
	tcase_add_test(tc, test_nowait_exhausted_no_grow);
	tcase_add_test(tc, test_grows_counter);
	tcase_add_test(tc, test_coalesce_to_max_order);
	tcase_add_test(tc, test_cap_reuses_cached_memory);
	tcase_add_test(tc, test_bad_flags_names_call);
	tcase_add_test(tc, test_free_null_noop);
	tcase_add_test(tc, test_stats_out_size);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(arena_suite());
}
