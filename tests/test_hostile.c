/* SPDX-License-Identifier: MIT */
/*
 * test_hostile.c - starting the pool where the OS gives little: an
 * address-space limit (RLIMIT_AS, ulimit -v), a reservation the OS refuses
 * and then grants, an arena= that does not fit.
 *
 * Each test runs in its own forked child (CK_FORK), so the limit it sets
 * and the pool it starts are its own.  A sanitizer's shadow memory needs
 * terabytes of address space, so the RLIMIT_AS cases run in the plain
 * build only (they say so and pass elsewhere).
 */
#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__) || PP_TEST_TSAN
#define PP_TEST_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PP_TEST_SANITIZER 1
#endif
#endif
#ifndef PP_TEST_SANITIZER
#define PP_TEST_SANITIZER 0
#endif

#define MIB ((size_t)1 << 20)

/* Limit this process's address space to @bytes; false under a sanitizer. */
static bool limit_as(size_t bytes)
{
	struct rlimit rl = { bytes, bytes };

	if (PP_TEST_SANITIZER) {
		fprintf(stderr, "test_hostile: RLIMIT_AS not tested under a sanitizer\n");
		return false;
	}
	ck_assert_int_eq(setrlimit(RLIMIT_AS, &rl), 0);
	return true;
}

/*
 * Under a limit of @limit bytes the pool starts with an arena of at most a
 * quarter of it, serves @pages pages of order 0 and blocks of order 5, and
 * gives them back.
 */
static void serves_under(size_t limit, size_t pages)
{
	void **v, *big[4];
	struct pp_stats s;

	if (!limit_as(limit))
		return;
	v = calloc(pages, sizeof(*v));
	ck_assert_ptr_nonnull(v);
	for (size_t i = 0; i < pages; i++) {
		v[i] = pp_alloc_page(0);
		ck_assert_msg(v[i] != NULL, "page %zu of %zu under RLIMIT_AS=%zu: errno %d",
			      i, pages, limit, errno);
		memset(v[i], (int)i, 64);
	}
	for (size_t i = 0; i < 4; i++) {
		big[i] = pp_alloc_pages(5, PP_ZERO);
		ck_assert_ptr_nonnull(big[i]);
	}
	s = get_stats();
	ck_assert_uint_gt(s.arena_bytes, 0);
	ck_assert_msg(s.arena_bytes <= limit / 4, "arena %zu bytes under a limit of %zu",
		      s.arena_bytes, limit);
	for (size_t i = 0; i < pages; i++)
		pp_free_page(v[i]);
	for (size_t i = 0; i < 4; i++)
		pp_free_pages(big[i], 5);
	pp_thread_drain();
	ck_assert_uint_eq(get_stats().in_use, 0);
	check_conservation();
	free(v);
}

START_TEST(test_rlimit_as_1g)
{
	serves_under(1000 * MIB, 8192);		/* 32 MiB of pages */
}
END_TEST

START_TEST(test_rlimit_as_200m)
{
	serves_under(200 * MIB, 2048);		/* 8 MiB of pages */
}
END_TEST

/* An arena= the user set is never shrunk: it fails, and says so. */
START_TEST(test_explicit_arena_not_shrunk)
{
	struct capture c;
	char err[1024];
	void *p;

	ck_assert_int_eq(pp_configure("arena=64G"), 0);
	if (!limit_as(1000 * MIB))
		return;
	capture_begin(&c);
	errno = 0;
	p = pp_alloc_page(0);
	capture_end(&c, err, sizeof(err));
	ck_assert_ptr_null(p);
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_msg(strstr(err, "arena=68719476736") && strstr(err, "ENOMEM"),
		      "no message naming arena= and the error: \"%s\"", err);
	ck_assert_uint_eq(get_stats().arena_bytes, 0);
}
END_TEST

/* Count the lines of @text that contain @what. */
static unsigned lines_with(const char *text, const char *what)
{
	unsigned n = 0;

	for (const char *at = text; (at = strstr(at, what)) != NULL; at += strlen(what))
		n++;
	return n;
}

