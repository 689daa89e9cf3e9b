/* SPDX-License-Identifier: MIT */
/*
 * test_trim.c - giving memory back: pp_trim(), the automatic trim
 * (retain=, trim_ms=; on by default), madv_free=1, and nothing given back
 * with mlock=1.
 *
 * Resident memory is read from /proc/self/statm.  Each test runs in its
 * own forked child (CK_FORK) with a fresh pool.
 */
#include "config.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "testutil.h"

#define MIB ((size_t)1 << 20)
#define BURST_MIB 64


static void *blocks[4096];

static size_t resident_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, res = 0;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%lu %lu", &size, &res), 2);
	fclose(f);
	return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

/* Allocate and touch BURST_MIB in order-4 blocks, then free them all. */
static size_t burst_only(void)
{
	size_t n = BURST_MIB * MIB / (pp_page_size() << 4);

	ck_assert_uint_le(n, sizeof(blocks) / sizeof(blocks[0]));
	for (size_t i = 0; i < n; i++) {
		blocks[i] = must_alloc(4);
		memset(blocks[i], 0x5a, pp_page_size() << 4);
	}
	for (size_t i = 0; i < n; i++)
		pp_free_pages(blocks[i], 4);
	return n;
}

/* The burst, and this thread's cache back to the global lists. */
static size_t burst(void)
{
	size_t n = burst_only();

	pp_thread_drain();
	return n;
}

START_TEST(test_trim_after_burst)
{
	size_t base, peak, after, keep = 256;
	long released;

#ifdef __SANITIZE_ADDRESS__
	/* ASan's shadow of the poisoned free pages stays resident (lib/track.h). */
	if (1)
		return;
#endif
	pp_free_page(must_alloc(0));
	base = resident_bytes();
	burst();
	peak = resident_bytes();
	ck_assert_msg(peak >= base + (BURST_MIB - 8) * MIB, "the burst did not raise RSS "
		      "(%zu -> %zu)", base, peak);
	released = pp_trim(keep);
	after = resident_bytes();
	ck_assert_msg(released > 0, "pp_trim released %ld pages", released);
	ck_assert_msg(after <= base + keep * pp_page_size() + 4 * MIB,
		      "RSS %zu MiB after pp_trim(%zu), %zu MiB before the burst, %zu at its peak",
		      after / MIB, keep, base / MIB, peak / MIB);
	ck_assert_uint_ge(get_stats().free, (size_t)released);	/* still the pool's */
	check_conservation();
	/* The released pages serve again, zero-filled. */
	burst();
	check_conservation();
}
END_TEST

/* pp_trim keeps what it is asked to keep. */
START_TEST(test_trim_keeps)
{
	size_t keep = (16 * MIB) / pp_page_size();
	long released;

	burst();
	released = pp_trim(keep);
	ck_assert_msg(released > 0 && get_stats().free >= keep, "released %ld, free %zu",
		      released, get_stats().free);
	check_conservation();
}
END_TEST

static void *burst_thread(void *arg)
{
	(void)arg;
	pp_free_page(must_alloc(0));	/* a cache: its exit hook runs */
	burst_only();
	return NULL;		/* its exit gives the cache back, then trims */
}

START_TEST(test_trim_automatic)
{
	size_t base, after;

#ifdef __SANITIZE_ADDRESS__
	/* ASan's shadow of the poisoned free pages stays resident (lib/track.h). */
	if (1)
		return;
#endif
	ck_assert_int_eq(pp_configure("retain=4M,trim_ms=1"), 0);
	pp_free_page(must_alloc(0));
	base = resident_bytes();
	usleep(2000);		/* trim_ms has passed since start-up */
	join(spawn(burst_thread, NULL));
	after = resident_bytes();
	ck_assert_msg(after <= base + 12 * MIB, "retain=4M: RSS %zu MiB after a %d MiB burst "
		      "on an exited thread, %zu MiB before", after / MIB, BURST_MIB, base / MIB);
	check_conservation();
}
END_TEST

/* The control: with retain=0 nothing is given back by itself. */
START_TEST(test_no_automatic_trim_with_retain_0)
{
	size_t base, after;

	ck_assert_int_eq(pp_configure("retain=0,trim_ms=0"), 0);
	pp_free_page(must_alloc(0));
	base = resident_bytes();
	join(spawn(burst_thread, NULL));
	pp_thread_drain();
	pp_free_page(must_alloc(0));	/* a flags-0 slow path: it would trim */
	after = resident_bytes();
	ck_assert_msg(after >= base + (BURST_MIB - 8) * MIB, "RSS fell by itself: %zu -> %zu MiB",
		      base / MIB, after / MIB);
}
END_TEST

