/* SPDX-License-Identifier: MIT */
/*
 * test_faults.c - every system call the pool makes, made to fail.
 *
 * os.c's test-only fault injection (pp_os_fault_set()) fails one kind of
 * call at a time - the arena's reservation, its release, the address-space
 * headroom, committing pages and descriptors, huge pages, mlock, prefault,
 * madvise for trim, sleeping, stderr - and each test checks the documented
 * result (ENOMEM for flags 0, EAGAIN for PP_NOWAIT), at most one message,
 * that the pool works again once the fault is gone, and that the ledgers
 * balance.  The last test fails every kind at random under a mixed
 * workload and checks that no page is lost or handed out twice.  The pool
 * makes no mprotect() call.  Each test runs in its own forked child
 * (CK_FORK), so its settings and pool are its own.
 */
#include <sys/resource.h>

#include "testutil.h"

#define MIB ((size_t)1 << 20)

/* Run the pool with @conf and capture its stderr from now on. */
static void start_with(const char *conf, struct capture *c)
{
	ck_assert_int_eq(unsetenv("PAGEPOOL_CONF"), 0);
	ck_assert_msg(pp_configure(conf) == 0, "pp_configure(\"%s\") failed", conf);
	capture_begin(c);
}

/* Lines of @text containing @what. */
static unsigned lines_with(const char *text, const char *what)
{
	unsigned n = 0;

	for (const char *s = text; (s = strstr(s, what)) != NULL; s += strlen(what))
		n++;
	return n;
}

/* Lines the library wrote ("pagepool: ..."). */
static unsigned messages(const char *text)
{
	return lines_with(text, "pagepool: ");
}

/* @flags-0 allocation fails with ENOMEM, PP_NOWAIT with EAGAIN, bulk too. */
static void expect_refused(const char *why)
{
	void *v[8] = { NULL };
	size_t got;

	errno = 0;
	ck_assert_msg(pp_alloc_pages(10, 0) == NULL, "%s: order 10 flags 0 succeeded", why);
	ck_assert_msg(errno == ENOMEM, "%s: flags 0 errno %d, want ENOMEM", why, errno);
	errno = 0;
	ck_assert_msg(pp_alloc_pages(10, PP_NOWAIT) == NULL, "%s: PP_NOWAIT succeeded", why);
	ck_assert_msg(errno == EAGAIN, "%s: PP_NOWAIT errno %d, want EAGAIN", why, errno);
	errno = 0;
	got = pp_alloc_pages_bulk(0, 8, v);
	if (got < 8)
		ck_assert_msg(errno == ENOMEM, "%s: bulk got %zu, errno %d, want ENOMEM",
			      why, got, errno);
	pp_free_pages_bulk(8, v);
}

/* The pool serves an order-10 block and pages again, tagged and intact. */
static void expect_works(const char *why)
{
	void *big = pp_alloc_pages(10, 0), *p = pp_alloc_page(0);

	ck_assert_msg(big && p, "%s: the pool does not work once the fault is gone (errno %d)",
		      why, errno);
	tag_block(big, 10, 0xb16);
	tag_block(p, 0, 0x5a11);
	ck_assert(tag_ok(big, 10, 0xb16) && tag_ok(p, 0, 0x5a11));
	pp_free_pages(big, 10);
	pp_free_page(p);
	check_conservation();
}

/* Use the whole committed arena (grow= of one largest block): the next
 * flags-0 allocation of order 10 must grow. */
static void *fill_first_block(void)
{
	void *big = pp_alloc_pages(10, 0);

	ck_assert_ptr_nonnull(big);
	return big;
}

START_TEST(test_reserve_fails)
{
	struct capture c;
	char err[4096];

	start_with("trim_ms=0", &c);
	pp_os_fault_set(PP_OS_RESERVE, 0, 1000, 0, ENOMEM);
	for (int i = 0; i < 3; i++) {
		errno = 0;
		ck_assert_ptr_null(pp_alloc_page(0));
		ck_assert_int_eq(errno, ENOMEM);
		errno = 0;
		ck_assert_ptr_null(pp_alloc_page(PP_NOWAIT));	/* never starts the pool */
		ck_assert_int_eq(errno, EAGAIN);
	}
	ck_assert_uint_ge(pp_os_fault_calls(PP_OS_RESERVE), 3);
	pp_os_fault_clear();
	expect_works("reservation");
	capture_end(&c, err, sizeof(err));
	ck_assert_msg(messages(err) == 1, "want one message, got: %s", err);
	ck_assert_msg(has_word(err, "ENOMEM"), "message does not say why: %s", err);
}
END_TEST

