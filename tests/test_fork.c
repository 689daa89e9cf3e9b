/* SPDX-License-Identifier: MIT */
/*
 * test_fork.c - fork() while other threads are inside the reserve calls
 * (pagepool/reserve.h): the child resizes, uses and destroys the reserve
 * they shared, makes reserves of its own and allocates pool pages without
 * hanging, and its ledgers balance; in the child, stats.reserved is exactly
 * what the reserve hands out, and a reserve resized down and back up to
 * min_pages hands out min_pages pages.  A fork child that hangs (a
 * resize_lock held by a thread that does not exist there, a slot lost off
 * the lock-free stacks) is killed after WATCHDOG seconds and reported with
 * the step it hung in.  Shared test state uses atomics, or is handed over
 * by pthread_create() / pthread_join().
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>

#include "testutil.h"
#include "pagepool/reserve.h"	/* also included by pagepool.h */

#define WATCHDOG	20	/* seconds a fork child may take */
#define CHILD_ALARM	30	/* the child's own backstop (SIGALRM) */
#define HOLD		8	/* pages one churn() takes at most */
#define MAXP		((size_t)(4u << 20) / 4096 + 1)	/* test 2's cap, in pages */

/* ---- the fork child's report, and the parent's watchdog ------------- */

static int report_fd = -1;	/* in a fork child: the pipe to the parent */

/* In a fork child: the step that starts now (named if the child hangs). */
static void step(const char *what)
{
	dprintf(report_fd, "@@STEP %s\n", what);
}

/* In a fork child: report why, and exit with @code (one per step). */
static __attribute__((noreturn, format(printf, 2, 3)))
void child_fail(int code, const char *fmt, ...)
{
	va_list ap;

	dprintf(report_fd, "@@FAIL ");
	va_start(ap, fmt);
	vdprintf(report_fd, fmt, ap);
	va_end(ap);
	dprintf(report_fd, "\n");
	_exit(code);
}

/* The rest of the last line of @out that starts with @marker, in @buf. */
static void last_line(const char *out, const char *marker, char *buf, size_t len)
{
	const char *m = NULL;

	for (const char *s = out; (s = strstr(s, marker)) != NULL; s++)
		m = s + strlen(marker);
	if (m)
		snprintf(buf, len, "%.*s", (int)strcspn(m, "\n"), m);
	else
		snprintf(buf, len, "(none)");
}

/*
 * Fork; the child runs @fn(@nr) and exits with what it returns.  The parent
 * waits at most WATCHDOG seconds, then kills it; any exit but 0 fails the
 * test with the child's last step and its reason.
 */
static void fork_watched(int (*fn)(unsigned), unsigned nr, unsigned forks)
{
	char out[4096], sbuf[200], fbuf[400], how[128];
	int fds[2], status = 0;
	size_t len = 0;
	double t0;
	pid_t pid, w;
	bool hung;

	ck_assert_int_eq(pipe(fds), 0);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core);
		signal(SIGALRM, SIG_DFL);	/* not Check's handler */
		alarm(CHILD_ALARM);
		close(fds[0]);
		report_fd = fds[1];
		_exit(fn(nr));
	}
	close(fds[1]);
	t0 = now_sec();
	while ((w = waitpid(pid, &status, WNOHANG)) <= 0 && now_sec() - t0 < WATCHDOG) {
		ck_assert_msg(w == 0 || errno == EINTR, "waitpid: %s", strerror(errno));
		usleep(500);
	}
	hung = w <= 0;
	if (hung) {
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0)
			ck_assert_int_eq(errno, EINTR);
	}
	for (;;) {	/* the child has gone: its end of the pipe is closed */
		ssize_t k = read(fds[0], out + len, sizeof(out) - 1 - len);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0 || (len += (size_t)k) == sizeof(out) - 1)
			break;
	}
	out[len] = '\0';
	close(fds[0]);
	last_line(out, "@@STEP ", sbuf, sizeof(sbuf));
	last_line(out, "@@FAIL ", fbuf, sizeof(fbuf));
	ck_assert_msg(!hung && !(WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM),
		      "fork %u of %u: the child hung in step \"%s\" (%s after %d s: deadlock "
		      "after fork?)", nr + 1, forks, sbuf, hung ? "killed" : "its alarm fired",
		      hung ? WATCHDOG : CHILD_ALARM);
	describe(status, how, sizeof(how));
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "fork %u of %u: the child %s in step \"%s\": %s", nr + 1, forks, how,
		      sbuf, fbuf);
}

