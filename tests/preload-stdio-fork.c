/* SPDX-License-Identifier: MIT */
/*
 * preload-stdio-fork.c - fork() while other threads hold stdio locks and
 * allocate, for tests/preload-programs.sh, run plainly and under the
 * LD_PRELOAD shim.
 *
 * The scenario of glibc's malloc fork-deadlock regression test (its bug
 * 19431), written anew: glibc's fork() runs the pthread_atfork prepare
 * handlers first, then takes the stdio list lock, then its own malloc's
 * locks.  An allocator that holds a lock of its own across fork() from a
 * prepare handler deadlocks with a thread that waits for that lock while
 * holding a stream lock which fflush(NULL) - holding the list lock - waits
 * for.  Two modes, each with one thread forking NFORKS times and one
 * thread calling fflush(NULL) in a loop:
 *   getline    two threads read long lines from their own streams with
 *              getline() from an empty buffer each time: realloc() grows
 *              the line buffer through page sizes under the stream lock;
 *   flockfile  one thread holds flockfile(stdout) around malloc() of 4 to
 *              64 pages and free() (a fix that only spares realloc() fails
 *              here).
 * Each child allocates, checks and frees, and exits with a status the
 * parent checks.  A hang is killed by alarm() (and by the test script's
 * watchdog).  Links no pagepool library; prints a deterministic summary;
 * any failure is reported on stderr and exits 1.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#define NFORKS 250
#define NREADERS 2
#define LINES 24		/* lines in each reader's stream */
#define LINE_MAX_LEN (96 * 1024)
#define WATCHDOG_S 100		/* below the script's 120 s */

static atomic_int stop;
static atomic_int failed;
static atomic_ulong lines_read, big_allocs, flushes;
static size_t page;

static void fail(const char *what)
{
	fprintf(stderr, "preload-stdio-fork: %s\n", what);
	atomic_store(&failed, 1);
}

static void on_alarm(int sig)
{
	static const char msg[] = "preload-stdio-fork: watchdog: no progress in "
				  "100 s (a deadlock around fork())\n";

	(void)sig;
	if (write(2, msg, sizeof msg - 1) < 0)
		_exit(3);
	_exit(2);
}

/* Reader: long lines through getline() into a fresh buffer each time. */
static void *reader_main(void *arg)
{
	unsigned id = (unsigned)(size_t)arg;
	size_t len = 0, i;
	char *text, *line = NULL;
	size_t cap = 0;
	FILE *f;

	/* Lines of 5 to 96 KiB, each of one letter, newline-terminated. */
	for (i = 0; i < LINES; i++)
		len += (5 * 1024 + i * 4000 + id * 1000) % LINE_MAX_LEN + 1;
	text = malloc(len);
	if (!text) {
		fail("malloc of the reader's text failed");
		return NULL;
	}
	for (i = 0, len = 0; i < LINES; i++) {
		size_t n = (5 * 1024 + i * 4000 + id * 1000) % LINE_MAX_LEN;

		memset(text + len, 'a' + (int)(i % 26), n);
		text[len + n] = '\n';
		len += n + 1;
	}
	f = fmemopen(text, len, "r");
	if (!f) {
		fail("fmemopen failed");
		free(text);
		return NULL;
	}
	while (!atomic_load(&stop)) {
		ssize_t got;

		rewind(f);
		for (i = 0; (got = getline(&line, &cap, f)) > 0; i++) {
			if (line[0] != 'a' + (int)(i % 26) || line[got - 1] != '\n' ||
			    line[got / 2] != line[0])
				fail("getline returned a corrupted line");
			free(line);	/* the next getline() grows from nothing */
			line = NULL;
			cap = 0;
			atomic_fetch_add(&lines_read, 1);
		}
	}
	free(line);
	fclose(f);
	free(text);
	return NULL;
}

/* Holder: malloc() and free() of 4 to 64 pages while holding stdout's lock. */
static void *holder_main(void *arg)
{
	unsigned step = 0;

	(void)arg;
	while (!atomic_load(&stop)) {
		size_t n = (4 + step++ % 61) * page;
		unsigned char *p;

		flockfile(stdout);
		p = malloc(n);
		if (!p) {
			funlockfile(stdout);
			fail("malloc under flockfile(stdout) failed");
			break;
		}
		for (size_t off = 0; off < n; off += page)
			p[off] = (unsigned char)step;
		for (size_t off = 0; off < n; off += page)
			if (p[off] != (unsigned char)step)
				fail("a buffer changed under flockfile(stdout)");
		free(p);
		funlockfile(stdout);
		atomic_fetch_add(&big_allocs, 1);
		sched_yield();	/* stdout's lock is unfair too: let fflush(NULL) in */
	}
	return NULL;
}