/* The descriptors' reservation fails after the arena's: that one is given back. */
START_TEST(test_desc_reserve_and_unreserve_fail)
{
	struct capture c;
	char err[4096];
	size_t unreserves;

	start_with("trim_ms=0,arena=64M", &c);
	pp_os_fault_set(PP_OS_RESERVE, 1, 1, 0, ENOMEM);	/* the second: descriptors */
	pp_os_fault_set(PP_OS_UNRESERVE, 0, 1, 0, EINVAL);	/* and its undo fails */
	errno = 0;
	ck_assert_ptr_null(pp_alloc_page(0));
	ck_assert_int_eq(errno, ENOMEM);
	unreserves = pp_os_fault_calls(PP_OS_UNRESERVE);
	ck_assert_uint_eq(unreserves, 1);
	pp_os_fault_clear();
	expect_works("descriptor reservation");
	capture_end(&c, err, sizeof(err));
	ck_assert_msg(messages(err) == 1, "want one message, got: %s", err);
}
END_TEST

START_TEST(test_headroom_fails)
{
	struct capture c;
	char err[4096];

	start_with("verbose=0", &c);
	pp_os_fault_set(PP_OS_HEADROOM, 0, 10, 0, EACCES);
	expect_works("headroom");		/* no limit known: the default arena */
	ck_assert_uint_ge(pp_os_fault_calls(PP_OS_HEADROOM), 1);
	capture_end(&c, err, sizeof(err));
	ck_assert_msg(messages(err) == 0, "unexpected message: %s", err);
}
END_TEST

/* Committing descriptors (the first commit of a growth), then pages. */
static void commit_fails(unsigned skip, const char *what)
{
	struct capture c;
	char err[4096];
	struct pp_stats before, after;
	void *big;
	size_t calls;

	start_with("grow=4M", &c);
	big = fill_first_block();
	before = get_stats();
	calls = pp_os_fault_calls(PP_OS_COMMIT);
	pp_os_fault_set(PP_OS_COMMIT, skip, 1000, 0, ENOMEM);
	expect_refused(what);
	ck_assert_msg(pp_os_fault_calls(PP_OS_COMMIT) > calls + skip,
		      "%s: the growth never reached the failing commit", what);
	after = get_stats();
	ck_assert_uint_eq(after.committed, before.committed);
	check_conservation();
	pp_os_fault_clear();
	expect_works(what);
	pp_free_pages(big, 10);
	check_conservation();
	capture_end(&c, err, sizeof(err));
	ck_assert_msg(messages(err) <= 1, "%s: more than one message: %s", what, err);
}

START_TEST(test_commit_desc_fails)
{
	commit_fails(0, "descriptor commit");
}
END_TEST

START_TEST(test_commit_pages_fails)
{
	commit_fails(1, "page commit");
}
END_TEST

START_TEST(test_mlock_fails)
{
	struct capture c;
	char err[4096];
	struct rlimit rl;
	void *p;

	/* As much lockable memory as this process may have (root: any). */
	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_MEMLOCK, &rl);
	}
	start_with("mlock=1,grow=4M,arena=64M", &c);
	pp_os_fault_set(PP_OS_LOCK, 0, 1000, 0, ENOMEM);
	for (int i = 0; i < 3; i++) {
		errno = 0;
		ck_assert_ptr_null(pp_alloc_page(0));
		ck_assert_int_eq(errno, ENOMEM);
	}
	check_conservation();
	pp_os_fault_clear();
	p = pp_alloc_page(0);
	capture_end(&c, err, sizeof(err));
	ck_assert_msg(lines_with(err, "mlock=1") == 1, "want one mlock message, got: %s", err);
	if (!p) {
		/* The real mlock() refused too: this machine's RLIMIT_MEMLOCK. */
		fprintf(stderr, "test_mlock_fails: mlock() itself refused (%s): the pool "
			"stays refused, as documented\n", strerror(errno));
		return;
	}
	pp_free_page(p);
	check_conservation();
}
END_TEST

