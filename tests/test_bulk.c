/* SPDX-License-Identifier: MIT */
/*
 * test_bulk.c - pp_alloc_pages_bulk() and pp_free_pages_bulk().
 *
 * Each test runs in its own forked child (Check's CK_FORK), so each starts
 * with a fresh, uninitialised pool and may call pp_configure() first.
 */
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define MIB ((size_t)1 << 20)

/* Pointers the pool never handed out, to pre-fill slots with. */
static char sentinel_mem[8][64];
#define SENTINEL(i) ((void *)sentinel_mem[(i)])

static bool is_sentinel(const void *p)
{
	return (const char *)p >= sentinel_mem[0] &&
	       (const char *)p < sentinel_mem[8];
}

/*
 * The slots [0, nr) form a filled prefix: every non-NULL slot precedes every
 * NULL slot.  Returns the prefix length.
 */
static size_t check_prefix(void *const *a, size_t nr)
{
	size_t k = 0;

	while (k < nr && a[k])
		k++;
	for (size_t i = k; i < nr; i++)
		ck_assert_msg(a[i] == NULL,
			      "slot %zu filled after NULL slot %zu: not a prefix", i, k);
	return k;
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;

	return x < y ? -1 : x > y;
}

/* The non-NULL, non-sentinel slots hold distinct, page-aligned, writable pages. */
static void check_pages(void *const *a, size_t nr)
{
	void **v = malloc((nr ? nr : 1) * sizeof(*v));
	size_t n = 0;

	ck_assert_ptr_nonnull(v);
	for (size_t i = 0; i < nr; i++) {
		if (!a[i] || is_sentinel(a[i]))
			continue;
		ck_assert_msg(block_aligned(a[i], 0), "slot %zu: %p not page-aligned",
			      i, a[i]);
		tag_block(a[i], 0, 0xb0000000u + i);
		v[n++] = a[i];
	}
	qsort(v, n, sizeof(*v), cmp_ptr);
	for (size_t i = 1; i < n; i++)
		ck_assert_msg(v[i - 1] != v[i], "page %p handed out twice", v[i]);
	for (size_t i = 0; i < nr; i++)
		if (a[i] && !is_sentinel(a[i]))
			ck_assert_msg(tag_ok(a[i], 0, 0xb0000000u + i),
				      "slot %zu: page %p overwritten (overlap)", i, a[i]);
	free(v);
}

static size_t count_nonnull(void *const *a, size_t nr)
{
	size_t n = 0;

	for (size_t i = 0; i < nr; i++)
		n += a[i] != NULL;
	return n;
}

/* ---- tests --------------------------------------------------------------- */

START_TEST(test_nr_zero)
{
	void *a[4] = { NULL, NULL, NULL, NULL };

	ck_assert_uint_eq(pp_alloc_pages_bulk(0, 0, a), 0);
	ck_assert_ptr_null(a[0]);
	ck_assert_uint_eq(pp_alloc_pages_bulk(PP_ZERO, 0, a), 0);
	ck_assert_ptr_null(a[0]);
	/* Never writes past nr. */
	ck_assert_uint_eq(pp_alloc_pages_bulk(0, 3, a), 3);
	ck_assert_ptr_null(a[3]);
	check_pages(a, 3);
	pp_free_pages_bulk(3, a);
	pp_free_pages_bulk(0, a);
	ck_assert_uint_eq(get_stats().in_use, 0);
	check_conservation();
}
END_TEST

START_TEST(test_basic_fill)
{
	enum { NR = 300 };
	void *a[NR] = { NULL };
	size_t r = 0, prev = 0;
	struct pp_stats s;

	/* flags 0 may fill fewer than asked; a caller retries and progresses. */
	for (int tries = 0; tries < 10 && r < NR; tries++) {
		r = pp_alloc_pages_bulk(0, NR, a);
		ck_assert_uint_eq(r, count_nonnull(a, NR));
		ck_assert_uint_eq(check_prefix(a, NR), r);
		ck_assert_msg(r > prev, "flags 0 bulk made no progress at %zu/%d", r, NR);
		prev = r;
	}
	ck_assert_uint_eq(r, NR);
	check_pages(a, NR);
	s = get_stats();
	ck_assert_uint_eq(s.in_use, NR);
	check_conservation();
	pp_free_pages_bulk(NR, a);
	ck_assert_uint_eq(get_stats().in_use, 0);
	check_conservation();
}
END_TEST

