/* SPDX-License-Identifier: MIT */
/*
 * test_preload.c - the LD_PRELOAD shim (libpagepool-preload.so) keeps the
 * C and POSIX contracts of the malloc family while it routes page-sized
 * requests to the pool.
 *
 * This program does not link libpagepool: it reaches pp_owns(), pp_stats()
 * and the rest through dlsym(RTLD_DEFAULT, ...) in the preloaded shim.  When
 * the shim is not loaded, main() re-executes the program (/proc/self/exe)
 * with LD_PRELOAD=$PP_PRELOAD_SO (no PP_PRELOAD_SO: exit 77, skip); still
 * not loaded after that is a failure.  A PAGEPOOL_CONF inherited from the
 * environment is dropped the same way, since the shim reads it before main().
 *
 * Each test runs in its own forked child (CK_FORK).  The tests that need
 * other settings re-run this program as "--child MODE" with PAGEPOOL_CONF
 * set; the bad-input tests fork a child and expect it to die of SIGABRT
 * with a message naming the call.
 *
 * The calls go through opaque() so that the compiler cannot elide a
 * malloc/free pair, fold a comparison of two allocations or assume what
 * calloc's memory holds; sz() hides constant sizes the same way.
 */
#define _GNU_SOURCE
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pagepool.h"
#include "checkutil.h"

#define SHIM_NAME "libpagepool-preload"
#define REEXEC_MARK "PP_TEST_PRELOAD_REEXECUTED"
#define MIB ((size_t)1 << 20)
#define MAX_RUN ((size_t)1 << PP_MAX_ORDER)	/* pages in the largest pool request */

/* ---- the pool's interface, from the shim ------------------------------ */

static __typeof__(pp_owns) *owns_fn;
static __typeof__(pp_stats) *stats_fn;
static __typeof__(pp_page_size) *page_size_fn;
static __typeof__(pp_option) *option_fn;
static size_t PS;	/* page size */

static int owns(const void *p)
{
	__asm__ volatile("" : "+r"(p));	/* no claim about what *p holds */
	return owns_fn(p);
}

static struct pp_stats stats(void)
{
	struct pp_stats s;

	memset(&s, 0, sizeof(s));
	stats_fn(&s, sizeof(s));
	return s;
}

static size_t in_use(void)
{
	return stats().in_use;
}

/* The file that defines the code at @addr contains the shim's name. */
static bool in_shim(const void *addr, const char **file)
{
	Dl_info info;

	*file = "(no object)";
	if (!addr || !dladdr(addr, &info) || !info.dli_fname)
		return false;
	*file = info.dli_fname;
	return strstr(info.dli_fname, SHIM_NAME) != NULL;
}

static bool shim_loaded(void)
{
	const char *file;

	return dlsym(RTLD_DEFAULT, "pp_owns") != NULL && in_shim((void *)malloc, &file);
}

static bool resolve_pool_api(void)
{
	owns_fn = (__typeof__(owns_fn))dlsym(RTLD_DEFAULT, "pp_owns");
	stats_fn = (__typeof__(stats_fn))dlsym(RTLD_DEFAULT, "pp_stats");
	page_size_fn = (__typeof__(page_size_fn))dlsym(RTLD_DEFAULT, "pp_page_size");
	option_fn = (__typeof__(option_fn))dlsym(RTLD_DEFAULT, "pp_option");
	if (!owns_fn || !stats_fn || !page_size_fn || !option_fn)
		return false;
	PS = page_size_fn();
	return PS != 0;
}

/* ---- keep the compiler out of the way --------------------------------- */

static void *opaque(void *p)
{
	__asm__ volatile("" : "+r"(p));
	return p;
}

static size_t sz(size_t v)
{
	__asm__ volatile("" : "+r"(v));
	return v;
}

static bool aligned(const void *p, size_t a)
{
	return ((uintptr_t)p & (a - 1)) == 0;
}

/* A byte pattern that depends on the position and @seed. */
static unsigned char pat(size_t i, unsigned seed)
{
	return (unsigned char)(seed + i * 7 + (i >> 12) * 13 + 1);
}

static void fill(void *p, size_t n, unsigned seed)
{
	unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		c[i] = pat(i, seed);
	__asm__ volatile("" : : "r"(p) : "memory");
}

/* The first offset where @p differs from fill(@seed), or @n. */
static size_t check_fill(const void *p, size_t n, unsigned seed)
{
	const unsigned char *c = p;

	__asm__ volatile("" : : "r"(p) : "memory");
	for (size_t i = 0; i < n; i++)
		if (c[i] != pat(i, seed))
			return i;
	return n;
}

static void dirty(void *p, int byte, size_t n)
{
	memset(p, byte, n);
	__asm__ volatile("" : : "r"(p) : "memory");
}

/* The first non-zero offset, or @n. */
static size_t first_nonzero(const void *p, size_t n)
{
	const unsigned char *c = p;

	__asm__ volatile("" : : "r"(p) : "memory");
	for (size_t i = 0; i < n; i++)
		if (c[i])
			return i;
	return n;
}

/* ---- running a child: forked, or this program re-run ------------------ */

static void (*as_fn)(void);
static const char *as_mode, *as_conf;

/* In the child: an alarm against hangs, then the function or the re-run. */
static void child_body(void)
{
	alarm(15);
	if (as_fn) {
		as_fn();
		return;
	}
	if (as_conf)
		setenv("PAGEPOOL_CONF", as_conf, 1);
	else
		unsetenv("PAGEPOOL_CONF");
	execl("/proc/self/exe", "test_preload", "--child", as_mode, (char *)NULL);
	dprintf(STDERR_FILENO, "exec /proc/self/exe: %s\n", strerror(errno));
	_exit(99);
}

/*
 * Run @fn in a forked child with its stderr in @c (checkutil.h's
 * run_child()), or, if @fn is NULL, this program as "--child @mode" with
 * PAGEPOOL_CONF=@conf.  A @fn that returns exits 0 after writing @after.
 */
static void run_child_as(void (*fn)(void), const char *mode, const char *conf,
			 struct child *c, const char *after)
{
	as_fn = fn;
	as_mode = mode;
	as_conf = conf;
	run_child(child_body, c, after);
}

/* ---- the shim is what the program calls ------------------------------- */

START_TEST(test_symbols_resolve_to_shim)
{
	static const char *const names[] = {
		"malloc", "free", "calloc", "realloc", "reallocarray", "posix_memalign",
		"aligned_alloc", "memalign", "valloc", "pvalloc", "malloc_usable_size",
		"pp_owns", "pp_stats", "pp_page_size", "pp_option",
	};
	/* What this program's own calls reach (through its GOT). */
	const struct {
		const char *name;
		void *addr;
	} direct[] = {
		{ "malloc", (void *)malloc }, { "free", (void *)free },
		{ "calloc", (void *)calloc }, { "realloc", (void *)realloc },
		{ "reallocarray", (void *)reallocarray },
		{ "posix_memalign", (void *)posix_memalign },
		{ "aligned_alloc", (void *)aligned_alloc }, { "memalign", (void *)memalign },
		{ "valloc", (void *)valloc }, { "pvalloc", (void *)pvalloc },
		{ "malloc_usable_size", (void *)malloc_usable_size },
	};
	const char *file;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		void *a = dlsym(RTLD_DEFAULT, names[i]);

		ck_assert_msg(a != NULL, "dlsym(RTLD_DEFAULT, \"%s\") is NULL", names[i]);
		ck_assert_msg(in_shim(a, &file), "%s resolves into %s, not the shim", names[i],
			      file);
	}
	for (size_t i = 0; i < sizeof(direct) / sizeof(direct[0]); i++)
		ck_assert_msg(in_shim(direct[i].addr, &file),
			      "the program's %s is in %s, not the shim", direct[i].name, file);
	ck_assert_uint_eq(PS, (size_t)sysconf(_SC_PAGESIZE));
}
END_TEST

/* ---- routing ---------------------------------------------------------- */

/* malloc(@n): non-NULL, writable at both ends, and pool iff @pool. */
static void check_malloc_route(size_t n, bool pool)
{
	char *p = opaque(malloc(n));

	ck_assert_msg(p != NULL, "malloc(%zu) failed: %s", n, strerror(errno));
	p[0] = 1;
	p[n - 1] = 2;
	ck_assert_msg(owns(p) == pool, "malloc(%zu) = %p: pp_owns %d, want %d", n, (void *)p,
		      owns(p), pool);
	if (pool)
		ck_assert_msg(aligned(p, PS), "pool malloc(%zu) = %p is not page-aligned", n,
			      (void *)p);
	free(p);
}

START_TEST(test_route_malloc)
{
	check_malloc_route(PS, true);
	check_malloc_route(PS + 1, true);
	check_malloc_route(5 * PS, true);
	check_malloc_route(MAX_RUN * PS - 1, true);
	check_malloc_route(MAX_RUN * PS, true);
	check_malloc_route(PS - 1, false);
	check_malloc_route(100, false);
	check_malloc_route(1, false);
	check_malloc_route(MAX_RUN * PS + 1, false);
	check_malloc_route((MAX_RUN + 1) * PS, false);
	check_malloc_route(8 * MIB, false);
}
END_TEST