static void *flusher_main(void *arg)
{
	while (!atomic_load(&stop)) {
		fflush(NULL);
		atomic_fetch_add(&flushes, 1);
		if (arg)	/* getline: glibc's list lock is unfair, let fork() have it */
			sched_yield();
	}
	return NULL;
}

/* In the child: allocate at the pool's sizes and the C library's, check, free. */
static int child_work(void)
{
	unsigned char *big = malloc(8 * page), *small = malloc(100);
	char *line = NULL;
	size_t cap = 0;
	FILE *f;

	if (!big || !small)
		return 10;
	memset(big, 0x5a, 8 * page);
	memset(small, 0xa5, 100);
	if (big[8 * page - 1] != 0x5a || small[99] != 0xa5)
		return 11;
	big = realloc(big, 20 * page);
	if (!big || big[8 * page - 1] != 0x5a)
		return 12;
	free(big);
	free(small);
	/* stdio still works in the child: its locks were left consistent. */
	f = fmemopen((char[]){ "child\n" }, 6, "r");
	if (!f || getline(&line, &cap, f) != 6 || strcmp(line, "child\n"))
		return 13;
	fclose(f);
	free(line);
	return 0;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void forker(void)
{
	double slowest = 0, total = 0;

	for (unsigned i = 0; i < NFORKS; i++) {
		int status;
		double t0 = now_ms(), t;
		pid_t pid = fork();

		if (pid < 0) {
			fail("fork failed");
			return;
		}
		if (pid == 0)
			_exit(child_work());
		t = now_ms() - t0;
		total += t;
		if (t > slowest)
			slowest = t;
		if (waitpid(pid, &status, 0) != pid) {
			fail("waitpid failed");
			return;
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "preload-stdio-fork: child %u: status 0x%x\n", i,
				(unsigned)status);
			atomic_store(&failed, 1);
		}
		alarm(WATCHDOG_S);	/* progress: re-arm */
	}
	if (getenv("PP_TEST_VERBOSE"))
		fprintf(stderr, "preload-stdio-fork: fork() took %.3f ms on average, %.3f at most\n",
			total / NFORKS, slowest);
}

int main(int argc, char **argv)
{
	pthread_t thr[NREADERS + 1];
	unsigned nthr = 0;
	bool getline_mode;

	if (argc != 2 || (strcmp(argv[1], "getline") && strcmp(argv[1], "flockfile"))) {
		fprintf(stderr, "usage: preload-stdio-fork getline|flockfile\n");
		return 2;
	}
	getline_mode = !strcmp(argv[1], "getline");
	page = (size_t)sysconf(_SC_PAGESIZE);
	signal(SIGALRM, on_alarm);
	alarm(WATCHDOG_S);
	if (getline_mode) {
		for (unsigned i = 0; i < NREADERS; i++)
			if (!pthread_create(&thr[nthr], NULL, reader_main, (void *)(size_t)i))
				nthr++;
	} else if (!pthread_create(&thr[nthr], NULL, holder_main, NULL)) {
		nthr++;
	}
	if (nthr != (getline_mode ? NREADERS : 1u)) {
		fprintf(stderr, "preload-stdio-fork: pthread_create failed\n");
		return 1;
	}
	{
		pthread_t fl;

		if (pthread_create(&fl, NULL, flusher_main, getline_mode ? &fl : NULL)) {
			fprintf(stderr, "preload-stdio-fork: pthread_create failed\n");
			return 1;
		}
		forker();
		atomic_store(&stop, 1);
		pthread_join(fl, NULL);
	}
	for (unsigned i = 0; i < nthr; i++)
		pthread_join(thr[i], NULL);
	alarm(0);
	if ((getline_mode ? atomic_load(&lines_read) : atomic_load(&big_allocs)) == 0)
		fail("the allocating threads made no progress");
	if (atomic_load(&failed))
		return 1;
	printf("stdio-fork %s: %u forks while fflush(NULL) loops and %s: children ok\n",
	       argv[1], NFORKS,
	       getline_mode ? "two threads getline() long lines"
			    : "a thread allocates under flockfile(stdout)");
	return 0;
}