START_TEST(test_sentinels_untouched)
{
	enum { NR = 40 };
	static const size_t pos[] = { 0, 3, 7, 8, 20, 39 };
	enum { NS = sizeof(pos) / sizeof(pos[0]) };
	void *a[NR] = { NULL };
	size_t r;

	for (size_t i = 0; i < NS; i++)
		a[pos[i]] = SENTINEL(i);
	r = pp_alloc_pages_bulk(0, NR, a);
	for (size_t i = 0; i < NS; i++)
		ck_assert_msg(a[pos[i]] == SENTINEL(i), "pre-filled slot %zu changed",
			      pos[i]);
	ck_assert_uint_eq(r, count_nonnull(a, NR));
	ck_assert_uint_ge(r, NS + 1);
	/* Filled NULL slots come in index order: no NULL before a new page. */
	{
		bool hole = false;

		for (size_t i = 0; i < NR; i++) {
			if (is_sentinel(a[i]))
				continue;
			if (!a[i])
				hole = true;
			else
				ck_assert_msg(!hole, "slot %zu filled after an unfilled slot", i);
		}
	}
	check_pages(a, NR);
	ck_assert_uint_eq(get_stats().in_use, r - NS);
	for (size_t i = 0; i < NS; i++)
		a[pos[i]] = NULL;
	pp_free_pages_bulk(NR, a);
	ck_assert_uint_eq(get_stats().in_use, 0);
	check_conservation();
}
END_TEST

START_TEST(test_cap_prefix)
{
	const size_t cap = 8 * MIB, nr = cap / ps() + 512;
	void **a = calloc(nr, sizeof(*a));
	size_t r, r2;
	struct pp_stats s;

	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(pp_configure("cap=8M"), 0);
	r = pp_alloc_pages_bulk(0, nr, a);
	ck_assert_msg(r > 0 && r < nr, "capped bulk of %zu filled %zu", nr, r);
	ck_assert_uint_eq(check_prefix(a, nr), r);
	ck_assert_uint_le(r * ps(), cap);
	check_pages(a, nr);
	s = get_stats();
	ck_assert_uint_le(s.committed * ps(), cap);
	ck_assert_uint_eq(s.in_use, r);
	check_conservation();
	/* Hand the partly filled array straight back: NULL slots are skipped. */
	pp_free_pages_bulk(nr, a);
	ck_assert_uint_eq(get_stats().in_use, 0);
	check_conservation();
	/* Nothing was lost: the same number can be had again. */
	memset(a, 0, nr * sizeof(*a));
	r2 = pp_alloc_pages_bulk(0, nr, a);
	ck_assert_msg(r2 == r, "second capped bulk got %zu, first %zu", r2, r);
	pp_free_pages_bulk(nr, a);
	check_conservation();
	free(a);
}
END_TEST

START_TEST(test_try_fresh)
{
	enum { NR = 16 };
	void *a[NR] = { NULL };
	struct pp_stats s;

	ck_assert_uint_eq(pp_alloc_pages_bulk(PP_TRY, NR, a), 0);
	ck_assert_uint_eq(count_nonnull(a, NR), 0);
	/* Pre-filled slots are counted even when nothing is filled. */
	a[2] = SENTINEL(0);
	a[NR - 1] = SENTINEL(1);
	ck_assert_uint_eq(pp_alloc_pages_bulk(PP_TRY | PP_ZERO, NR, a), 2);
	ck_assert_ptr_eq(a[2], SENTINEL(0));
	ck_assert_ptr_eq(a[NR - 1], SENTINEL(1));
	ck_assert_uint_eq(count_nonnull(a, NR), 2);
	s = get_stats();
	ck_assert_uint_eq(s.committed, 0);
	ck_assert_uint_eq(s.in_use, 0);
	check_conservation();
}
END_TEST