START_TEST(test_route_calloc_realloc)
{
	char *p = opaque(calloc(1, PS)), *q;

	ck_assert_ptr_nonnull(p);
	ck_assert_msg(owns(p), "calloc(1, page) is not pool");
	free(p);
	p = opaque(calloc(3, PS / 2));
	ck_assert_ptr_nonnull(p);
	ck_assert_msg(owns(p), "calloc(3, page/2) is not pool");
	free(p);
	p = opaque(calloc(PS - 1, 1));
	ck_assert_ptr_nonnull(p);
	ck_assert_msg(!owns(p), "calloc(page-1, 1) is pool");
	free(p);
	p = opaque(realloc(NULL, 3 * PS));
	ck_assert_ptr_nonnull(p);
	ck_assert_msg(owns(p), "realloc(NULL, 3 pages) is not pool");
	q = opaque(realloc(NULL, 100));
	ck_assert_ptr_nonnull(q);
	ck_assert_msg(!owns(q), "realloc(NULL, 100) is pool");
	free(p);
	free(q);
}
END_TEST

/* Every aligned allocator with alignment @al and size @n: aligned, usable, pool iff @pool. */
static void check_aligned_route(size_t al, size_t n, bool pool)
{
	void *p = NULL;
	char *q;
	int rc;

	rc = posix_memalign(&p, al, n);
	p = opaque(p);
	ck_assert_msg(rc == 0 && p, "posix_memalign(%zu, %zu) = %d", al, n, rc);
	ck_assert_msg(aligned(p, al), "posix_memalign(%zu, %zu) = %p: misaligned", al, n, p);
	ck_assert_msg(owns(p) == pool, "posix_memalign(%zu, %zu) = %p: pp_owns %d, want %d",
		      al, n, p, owns(p), pool);
	ck_assert_msg(malloc_usable_size(p) >= n, "posix_memalign(%zu, %zu): usable %zu", al, n,
		      malloc_usable_size(p));
	dirty(p, 0x5A, n);
	free(p);

	q = opaque(aligned_alloc(al, n));
	ck_assert_msg(q != NULL, "aligned_alloc(%zu, %zu): %s", al, n, strerror(errno));
	ck_assert_msg(aligned(q, al), "aligned_alloc(%zu, %zu) = %p: misaligned", al, n,
		      (void *)q);
	ck_assert_msg(owns(q) == pool, "aligned_alloc(%zu, %zu) = %p: pp_owns %d, want %d", al,
		      n, (void *)q, owns(q), pool);
	ck_assert_msg(malloc_usable_size(q) >= n, "aligned_alloc(%zu, %zu): usable %zu", al, n,
		      malloc_usable_size(q));
	dirty(q, 0x5A, n);
	free(q);

	q = opaque(memalign(al, n));
	ck_assert_msg(q != NULL, "memalign(%zu, %zu): %s", al, n, strerror(errno));
	ck_assert_msg(aligned(q, al), "memalign(%zu, %zu) = %p: misaligned", al, n, (void *)q);
	ck_assert_msg(owns(q) == pool, "memalign(%zu, %zu) = %p: pp_owns %d, want %d", al, n,
		      (void *)q, owns(q), pool);
	ck_assert_msg(malloc_usable_size(q) >= n, "memalign(%zu, %zu): usable %zu", al, n,
		      malloc_usable_size(q));
	dirty(q, 0x5A, n);
	free(q);
}

START_TEST(test_route_aligned)
{
	static const size_t sizes[] = { 1, 8, 100, 1000 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];

		/* below a page: the C library's */
		check_aligned_route(sizeof(void *), n, false);
		check_aligned_route(64, n, false);
		check_aligned_route(PS / 2, n, false);
		/* page alignment and more: the pool, even for a byte */
		check_aligned_route(PS, n, true);
		check_aligned_route(2 * PS, n, true);
		check_aligned_route(16 * PS, n, true);
		check_aligned_route(MAX_RUN * PS / 2, n, true);
		check_aligned_route(MAX_RUN * PS, n, true);
	}
	check_aligned_route(PS, PS, true);
	check_aligned_route(PS, 3 * PS + 1, true);
	check_aligned_route(4 * PS, 5 * PS, true);
	check_aligned_route(64, 2 * PS, true);	/* big enough anyway */
	check_aligned_route(MAX_RUN * PS, MAX_RUN * PS, true);
	/* too big for the pool: the C library's, still aligned */
	check_aligned_route(PS, MAX_RUN * PS + 1, false);
	check_aligned_route(PS, (MAX_RUN + 3) * PS, false);
}
END_TEST

START_TEST(test_route_valloc)
{
	static const size_t sizes[] = { 1, 100, 4095, 4096, 3 * 4096 + 5 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		char *p = opaque(valloc(n));

		ck_assert_msg(p != NULL, "valloc(%zu): %s", n, strerror(errno));
		ck_assert_msg(aligned(p, PS), "valloc(%zu) = %p: not page-aligned", n, (void *)p);
		ck_assert_msg(owns(p), "valloc(%zu) = %p is not pool", n, (void *)p);
		ck_assert_uint_ge(malloc_usable_size(p), n);
		dirty(p, 1, n);
		free(p);
		p = opaque(pvalloc(n));
		ck_assert_msg(p != NULL, "pvalloc(%zu): %s", n, strerror(errno));
		ck_assert_msg(aligned(p, PS), "pvalloc(%zu) = %p: not page-aligned", n, (void *)p);
		ck_assert_msg(owns(p), "pvalloc(%zu) = %p is not pool", n, (void *)p);
		ck_assert_msg(malloc_usable_size(p) >= (n + PS - 1) / PS * PS,
			      "pvalloc(%zu): usable %zu, want whole pages", n,
			      malloc_usable_size(p));
		dirty(p, 1, (n + PS - 1) / PS * PS);
		free(p);
	}
}
END_TEST

/* Alignments beyond the largest pool block: the C library, aligned all the same. */
START_TEST(test_route_huge_alignment)
{
	static const size_t aligns[] = { 8 * MIB, 16 * MIB };

	for (size_t i = 0; i < sizeof(aligns) / sizeof(aligns[0]); i++) {
		size_t al = aligns[i];

		check_aligned_route(al, 100, false);
		check_aligned_route(al, PS, false);
		check_aligned_route(al, 3 * MIB, false);
	}
}
END_TEST

/* ---- exact page counts and the ledger --------------------------------- */

START_TEST(test_exact_five_pages)
{
	size_t before, during, after, usable;
	char *p;

	before = in_use();
	p = opaque(malloc(5 * PS));
	during = in_use();
	usable = p ? malloc_usable_size(p) : 0;
	if (p)
		dirty(p, 0x11, 5 * PS);
	free(p);
	after = in_use();

	ck_assert_ptr_nonnull(p);
	ck_assert_msg(during - before == 5, "malloc(5 pages) raised in_use by %zu pages, want 5",
		      during - before);
	ck_assert_msg(usable == 5 * PS, "malloc_usable_size(malloc(5 pages)) = %zu, want %zu",
		      usable, 5 * PS);
	ck_assert_msg(after == before, "in_use %zu after the free, %zu before", after, before);
}
END_TEST

static void check_ledger(const char *when);

/*
 * Pool memory from malloc handed to the pool's own free calls, as
 * libpagepool-rcu does with every pointer pp_owns() claims: the start of a
 * run freed by its first block's order (pp_block_order()) goes back whole,
 * and a 1-page run in a pp_free_pages_bulk() array too.
 */
START_TEST(test_run_freed_by_pool_calls)
{
	__typeof__(pp_block_order) *order_fn =
		(__typeof__(order_fn))dlsym(RTLD_DEFAULT, "pp_block_order");
	__typeof__(pp_free_pages) *free_pages_fn =
		(__typeof__(free_pages_fn))dlsym(RTLD_DEFAULT, "pp_free_pages");
	__typeof__(pp_free_pages_bulk) *bulk_fn =
		(__typeof__(bulk_fn))dlsym(RTLD_DEFAULT, "pp_free_pages_bulk");
	__typeof__(pp_alloc_page) *page_fn =
		(__typeof__(page_fn))dlsym(RTLD_DEFAULT, "pp_alloc_page");
	size_t before = in_use(), sizes[] = { 1, 3, 5, 8, 9, 13, 100 };
	void *arr[4];

	ck_assert(order_fn && free_pages_fn && bulk_fn && page_fn);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *p = opaque(malloc(sizes[i] * PS));
		int order;

		ck_assert_ptr_nonnull(p);
		dirty(p, 0x5a, sizes[i] * PS);
		order = order_fn(p);
		ck_assert_msg(order >= 0, "pp_block_order(malloc(%zu pages)) = %d", sizes[i], order);
		free_pages_fn(p, (unsigned)order);
		ck_assert_msg(in_use() == before, "pp_free_pages() of a %zu-page run left "
			      "in_use %zu, was %zu", sizes[i], in_use(), before);
	}
	arr[0] = opaque(malloc(PS));
	arr[1] = page_fn(0);
	arr[2] = NULL;
	arr[3] = opaque(malloc(PS));
	ck_assert(arr[0] && arr[1] && arr[3]);
	bulk_fn(4, arr);
	ck_assert_msg(in_use() == before, "pp_free_pages_bulk() with 1-page runs left in_use "
		      "%zu, was %zu", in_use(), before);
	check_ledger("after the pool's free calls on runs");
}
END_TEST