START_TEST(test_hugepages_fail)
{
	struct capture c;
	char err[4096];

	start_with("hugepages=1,grow=4M", &c);
	pp_os_fault_set(PP_OS_COMMIT_HUGE, 0, 1000, 0, ENOMEM);
	pp_os_fault_set(PP_OS_ADVISE_HUGE, 0, 1000, 0, EINVAL);
	expect_works("hugepages");	/* ordinary pages instead */
	expect_works("hugepages, again");
	ck_assert_uint_ge(pp_os_fault_calls(PP_OS_ADVISE_HUGE), 1);
	capture_end(&c, err, sizeof(err));
	ck_assert_msg(lines_with(err, "hugepages=1") == 1, "want one message, got: %s", err);
	ck_assert_msg(has_word(err, "EINVAL"), "the message does not say why: %s", err);
}
END_TEST

START_TEST(test_populate_fails)
{
	struct capture c;
	char err[4096];

	start_with("prefault=8M", &c);
	pp_os_fault_set(PP_OS_POPULATE, 0, 1000, 0, EINVAL);
	expect_works("prefault");	/* touched page by page instead */
	capture_end(&c, err, sizeof(err));
	ck_assert_msg(messages(err) == 0, "unexpected message: %s", err);
}
END_TEST

/* Free @n pages back to the global lists (this thread's cache drained). */
static void free_to_lists(size_t n)
{
	void **v = calloc(n, sizeof(*v));

	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(pp_alloc_pages_bulk(0, n, v), n);
	pp_free_pages_bulk(n, v);
	pp_thread_drain();
	free(v);
}

START_TEST(test_release_fails)
{
	struct capture c;
	char err[4096];
	long released;

	start_with("grow=4M", &c);
	free_to_lists(256);
	pp_os_fault_set(PP_OS_RELEASE, 0, 100000, 0, EINVAL);
	ck_assert_int_eq(pp_trim(0), 0);	/* nothing released: nothing counted */
	ck_assert_int_eq(pp_trim(0), 0);
	ck_assert_uint_ge(pp_os_fault_calls(PP_OS_RELEASE), 2);
	check_conservation();
	pp_os_fault_clear();
	released = pp_trim(0);
	ck_assert_msg(released > 0, "pp_trim() released %ld once the fault was gone", released);
	expect_works("trim");
	capture_end(&c, err, sizeof(err));
	ck_assert_msg(lines_with(err, "trim:") == 1, "want one message, got: %s", err);
	ck_assert_msg(has_word(err, "EINVAL"), "the message does not say why: %s", err);
}
END_TEST

START_TEST(test_sleep_fails)
{
	struct capture c;
	char err[4096];

	/* Sleeps are waits the pool polls (start-up, a lock giving way to fork):
	 * one cut short only polls again. */
	start_with("trim_ms=0", &c);
	pp_os_fault_set(PP_OS_SLEEP, 0, 100000, 0, EINTR);
	expect_works("sleep");
	capture_end(&c, err, sizeof(err));
	ck_assert_msg(messages(err) == 0, "unexpected message: %s", err);
}
END_TEST

START_TEST(test_stderr_fails)
{
	struct capture c;
	char err[4096];

	start_with("stats=1,trim_ms=0", &c);
	pp_os_fault_set(PP_OS_KEEP_STDERR, 0, 10, 0, EBADF);
	pp_os_fault_set(PP_OS_WRITE_ERR, 0, 100000, 0, EIO);
	pp_os_fault_set(PP_OS_RESERVE, 0, 1000, 0, ENOMEM);	/* something to say */
	errno = 0;
	ck_assert_ptr_null(pp_alloc_page(0));
	ck_assert_int_eq(errno, ENOMEM);	/* a failed write does not change errno */
	pp_os_fault_clear();
	expect_works("stderr");
	capture_end(&c, err, sizeof(err));
	ck_assert_msg(messages(err) == 0, "a message got through a failing write: %s", err);
}
END_TEST

/* ---- every kind at random, under a mixed workload ---------------------- */

#define HELD_MAX 512

struct held {
	void *p;
	unsigned order;
	uint64_t tag;
};

static int by_addr(const void *a, const void *b)
{
	const struct held *x = a, *y = b;

	return x->p < y->p ? -1 : x->p > y->p;
}

