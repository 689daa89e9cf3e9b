/* SPDX-License-Identifier: MIT */
/*
 * cache.c - the per-thread cache itself: PP_TRY on an empty cache, the
 * high/batch marks (fixed, growing and shrinking with the bursts) and
 * pp_thread_drain().
 */
#include "tcache.h"

/* ---- PP_TRY on an empty cache ------------------------------------------ */

/* A new thread: its cache starts empty even when another thread's is full. */
static void *fresh_thread_try(void *arg)
{
	intptr_t bad = 0;
	void *p, *q;

	(void)arg;
	errno = 0;
	if (pp_alloc_page_try() != NULL || errno != EAGAIN)
		bad |= 1;
	for (unsigned k = 0; k < PP_CACHE_ORDERS; k++) {
		errno = 0;
		if (pp_alloc_pages(k, PP_TRY) != NULL || errno != EAGAIN)
			bad |= 2;
	}
	p = pp_alloc_page(0);
	if (!p)
		return (void *)(intptr_t)4;
	pp_free_page(p);
	q = pp_alloc_page_try();	/* the refill and the free filled it */
	if (!q)
		bad |= 8;
	pp_free_page(q);
	return (void *)bad;
}

START_TEST(test_try_starts_empty)
{
	enum { MAX = 128 };
	void *pg[MAX], *p;
	size_t n = 0;
	intptr_t r;

	ck_assert_int_eq(pp_configure("high=64,batch=16"), 0);

	/* Main thread, nothing allocated yet. */
	errno = 0;
	ck_assert_ptr_null(pp_alloc_page_try());
	ck_assert_int_eq(errno, EAGAIN);
	for (unsigned k = 0; k < PP_CACHE_ORDERS; k++) {
		errno = 0;
		ck_assert_ptr_null(pp_alloc_pages(k, PP_TRY));
		ck_assert_int_eq(errno, EAGAIN);
	}
	errno = 0;
	ck_assert_ptr_null(pp_alloc_page(PP_TRY));
	ck_assert_int_eq(errno, EAGAIN);

	p = pp_alloc_page(0);
	ck_assert_ptr_nonnull(p);
	ck_assert(block_aligned(p, 0));
	pp_free_page(p);

	/* Our cache is full now; a new thread's is still empty. */
	r = (intptr_t)join(spawn(fresh_thread_try, NULL));
	ck_assert_msg(r == 0, "new thread: bad try result (mask %ld)", (long)r);

	/* The refill brought a batch (16), the free one more; high is 64. */
	errno = 0;
	while (n < MAX && (pg[n] = pp_alloc_page_try()) != NULL) {
		ck_assert_msg(block_aligned(pg[n], 0), "try page %p misaligned",
			      pg[n]);
		tag_block(pg[n], 0, 0x7e570000u + n);
		n++;
	}
	ck_assert_uint_lt(n, MAX);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_uint_ge(n, 16);
	ck_assert_uint_le(n, 64);
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(tag_ok(pg[i], 0, 0x7e570000u + i),
			      "page %p handed out twice", pg[i]);
		for (size_t j = 0; j < i; j++)
			ck_assert_ptr_ne(pg[i], pg[j]);
	}
	for (size_t i = 0; i < n; i++)
		pp_free_page(pg[i]);
	check_conservation();
}
END_TEST

/* ---- high / batch ------------------------------------------------------ */