static void check_ledger(const char *when)
{
	struct pp_stats s = stats();

	ck_assert_msg(s.committed == s.in_use + s.cached + s.free + s.reserved,
		      "%s: committed %zu != in_use %zu + cached %zu + free %zu + reserved %zu",
		      when, s.committed, s.in_use, s.cached, s.free, s.reserved);
}

START_TEST(test_exact_sizes_loop)
{
	enum { MAXP = 40 };
	char *p[MAXP + 1];
	size_t start, all, usable[MAXP + 1], bad = 0, bad_n = 0, bad_u = 0;

	start = in_use();
	for (unsigned round = 0; round < 4; round++) {
		/* one at a time; odd rounds ask for a byte less (n > 1) */
		for (size_t n = 1; n <= MAXP; n++) {
			size_t bytes = n * PS - ((round & 1) && n > 1);
			char *q = opaque(malloc(bytes));
			size_t u = in_use();

			ck_assert_msg(q != NULL, "malloc(%zu)", bytes);
			if (u - start != n && !bad)
				bad = n, bad_u = u - start;
			q[bytes - 1] = 1;
			free(q);
		}
		ck_assert_msg(!bad, "round %u: malloc of %zu pages raised in_use by %zu", round, bad,
			      bad_u);
		ck_assert_uint_eq(in_use(), start);
		/* all at once, freed in another order */
		for (size_t n = 1; n <= MAXP; n++) {
			p[n] = opaque(malloc(n * PS));
			ck_assert_msg(p[n] != NULL, "malloc(%zu pages)", n);
			usable[n] = malloc_usable_size(p[n]);
			fill(p[n], 64, (unsigned)n);
		}
		all = in_use();
		for (size_t n = 1; n <= MAXP; n++)
			if (usable[n] != n * PS && !bad_n)
				bad_n = n;
		ck_assert_msg(!bad_n, "malloc_usable_size(malloc(%zu pages)) = %zu", bad_n,
			      bad_n ? usable[bad_n] : 0);
		ck_assert_msg(all - start == MAXP * (MAXP + 1) / 2,
			      "round %u: 1..%d pages raised in_use by %zu, want %d", round, MAXP,
			      all - start, MAXP * (MAXP + 1) / 2);
		check_ledger("all allocated");
		for (size_t k = 0; k < MAXP; k++) {
			size_t n = (round & 1) ? MAXP - k : 1 + (k * 7 + round) % MAXP;

			ck_assert_msg(check_fill(p[n], 64, (unsigned)n) == 64,
				      "malloc(%zu pages) was overwritten", n);
			free(p[n]);
		}
		ck_assert_msg(in_use() == start, "round %u: in_use %zu after all frees, %zu before",
			      round, in_use(), start);
		check_ledger("all freed");
	}
}
END_TEST

/* ---- malloc_usable_size ------------------------------------------------ */

START_TEST(test_usable_size)
{
	size_t bad = 0, got = 0;

	ck_assert_uint_eq(malloc_usable_size(NULL), 0);
	for (size_t n = 1; n <= 3 * PS + 10; n += (n < 64 ? 1 : n < PS + 64 ? 37 : 211)) {
		char *p = opaque(malloc(n));
		size_t u;

		ck_assert_msg(p != NULL, "malloc(%zu)", n);
		u = malloc_usable_size(p);
		if (u < n || (owns(p) && u != (n + PS - 1) / PS * PS)) {
			bad = n;
			got = u;
		}
		dirty(p, 0x33, u);	/* all of it is usable */
		free(p);
		if (bad)
			break;
	}
	ck_assert_msg(!bad, "malloc_usable_size(malloc(%zu)) = %zu", bad, got);
	for (size_t pages = 1; pages <= MAX_RUN + 2; pages = pages < 16 ? pages + 1 : pages * 2 - 1) {
		size_t n = pages * PS - 3;
		char *p = opaque(malloc(n));
		size_t u;

		ck_assert_msg(p != NULL, "malloc(%zu)", n);
		u = malloc_usable_size(p);
		ck_assert_msg(u >= n, "malloc_usable_size(malloc(%zu)) = %zu", n, u);
		if (owns(p))
			ck_assert_msg(u == pages * PS, "pool malloc(%zu): usable %zu, want %zu", n, u,
				      pages * PS);
		p[u - 1] = 1;
		free(p);
	}
	{
		char *p = opaque(calloc(7, PS / 2 + 1)), *q = opaque(calloc(3, 33));

		ck_assert_ptr_nonnull(p);
		ck_assert_ptr_nonnull(q);
		ck_assert_uint_eq(malloc_usable_size(p), 4 * PS);
		ck_assert_uint_ge(malloc_usable_size(q), 99);
		free(p);
		free(q);
	}
}
END_TEST

/* ---- malloc edge cases and errno --------------------------------------- */

static void check_enomem(const char *what, void *p)
{
	int e = errno;

	ck_assert_msg(p == NULL, "%s = %p, want NULL", what, p);
	ck_assert_msg(e == ENOMEM, "%s: errno %d (%s), want ENOMEM", what, e, strerror(e));
}

START_TEST(test_malloc_zero_and_free_null)
{
	char *a = opaque(malloc(0)), *b = opaque(malloc(0));

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_msg(a != b, "two malloc(0) returned the same %p", (void *)a);
	ck_assert_msg(!owns(a) && !owns(b), "malloc(0) came from the pool");
	free(a);
	free(b);
	free(opaque(NULL));
	free(NULL);
}
END_TEST

START_TEST(test_malloc_too_big)
{
	static const struct {
		const char *what;
		size_t n;
	} v[] = {
		{ "SIZE_MAX", SIZE_MAX },
		{ "SIZE_MAX-1", SIZE_MAX - 1 },
		{ "SIZE_MAX-4095 (rounds past SIZE_MAX)", SIZE_MAX - 4095 },
		{ "SIZE_MAX-4096", SIZE_MAX - 4096 },
		{ "SIZE_MAX/2", SIZE_MAX / 2 },
		{ "SIZE_MAX/2+1", SIZE_MAX / 2 + 1 },
		{ "PTRDIFF_MAX-100", (size_t)PTRDIFF_MAX - 100 },
		{ "2^62", (size_t)1 << 62 },
	};
	char what[96];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		void *p;

		snprintf(what, sizeof(what), "malloc(%s)", v[i].what);
		errno = 0;
		p = opaque(malloc(sz(v[i].n)));
		check_enomem(what, p);
		snprintf(what, sizeof(what), "realloc(NULL, %s)", v[i].what);
		errno = 0;
		p = opaque(realloc(NULL, sz(v[i].n)));
		check_enomem(what, p);
		snprintf(what, sizeof(what), "calloc(1, %s)", v[i].what);
		errno = 0;
		p = opaque(calloc(1, sz(v[i].n)));
		check_enomem(what, p);
		snprintf(what, sizeof(what), "aligned_alloc(page, %s)", v[i].what);
		errno = 0;
		p = opaque(aligned_alloc(PS, sz(v[i].n)));
		check_enomem(what, p);
		snprintf(what, sizeof(what), "memalign(page, %s)", v[i].what);
		errno = 0;
		p = opaque(memalign(PS, sz(v[i].n)));
		check_enomem(what, p);
		snprintf(what, sizeof(what), "valloc(%s)", v[i].what);
		errno = 0;
		p = opaque(valloc(sz(v[i].n)));
		check_enomem(what, p);
		snprintf(what, sizeof(what), "pvalloc(%s)", v[i].what);
		errno = 0;
		p = opaque(pvalloc(sz(v[i].n)));
		check_enomem(what, p);
		p = (void *)&what;
		ck_assert_msg(posix_memalign(&p, PS, sz(v[i].n)) == ENOMEM,
			      "posix_memalign(page, %s) did not return ENOMEM", v[i].what);
		ck_assert_msg(p == (void *)&what, "posix_memalign(page, %s) wrote *memptr",
			      v[i].what);
	}
}
END_TEST

/* ---- calloc ----------------------------------------------------------- */

START_TEST(test_calloc_overflow)
{
	static const size_t v[][2] = {
		{ SIZE_MAX / 2, 3 }, { 3, SIZE_MAX / 2 }, { SIZE_MAX, SIZE_MAX },
		{ (SIZE_MAX / 4096) + 1, 4096 }, { 4096, (SIZE_MAX / 4096) + 1 },
		{ (size_t)1 << 33, (size_t)1 << 31 },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char what[96];
		void *p;

		snprintf(what, sizeof(what), "calloc(%zu, %zu)", v[i][0], v[i][1]);
		errno = 0;
		p = opaque(calloc(sz(v[i][0]), sz(v[i][1])));
		check_enomem(what, p);
	}
}
END_TEST