/*
 * The OS refuses every reservation: a flags-0 call fails with ENOMEM, the
 * failure is said once however often it is tried, PP_NOWAIT never tries;
 * once the OS grants it, the next flags-0 call starts the pool.
 */
START_TEST(test_failed_start_is_retried)
{
	struct capture c;
	char err[2048];
	void *p;

	ck_assert_int_eq(pp_configure("trim_ms=0"), 0);	/* retry at once */
	pp_os_fault_set(PP_OS_RESERVE, 0, 100000, 0, ENOMEM);
	capture_begin(&c);
	for (int i = 0; i < 3; i++) {
		errno = 0;
		ck_assert_ptr_null(pp_alloc_page(0));
		ck_assert_int_eq(errno, ENOMEM);
	}
	errno = 0;
	ck_assert_ptr_null(pp_alloc_page(PP_NOWAIT));
	ck_assert_int_eq(errno, EAGAIN);
	capture_end(&c, err, sizeof(err));
	ck_assert_msg(lines_with(err, "pagepool: ") == 1 && lines_with(err, "cannot reserve") == 1,
		      "want the failure said once: \"%s\"", err);
	ck_assert_uint_eq(get_stats().arena_bytes, 0);

	pp_os_fault_set(PP_OS_RESERVE, 0, 0, 0, ENOMEM);		/* the OS grants it now */
	p = pp_alloc_page(0);
	ck_assert_ptr_nonnull(p);
	memset(p, 1, pp_page_size());
	pp_free_page(p);
	ck_assert_uint_gt(get_stats().arena_bytes, 0);
	check_conservation();
}
END_TEST

/* Retried at most once per trim_ms: a call right after a failure does not try. */
START_TEST(test_retry_waits_trim_ms)
{
	size_t calls;

	ck_assert_int_eq(pp_configure("trim_ms=3600000"), 0);
	pp_os_fault_set(PP_OS_RESERVE, 0, 100000, 0, ENOMEM);
	ck_assert_ptr_null(pp_alloc_page(0));
	calls = pp_os_fault_calls(PP_OS_RESERVE);
	ck_assert_uint_gt(calls, 0);
	pp_os_fault_set(PP_OS_RESERVE, 0, 0, 0, ENOMEM);
	for (int i = 0; i < 3; i++) {
		errno = 0;
		ck_assert_ptr_null(pp_alloc_page(0));
		ck_assert_int_eq(errno, ENOMEM);
	}
	ck_assert_uint_eq(pp_os_fault_calls(PP_OS_RESERVE), calls);
}
END_TEST

/* The OS refuses large reservations: the default arena halves until one fits. */
START_TEST(test_default_arena_halves)
{
	struct rlimit rl;
	struct pp_stats s;

	if (getenv("PAGEPOOL_CONF") || getrlimit(RLIMIT_AS, &rl) ||
	    rl.rlim_cur != RLIM_INFINITY) {
		fprintf(stderr, "test_hostile: PAGEPOOL_CONF or ulimit -v set: "
			"the default arena is not 64 GiB here, halving not tested\n");
		return;
	}
	pp_os_fault_set(PP_OS_RESERVE, 0, 3, 0, ENOMEM);		/* 64G, 32G, 16G refused */
	ck_assert_ptr_nonnull(pp_alloc_page(0));
	s = get_stats();
	ck_assert_uint_eq(s.arena_bytes, (size_t)8 << 30);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hostile");
	TCase *tc = new_tcase("start-up");

	tcase_add_test(tc, test_rlimit_as_1g);
	tcase_add_test(tc, test_rlimit_as_200m);
	tcase_add_test(tc, test_explicit_arena_not_shrunk);
	tcase_add_test(tc, test_failed_start_is_retried);
	tcase_add_test(tc, test_retry_waits_trim_ms);
	tcase_add_test(tc, test_default_arena_halves);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