/* Warm the cache: allocate some pages, free them; return how many it holds. */
static size_t warm_cache(void **freed, size_t n)
{
	size_t c;

	for (size_t i = 0; i < n; i++) {
		freed[i] = pp_alloc_page(0);
		ck_assert_ptr_nonnull(freed[i]);
	}
	for (size_t i = 0; i < n; i++)
		pp_free_page(freed[i]);
	c = cached_pages();
	ck_assert_msg(c >= 1, "no page in the thread cache after freeing %zu", n);
	return c;
}

START_TEST(test_try_takes_cache_only)
{
	enum { WARM = 8 };
	void *freed[WARM];
	struct pp_stats s0, s1;
	size_t c, nr, r;
	void **a;

	c = warm_cache(freed, WARM);
	s0 = get_stats();
	nr = c + 32;
	a = calloc(nr, sizeof(*a));
	ck_assert_ptr_nonnull(a);
	r = pp_alloc_pages_bulk(PP_TRY, nr, a);
	ck_assert_msg(r == c, "PP_TRY bulk took %zu pages, the cache held %zu", r, c);
	ck_assert_uint_eq(check_prefix(a, nr), r);
	check_pages(a, nr);
	s1 = get_stats();
	ck_assert_msg(s1.free == s0.free, "PP_TRY touched the global lists: free %zu -> %zu",
		      s0.free, s1.free);
	ck_assert_uint_eq(s1.committed, s0.committed);
	ck_assert_uint_eq(s1.cached, s1.cache_meta);
	ck_assert_uint_eq(s1.in_use, s0.in_use + c);
	/* The pages just freed were in the cache (if it holds them all). */
	for (size_t i = 0; c >= WARM && i < WARM; i++) {
		bool found = false;

		for (size_t j = 0; j < r; j++)
			found |= a[j] == freed[i];
		ck_assert_msg(found, "freed page %p not among the PP_TRY pages", freed[i]);
	}
	/* The cache is empty now: nothing more. */
	ck_assert_uint_eq(pp_alloc_pages_bulk(PP_TRY, nr, a), r);
	check_conservation();
	pp_free_pages_bulk(nr, a);
	check_conservation();
	free(a);
}
END_TEST

/* PP_TRY with pre-filled slots and more NULL slots than the cache holds. */
START_TEST(test_try_partial_index_order)
{
	enum { WARM = 8 };
	static const size_t spos[] = { 1, 4, 5 };	/* plus one at the end */
	void *freed[WARM];
	size_t c, nr, r, filled = 0;
	void **a;

	c = warm_cache(freed, WARM);
	nr = c + 10;
	a = calloc(nr, sizeof(*a));
	ck_assert_ptr_nonnull(a);
	for (size_t i = 0; i < 3; i++)
		a[spos[i]] = SENTINEL(i);
	a[nr - 1] = SENTINEL(3);
	r = pp_alloc_pages_bulk(PP_TRY, nr, a);
	ck_assert_msg(r == c + 4, "returned %zu, want %zu cached + 4 pre-filled", r, c);
	ck_assert_uint_eq(count_nonnull(a, nr), r);
	for (size_t i = 0; i < 3; i++)
		ck_assert_ptr_eq(a[spos[i]], SENTINEL(i));
	ck_assert_ptr_eq(a[nr - 1], SENTINEL(3));
	/* The first c originally-NULL slots got the pages; the rest stayed NULL. */
	for (size_t i = 0; i < nr; i++) {
		if (is_sentinel(a[i]))
			continue;
		if (filled < c) {
			ck_assert_msg(a[i] != NULL, "slot %zu skipped (index order)", i);
			filled++;
		} else {
			ck_assert_msg(a[i] == NULL, "slot %zu filled beyond the first %zu", i, c);
		}
	}
	check_pages(a, nr);
	for (size_t i = 0; i < nr; i++)
		if (is_sentinel(a[i]))
			a[i] = NULL;
	pp_free_pages_bulk(nr, a);
	check_conservation();
	free(a);
}
END_TEST

static void *thread_try_bulk(void *arg)
{
	void *a[16] = { NULL };
	size_t r = pp_alloc_pages_bulk(PP_TRY, 16, a);

	(void)arg;
	pp_free_pages_bulk(16, a);
	return (void *)(uintptr_t)(r + 1000 * count_nonnull(a, 16));
}