START_TEST(test_calloc_zeroes_reused_pages)
{
	static const size_t pages[] = { 1, 2, 3, 5, 8, 13, 64, 300, MAX_RUN };

	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		size_t n = pages[i] * PS;

		for (int r = 0; r < 6; r++) {
			char *p = opaque(malloc(n)), *q;
			size_t nz;

			ck_assert_ptr_nonnull(p);
			dirty(p, 0xAA, n);
			free(p);
			/* n, or the same pages asked for as count * size */
			q = opaque(r & 1 ? calloc(pages[i], PS) : calloc(n, 1));
			ck_assert_msg(q != NULL, "calloc for %zu pages", pages[i]);
			ck_assert_msg(owns(q), "calloc of %zu pages is not pool", pages[i]);
			nz = first_nonzero(q, n);
			ck_assert_msg(nz == n, "calloc of %zu pages (round %d, %s the dirtied block) "
				      "has byte %#x at offset %zu", pages[i], r,
				      q == p ? "reusing" : "not reusing", (unsigned char)q[nz], nz);
			dirty(q, 0xAA, n);
			free(q);
		}
	}
	/* small sizes from the C library too */
	for (int r = 0; r < 4; r++) {
		char *p = opaque(malloc(200)), *q;

		ck_assert_ptr_nonnull(p);
		dirty(p, 0xAA, 200);
		free(p);
		q = opaque(calloc(10, 20));
		ck_assert_ptr_nonnull(q);
		ck_assert_uint_eq(first_nonzero(q, 200), 200);
		free(q);
	}
}
END_TEST

/* ---- reallocarray ------------------------------------------------------ */

START_TEST(test_reallocarray)
{
	static const size_t sizes[] = { 100, 3 * 4096 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		char *p = opaque(malloc(n)), *q;
		size_t before;

		ck_assert_ptr_nonnull(p);
		fill(p, n, 5);
		before = in_use();
		errno = 0;
		q = opaque(reallocarray(opaque(p), sz(SIZE_MAX / 2), 3));
		check_enomem("reallocarray(p, SIZE_MAX/2, 3)", q);
		errno = 0;
		q = opaque(reallocarray(opaque(p), sz((size_t)1 << 40), sz((size_t)1 << 30)));
		check_enomem("reallocarray(p, 2^40, 2^30)", q);
		ck_assert_uint_eq(in_use(), before);
		ck_assert_msg(check_fill(p, n, 5) == n, "reallocarray overflow spoilt the block");
		ck_assert_uint_ge(malloc_usable_size(p), n);
		/* and the block still works: grow it */
		q = opaque(reallocarray(p, 5, PS));
		ck_assert_ptr_nonnull(q);
		ck_assert_msg(owns(q), "reallocarray(p, 5, page) is not pool");
		ck_assert_uint_eq(malloc_usable_size(q), 5 * PS);
		ck_assert_msg(check_fill(q, n, 5) == n, "reallocarray lost the contents");
		free(q);
	}
	{
		char *p = opaque(reallocarray(NULL, 3, PS)), *q = opaque(reallocarray(NULL, 10, 10));

		ck_assert_ptr_nonnull(p);
		ck_assert_ptr_nonnull(q);
		ck_assert(owns(p));
		ck_assert(!owns(q));
		ck_assert_uint_eq(malloc_usable_size(p), 3 * PS);
		free(p);
		free(q);
	}
}
END_TEST

/* ---- realloc ---------------------------------------------------------- */

START_TEST(test_realloc_small_to_pool)
{
	char *p = opaque(malloc(100)), *q;

	ck_assert_ptr_nonnull(p);
	ck_assert(!owns(p));
	fill(p, 100, 1);
	q = opaque(realloc(p, 3 * PS));
	ck_assert_ptr_nonnull(q);
	ck_assert_msg(owns(q), "realloc(small, 3 pages) is not pool");
	ck_assert_uint_eq(malloc_usable_size(q), 3 * PS);
	ck_assert_msg(check_fill(q, 100, 1) == 100, "small -> pool lost the contents at %zu",
		      check_fill(q, 100, 1));
	dirty(q, 7, 3 * PS);
	free(q);
}
END_TEST

START_TEST(test_realloc_pool_grow_shrink)
{
	size_t start, n2, n7, n3, got;
	char *p, *q, *r;

	start = in_use();
	p = opaque(malloc(2 * PS));
	ck_assert_ptr_nonnull(p);
	fill(p, 2 * PS, 2);
	n2 = in_use();
	q = opaque(realloc(p, 7 * PS));
	ck_assert_ptr_nonnull(q);
	n7 = in_use();
	ck_assert_msg(owns(q), "realloc(2 pages -> 7 pages) is not pool");
	ck_assert_uint_eq(malloc_usable_size(q), 7 * PS);
	got = check_fill(q, 2 * PS, 2);
	ck_assert_msg(got == 2 * PS, "grow lost the contents at %zu", got);
	ck_assert_uint_eq(n2 - start, 2);
	ck_assert_msg(n7 - start == 7, "after growing to 7 pages in_use is up %zu", n7 - start);
	fill(q, 7 * PS, 3);
	r = opaque(realloc(q, 3 * PS));
	ck_assert_ptr_nonnull(r);
	n3 = in_use();
	ck_assert_msg(owns(r), "realloc(7 pages -> 3 pages) is not pool");
	got = check_fill(r, 3 * PS, 3);
	ck_assert_msg(got == 3 * PS, "shrink lost the contents at %zu", got);
	ck_assert_msg(n3 < n7, "shrinking 7 -> 3 pages did not lower in_use (%zu -> %zu)", n7, n3);
	ck_assert_msg(n3 - start == 3, "after shrinking to 3 pages in_use is up %zu", n3 - start);
	ck_assert_uint_eq(malloc_usable_size(r), 3 * PS);
	/* same size, and a grow of one byte past the page */
	r = opaque(realloc(r, 3 * PS));
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(check_fill(r, 3 * PS, 3), 3 * PS);
	r = opaque(realloc(r, 3 * PS + 1));
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(malloc_usable_size(r), 4 * PS);
	ck_assert_uint_eq(check_fill(r, 3 * PS, 3), 3 * PS);
	ck_assert_uint_eq(in_use() - start, 4);
	free(r);
	ck_assert_uint_eq(in_use(), start);
}
END_TEST

START_TEST(test_realloc_pool_to_small_and_huge)
{
	size_t start = in_use(), got;
	char *p = opaque(malloc(4 * PS)), *q;

	ck_assert_ptr_nonnull(p);
	ck_assert(owns(p));
	fill(p, 4 * PS, 4);
	q = opaque(realloc(p, 50));
	ck_assert_ptr_nonnull(q);
	ck_assert_msg(!owns(q), "realloc(4 pages, 50) stayed in the pool");
	ck_assert_msg(check_fill(q, 50, 4) == 50, "pool -> small lost the prefix");
	ck_assert_msg(in_use() == start, "pool -> small: in_use %zu, %zu before", in_use(), start);
	free(q);

	/* pool -> beyond the pool's largest block -> back */
	p = opaque(malloc(1000 * PS));
	ck_assert_ptr_nonnull(p);
	fill(p, 1000 * PS, 6);
	q = opaque(realloc(p, (MAX_RUN + 100) * PS));
	ck_assert_ptr_nonnull(q);
	ck_assert_msg(!owns(q), "realloc to %zu pages stayed in the pool", MAX_RUN + 100);
	got = check_fill(q, 1000 * PS, 6);
	ck_assert_msg(got == 1000 * PS, "pool -> huge lost the contents at %zu", got);
	ck_assert_uint_eq(in_use(), start);
	p = opaque(realloc(q, 9 * PS));
	ck_assert_ptr_nonnull(p);
	ck_assert_msg(owns(p), "realloc(huge, 9 pages) is not pool");
	got = check_fill(p, 9 * PS, 6);
	ck_assert_msg(got == 9 * PS, "huge -> pool lost the contents at %zu", got);
	ck_assert_uint_eq(in_use() - start, 9);
	free(p);
	ck_assert_uint_eq(in_use(), start);
}
END_TEST