/* No two held blocks overlap (a page handed out twice would). */
static void check_disjoint(struct held *h, size_t n)
{
	qsort(h, n, sizeof(*h), by_addr);
	for (size_t i = 1; i < n; i++)
		if ((char *)h[i - 1].p + (pp_page_size() << h[i - 1].order) > (char *)h[i].p)
			ck_abort_msg("blocks %p (order %u) and %p overlap",
				     h[i - 1].p, h[i - 1].order, h[i].p);
}

START_TEST(test_random_faults)
{
	static struct held h[HELD_MAX];
	struct capture c;
	char err[16384];
	uint64_t seed = 0x5eed0f00du, tag = 1;
	size_t n = 0, ok = 0, refused = 0;

	start_with("grow=4M,retain=1M,trim_ms=1,high=64,batch=16", &c);
	expect_works("before the faults");
	for (unsigned k = 0; k < PP_OS_NCALLS; k++)
		if (k != PP_OS_WRITE_ERR && k != PP_OS_KEEP_STDERR)
			pp_os_fault_set((enum pp_os_call)k, 0, 0, 200000, 0);	/* 20% */
	for (unsigned i = 0; i < 8000; i++) {
		uint64_t r = rnd(&seed);
		unsigned op = (unsigned)(r % 8), order = (unsigned)((r >> 8) % 11);

		if (op < 4 && n < HELD_MAX) {
			unsigned flags = op == 0 ? 0 : op == 1 ? PP_NOWAIT : op == 2 ? PP_TRY : PP_ZERO;
			void *p;

			if (flags == PP_TRY)
				order = 0;
			errno = 0;
			p = pp_alloc_pages(order, flags);
			if (!p) {
				int want = flags & (PP_NOWAIT | PP_TRY) ? EAGAIN : ENOMEM;

				if (errno != want)	/* no ck_assert per operation: each one writes */
					ck_abort_msg("order %u flags %#x: errno %d, want %d",
						     order, flags, errno, want);
				refused++;
				continue;
			}
			if (!block_aligned(p, order))
				ck_abort_msg("%p: not aligned to order %u", p, order);
			if ((flags & PP_ZERO) && ((char *)p)[pp_page_size() - 1] != 0)
				ck_abort_msg("PP_ZERO block %p not zero", p);
			h[n] = (struct held){ p, order, tag++ };
			tag_block(p, order, h[n].tag);
			n++;
			ok++;
		} else if (op < 7 && n) {
			size_t j = (size_t)(r >> 16) % n;

			if (!tag_ok(h[j].p, h[j].order, h[j].tag))
				ck_abort_msg("block %p changed while held", h[j].p);
			pp_free_pages(h[j].p, h[j].order);
			h[j] = h[--n];
		} else if (op == 7) {
			if ((r >> 20) & 1)
				pp_trim((r >> 24) % 64);
			else
				pp_thread_drain();
		}
		if (i % 2000 == 1999) {
			check_disjoint(h, n);
			check_conservation();
		}
	}
	pp_os_fault_clear();
	check_disjoint(h, n);
	while (n--) {
		ck_assert(tag_ok(h[n].p, h[n].order, h[n].tag));
		pp_free_pages(h[n].p, h[n].order);
	}
	pp_thread_drain();
	check_conservation();
	expect_works("after the faults");
	capture_end(&c, err, sizeof(err));
	ck_assert_msg(ok > 500 && refused > 50, "%zu served, %zu refused: the mix did not "
		      "exercise both", ok, refused);
	ck_assert_msg(lines_with(err, "trim:") <= 1, "the trim message twice: %s", err);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("faults");
	TCase *start = new_tcase("start-up");
	TCase *grow = new_tcase("growth");
	TCase *other = new_tcase("other");

	tcase_add_test(start, test_reserve_fails);
	tcase_add_test(start, test_desc_reserve_and_unreserve_fail);
	tcase_add_test(start, test_headroom_fails);
	tcase_add_test(start, test_populate_fails);
	tcase_add_test(start, test_stderr_fails);
	tcase_add_test(grow, test_commit_desc_fails);
	tcase_add_test(grow, test_commit_pages_fails);
	tcase_add_test(grow, test_mlock_fails);
	tcase_add_test(grow, test_hugepages_fail);
	tcase_add_test(other, test_release_fails);
	tcase_add_test(other, test_sleep_fails);
	tcase_add_test(other, test_random_faults);
	suite_add_tcase(s, start);
	suite_add_tcase(s, grow);
	suite_add_tcase(s, other);
	return run_suite(s);
}