/* A new thread's cache starts empty, however warm another thread's is. */
START_TEST(test_try_fresh_thread)
{
	enum { WARM = 8 };
	void *freed[WARM];
	uintptr_t r;

	warm_cache(freed, WARM);
	r = (uintptr_t)join(spawn(thread_try_bulk, NULL));
	ck_assert_msg(r == 0, "PP_TRY bulk on a new thread returned %zu (%zu slots filled)",
		      (size_t)(r % 1000), (size_t)(r / 1000));
	ck_assert_uint_ge(cached_pages(), WARM);
	check_conservation();
}
END_TEST

START_TEST(test_nowait_fresh)
{
	enum { NR = 16 };
	void *a[NR] = { NULL };
	struct pp_stats s;

	ck_assert_uint_eq(pp_alloc_pages_bulk(PP_NOWAIT, NR, a), 0);
	ck_assert_uint_eq(pp_alloc_pages_bulk(PP_NOWAIT | PP_ZERO, NR, a), 0);
	ck_assert_uint_eq(count_nonnull(a, NR), 0);
	s = get_stats();
	ck_assert_uint_eq(s.committed, 0);
	ck_assert_uint_eq(s.grows, 0);
	check_conservation();
}
END_TEST

START_TEST(test_nowait_warm_no_grow)
{
	struct pp_stats s0, s1;
	size_t avail, nr, r, nr2, r2;
	void **a, **b, *p;

	p = pp_alloc_page(0);
	ck_assert_ptr_nonnull(p);
	s0 = get_stats();
	avail = s0.free + s0.cached - s0.cache_meta;
	ck_assert_uint_gt(avail, 0);
	nr = avail < 64 ? avail : 64;
	a = calloc(nr, sizeof(*a));
	ck_assert_ptr_nonnull(a);
	r = pp_alloc_pages_bulk(PP_NOWAIT, nr, a);
	ck_assert_msg(r == nr, "PP_NOWAIT bulk of %zu with %zu free pages: %zu", nr,
		      avail, r);
	check_pages(a, nr);
	/* Ask for more than exists: takes what there is, never grows. */
	nr2 = avail - nr + 100;
	b = calloc(nr2, sizeof(*b));
	ck_assert_ptr_nonnull(b);
	r2 = pp_alloc_pages_bulk(PP_NOWAIT, nr2, b);
	ck_assert_uint_eq(check_prefix(b, nr2), r2);
	s1 = get_stats();
	ck_assert_msg(s1.committed == s0.committed && s1.grows == s0.grows,
		      "PP_NOWAIT bulk grew the arena: committed %zu -> %zu",
		      s0.committed, s1.committed);
	ck_assert_msg(r2 == avail - nr, "PP_NOWAIT bulk took %zu of the %zu free pages",
		      r2, avail - nr);
	check_pages(b, nr2);
	check_conservation();
	pp_free_pages_bulk(nr, a);
	pp_free_pages_bulk(nr2, b);
	pp_free_page(p);
	ck_assert_uint_eq(get_stats().in_use, 0);
	check_conservation();
	free(a);
	free(b);
}
END_TEST