/* ---- shared by the parent's threads and the fork children ----------- */

struct worker {
	pthread_t thr;
	unsigned id;
	char fail[200];
};

static struct pp_reserve *shared;
static atomic_bool stop;
static atomic_ulong ops;	/* steps the threads have done */

static void check_workers(const struct worker *w, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		ck_assert_msg(!w[i].fail[0], "thread %u: %s", w[i].id, w[i].fail);
}

/* Let the threads run @n more steps between forks (at most 2 s). */
static void let_threads_run(unsigned long n)
{
	unsigned long before = atomic_load(&ops);
	double t0 = now_sec();

	while (atomic_load(&ops) < before + n && now_sec() - t0 < 2)
		sched_yield();
}

/*
 * Take up to @n pages from @r (flags from the first @nflags of PP_NOWAIT,
 * PP_TRY, 0), tag them, check and give them back.  No Check calls: fork
 * children use it.  False with @fail filled on a failure.
 */
static bool churn(struct pp_reserve *r, uint64_t *rs, unsigned n, unsigned nflags,
		  char *fail, size_t len)
{
	static const unsigned fl[] = { PP_NOWAIT, PP_TRY, 0 };
	uint64_t tag = rnd(rs) << 8;
	void *got[HOLD];
	unsigned k = 0;

	for (unsigned i = 0; i < n && i < HOLD; i++) {
		unsigned f = fl[rnd(rs) % nflags];
		void *p = pp_reserve_alloc(r, f);

		if (!p && f == 0) {
			snprintf(fail, len, "pp_reserve_alloc(r, 0) returned NULL, errno %d",
				 errno);
			return false;
		}
		if (p) {
			got[k++] = p;
			tag_block(p, 0, tag + k);
		}
	}
	while (k) {
		void *p = got[--k];

		if (!tag_ok(p, 0, tag + k + 1)) {
			snprintf(fail, len, "reserve page %p handed out twice", p);
			return false;
		}
		pp_reserve_free(r, p);
	}
	return true;
}

/* ---- 1. fork while threads create, resize and destroy reserves -------- */

enum { NT = 3, SH_MIN = 16, SH_MAX = 48, FORKS1 = 120 };

/* Create, resize, use and destroy a reserve; resize and use the shared one. */
static void *resizer(void *arg)
{
	struct worker *w = arg;
	uint64_t rs = 0x9E3779B97F4A7C15ULL * w->id;
	size_t len = sizeof(w->fail);

	while (!atomic_load(&stop) && !w->fail[0]) {
		size_t m = 1 + rnd(&rs) % 16;
		struct pp_reserve *r = pp_reserve_create(m);

		if (!r) {
			snprintf(w->fail, len, "pp_reserve_create(%zu): errno %d", m, errno);
			break;
		}
		for (int i = 0; i < 4 && !w->fail[0]; i++) {
			size_t a = 1 + rnd(&rs) % 64;
			size_t b = SH_MIN + rnd(&rs) % (SH_MAX - SH_MIN + 1);

			if (pp_reserve_resize(r, a) != 0)
				snprintf(w->fail, len, "pp_reserve_resize(own, %zu): errno %d",
					 a, errno);
			else if (pp_reserve_resize(shared, b) != 0)
				snprintf(w->fail, len, "pp_reserve_resize(shared, %zu): errno %d",
					 b, errno);
			else if (churn(r, &rs, 1 + rnd(&rs) % HOLD, 3, w->fail, len))
				churn(shared, &rs, 1 + rnd(&rs) % HOLD, 3, w->fail, len);
			atomic_fetch_add(&ops, 1);
		}
		pp_reserve_destroy(r);
	}
	return NULL;
}