START_TEST(test_realloc_zero_and_failure)
{
	size_t start = in_use(), during;
	char *p = opaque(malloc(3 * PS)), *q;

	ck_assert_ptr_nonnull(p);
	during = in_use();
	ck_assert_uint_eq(during - start, 3);
	q = opaque(realloc(p, 0));
	ck_assert_msg(q == NULL, "realloc(pool, 0) = %p, want NULL (glibc frees)", (void *)q);
	ck_assert_msg(in_use() == start, "realloc(pool, 0) did not free: in_use up %zu",
		      in_use() - start);
	p = opaque(malloc(100));
	ck_assert_ptr_nonnull(p);
	q = opaque(realloc(p, 0));
	ck_assert_msg(q == NULL, "realloc(small, 0) = %p, want NULL", (void *)q);

	/* a failing realloc keeps the block, pool or not */
	for (int pool = 0; pool < 2; pool++) {
		size_t n = pool ? 2 * PS : 64;

		p = opaque(malloc(n));
		ck_assert_ptr_nonnull(p);
		fill(p, n, 9);
		during = in_use();
		errno = 0;
		q = opaque(realloc(opaque(p), sz(SIZE_MAX - 100)));
		check_enomem("realloc(p, SIZE_MAX-100)", q);
		errno = 0;
		q = opaque(realloc(opaque(p), sz(SIZE_MAX / 2)));
		check_enomem("realloc(p, SIZE_MAX/2)", q);
		ck_assert_uint_eq(in_use(), during);
		ck_assert_msg(check_fill(p, n, 9) == n, "failed realloc spoilt the block");
		ck_assert_uint_ge(malloc_usable_size(p), n);
		free(p);
	}
	ck_assert_uint_eq(in_use(), start);
}
END_TEST

/* ---- posix_memalign, aligned_alloc, memalign, valloc, pvalloc ---------- */

START_TEST(test_posix_memalign_einval)
{
	const size_t bad[] = {
		0, 1, 3, 12, sizeof(void *) / 2, sizeof(void *) + 1, 24, 48, 3 * 4096,
		4096 + 8, SIZE_MAX, (SIZE_MAX >> 1) + 1 + sizeof(void *),
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		static const size_t sizes[] = { 8, 4096, 5 * 4096 };

		for (size_t k = 0; k < 3; k++) {
			void *p = (void *)&bad[i];
			int rc;

			errno = EDOM;
			rc = posix_memalign(&p, sz(bad[i]), sizes[k]);
			ck_assert_msg(rc == EINVAL, "posix_memalign(%zu, %zu) returned %d, want EINVAL",
				      bad[i], sizes[k], rc);
			ck_assert_msg(p == (void *)&bad[i],
				      "posix_memalign(%zu, %zu) wrote *memptr (%p)", bad[i], sizes[k],
				      p);
			ck_assert_msg(errno == EDOM, "posix_memalign(%zu, %zu) set errno to %d",
				      bad[i], sizes[k], errno);
		}
	}
}
END_TEST

START_TEST(test_posix_memalign_ok)
{
	for (size_t al = sizeof(void *); al <= 4 * MIB; al *= 2) {
		static const size_t sizes[] = { 1, 24, 4096, 3 * 4096 + 1 };

		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			void *p = NULL;
			int rc = posix_memalign(&p, sz(al), sizes[k]);

			p = opaque(p);
			ck_assert_msg(rc == 0 && p, "posix_memalign(%zu, %zu) = %d", al, sizes[k], rc);
			ck_assert_msg(aligned(p, al), "posix_memalign(%zu, %zu) = %p", al, sizes[k], p);
			ck_assert_uint_ge(malloc_usable_size(p), sizes[k]);
			dirty(p, 0x77, sizes[k]);
			free(p);
		}
	}
	{
		/* size 0 goes to the C library, any alignment */
		void *p = NULL;

		ck_assert_int_eq(posix_memalign(&p, PS, sz(0)), 0);
		p = opaque(p);
		ck_assert_ptr_nonnull(p);
		ck_assert(aligned(p, PS));
		ck_assert_msg(!owns(p), "posix_memalign(page, 0) came from the pool");
		free(p);
	}
}
END_TEST

START_TEST(test_aligned_alloc_einval)
{
	static const size_t bad[] = { 0, 3, 12, 24, 48, 3 * 4096, 4096 + 8 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		static const size_t sizes[] = { 8, 4096, 4 * 4096 };

		for (size_t k = 0; k < 3; k++) {
			char what[64];
			void *p;

			snprintf(what, sizeof(what), "aligned_alloc(%zu, %zu)", bad[i], sizes[k]);
			errno = 0;
			p = opaque(aligned_alloc(sz(bad[i]), sizes[k]));
			ck_assert_msg(p == NULL, "%s = %p, want NULL", what, p);
			ck_assert_msg(errno == EINVAL, "%s: errno %d, want EINVAL", what, errno);
		}
	}
}
END_TEST

START_TEST(test_memalign_rounds_up)
{
	static const struct {
		size_t align, size, want;
	} v[] = {
		{ 48, 100, 64 }, { 24, 10, 32 }, { 3, 10, 4 }, { 96, 4096, 128 },
		{ 3 * 4096, 100, 4 * 4096 }, { 5 * 4096, 2 * 4096, 8 * 4096 },
		{ 4096 + 8, 10, 2 * 4096 },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *p = opaque(memalign(sz(v[i].align), v[i].size));

		ck_assert_msg(p != NULL, "memalign(%zu, %zu): %s", v[i].align, v[i].size,
			      strerror(errno));
		ck_assert_msg(aligned(p, v[i].want), "memalign(%zu, %zu) = %p, not aligned to %zu",
			      v[i].align, v[i].size, (void *)p, v[i].want);
		ck_assert_uint_ge(malloc_usable_size(p), v[i].size);
		dirty(p, 0x44, v[i].size);
		free(p);
	}
}
END_TEST

START_TEST(test_pvalloc)
{
	char *p;

	p = opaque(pvalloc(1));
	ck_assert_ptr_nonnull(p);
	ck_assert_msg(aligned(p, PS), "pvalloc(1) = %p", (void *)p);
	ck_assert_msg(malloc_usable_size(p) >= PS, "pvalloc(1): usable %zu",
		      malloc_usable_size(p));
	dirty(p, 1, PS);
	free(p);
	p = opaque(pvalloc(sz(0)));
	ck_assert_ptr_nonnull(p);
	ck_assert_msg(aligned(p, PS), "pvalloc(0) = %p", (void *)p);
	ck_assert_msg(malloc_usable_size(p) >= PS, "pvalloc(0): usable %zu, want a page",
		      malloc_usable_size(p));
	dirty(p, 1, PS);
	free(p);
	p = opaque(pvalloc(PS + 1));
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_ge(malloc_usable_size(p), 2 * PS);
	dirty(p, 1, 2 * PS);
	free(p);
	errno = 0;
	p = opaque(pvalloc(sz(SIZE_MAX)));
	check_enomem("pvalloc(SIZE_MAX)", p);
	errno = 0;
	p = opaque(valloc(sz(SIZE_MAX)));
	check_enomem("valloc(SIZE_MAX)", p);
}
END_TEST

/* ---- threads ---------------------------------------------------------- */

enum { NTHR = 8, XROUNDS = 300, XPER = 4, KEEP = 24 };

struct node {
	struct node *next;
	uint64_t tag;
};

static struct {
	pthread_mutex_t mu;
	struct node *head;
} mbox[NTHR];
static pthread_barrier_t xbar;
static void *kept[NTHR][KEEP];
static size_t kept_pages[NTHR][KEEP];
static int xerr;

static void xfail(void)
{
	__atomic_add_fetch(&xerr, 1, __ATOMIC_RELAXED);
}

static uint64_t mk_tag(size_t thr, size_t seq)
{
	return 0xC0DE000000000000ULL | ((uint64_t)thr << 32) | seq;
}

static void drain_box(size_t me)
{
	struct node *n;

	pthread_mutex_lock(&mbox[me].mu);
	n = mbox[me].head;
	mbox[me].head = NULL;
	pthread_mutex_unlock(&mbox[me].mu);
	while (n) {
		struct node *next = n->next;
		uint64_t end;

		memcpy(&end, (char *)n + PS - sizeof(end), sizeof(end));
		if (!owns(n) || (n->tag >> 48) != 0xC0DE || end != n->tag)
			xfail();
		free(n);
		n = next;
	}
}

static void *xthread(void *arg)
{
	size_t me = (size_t)(uintptr_t)arg, seq = 0;

	for (size_t r = 0; r < XROUNDS; r++) {
		size_t to = (me + 1 + r % (NTHR - 1)) % NTHR;

		for (size_t k = 0; k < XPER; k++) {
			struct node *n = malloc(PS);

			if (!n || !owns(n) || malloc_usable_size(n) != PS) {
				xfail();
				free(n);
				continue;
			}
			n->tag = mk_tag(me, seq++);
			memcpy((char *)n + PS - sizeof(n->tag), &n->tag, sizeof(n->tag));
			pthread_mutex_lock(&mbox[to].mu);
			n->next = mbox[to].head;
			mbox[to].head = n;
			pthread_mutex_unlock(&mbox[to].mu);
		}
		drain_box(me);
	}
	pthread_barrier_wait(&xbar);	/* every hand-over is done */
	drain_box(me);
	/* blocks that outlive this thread, freed by the main thread */
	for (size_t k = 0; k < KEEP; k++) {
		size_t pages = 1 + (me + k) % 4;

		kept[me][k] = malloc(pages * PS);
		kept_pages[me][k] = pages;
		if (!kept[me][k] || !owns(kept[me][k]))
			xfail();
		else
			fill(kept[me][k], 64, (unsigned)(me * KEEP + k));
	}
	return NULL;
}