START_TEST(test_zero_bulk)
{
	enum { NR = 48 };
	void *a[NR] = { NULL }, *b[NR] = { NULL };
	size_t r, reused = 0;

	/*
	 * A small fixed mark: most freed pages go back through the global
	 * lists, and most of the allocation is chained past the cache's
	 * scratch slots (high_max - count).
	 */
	ck_assert_int_eq(pp_configure("high=16,batch=4,high_max=16"), 0);
	memset(sentinel_mem, 's', sizeof(sentinel_mem));
	r = pp_alloc_pages_bulk(0, NR, a);
	ck_assert_uint_eq(r, NR);
	for (size_t i = 0; i < NR; i++)
		memset(a[i], 0xA5, ps());
	pp_free_pages_bulk(NR, a);

	/* Two pre-filled slots whose memory must not be zeroed. */
	b[0] = SENTINEL(0);
	b[NR / 2] = SENTINEL(1);
	r = pp_alloc_pages_bulk(PP_ZERO, NR, b);
	ck_assert_uint_eq(r, NR);
	ck_assert_ptr_eq(b[0], SENTINEL(0));
	ck_assert_ptr_eq(b[NR / 2], SENTINEL(1));
	ck_assert_msg(sentinel_mem[0][0] == 's' && sentinel_mem[1][63] == 's',
		      "PP_ZERO bulk wrote into a pre-filled slot's memory");
	for (size_t i = 0; i < NR; i++) {
		if (is_sentinel(b[i]))
			continue;
		for (size_t j = 0; j < NR; j++)
			reused += b[i] == a[j];
		ck_assert_msg(all_zero(b[i], ps()), "PP_ZERO slot %zu (%p) not zero",
			      i, b[i]);
	}
	ck_assert_msg(reused > 16,
		      "only %zu dirtied pages came back: zeroing from the global lists not tested",
		      reused);

	/* Again from the cache only. */
	for (size_t i = 0; i < NR; i++)
		if (!is_sentinel(b[i]))
			memset(b[i], 0x3C, ps());
	b[0] = b[NR / 2] = NULL;
	pp_free_pages_bulk(NR, b);
	memset(b, 0, sizeof(b));
	r = pp_alloc_pages_bulk(PP_TRY | PP_ZERO, NR, b);
	ck_assert_msg(r > 0, "PP_TRY|PP_ZERO found the cache empty after a bulk free");
	for (size_t i = 0; i < r; i++)
		ck_assert_msg(all_zero(b[i], ps()), "PP_TRY|PP_ZERO slot %zu not zero", i);
	pp_free_pages_bulk(NR, b);
	check_conservation();
}
END_TEST

START_TEST(test_free_bulk_skips_null)
{
	enum { NR = 64 };
	void *a[NR] = { NULL };
	void *none[8] = { NULL };
	struct pp_stats s;

	ck_assert_uint_eq(pp_alloc_pages_bulk(0, NR, a), NR);
	/* Free the odd ones singly and leave holes. */
	for (size_t i = 1; i < NR; i += 2) {
		pp_free_page(a[i]);
		a[i] = NULL;
	}
	ck_assert_uint_eq(get_stats().in_use, NR / 2);
	pp_free_pages_bulk(NR, a);
	s = get_stats();
	ck_assert_uint_eq(s.in_use, 0);
	check_conservation();
	/* An all-NULL array is a no-op. */
	pp_free_pages_bulk(8, none);
	ck_assert_uint_eq(get_stats().in_use, 0);
	check_conservation();
}
END_TEST

/*
 * A cache holding more than the array: the allocation fills every NULL slot
 * from it in one sweep, and a free with room for every entry pushes them in
 * one sweep.  Pre-filled slots (and their memory, under PP_ZERO) are left
 * alone, the most recently freed page comes first, only the NULL slots are
 * counted against the cache, and NULL holes in the freed array are skipped.
 */
