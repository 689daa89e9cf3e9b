/* SPDX-License-Identifier: MIT */
/*
 * settings.c - other settings: this program re-run as "--child MODE" with
 * PAGEPOOL_CONF (harness.c's main() dispatches the modes): preload_min,
 * stats=1's report, and a full pool that falls back to the C library.
 */
#include "preload.h"

/* ---- other settings: this program re-run with PAGEPOOL_CONF ------------ */

#define STATS_POOL_REQUESTS 6

/* --child preload_min, under PAGEPOOL_CONF=preload_min=65536. */
int child_preload_min(void)
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

/*
 * --child preload_fit, under PAGEPOOL_CONF=preload_fit=0 (any request of
 * preload_min bytes goes to the pool) or preload_fit=100 (only whole pages).
 */
int child_preload_fit(void)
{
	size_t fit = 1;
	int bad = 0;
	void *p;

	if (option_fn("preload_fit", &fit) != 0 || (fit != 0 && fit != 100)) {
		fprintf(stderr, "preload_fit: pp_option(\"preload_fit\") = %zu, want 0 or 100\n", fit);
		return 1;
	}
	const struct {
		size_t n;
		bool pool;
	} v[] = {
		{ PS, true }, { PS + 1, fit == 0 }, { 2 * PS - 1, fit == 0 }, { 2 * PS, true },
		{ 5 * PS + 100, fit == 0 }, { 5 * PS, true }, { PS - 1, false },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		p = opaque(malloc(v[i].n));
		if (!p || owns(p) != v[i].pool) {
			fprintf(stderr, "preload_fit=%zu: malloc(%zu) = %p, pp_owns %d, want %d\n",
				fit, v[i].n, p, p ? owns(p) : -1, v[i].pool);
			bad = 1;
		}
		free(p);
	}
	p = NULL;			/* alignment routes whatever the fit */
	if (posix_memalign(&p, PS, PS + 1) || !owns(p)) {
		fprintf(stderr, "preload_fit=%zu: posix_memalign(page, page + 1) = %p is not pool\n",
			fit, p);
		bad = 1;
	}
	free(p);
	return bad;
}

/* --child stats, under PAGEPOOL_CONF=stats=1: exit() prints the report. */
int child_stats(void)
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
int child_cap(void)
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

START_TEST(test_preload_fit)
{
	static const char *const conf[] = { "preload_fit=0", "preload_fit=100" };
	struct child c;
	char how[128];

	for (int i = 0; i < 2; i++) {
		run_child_as(NULL, "preload_fit", conf[i], &c, NULL);
		describe(c.status, how, sizeof(how));
		ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0,
			      "child with %s %s; stderr: \"%.1500s\"", conf[i], how, c.err);
	}
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

/* ---- the tests, into their test cases ---------------------------------- */

void add_settings_tests(struct preload_tcases *t)
{
	tcase_add_test(t->routing, test_preload_min);
	tcase_add_test(t->routing, test_preload_fit);
	tcase_add_test(t->routing, test_pool_full_falls_back);

	tcase_add_test(t->reports, test_stats_report);
}