/* A flags-0 slow path, later than trim_ms after the last: it may trim. */
static void slow_path_after_trim_ms(void)
{
	size_t trim_ms = 0;

	ck_assert_int_eq(pp_option("trim_ms", &trim_ms), 0);
	usleep((useconds_t)(trim_ms + trim_ms / 10 + 10) * 1000);
	pp_thread_drain();		/* so that the next allocation misses */
	pp_free_page(must_alloc(0));
}

/*
 * With the defaults, memory freed in bulk goes back to the OS by itself:
 * all but retain= bytes, from a flags-0 allocation's slow path past
 * trim_ms.  Polled, 20 rounds at most: a loaded machine only makes it
 * take more of them.
 */
START_TEST(test_automatic_trim_by_default)
{
	size_t base, peak, after = 0, retain = 0;
	int round;

#ifdef __SANITIZE_ADDRESS__
	/* ASan's shadow of the poisoned free pages stays resident (lib/track.h). */
	if (1)
		return;
#endif
	ck_assert_int_eq(pp_option("retain", &retain), 0);
	ck_assert_msg(retain > 0 && retain <= (BURST_MIB / 2) * MIB,
		      "the default retain= is %zu bytes: no automatic trim, or it keeps "
		      "more than this test's burst can show", retain);
	pp_free_page(must_alloc(0));
	base = resident_bytes();
	join(spawn(burst_thread, NULL));	/* its exit may trim already */
	burst();			/* and this thread's burst, drained */
	peak = resident_bytes();
	for (round = 0; round < 20; round++) {
		slow_path_after_trim_ms();
		after = resident_bytes();
		if (after <= base + retain + 8 * MIB)
			break;
	}
	ck_assert_msg(after <= base + retain + 8 * MIB,
		      "defaults: RSS %zu MiB after %d flags-0 slow paths past trim_ms, "
		      "%zu MiB before the bursts, %zu MiB after them; retain %zu MiB",
		      after / MIB, round, base / MIB, peak / MIB, retain / MIB);
	check_conservation();
	burst();			/* the released pages serve again */
	check_conservation();
}
END_TEST

/* mlock=1 with the default retain=: nothing is released, however long. */
START_TEST(test_no_automatic_trim_with_mlock)
{
	struct rlimit rl;
	size_t before, after;

	if (geteuid() != 0 && (getrlimit(RLIMIT_MEMLOCK, &rl) || rl.rlim_cur < 128 * MIB)) {
		fprintf(stderr, "test_trim: skipped mlock=1 (RLIMIT_MEMLOCK too small, not root)\n");
		return;
	}
	ck_assert_int_eq(pp_configure("mlock=1"), 0);
	pp_free_page(must_alloc(0));
	join(spawn(burst_thread, NULL));
	burst();
	before = resident_bytes();
	for (int round = 0; round < 3; round++) {
		slow_path_after_trim_ms();
		after = resident_bytes();
		ck_assert_msg(after + MIB >= before, "mlock=1: RSS fell from %zu to %zu MiB",
			      before / MIB, after / MIB);
	}
	check_conservation();
}
END_TEST

START_TEST(test_trim_madv_free)
{
	ck_assert_int_eq(pp_configure("madv_free=1"), 0);
	burst();
	ck_assert_int_gt(pp_trim(0), 0);
	check_conservation();
}
END_TEST

START_TEST(test_trim_mlock_keeps_everything)
{
	struct rlimit rl;
	size_t before;

	if (geteuid() != 0 && (getrlimit(RLIMIT_MEMLOCK, &rl) || rl.rlim_cur < 128 * MIB)) {
		fprintf(stderr, "test_trim: skipped mlock=1 (RLIMIT_MEMLOCK too small, not root)\n");
		return;
	}
	ck_assert_int_eq(pp_configure("mlock=1"), 0);
	burst();
	before = resident_bytes();
	ck_assert_int_eq(pp_trim(0), 0);
	ck_assert_uint_ge(resident_bytes() + MIB, before);
	check_conservation();
}
END_TEST

/* Free single pages with used buddies: fragmented lists, 2048 order-0 blocks. */
static void *singles[4096];

