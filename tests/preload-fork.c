/* SPDX-License-Identifier: MIT */
/*
 * preload-fork.c - fork() from several threads while others allocate, for
 * tests/preload-programs.sh, run plainly and under the LD_PRELOAD shim.
 *
 * Allocator threads keep allocating, checking and freeing page-sized,
 * multi-page and small buffers (and one of them dlopen()s libm again and
 * again) while forker threads call fork().  Each child checks the buffers
 * it inherited, frees them, allocates, verifies and frees its own, runs a
 * thread of its own every third time, and leaves by exit() or _exit() with
 * a status the parent checks.  The program dlopen()s libm.so.6 first and
 * calls cos() through dlsym().  A child or a parent stuck in a lock taken
 * before the fork is killed by alarm().  Links no pagepool library; prints
 * a deterministic summary; any failure is reported on stderr and exits 1.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <dlfcn.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NALLOCATORS 3
#define NFORKERS 3
#define NFORKS 40		/* per forker thread */
#define RING 32			/* buffers an allocator thread holds */
#define CHILD_BUFS 64

static size_t page;
static atomic_int stop;
static atomic_int failed;
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

/* Buffers every child inherits: filled before the threads start. */
static unsigned char *inherited_big, *inherited_small;
#define BIG_PAGES 3
#define SMALL_SIZE 200

struct forker {
	pthread_t thr;
	unsigned id;
	unsigned ok, child_threads;
};

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void report(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pthread_mutex_lock(&report_lock);
	fputs("preload-fork: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	pthread_mutex_unlock(&report_lock);
	va_end(ap);
	atomic_store(&failed, 1);
}

static unsigned char pattern_byte(uint32_t seed, size_t i)
{
	return (unsigned char)((seed * 2654435761u + i * 40503u) >> 11);
}

static void fill(unsigned char *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pattern_byte(seed, i);
}

static int verify(const unsigned char *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != pattern_byte(seed, i))
			return 0;
	return 1;
}

static uint32_t next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Page-sized, multi-page or small, by turns. */
static size_t pick_size(uint32_t *s)
{
	uint32_t r = next_rand(s);

	switch (r % 4) {
	case 0:
		return page;
	case 1:
		return page * (1 + (r >> 8) % 8);
	case 2:
		return page * (1 + (r >> 8) % 4) + (r >> 16) % 100;
	default:
		return 16 + (r >> 8) % 2000;
	}
}

/* ---- the child ------------------------------------------------------- */

/* Allocate, check and free a round of buffers; 0 or a failure code. */
static int child_round(uint32_t seed)
{
	unsigned char *b[CHILD_BUFS];
	size_t n[CHILD_BUFS];
	uint32_t s = seed | 1;
	int rc = 0;

	for (int i = 0; i < CHILD_BUFS; i++) {
		n[i] = pick_size(&s);
		b[i] = i % 5 == 4 ? calloc(1, n[i]) : malloc(n[i]);
		if (!b[i])
			return 3;
		if (i % 5 == 4)
			for (size_t j = 0; j < n[i]; j++)
				if (b[i][j])
					return 4;
		fill(b[i], n[i], seed + (uint32_t)i);
	}
	for (int i = 0; i < CHILD_BUFS; i += 3) {	/* grow some */
		unsigned char *q = realloc(b[i], n[i] * 2);

		if (!q)
			return 3;
		if (!verify(q, n[i], seed + (uint32_t)i))
			rc = 5;
		b[i] = q;
		fill(b[i] + n[i], n[i], seed);
	}
	for (int i = 0; i < CHILD_BUFS; i++) {
		if (!verify(b[i], n[i], seed + (uint32_t)i))
			rc = 5;
		free(b[i]);
	}
	return rc;
}

static void *child_thread(void *arg)
{
	return (void *)(intptr_t)child_round(*(uint32_t *)arg);
}

static int child_main(unsigned id, unsigned j)
{
	uint32_t seed = 1000 * (id + 1) + j, tseed = seed ^ 0x5bd1e995u;
	int rc;

	alarm(30);
	if (!verify(inherited_big, BIG_PAGES * page, 77) ||
	    !verify(inherited_small, SMALL_SIZE, 78))
		return 2;
	free(inherited_big);
	free(inherited_small);
	rc = child_round(seed);
	if (rc)
		return rc;
	if (j % 3 == 0) {
		pthread_t t;
		void *ret;

		if (pthread_create(&t, NULL, child_thread, &tseed) != 0)
			return 6;
		rc = child_round(seed + 7);
		pthread_join(t, &ret);
		if (rc)
			return rc;
		if (ret)
			return (int)(intptr_t)ret;
	}
	return child_round(seed + 13);
}

static int expected_status(unsigned id, unsigned j)
{
	return 40 + (int)((id * NFORKS + j) % 20);
}

/* ---- the parent's threads -------------------------------------------- */