START_TEST(test_threads_cross_free)
{
	pthread_t t[NTHR];
	size_t start, after_join, want = 0, after, threads0, threads1;

	free(opaque(malloc(PS)));	/* this thread has its cache before we count */
	threads0 = stats().threads;
	start = in_use();
	for (size_t i = 0; i < NTHR; i++) {
		pthread_mutex_init(&mbox[i].mu, NULL);
		mbox[i].head = NULL;
	}
	ck_assert_int_eq(pthread_barrier_init(&xbar, NULL, NTHR), 0);
	for (size_t i = 0; i < NTHR; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, xthread, (void *)(uintptr_t)i), 0);
	for (size_t i = 0; i < NTHR; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	after_join = in_use();
	for (size_t i = 0; i < NTHR; i++)
		for (size_t k = 0; k < KEEP; k++)
			want += kept_pages[i][k];
	ck_assert_int_eq(xerr, 0);
	ck_assert_msg(after_join - start == want,
		      "after the threads exited in_use is up %zu pages, they left %zu",
		      after_join - start, want);
	for (size_t i = 0; i < NTHR; i++)
		for (size_t k = 0; k < KEEP; k++) {
			ck_assert_msg(check_fill(kept[i][k], 64, (unsigned)(i * KEEP + k)) == 64,
				      "a dead thread's block was overwritten");
			free(kept[i][k]);
		}
	after = in_use();
	threads1 = stats().threads;
	ck_assert_msg(after == start, "in_use %zu at the end, %zu at the start", after, start);
	ck_assert_msg(threads1 == threads0, "%zu threads have a cache after the %d exited, %zu "
		      "before", threads1, NTHR, threads0);
	check_ledger("after the threads");
	pthread_barrier_destroy(&xbar);
}
END_TEST

/*
 * Thread-specific data destructors run after the shim's own (its key was
 * made first): they free pool memory and allocate more while the thread
 * dies.  Nothing may stay in use, and no cache may outlive the thread.
 */
static pthread_key_t dkey[3];

static void tsd_destructor(void *v)
{
	void *more;

	if (!v || !owns(v) || malloc_usable_size(v) != 2 * PS)
		xfail();
	free(v);
	more = opaque(malloc(3 * PS));
	if (!more || !owns(more))
		xfail();
	free(more);
}

static void *tsd_thread(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < 3; i++)
		if (pthread_setspecific(dkey[i], opaque(malloc(2 * PS))))
			xfail();
	free(opaque(malloc(PS)));
	return NULL;
}

START_TEST(test_thread_exit_destructors)
{
	size_t start, threads0, after, threads1;
	pthread_t t;

	for (size_t i = 0; i < 3; i++)
		ck_assert_int_eq(pthread_key_create(&dkey[i], tsd_destructor), 0);
	free(opaque(malloc(PS)));
	threads0 = stats().threads;
	start = in_use();
	for (int round = 0; round < 4; round++) {
		ck_assert_int_eq(pthread_create(&t, NULL, tsd_thread, NULL), 0);
		ck_assert_int_eq(pthread_join(t, NULL), 0);
	}
	after = in_use();
	threads1 = stats().threads;
	ck_assert_int_eq(xerr, 0);
	ck_assert_msg(after == start, "in_use up %zu pages after threads whose destructors "
		      "freed their blocks", after - start);
	ck_assert_msg(threads1 == threads0, "%zu threads have a cache after the threads "
		      "exited, %zu before (a dead thread's cache was left behind)", threads1,
		      threads0);
	check_ledger("after the threads");
}
END_TEST

/* ---- fork() while other threads allocate ------------------------------ */

static int churn_stop;
/*
 * Odd while the main thread is inside fork(): a page-sized malloc() that
 * finds the pool's lock taken by fork()'s prepare handler is served by the
 * C library instead of waiting (lib/buddy.c), and only then.
 */
static unsigned fork_gen;

static void *churner(void *arg)
{
	uint64_t s = 0x9E3779B97F4A7C15ULL * ((uintptr_t)arg + 1);
	void *held[8] = { NULL };

	while (!__atomic_load_n(&churn_stop, __ATOMIC_RELAXED)) {
		size_t i, pages;

		s ^= s >> 12;
		s ^= s << 25;
		s ^= s >> 27;
		i = (s >> 3) % 8;
		pages = 1 + (s >> 7) % 8;
		unsigned gen = __atomic_load_n(&fork_gen, __ATOMIC_SEQ_CST);

		free(held[i]);
		held[i] = (s & 1) ? malloc(pages * PS) : calloc(pages, PS);
		if (!held[i] || (!owns(held[i]) && !(gen & 1) &&
				 gen == __atomic_load_n(&fork_gen, __ATOMIC_SEQ_CST)))
			xfail();	/* NULL, or the C library's with no fork() about */
		else
			((char *)held[i])[pages * PS - 1] = 1;
		free(malloc(50 + (s >> 20) % 500));	/* and the C library's */
	}
	for (size_t i = 0; i < 8; i++)
		free(held[i]);
	return NULL;
}

static void *child_thread(void *arg)
{
	void *p = opaque(malloc(2 * PS));

	(void)arg;
	if (!p || !owns(p))
		return (void *)1;
	dirty(p, 3, 2 * PS);
	free(p);
	return NULL;
}

static int fork_report_fd = -1;	/* in a fork()ed child: where to say what failed */

/* In the fork()ed child: report a failed step, return 1. */
__attribute__((format(printf, 1, 2)))
static int child_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdprintf(fork_report_fd, fmt, ap);
	va_end(ap);
	return 1;
}

/* In the fork()ed child: the ledger balances, or say how it does not. */
static int child_ledger(const char *when)
{
	struct pp_stats s = stats();

	if (s.committed == s.in_use + s.cached + s.free + s.reserved)
		return 0;
	return child_fail("%s: committed %zu != in_use %zu + cached %zu + free %zu + "
			  "reserved %zu (pending %zu, cache_meta %zu, threads %zu)", when,
			  s.committed, s.in_use, s.cached, s.free, s.reserved, s.pending,
			  s.cache_meta, s.threads);
}

/* In the fork()ed child: 0, or 1 with what failed on fork_report_fd. */
static int fork_child_work(void)
{
	size_t start = in_use();
	pthread_t t;
	void *ret = (void *)1;
	char *p, *q;

	if (child_ledger("ledger right after fork()"))
		return 1;
	p = opaque(malloc(3 * PS));
	if (!p || !owns(p) || malloc_usable_size(p) != 3 * PS)
		return child_fail("malloc(3 pages) = %p: pp_owns %d, usable %zu", (void *)p,
				  p ? owns(p) : -1, p ? malloc_usable_size(p) : 0);
	dirty(p, 0x5C, 3 * PS);
	if (in_use() != start + 3)
		return child_fail("malloc(3 pages) raised in_use by %zu", in_use() - start);
	q = opaque(malloc(100));
	if (!q || owns(q))
		return child_fail("malloc(100) = %p is pool or NULL", (void *)q);
	dirty(q, 1, 100);
	free(q);
	q = opaque(calloc(2, PS));
	if (!q || !owns(q) || first_nonzero(q, 2 * PS) != 2 * PS)
		return child_fail("calloc(2, page) = %p: not pool or not zeroed", (void *)q);
	free(q);
	p = opaque(realloc(p, 6 * PS));
	if (!p || !owns(p))
		return child_fail("realloc(3 pages -> 6) = %p is not pool", (void *)p);
	free(p);
	if (in_use() != start)
		return child_fail("in_use %zu after the frees, %zu before", in_use(), start);
	if (pthread_create(&t, NULL, child_thread, NULL) || pthread_join(t, &ret) || ret)
		return child_fail("a new thread's pool malloc failed");
	return child_ledger("ledger at the end");
}

START_TEST(test_fork_while_threads_allocate)
{
	enum { NCHURN = 3, NFORK = 12 };
	pthread_t t[NCHURN];
	int status[NFORK];
	char said[NFORK][400];

	__atomic_store_n(&churn_stop, 0, __ATOMIC_RELAXED);
	for (size_t i = 0; i < NCHURN; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, churner, (void *)(uintptr_t)i), 0);
	for (int i = 0; i < NFORK; i++) {
		struct timespec ts = { 0, 3 * 1000 * 1000 };
		int fds[2];
		ssize_t k, n = 0;
		pid_t pid;

		nanosleep(&ts, NULL);	/* let the churners move on */
		status[i] = -1;
		said[i][0] = '\0';
		if (pipe(fds) != 0)
			continue;
		__atomic_fetch_add(&fork_gen, 1, __ATOMIC_SEQ_CST);
		pid = fork();
		__atomic_fetch_add(&fork_gen, 1, __ATOMIC_SEQ_CST);
		if (pid == 0) {
			close(fds[0]);
			fork_report_fd = fds[1];
			alarm(10);
			_exit(fork_child_work());
		}
		close(fds[1]);
		if (pid > 0) {
			while ((k = read(fds[0], said[i] + n, sizeof(said[i]) - 1 - (size_t)n)) > 0 ||
			       (k < 0 && errno == EINTR))
				if (k > 0)
					n += k;
			said[i][n] = '\0';
			while (waitpid(pid, &status[i], 0) < 0 && errno == EINTR)
				;
		}
		close(fds[0]);
	}
	__atomic_store_n(&churn_stop, 1, __ATOMIC_RELAXED);
	for (size_t i = 0; i < NCHURN; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	ck_assert_int_eq(xerr, 0);
	for (int i = 0; i < NFORK; i++) {
		char how[128];

		describe(status[i], how, sizeof(how));
		ck_assert_msg(status[i] != -1, "fork %d failed", i);
		ck_assert_msg(WIFEXITED(status[i]) && WEXITSTATUS(status[i]) == 0,
			      "child of fork %d (other threads allocating) %s%s: %s", i, how,
			      WIFSIGNALED(status[i]) && WTERMSIG(status[i]) == SIGALRM ?
			      " (hung)" : "", said[i]);
	}
}
END_TEST