static void fragment(void)
{
	for (int i = 0; i < 4096; i++)
		singles[i] = must_alloc(0);
	for (int i = 0; i < 4096; i += 2)
		pp_free_page(singles[i]);
	pp_thread_drain();
}

/* Every free page beyond @keep goes, and not one of the @keep. */
START_TEST(test_trim_fragmented_exact)
{
	size_t free_before, keep = 100;
	long released;

	fragment();
	free_before = get_stats().free;
	ck_assert_uint_ge(free_before, 2048);
	released = pp_trim(keep);
	ck_assert_msg(released == (long)(free_before - keep),
		      "pp_trim(%zu) with %zu free pages, many single: released %ld, want %zu",
		      keep, free_before, released, free_before - keep);
	ck_assert_uint_eq(get_stats().free, free_before);	/* still the pool's */
	ck_assert_int_eq(pp_trim(free_before), 0);		/* keeps them all */
	check_conservation();
}
END_TEST

static volatile int trimmer_stop;

static void *trimmer(void *arg)
{
	(void)arg;
	while (!trimmer_stop)
		pp_trim(0);
	return NULL;
}

/* A fork in the middle of a trim: the child gets every free page back. */
START_TEST(test_fork_during_trim)
{
	pthread_t t;
	int bad = 0;

	fragment();
	t = spawn(trimmer, NULL);
	for (int f = 0; f < 20; f++) {
		int status;
		pid_t pid = fork();

		ck_assert_int_ne(pid, -1);
		if (pid == 0) {
			struct pp_stats st;
			size_t got = 0;
			char why[256];

			if (!conservation_ok(why, sizeof(why)))
				_exit(2);
			/* The first allocation makes this thread's cache (a page or two). */
			if (!pp_alloc_page(PP_NOWAIT))
				_exit(4);
			st = get_stats();
			while (got < st.free && pp_alloc_page(PP_NOWAIT))
				got++;
			_exit(got == st.free ? 0 : 3);
		}
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) && !bad++)
			fprintf(stderr, "test_fork_during_trim: first bad child: status %#x\n", status);
		usleep(1000);
	}
	trimmer_stop = 1;
	join(t);
	ck_assert_msg(bad == 0, "%d of 20 fork children lost free pages or their ledger", bad);
	check_conservation();
}
END_TEST

START_TEST(test_trim_before_use)
{
	ck_assert_int_eq(pp_trim(0), 0);	/* no pool yet: nothing to do */
}
END_TEST

/* From now on madvise() fails with EPERM in this process (a seccomp filter). */
static void refuse_madvise(void)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_madvise, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(code) / sizeof(code[0]), code };

	ck_assert_int_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
	ck_assert_int_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
}

/*
 * The OS refuses to release (madvise fails: here a seccomp filter, with
 * no test hook): pp_trim() counts nothing released and says so once.
 */
START_TEST(test_trim_os_refuses)
{
	struct capture c;
	char msg[4096];
	const char *once;
	long first, second;

	burst();
	refuse_madvise();
	capture_begin(&c);
	first = pp_trim(0);
	burst();
	second = pp_trim(0);
	capture_end(&c, msg, sizeof(msg));
	ck_assert_msg(first == 0 && second == 0, "pp_trim() counted %ld and %ld pages "
		      "released while the OS released none", first, second);
	once = strstr(msg, "trim:");
	ck_assert_msg(once && !strstr(once + 5, "trim:") && has_word(msg, "EPERM"),
		      "want the refusal said once, with its errno: \"%s\"", msg);
	check_conservation();
}
END_TEST

static Suite *trim_suite(void)
{
	Suite *s = suite_create("trim");
	TCase *tc = new_tcase("trim");

	tcase_add_test(tc, test_trim_after_burst);
	tcase_add_test(tc, test_trim_keeps);
	tcase_add_test(tc, test_trim_automatic);
	tcase_add_test(tc, test_no_automatic_trim_with_retain_0);
	tcase_add_test(tc, test_automatic_trim_by_default);
	tcase_add_test(tc, test_no_automatic_trim_with_mlock);
	tcase_add_test(tc, test_trim_madv_free);
	tcase_add_test(tc, test_trim_mlock_keeps_everything);
	tcase_add_test(tc, test_trim_before_use);
	tcase_add_test(tc, test_trim_fragmented_exact);
	tcase_add_test(tc, test_fork_during_trim);
	tcase_add_test(tc, test_trim_os_refuses);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(trim_suite());
}