/* The fork child: only this thread is left; the steps must not hang. */
static int resize_child(unsigned nr)
{
	static const size_t sizes[] = { 64, 2, 24 };	/* up, down, up */
	uint64_t rs = 0xF0F0F0F0ULL + nr;
	struct pp_reserve *own;
	char why[256] = "";
	size_t m = 1 + nr % 16;
	void *p, *q;

	for (int i = 0; i < 3; i++) {
		snprintf(why, sizeof(why), "pp_reserve_resize(shared, %zu)", sizes[i]);
		step(why);
		if (pp_reserve_resize(shared, sizes[i]) != 0)
			child_fail(10 + i, "%s failed, errno %d", why, errno);
	}
	why[0] = '\0';
	step("pp_reserve_alloc/free on the shared reserve");
	if (!churn(shared, &rs, HOLD, 3, why, sizeof(why)))
		child_fail(13, "shared reserve: %s", why);
	step("pp_reserve_create(own)");
	if (!(own = pp_reserve_create(m)))
		child_fail(14, "pp_reserve_create(%zu) failed, errno %d", m, errno);
	step("pp_reserve_resize(own) up and down, alloc/free");
	if (pp_reserve_resize(own, 40) != 0 || !churn(own, &rs, HOLD, 3, why, sizeof(why)) ||
	    pp_reserve_resize(own, 3) != 0 || !churn(own, &rs, HOLD, 3, why, sizeof(why)))
		child_fail(15, "own reserve: resize or alloc/free failed (errno %d) %s",
			   errno, why);
	step("pp_reserve_destroy(own)");
	pp_reserve_destroy(own);
	step("pp_alloc_page(0), pp_alloc_pages(3, 0)");
	p = pp_alloc_page(0);
	q = pp_alloc_pages(3, 0);
	if (!p || !q)
		child_fail(16, "pool allocation failed (%p, %p), errno %d", p, q, errno);
	tag_block(p, 0, 0x1234);
	tag_block(q, 3, 0x5678);
	if (!tag_ok(p, 0, 0x1234) || !tag_ok(q, 3, 0x5678))
		child_fail(16, "pool blocks overlap");
	pp_free_page(p);
	pp_free_pages(q, 3);
	step("conservation");
	if (!conservation_ok(why, sizeof(why)))
		child_fail(17, "conservation broken: %s", why);
	return 0;
}

START_TEST(test_fork_while_reserves_resize)
{
	struct worker w[NT];

	memset(w, 0, sizeof(w));
	ck_assert_int_eq(pp_configure("cap=5M,high=32,batch=8"), 0);
	shared = pp_reserve_create(SH_MIN);
	ck_assert_ptr_nonnull(shared);
	for (unsigned i = 0; i < NT; i++) {
		w[i].id = i + 1;
		w[i].thr = spawn(resizer, &w[i]);
	}
	let_threads_run(10);
	for (unsigned f = 0; f < FORKS1; f++) {
		let_threads_run(2);
		fork_watched(resize_child, f, FORKS1);
	}
	atomic_store(&stop, true);
	for (unsigned i = 0; i < NT; i++)
		join(w[i].thr);
	check_workers(w, NT);
	ck_assert_uint_ge(atomic_load(&ops), FORKS1);
	pp_reserve_destroy(shared);
	ck_assert_uint_eq(get_stats().reserved, 0);
	ck_assert_uint_eq(get_stats().in_use, 0);
	check_conservation();
}
END_TEST

/* ---- 2. fork while threads take from and give to a reserve --------- */

enum { NT2 = 2, CR_MIN = 64, FORKS2 = 100 };

static void *parent_pages[MAXP];	/* the cap, taken by the main thread */
static size_t n_parent;

/* Order-0 pages until the cap refuses (no Check calls). */
static size_t exhaust(void **v, size_t max)
{
	size_t n = 0;

	while (n < max && (v[n] = pp_alloc_page(0)) != NULL)
		n++;
	return n;
}

/* Pages from @r with PP_TRY until it has none (the pool has none either). */
static size_t drain(struct pp_reserve *r, void **v, size_t max)
{
	size_t n = 0;

	while (n < max && (v[n] = pp_reserve_alloc(r, PP_TRY)) != NULL)
		n++;
	return n;
}

/* The pool is at its cap: every page taken comes from the shared reserve. */
static void *taker(void *arg)
{
	struct worker *w = arg;
	uint64_t rs = 0xD1B54A32D192ED03ULL * w->id;

	while (!atomic_load(&stop) && !w->fail[0]) {
		churn(shared, &rs, 1 + rnd(&rs) % HOLD, 2, w->fail, sizeof(w->fail));
		atomic_fetch_add(&ops, 1);
	}
	return NULL;
}

/*
 * The fork child: stats.reserved is what the reserve hands out, and after
 * pp_reserve_resize(shared, 1) and back to CR_MIN it hands out CR_MIN pages.
 */