/* ---- dlopen() after start-up ------------------------------------------- */

START_TEST(test_dlopen_after_start)
{
	double (*cosine)(double);
	const char *file;
	void *h, *extra;
	char *p, *q;

	h = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(h != NULL, "dlopen(libm.so.6): %s", dlerror());
	cosine = (double (*)(double))dlsym(h, "cos");
	ck_assert_ptr_nonnull(cosine);
	ck_assert(cosine(0.0) == 1.0);
	/* one that is most likely not loaded yet: ld.so allocates through the shim */
	extra = dlopen("libresolv.so.2", RTLD_NOW | RTLD_GLOBAL);
	ck_assert_msg(in_shim(dlsym(RTLD_DEFAULT, "malloc"), &file),
		      "after dlopen malloc resolves into %s", file);
	p = opaque(malloc(5 * PS));
	q = opaque(malloc(77));
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(q);
	ck_assert(owns(p));
	ck_assert(!owns(q));
	ck_assert_uint_eq(malloc_usable_size(p), 5 * PS);
	dirty(p, 9, 5 * PS);
	free(p);
	free(q);
	if (extra)
		ck_assert_int_eq(dlclose(extra), 0);
	ck_assert_int_eq(dlclose(h), 0);
	p = opaque(calloc(2, PS));
	ck_assert_ptr_nonnull(p);
	ck_assert(owns(p));
	free(p);
}
END_TEST

/* ---- other settings: this program re-run with PAGEPOOL_CONF ------------ */

#define STATS_POOL_REQUESTS 6

/* --child preload_min, under PAGEPOOL_CONF=preload_min=65536. */
static int child_preload_min(void)
{
	static const struct {
		size_t n;
		bool pool;
	} v[] = {
		{ 4096, false }, { 8192, false }, { 65535, false },
		{ 65536, true }, { 65537, true }, { 300000, true },
		{ 4 * MIB, true }, { 4 * MIB + 1, false },
	};
	size_t min = 0;
	int bad = 0;
	void *p;

	if (option_fn("preload_min", &min) != 0 || min != 65536) {
		fprintf(stderr, "preload_min: pp_option(\"preload_min\") = %zu, want 65536\n", min);
		bad = 1;
	}
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		p = opaque(malloc(v[i].n));
		if (!p || owns(p) != v[i].pool) {
			fprintf(stderr, "preload_min: malloc(%zu) = %p, pp_owns %d, want %d\n",
				v[i].n, p, p ? owns(p) : -1, v[i].pool);
			bad = 1;
		}
		free(p);
	}
	p = NULL;
	if (posix_memalign(&p, PS, 100) || !owns(p)) {
		fprintf(stderr, "preload_min: posix_memalign(page, 100) = %p is not pool\n", p);
		bad = 1;
	}
	free(p);
	p = opaque(aligned_alloc(PS, 200));
	if (!p || !owns(p)) {
		fprintf(stderr, "preload_min: aligned_alloc(page, 200) = %p is not pool\n", p);
		bad = 1;
	}
	free(p);
	p = opaque(calloc(2, 8192));
	if (!p || owns(p)) {
		fprintf(stderr, "preload_min: calloc(2, 8192) = %p is pool\n", p);
		bad = 1;
	}
	free(p);
	return bad;
}

/* --child stats, under PAGEPOOL_CONF=stats=1: exit() prints the report. */
static int child_stats(void)
{
	void *pool[STATS_POOL_REQUESTS] = { NULL }, *small[4];
	int bad = 0;

	pool[0] = opaque(malloc(PS));
	pool[1] = opaque(malloc(5 * PS));
	pool[2] = opaque(calloc(3, PS));
	if (posix_memalign(&pool[3], PS, 10))
		pool[3] = NULL;
	pool[4] = opaque(aligned_alloc(PS, PS));
	pool[5] = opaque(realloc(NULL, 2 * PS));
	small[0] = opaque(malloc(100));
	small[1] = opaque(calloc(10, 10));
	small[2] = opaque(realloc(NULL, 50));
	small[3] = opaque(malloc(1000));
	for (int i = 0; i < STATS_POOL_REQUESTS; i++)
		if (!pool[i] || !owns(pool[i])) {
			fprintf(stderr, "stats child: pool request %d = %p is not pool\n", i, pool[i]);
			bad = 1;
		}
	for (int i = 0; i < 4; i++)
		if (!small[i] || owns(small[i])) {
			fprintf(stderr, "stats child: small request %d = %p is pool\n", i, small[i]);
			bad = 1;
		}
	for (int i = 0; i < STATS_POOL_REQUESTS; i++)
		free(pool[i]);
	for (int i = 0; i < 4; i++)
		free(small[i]);
	exit(bad);	/* not _exit: the report is printed at exit */
}

/*
 * --child cap, under PAGEPOOL_CONF=cap=1M: what the full pool refuses, the
 * C library serves; every block is freed where it came from.
 */
static int child_cap(void)
{
	enum { N = 300 };	/* 600 pages, the cap holds 256 */
	char *p[N], *q;
	size_t pool = 0, libc = 0, start = in_use();
	int bad = 0;

	for (size_t i = 0; i < N; i++) {
		p[i] = opaque(malloc(2 * PS));
		if (!p[i]) {
			fprintf(stderr, "cap: malloc(2 pages) #%zu failed: %s\n", i, strerror(errno));
			return 1;
		}
		fill(p[i], 2 * PS, (unsigned)i);
		if (owns(p[i]))
			pool++;
		else
			libc++;
		if (malloc_usable_size(p[i]) < 2 * PS)
			bad = 1;
	}
	if (!pool || !libc) {
		fprintf(stderr, "cap: %zu pool and %zu C library blocks, want some of both\n",
			pool, libc);
		bad = 1;
	}
	q = opaque(calloc(4, PS));
	if (!q || first_nonzero(q, 4 * PS) != 4 * PS) {
		fprintf(stderr, "cap: calloc(4, page) with the pool full = %p, not zeroed\n",
			(void *)q);
		bad = 1;
	}
	free(q);
	/* grow a pool block while the pool is full: moved to the C library */
	for (size_t i = 0; i < N; i++)
		if (owns(p[i])) {
			q = opaque(realloc(p[i], 40 * PS));
			if (!q || check_fill(q, 2 * PS, (unsigned)i) != 2 * PS) {
				fprintf(stderr, "cap: realloc(pool, 40 pages) = %p lost the block\n",
					(void *)q);
				return 1;
			}
			p[i] = q;
			fill(p[i], 2 * PS, (unsigned)i);
			break;
		}
	for (size_t i = 0; i < N; i++) {
		if (check_fill(p[i], 2 * PS, (unsigned)i) != 2 * PS) {
			fprintf(stderr, "cap: block %zu (%s) was overwritten\n", i,
				owns(p[i]) ? "pool" : "C library");
			bad = 1;
		}
		free(p[i]);
	}
	if (in_use() != start) {
		fprintf(stderr, "cap: in_use %zu pages after every block was freed, %zu before\n",
			in_use(), start);
		bad = 1;
	}
	return bad;
}

START_TEST(test_pool_full_falls_back)
{
	struct child c;
	char how[128];

	run_child_as(NULL, "cap", "cap=1M", &c, NULL);
	describe(c.status, how, sizeof(how));
	ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0,
		      "child with cap=1M %s; stderr: \"%.1500s\"", how, c.err);
}
END_TEST

START_TEST(test_preload_min)
{
	struct child c;
	char how[128];

	run_child_as(NULL, "preload_min", "preload_min=65536", &c, NULL);
	describe(c.status, how, sizeof(how));
	ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0,
		      "child with preload_min=65536 %s; stderr: \"%.1500s\"", how, c.err);
}
END_TEST