START_TEST(test_warm_cache_sweep)
{
	enum { WARM = 64, NR = 40 };
	static const size_t pos[] = { 0, 1, 9, 22, 39 };
	enum { NS = sizeof(pos) / sizeof(pos[0]) };
	void *w[WARM] = { NULL }, *a[NR] = { NULL };
	size_t c0, c1, r, first = 2;	/* pos[] leaves slot 2 the first NULL one */

	ck_assert_uint_eq(pp_alloc_pages_bulk(0, WARM, w), WARM);
	for (size_t i = 0; i < WARM; i++)
		memset(w[i], 0x5A, ps());
	pp_free_pages_bulk(WARM, w);
	c0 = cached_pages();
	ck_assert_msg(c0 >= WARM, "cache holds %zu pages after freeing %d", c0, WARM);

	memset(sentinel_mem, 's', sizeof(sentinel_mem));
	for (size_t i = 0; i < NS; i++)
		a[pos[i]] = SENTINEL(i);
	r = pp_alloc_pages_bulk(PP_ZERO, NR, a);
	ck_assert_uint_eq(r, NR);
	for (size_t i = 0; i < NS; i++)
		ck_assert_msg(a[pos[i]] == SENTINEL(i), "pre-filled slot %zu changed", pos[i]);
	ck_assert_msg(sentinel_mem[0][0] == 's' && sentinel_mem[NS - 1][63] == 's',
		      "PP_ZERO bulk wrote into a pre-filled slot's memory");
	ck_assert_msg(a[first] == w[WARM - 1],
		      "first NULL slot got %p, not the page freed last (%p)", a[first],
		      w[WARM - 1]);
	for (size_t i = 0; i < NR; i++) {
		bool from_cache = false;

		if (is_sentinel(a[i]))
			continue;
		for (size_t j = 0; j < WARM; j++)
			from_cache |= a[i] == w[j];
		ck_assert_msg(from_cache, "slot %zu: %p did not come from the cache", i, a[i]);
		ck_assert_msg(all_zero(a[i], ps()), "PP_ZERO slot %zu (%p) not zero", i, a[i]);
	}
	check_pages(a, NR);
	c1 = cached_pages();
	ck_assert_msg(c1 == c0 - (NR - NS), "cache %zu -> %zu for %d NULL slots", c0, c1,
		      NR - NS);
	ck_assert_uint_eq(get_stats().in_use, NR - NS);
	check_conservation();

	/* Free with holes where the sentinels were: all go back to the cache. */
	for (size_t i = 0; i < NS; i++)
		a[pos[i]] = NULL;
	pp_free_pages_bulk(NR, a);
	ck_assert_uint_eq(cached_pages(), c0);
	ck_assert_uint_eq(get_stats().in_use, 0);
	check_conservation();
	/* Every page is usable again: the sweep left them in a consistent state. */
	memset(w, 0, sizeof(w));
	ck_assert_uint_eq(pp_alloc_pages_bulk(0, WARM, w), WARM);
	check_pages(w, WARM);
	pp_free_pages_bulk(WARM, w);
	ck_assert_uint_eq(get_stats().in_use, 0);
	check_conservation();
}
END_TEST

/*
 * A bulk allocation that finds only a few pages free takes those, grows the
 * arena and takes the rest in the same call: every slot filled, nothing
 * lost, whether the pages land in the cache's spare slots or past them.
 */
START_TEST(test_grows_midway)
{
	enum { NR = 200 };
	static void *held[4096];
	void *a[NR] = { NULL };
	size_t nheld = 0, committed0, r;
	struct pp_stats s;

	/* Use up the first growth but for a few pages. */
	do {
		held[nheld] = pp_alloc_page(0);
		ck_assert_ptr_nonnull(held[nheld]);
		nheld++;
		s = get_stats();
	} while (s.free > 20 && nheld < 4096);
	ck_assert_msg(s.free <= 20, "the first growth has more than %zu pages", nheld);
	pp_thread_drain();		/* no cached pages: the bulk goes global */
	s = get_stats();
	committed0 = s.committed;
	ck_assert_msg(s.free < NR, "%zu free pages before the bulk allocation", s.free);

	r = pp_alloc_pages_bulk(0, NR, a);
	ck_assert_uint_eq(r, NR);
	check_pages(a, NR);
	s = get_stats();
	ck_assert_msg(s.committed > committed0, "no growth: committed %zu -> %zu",
		      committed0, s.committed);
	ck_assert_uint_eq(s.in_use, nheld + NR);
	check_conservation();
	pp_free_pages_bulk(NR, a);
	for (size_t i = 0; i < nheld; i++)
		pp_free_page(held[i]);
	ck_assert_uint_eq(get_stats().in_use, 0);
	check_conservation();
}
END_TEST

/* Bulk frees fill this thread's cache only up to high; the rest go global. */
START_TEST(test_free_bulk_respects_high)
{
	enum { NR = 200 };
	void *a[NR] = { NULL };

	ck_assert_int_eq(pp_configure("high=16,batch=4"), 0);
	ck_assert_uint_eq(pp_alloc_pages_bulk(0, NR, a), NR);
	pp_free_pages_bulk(NR, a);
	ck_assert_msg(cached_pages() <= 16, "cache holds %zu pages, high is 16",
		      cached_pages());
	ck_assert_uint_eq(get_stats().in_use, 0);
	check_conservation();
}
END_TEST