static int counts_child(unsigned nr)
{
	static void *got[MAXP], *extra[MAXP];
	size_t r0, nd, nx;
	char why[256] = "";

	(void)nr;
	step("ledger at the fork");
	r0 = get_stats().reserved;
	if (!conservation_ok(why, sizeof(why)))
		child_fail(20, "conservation broken at the fork: %s", why);
	step("drain the shared reserve (PP_TRY)");
	nx = exhaust(extra, MAXP);	/* what the lost threads' caches gave back */
	nd = drain(shared, got, MAXP);
	if (nd != r0 || get_stats().reserved != 0)
		child_fail(21, "stats.reserved was %zu at the fork, but the reserve handed "
			   "out %zu pages (%zu still counted)", r0, nd, get_stats().reserved);
	if (!conservation_ok(why, sizeof(why)))
		child_fail(23, "conservation broken after the drain: %s", why);
	step("pp_reserve_resize(shared, 1), then back to CR_MIN");
	while (nd)
		pp_free_page(got[--nd]);
	while (nx)
		pp_free_page(extra[--nx]);
	for (size_t i = 0; i < CR_MIN; i++)
		pp_free_page(parent_pages[n_parent - 1 - i]);
	if (pp_reserve_resize(shared, 1) != 0 || pp_reserve_resize(shared, CR_MIN) != 0)
		child_fail(24, "pp_reserve_resize(shared, 1 / %d) failed, errno %d", CR_MIN,
			   errno);
	if (get_stats().reserved != CR_MIN)
		child_fail(25, "after pp_reserve_resize(shared, %d) stats.reserved is %zu",
			   CR_MIN, get_stats().reserved);
	step("drain the refilled reserve (PP_TRY)");
	nx = exhaust(extra, MAXP);
	nd = drain(shared, got, MAXP);
	if (nd != CR_MIN)
		child_fail(26, "after pp_reserve_resize(shared, %d) the reserve handed out "
			   "%zu pages", CR_MIN, nd);
	step("free to the reserve, pp_reserve_destroy(shared)");
	while (nd)
		pp_reserve_free(shared, got[--nd]);
	while (nx)
		pp_free_page(extra[--nx]);
	pp_reserve_destroy(shared);
	if (get_stats().reserved != 0 || !conservation_ok(why, sizeof(why)))
		child_fail(27, "after pp_reserve_destroy: reserved %zu; %s",
			   get_stats().reserved, why);
	return 0;
}

START_TEST(test_fork_child_reserve_counts)
{
	struct worker w[NT2];

	memset(w, 0, sizeof(w));
	ck_assert_int_eq(pp_configure("cap=4M,high=32,batch=8"), 0);
	ck_assert_uint_le((size_t)(4u << 20) / pp_page_size(), MAXP - 1);
	shared = pp_reserve_create(CR_MIN);
	ck_assert_ptr_nonnull(shared);
	n_parent = exhaust(parent_pages, MAXP);
	ck_assert_uint_lt(n_parent, MAXP);
	ck_assert_uint_ge(n_parent, CR_MIN);
	ck_assert_ptr_null(pp_alloc_page(0));
	for (unsigned i = 0; i < NT2; i++) {
		w[i].id = i + 1;
		w[i].thr = spawn(taker, &w[i]);
	}
	let_threads_run(100);
	for (unsigned f = 0; f < FORKS2; f++) {
		let_threads_run(20);
		fork_watched(counts_child, f, FORKS2);
	}
	atomic_store(&stop, true);
	for (unsigned i = 0; i < NT2; i++)
		join(w[i].thr);
	check_workers(w, NT2);
	ck_assert_uint_eq(get_stats().reserved, CR_MIN);
	check_conservation();
	while (n_parent)
		pp_free_page(parent_pages[--n_parent]);
	pp_reserve_destroy(shared);
	ck_assert_uint_eq(get_stats().reserved, 0);
	ck_assert_uint_eq(get_stats().in_use, 0);
	check_conservation();
}
END_TEST

static Suite *fork_suite(void)
{
	Suite *s = suite_create("fork");
	TCase *tc = new_tcase("fork");

	tcase_add_test(tc, test_fork_while_reserves_resize);
	tcase_add_test(tc, test_fork_child_reserve_counts);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(fork_suite());
}