static void *forker_main(void *arg)
{
	struct forker *f = arg;

	for (unsigned j = 0; j < NFORKS; j++) {
		int st, rc;
		pid_t pid = fork();

		if (pid < 0) {
			report("fork failed (forker %u, fork %u)", f->id, j);
			return NULL;
		}
		if (pid == 0) {
			rc = child_main(f->id, j);
			rc = rc ? rc : expected_status(f->id, j);
			if (j % 2)
				exit(rc);	/* atexit handlers: the shim's stats */
			_exit(rc);
		}
		if (waitpid(pid, &st, 0) != pid) {
			report("waitpid failed (forker %u, fork %u)", f->id, j);
			continue;
		}
		if (WIFSIGNALED(st)) {
			report("child %u/%u killed by signal %d", f->id, j, WTERMSIG(st));
			continue;
		}
		if (!WIFEXITED(st) || WEXITSTATUS(st) != expected_status(f->id, j)) {
			report("child %u/%u: exit status %d, want %d", f->id, j,
			       WIFEXITED(st) ? WEXITSTATUS(st) : -1, expected_status(f->id, j));
			continue;
		}
		f->ok++;
		if (j % 3 == 0)
			f->child_threads++;
	}
	return NULL;
}

static void *allocator_main(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	uint32_t s = 0x9e3779b9u * (id + 1);
	unsigned char *b[RING] = { NULL };
	size_t n[RING] = { 0 };
	uint32_t seed[RING] = { 0 };
	unsigned long round = 0;

	while (!atomic_load(&stop) || round < 2 * RING) {
		unsigned i = (unsigned)(round % RING);

		if (b[i]) {
			if (!verify(b[i], n[i], seed[i]))
				report("allocator %u: buffer %u of %zu bytes corrupted", id, i, n[i]);
			free(b[i]);
		}
		n[i] = pick_size(&s);
		seed[i] = next_rand(&s);
		b[i] = malloc(n[i]);
		if (!b[i]) {
			report("malloc(%zu) failed in allocator %u", n[i], id);
			break;
		}
		fill(b[i], n[i], seed[i]);
		if (id == 0 && round % 64 == 0) {
			void *h = dlopen("libm.so.6", RTLD_NOW);

			if (!h || !dlsym(h, "sin"))
				report("allocator %u: dlopen(libm.so.6)/dlsym(sin) failed: %s", id,
				       dlerror());
			if (h)
				dlclose(h);
		}
		round++;
	}
	for (unsigned i = 0; i < RING; i++)
		free(b[i]);
	return NULL;
}

int main(void)
{
	pthread_t alloc_thr[NALLOCATORS];
	struct forker fk[NFORKERS];
	double (*cosine)(double);
	unsigned ok = 0, child_threads = 0;
	void *libm;

	alarm(120);
	page = (size_t)sysconf(_SC_PAGESIZE);

	libm = dlopen("libm.so.6", RTLD_NOW);
	if (!libm) {
		fprintf(stderr, "preload-fork: dlopen(libm.so.6): %s\n", dlerror());
		return 1;
	}
	*(void **)&cosine = dlsym(libm, "cos");
	if (!cosine) {
		fprintf(stderr, "preload-fork: dlsym(cos): %s\n", dlerror());
		return 1;
	}
	printf("cos(0.5) = %.9f\n", cosine(0.5));

	inherited_big = malloc(BIG_PAGES * page);
	inherited_small = malloc(SMALL_SIZE);
	if (!inherited_big || !inherited_small) {
		fprintf(stderr, "preload-fork: malloc failed\n");
		return 1;
	}
	fill(inherited_big, BIG_PAGES * page, 77);
	fill(inherited_small, SMALL_SIZE, 78);
	fflush(stdout);		/* children that exit() must not print it again */

	for (unsigned i = 0; i < NALLOCATORS; i++)
		if (pthread_create(&alloc_thr[i], NULL, allocator_main, (void *)(uintptr_t)i)) {
			fprintf(stderr, "preload-fork: pthread_create failed\n");
			return 1;
		}
	for (unsigned i = 0; i < NFORKERS; i++) {
		memset(&fk[i], 0, sizeof(fk[i]));
		fk[i].id = i;
		if (pthread_create(&fk[i].thr, NULL, forker_main, &fk[i])) {
			fprintf(stderr, "preload-fork: pthread_create failed\n");
			return 1;
		}
	}
	for (unsigned i = 0; i < NFORKERS; i++) {
		pthread_join(fk[i].thr, NULL);
		ok += fk[i].ok;
		child_threads += fk[i].child_threads;
	}
	atomic_store(&stop, 1);
	for (unsigned i = 0; i < NALLOCATORS; i++)
		pthread_join(alloc_thr[i], NULL);

	if (!verify(inherited_big, BIG_PAGES * page, 77) ||
	    !verify(inherited_small, SMALL_SIZE, 78)) {
		fprintf(stderr, "preload-fork: the parent's buffers changed\n");
		atomic_store(&failed, 1);
	}
	free(inherited_big);
	free(inherited_small);
	dlclose(libm);

	printf("forks: %d from %d threads while %d threads allocate\n", NFORKERS * NFORKS,
	       NFORKERS, NALLOCATORS);
	printf("children ok: %u (exit statuses checked), with a thread: %u\n", ok, child_threads);
	printf("inherited buffers: checked and freed in every child\n");
	return atomic_load(&failed) ? 1 : 0;
}