static void child_null_array(void)
{
	size_t r;
	int e;

	errno = 0;
	r = pp_alloc_pages_bulk(0, 4, NULL);
	e = errno;
	if (r != 0 || e != EINVAL) {
		fprintf(stderr, "@@FAIL returned %zu errno %d\n", r, e);
		_exit(1);
	}
	_exit(0);
}

START_TEST(test_null_array_einval)
{
	struct child c;

	run_child(child_null_array, &c, NULL);
	ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0,
		      "pp_alloc_pages_bulk(0, 4, NULL): want 0/EINVAL; status %#x, stderr: %.800s",
		      c.status, c.err);
	ck_assert_msg(strstr(c.err, "pp_alloc_pages_bulk") != NULL,
		      "no message naming pp_alloc_pages_bulk; stderr: \"%.800s\"", c.err);
}
END_TEST

static void child_bad_flags(void)
{
	void *a[4] = { NULL };
	size_t r;
	int e;

	errno = 0;
	r = pp_alloc_pages_bulk(0x8, 4, a);
	e = errno;
	if (r != 0 || e != EINVAL || count_nonnull(a, 4) != 0 ||
	    get_stats().in_use != 0) {
		fprintf(stderr, "@@FAIL returned %zu errno %d\n", r, e);
		_exit(1);
	}
	_exit(0);
}

START_TEST(test_bad_flags_einval)
{
	struct child c;

	run_child(child_bad_flags, &c, NULL);
	ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0,
		      "pp_alloc_pages_bulk(0x8, 4, a): want 0/EINVAL, a untouched; status %#x, stderr: %.800s",
		      c.status, c.err);
	ck_assert_msg(strstr(c.err, "pp_alloc_pages_bulk") != NULL,
		      "no message naming pp_alloc_pages_bulk; stderr: \"%.800s\"", c.err);
}
END_TEST

/*
 * Runs of the LD_PRELOAD shim's malloc (exact.c) of any length are freed
 * whole by pp_free_pages_bulk(), as doc/preload.md says, whatever the order of
 * their first block: 5 pages start with an order-2 block, 3 with order 1.
 */
START_TEST(test_free_bulk_runs_whole)
{
	static const size_t lens[] = { 1, 2, 3, 5, 8, 9, 17 };
	void *v[2 * 7 + 2];
	size_t n = 0, before = get_stats().in_use;

	for (size_t i = 0; i < 7; i++) {
		v[n] = pp_exact_alloc(lens[i], 0, 0);
		ck_assert_msg(v[n] != NULL, "a run of %zu pages: errno %d", lens[i], errno);
		memset(v[n], 0x77, lens[i] * pp_page_size());
		n++;
		v[n++] = must_alloc(0);		/* plain pages between them */
	}
	v[n++] = NULL;
	v[n++] = must_alloc(0);
	pp_free_pages_bulk(n, v);
	ck_assert_uint_eq(get_stats().in_use, before);
	check_conservation();
}
END_TEST

static Suite *bulk_suite(void)
{
	Suite *s = suite_create("bulk");
	TCase *tc = new_tcase("bulk");

	tcase_add_test(tc, test_nr_zero);
	tcase_add_test(tc, test_basic_fill);
	tcase_add_test(tc, test_sentinels_untouched);
	tcase_add_test(tc, test_cap_prefix);
	tcase_add_test(tc, test_try_fresh);
	tcase_add_test(tc, test_try_takes_cache_only);
	tcase_add_test(tc, test_try_partial_index_order);
	tcase_add_test(tc, test_try_fresh_thread);
	tcase_add_test(tc, test_nowait_fresh);
	tcase_add_test(tc, test_nowait_warm_no_grow);
	tcase_add_test(tc, test_zero_bulk);
	tcase_add_test(tc, test_free_bulk_skips_null);
	tcase_add_test(tc, test_warm_cache_sweep);
	tcase_add_test(tc, test_grows_midway);
	tcase_add_test(tc, test_free_bulk_respects_high);
	tcase_add_test(tc, test_null_array_einval);
	tcase_add_test(tc, test_bad_flags_einval);
	tcase_add_test(tc, test_free_bulk_runs_whole);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(bulk_suite());
}