START_TEST(test_high_batch_marks)
{
	enum { N = 400, HIGH = 64, BATCH = 16 };
	static void *pg[N];
	struct pp_stats s0, s1, s2, s;
	size_t refills, drains;

	ck_assert_int_eq(pp_configure("high=64,batch=16"), 0);
	s0 = get_stats();
	for (size_t i = 0; i < N; i++) {
		pg[i] = pp_alloc_page(0);
		ck_assert_ptr_nonnull(pg[i]);
		ck_assert(block_aligned(pg[i], 0));
		tag_block(pg[i], 0, i);
		s = get_stats();
		ck_assert_uint_le(cache_pages(&s), HIGH);
	}
	s1 = get_stats();
	refills = s1.refills - s0.refills;
	/* Batched: not one lock hold per page, and no refill beyond high. */
	ck_assert_msg(refills >= N / (HIGH + 1) && refills <= N / (BATCH / 2) + 2,
		      "%zu refills for %d allocations (batch %d)", refills, N,
		      BATCH);
	ck_assert_uint_eq(s1.in_use, N);

	for (size_t i = 0; i < N; i++) {
		ck_assert_msg(tag_ok(pg[i], 0, i), "page %p handed out twice",
			      pg[i]);
		pp_free_page(pg[i]);
		s = get_stats();
		ck_assert_msg(cache_pages(&s) <= HIGH,
			      "%zu pages cached after %zu frees (high %d)",
			      cache_pages(&s), i + 1, HIGH);
	}
	s2 = get_stats();
	drains = s2.drains - s1.drains;
	ck_assert_msg(drains >= (N - HIGH) / (HIGH + 1) &&
		      drains <= (N + HIGH) / (BATCH / 2) + 2,
		      "%zu drains for %d frees (high %d, batch %d)", drains, N,
		      HIGH, BATCH);
	ck_assert_uint_gt(cache_pages(&s2), 0);	/* frees do go to the cache */
	ck_assert_uint_eq(s2.in_use, 0);
	ck_assert_uint_eq(s2.pending, 0);
	check_conservation();
}
END_TEST

/* White-box: this thread's cache keeps count <= high <= high_max per order. */
static void check_marks(void)
{
	const struct pp_tcache *tc = pp_tls.tc;

	if (!tc)
		return;
	for (unsigned k = 0; k < PP_CACHE_ORDERS; k++) {
		ck_assert_msg(tc->count[k] <= tc->high[k] && tc->high[k] <= tc->high_max[k] &&
			      tc->high_min[k] <= tc->high[k],
			      "order %u: count %u, high %u (min %u, max %u)", k, tc->count[k],
			      tc->high[k], tc->high_min[k], tc->high_max[k]);
	}
}

/*
 * Rounds of @round allocations then @round frees, @rounds times; return the
 * refills plus drains of the last round and check that the cache never
 * holds more than @most pages.
 */
static size_t burst_rounds(size_t round, size_t rounds, size_t most)
{
	static void *pg[1024];
	struct pp_stats s0, s;

	ck_assert_uint_le(round, 1024);
	s0 = get_stats();
	for (size_t r = 0; r < rounds; r++) {
		s0 = get_stats();
		for (size_t i = 0; i < round; i++) {
			pg[i] = pp_alloc_page(0);
			ck_assert_ptr_nonnull(pg[i]);
			tag_block(pg[i], 0, i);
			check_marks();
		}
		for (size_t i = 0; i < round; i++) {
			ck_assert_msg(tag_ok(pg[i], 0, i), "page %p handed out twice", pg[i]);
			pp_free_page(pg[i]);
			check_marks();
			s = get_stats();
			ck_assert_msg(cache_pages(&s) <= most,
				      "%zu pages cached, more than %zu", cache_pages(&s), most);
		}
	}
	s = get_stats();
	ck_assert_uint_eq(s.in_use, 0);
	check_conservation();
	return (s.refills - s0.refills) + (s.drains - s0.drains);
}

/* A burst larger than the cache: it grows until a round takes no lock. */
START_TEST(test_high_grows)
{
	size_t slow;

	ck_assert_int_eq(pp_configure("high=64,batch=16,high_max=256"), 0);
	slow = burst_rounds(200, 30, 256);
	ck_assert_msg(slow == 0, "round 30 of 200 pages still refilled or drained %zu times "
		      "(high=64, high_max=256)", slow);
}
END_TEST

/* Control: high_max no larger than high fixes the mark. */
START_TEST(test_high_fixed)
{
	size_t slow;

	ck_assert_int_eq(pp_configure("high=64,batch=16,high_max=64"), 0);
	slow = burst_rounds(200, 30, 64);
	ck_assert_msg(slow >= 2, "a fixed mark of 64 served 200-page rounds with %zu "
		      "refills and drains", slow);
}
END_TEST

