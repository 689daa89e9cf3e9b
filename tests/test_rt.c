/* SPDX-License-Identifier: MIT */
/*
 * test_rt.c - the real-time options: pi, mlock, prefault, hugepages.
 *
 * Each test runs in its own forked child (CK_FORK) with a fresh pool and
 * sets its options with pp_configure() before the first allocation.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/syscall.h>

#include "testutil.h"

#define MIB ((size_t)1 << 20)

/* The sanitizers fault their shadow of the pool in, and make mlock() a no-op. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#else
#define UNDER_SANITIZER 0
#endif

/* The lock word with the global lock held by this thread. */
static unsigned locked_word(void)
{
	unsigned w;

	pp_test_lock();
	w = pp_test_lock_word();
	pp_test_unlock();
	return w;
}

START_TEST(test_pi_lock_is_priority_inheriting)
{
	unsigned tid = (unsigned)syscall(SYS_gettid), w;

	ck_assert_int_eq(pp_configure("pi=1"), 0);
	pp_free_page(must_alloc(0));
	w = locked_word();
	/* FUTEX_TID_MASK: the owner's id, the kernel's PI protocol. */
	ck_assert_msg((w & 0x3fffffff) == tid, "pi=1: lock word %#x held by thread %u: "
		      "not a priority-inheritance futex", w, tid);
	check_conservation();
}
END_TEST

/* A fork child of a pi=1 pool gets a lock of its own, and it works. */
START_TEST(test_pi_fork_child_allocates)
{
	int status;
	pid_t pid;

	ck_assert_int_eq(pp_configure("pi=1"), 0);
	pp_free_page(must_alloc(0));
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		unsigned tid = (unsigned)syscall(SYS_gettid);
		void *p = pp_alloc_pages(4, 0);	/* order 4: takes the global lock */
		bool ok = p != NULL && (locked_word() & 0x3fffffff) == tid;

		pp_free_pages(p, 4);
		_exit(ok ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "pi=1 fork child: status %#x", status);
}
END_TEST

/* The control: without pi=1 the same probe sees a plain lock word. */
START_TEST(test_default_lock_is_not_pi)
{
	unsigned tid = (unsigned)syscall(SYS_gettid), w;

	pp_free_page(must_alloc(0));
	w = locked_word();
	ck_assert_msg(w == 1 && tid != 1, "default lock word %#x (thread %u): want 1", w, tid);
}
END_TEST

static bool can_lock(size_t bytes)
{
	struct rlimit rl;

	return geteuid() == 0 ||
	       (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 &&
		(rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= bytes + 4 * MIB));
}

static long minor_faults(void)
{
	struct rusage ru;

	ck_assert_int_eq(getrusage(RUSAGE_SELF, &ru), 0);
	return ru.ru_minflt;
}

/* VmLck of this process in KiB. */
static long locked_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

/*
 * From the first allocation on, allocate / touch / free over 8 MiB that no
 * one has touched before, twice: with the memory prefaulted (and locked),
 * no minor page fault at all.  Without prefault= each fresh page faults
 * (test_without_prefault_faults).
 */
static void steady_loop_faults(const char *conf)
{
	enum { SET = 2048, ROUNDS = 2 };
	static void *held[SET];
	long before, after;

	ck_assert_int_eq(pp_configure(conf), 0);
	memset(held, 0, sizeof(held));		/* this test's own memory, touched now */
	/*
	 * Start the pool and run every code path once (refill, drain, NOWAIT):
	 * their text faults in on first use (mlockall() is the program's part
	 * of the recipe); the memory itself is what is measured.
	 */
	for (int i = 0; i < 600; i++)
		held[i] = must_alloc(0);
	for (int i = 0; i < 600; i++)
		pp_free_page(held[i]);
	pp_free_page(pp_alloc_page(PP_NOWAIT));
	before = minor_faults();
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < SET; i++) {
			held[i] = pp_alloc_page((unsigned)(i & 1) ? PP_NOWAIT : 0);
			if (!held[i])
				held[i] = pp_alloc_page(0);
			ck_assert_ptr_nonnull(held[i]);
			memset(held[i], r, pp_page_size());
		}
		for (int i = 0; i < SET; i++)
			pp_free_page(held[i]);
	}
	after = minor_faults();
	if (UNDER_SANITIZER)
		fprintf(stderr, "test_rt: %s: %ld faults, not checked under a sanitizer\n",
			conf, after - before);
	else
		ck_assert_msg(after == before, "%s: %ld minor page faults over %d fresh pages",
			      conf, after - before, SET);
	check_conservation();
}

/* The control: the same loop without prefault= faults on fresh pages. */
START_TEST(test_without_prefault_faults)
{
	enum { SET = 2048 };
	static void *held[SET];
	long before;

	memset(held, 0, sizeof(held));
	pp_free_page(must_alloc(0));
	before = minor_faults();
	for (int i = 0; i < SET; i++) {
		held[i] = must_alloc(0);
		memset(held[i], 1, pp_page_size());
	}
	ck_assert_msg(minor_faults() - before >= SET / 2, "%d fresh pages took only %ld faults",
		      SET, minor_faults() - before);
	for (int i = 0; i < SET; i++)
		pp_free_page(held[i]);
}
END_TEST

START_TEST(test_mlock_prefault_no_faults)
{
	if (!can_lock(16 * MIB)) {
		fprintf(stderr, "test_rt: skipped mlock=1 (RLIMIT_MEMLOCK too small, not root)\n");
		return;
	}
	steady_loop_faults("mlock=1,prefault=16M");
	ck_assert_msg(UNDER_SANITIZER || locked_kib() >= 16 * 1024,
		      "mlock=1: VmLck %ld KiB, want >= 16 MiB", locked_kib());
}
END_TEST

START_TEST(test_prefault_no_faults)
{
	steady_loop_faults("prefault=12M");
	ck_assert_uint_ge(get_stats().committed * pp_page_size(), 8 * MIB);
}
END_TEST

START_TEST(test_hugepages_serve)
{
	void *p;

	ck_assert_int_eq(pp_configure("hugepages=1"), 0);
	p = must_alloc(3);
	memset(p, 7, pp_page_size() << 3);
	pp_free_pages(p, 3);
	check_conservation();
}
END_TEST

START_TEST(test_prefault_bad_values)
{
	ck_assert_int_eq(pp_configure("cap=8M,prefault=16M"), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(pp_configure("arena=64M,prefault=128M"), -1);
	ck_assert_int_eq(pp_configure("prefault=4M,cap=8M,pi=1,mlock=0,hugepages=0"), 0);
}
END_TEST

static Suite *rt_suite(void)
{
	Suite *s = suite_create("rt");
	TCase *tc = new_tcase("rt");

	tcase_add_test(tc, test_pi_lock_is_priority_inheriting);
	tcase_add_test(tc, test_default_lock_is_not_pi);
	tcase_add_test(tc, test_pi_fork_child_allocates);
	tcase_add_test(tc, test_mlock_prefault_no_faults);
	tcase_add_test(tc, test_prefault_no_faults);
	tcase_add_test(tc, test_without_prefault_faults);
	tcase_add_test(tc, test_hugepages_serve);
	tcase_add_test(tc, test_prefault_bad_values);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(rt_suite());
}