START_TEST(test_stats_report)
{
	struct child c;
	char how[128];
	const char *line;
	size_t pool = 0, libc = 0;
	double mib = 0;

	run_child_as(NULL, "stats", "stats=1", &c, NULL);
	describe(c.status, how, sizeof(how));
	ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0,
		      "child with stats=1 %s; stderr: \"%.1500s\"", how, c.err);
	line = strstr(c.err, "pagepool: preload: pool ");
	ck_assert_msg(line != NULL, "no \"pagepool: preload: pool\" line; stderr: \"%.1500s\"",
		      c.err);
	ck_assert_msg(sscanf(line, "pagepool: preload: pool %zu requests (%lf MiB), C library %zu "
			     "requests", &pool, &mib, &libc) == 3,
		      "cannot parse \"%.300s\"", line);
	ck_assert_msg(pool >= STATS_POOL_REQUESTS, "report says %zu pool requests, made %d: %.300s",
		      pool, STATS_POOL_REQUESTS, line);
	ck_assert_msg(libc > 0, "report says %zu C library requests: %.300s", libc, line);
}
END_TEST

/* ---- bad input aborts, naming the call --------------------------------- */


static char *must_pool(size_t n)
{
	char *p = opaque(malloc(n));

	if (!p || !owns(p)) {
		dprintf(STDERR_FILENO, "@@SETUP malloc(%zu) = %p is not pool\n", n, (void *)p);
		_exit(98);
	}
	return p;
}

static void ok_free(void)
{
	char *p = must_pool(3 * PS);

	mark(p);
	free(p);
	p = must_pool(PS);
	p = opaque(realloc(p, 2 * PS));
	free(p);
}

static void bad_free_interior_page(void)
{
	char *p = must_pool(3 * PS);

	mark(p + PS);
	free(opaque(p + PS));
}

static void bad_free_interior_byte(void)
{
	char *p = must_pool(2 * PS);

	mark(p + 16);
	free(opaque(p + 16));
}

static void bad_free_run_piece(void)
{
	char *p = must_pool(5 * PS);	/* a run of 4 + 1 pages */

	mark(p + 4 * PS);
	free(opaque(p + 4 * PS));
}

static void bad_double_free(void)
{
	char *p = must_pool(PS), *same = opaque(p);

	free(p);
	mark(same);
	free(same);
}

static void bad_double_free_run(void)
{
	char *p = must_pool(5 * PS), *same = opaque(p);

	free(p);
	mark(same);
	free(same);
}

static void bad_realloc_interior(void)
{
	char *p = must_pool(4 * PS);

	mark(p + 2 * PS);
	p = opaque(realloc(opaque(p + 2 * PS), 10 * PS));
	dprintf(STDERR_FILENO, "realloc returned %p\n", (void *)p);
}

static void bad_realloc_freed(void)
{
	char *p = must_pool(2 * PS), *same = opaque(p);

	free(p);
	mark(same);
	p = opaque(realloc(same, 100));
	dprintf(STDERR_FILENO, "realloc returned %p\n", (void *)p);
}

START_TEST(test_valid_free_survives)
{
	expect_survive(ok_free, "valid free");
}
END_TEST

START_TEST(test_free_interior_page)
{
	expect_abort(bad_free_interior_page, "free", NULL, true);
}
END_TEST

START_TEST(test_free_interior_byte)
{
	expect_abort(bad_free_interior_byte, "free", NULL, true);
}
END_TEST

START_TEST(test_free_run_piece)
{
	expect_abort(bad_free_run_piece, "free", NULL, true);
}
END_TEST

START_TEST(test_double_free)
{
	expect_abort(bad_double_free, "free", NULL, true);
}
END_TEST

START_TEST(test_double_free_run)
{
	expect_abort(bad_double_free_run, "free", NULL, true);
}
END_TEST

START_TEST(test_realloc_interior)
{
	expect_abort(bad_realloc_interior, "realloc", NULL, true);
}
END_TEST

START_TEST(test_realloc_freed)
{
	expect_abort(bad_realloc_freed, "realloc", NULL, true);
}
END_TEST

/* ---- main ------------------------------------------------------------- */

static Suite *preload_suite(void)
{
	Suite *s = suite_create("preload");
	TCase *tc;

	tc = new_tcase("interposition");
	tcase_add_test(tc, test_symbols_resolve_to_shim);
	tcase_add_test(tc, test_dlopen_after_start);
	suite_add_tcase(s, tc);

	tc = new_tcase("routing");
	tcase_add_test(tc, test_route_malloc);
	tcase_add_test(tc, test_route_calloc_realloc);
	tcase_add_test(tc, test_route_aligned);
	tcase_add_test(tc, test_route_valloc);
	tcase_add_test(tc, test_route_huge_alignment);
	tcase_add_test(tc, test_preload_min);
	tcase_add_test(tc, test_pool_full_falls_back);
	suite_add_tcase(s, tc);

	tc = new_tcase("exactness");
	tcase_add_test(tc, test_exact_five_pages);
	tcase_add_test(tc, test_exact_sizes_loop);
	tcase_add_test(tc, test_usable_size);
	tcase_add_test(tc, test_run_freed_by_pool_calls);
	suite_add_tcase(s, tc);

	tc = new_tcase("contracts");
	tcase_add_test(tc, test_malloc_zero_and_free_null);
	tcase_add_test(tc, test_malloc_too_big);
	tcase_add_test(tc, test_calloc_overflow);
	tcase_add_test(tc, test_calloc_zeroes_reused_pages);
	tcase_add_test(tc, test_reallocarray);
	tcase_add_test(tc, test_realloc_small_to_pool);
	tcase_add_test(tc, test_realloc_pool_grow_shrink);
	tcase_add_test(tc, test_realloc_pool_to_small_and_huge);
	tcase_add_test(tc, test_realloc_zero_and_failure);
	tcase_add_test(tc, test_posix_memalign_einval);
	tcase_add_test(tc, test_posix_memalign_ok);
	tcase_add_test(tc, test_aligned_alloc_einval);
	tcase_add_test(tc, test_memalign_rounds_up);
	tcase_add_test(tc, test_pvalloc);
	suite_add_tcase(s, tc);

	tc = new_tcase("threads");
	tcase_add_test(tc, test_threads_cross_free);
	tcase_add_test(tc, test_thread_exit_destructors);
	tcase_add_test(tc, test_fork_while_threads_allocate);
	suite_add_tcase(s, tc);

	tc = new_tcase("reports");
	tcase_add_test(tc, test_stats_report);
	tcase_add_test(tc, test_valid_free_survives);
	tcase_add_test(tc, test_free_interior_page);
	tcase_add_test(tc, test_free_interior_byte);
	tcase_add_test(tc, test_free_run_piece);
	tcase_add_test(tc, test_double_free);
	tcase_add_test(tc, test_double_free_run);
	tcase_add_test(tc, test_realloc_interior);
	tcase_add_test(tc, test_realloc_freed);
	suite_add_tcase(s, tc);
	return s;
}

/*
 * Make sure the shim is loaded, with no PAGEPOOL_CONF from outside: else
 * re-execute this program with LD_PRELOAD=$PP_PRELOAD_SO.  Returns only
 * when the shim is there.
 */
static void ensure_shim(char **argv, bool child_mode)
{
	const char *so = getenv("PP_PRELOAD_SO");
	bool loaded = shim_loaded();

	if (loaded && (child_mode || !getenv("PAGEPOOL_CONF")))
		return;
	if (child_mode || getenv(REEXEC_MARK)) {
		const char *file;

		in_shim((void *)malloc, &file);
		fprintf(stderr, "test_preload: FAIL: the shim is not loaded (LD_PRELOAD=%s; "
			"pp_owns %s; malloc is in %s)\n", getenv("LD_PRELOAD") ?: "(unset)",
			dlsym(RTLD_DEFAULT, "pp_owns") ? "found" : "not found", file);
		exit(child_mode ? 90 : EXIT_FAILURE);
	}
	if (!loaded && (!so || !*so || access(so, R_OK) != 0)) {
		printf("SKIP: the preload shim is not loaded and PP_PRELOAD_SO (%s) does not "
		       "name a readable file\n", so ? so : "unset");
		exit(77);
	}
	if (!loaded)
		setenv("LD_PRELOAD", so, 1);
	unsetenv("PAGEPOOL_CONF");
	setenv(REEXEC_MARK, "1", 1);
	fflush(NULL);
	execv("/proc/self/exe", argv);
	fprintf(stderr, "test_preload: exec /proc/self/exe: %s\n", strerror(errno));
	exit(EXIT_FAILURE);
}

int main(int argc, char **argv)
{
	bool child_mode = argc == 3 && strcmp(argv[1], "--child") == 0;

	ensure_shim(argv, child_mode);
	if (!resolve_pool_api()) {
		fprintf(stderr, "test_preload: the shim does not export pp_owns, pp_stats, "
			"pp_page_size and pp_option\n");
		return child_mode ? 90 : EXIT_FAILURE;
	}
	if (child_mode) {
		if (strcmp(argv[2], "preload_min") == 0)
			return child_preload_min();
		if (strcmp(argv[2], "stats") == 0)
			return child_stats();
		if (strcmp(argv[2], "cap") == 0)
			return child_cap();
		fprintf(stderr, "test_preload: unknown child mode %s\n", argv[2]);
		return 91;
	}
	return run_suite(preload_suite());
}