static void *alloc_many(void *arg)
{
	void **pg = arg;

	for (size_t i = 0; i < 1024; i++)
		if (!(pg[i] = pp_alloc_page(0)))
			return (void *)1;
	return NULL;
}

/* A grown cache that then only frees gives the growth back. */
START_TEST(test_high_shrinks)
{
	static void *pg[1024];
	struct pp_stats s;
	pthread_t t;
	void *ret;

	ck_assert_int_eq(pp_configure("high=64,batch=16,high_max=256"), 0);
	ck_assert_uint_eq(burst_rounds(200, 30, 256), 0);
	s = get_stats();
	ck_assert_msg(cache_pages(&s) > 64, "the grown cache holds %zu pages", cache_pages(&s));
	/* Pages made on another thread, freed here: drains and no refill. */
	ck_assert_int_eq(pthread_create(&t, NULL, alloc_many, pg), 0);
	ck_assert_int_eq(pthread_join(t, &ret), 0);
	ck_assert_ptr_null(ret);
	for (size_t i = 0; i < 1024; i++) {
		pp_free_page(pg[i]);
		check_marks();
	}
	s = get_stats();
	ck_assert_msg(cache_pages(&s) <= 64, "after 1024 frees and no refill the cache "
		      "still holds %zu pages (high=64)", cache_pages(&s));
	ck_assert_uint_eq(s.in_use, 0);
	check_conservation();
}
END_TEST

/* ---- pp_thread_drain() ------------------------------------------------- */

START_TEST(test_thread_drain)
{
	enum { N = 100 };
	void *pg[N], *blk[PP_CACHE_ORDERS];
	struct pp_stats s;

	ck_assert_int_eq(pp_configure("high=64,batch=16"), 0);
	for (size_t i = 0; i < N; i++)
		ck_assert_ptr_nonnull(pg[i] = pp_alloc_page(0));
	for (unsigned k = 1; k < PP_CACHE_ORDERS; k++) {
		blk[k] = pp_alloc_pages(k, 0);
		ck_assert_ptr_nonnull(blk[k]);
		ck_assert(block_aligned(blk[k], k));
	}
	for (size_t i = 0; i < N; i++)
		pp_free_page(pg[i]);
	for (unsigned k = 1; k < PP_CACHE_ORDERS; k++)
		pp_free_pages(blk[k], k);

	s = get_stats();
	ck_assert_uint_gt(s.cache_meta, 0);
	ck_assert_uint_gt(s.cached, s.cache_meta);
	ck_assert_uint_eq(s.threads, 1);
	check_conservation();

	pp_thread_drain();
	s = get_stats();
	ck_assert_uint_eq(s.cached, 0);
	ck_assert_uint_eq(s.cache_meta, 0);
	ck_assert_uint_eq(s.threads, 0);
	ck_assert_uint_eq(s.in_use, 0);
	ck_assert_uint_eq(s.free + s.reserved, s.committed);
	check_conservation();

	errno = 0;
	ck_assert_ptr_null(pp_alloc_page_try());	/* the cache is gone */
	ck_assert_int_eq(errno, EAGAIN);

	/* The next allocation makes a new cache; draining twice is harmless. */
	pg[0] = pp_alloc_page(0);
	ck_assert_ptr_nonnull(pg[0]);
	pp_free_page(pg[0]);
	s = get_stats();
	ck_assert_uint_eq(s.threads, 1);
	ck_assert_uint_gt(s.cached, s.cache_meta);
	pp_thread_drain();
	pp_thread_drain();
	s = get_stats();
	ck_assert_uint_eq(s.cached, 0);
	ck_assert_uint_eq(s.threads, 0);
	check_conservation();
}
END_TEST

/* ---- into the test case ----------------------------------------------- */

void add_cache_tests(TCase *tc)
{
	tcase_add_test(tc, test_try_starts_empty);
	tcase_add_test(tc, test_high_batch_marks);
	tcase_add_test(tc, test_high_grows);
	tcase_add_test(tc, test_high_fixed);
	tcase_add_test(tc, test_high_shrinks);
	tcase_add_test(tc, test_thread_drain);
}
