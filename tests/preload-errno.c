/* SPDX-License-Identifier: MIT */
/*
 * preload-errno.c - under an address-space limit (RLIMIT_AS, 256 MiB: it
 * re-executes itself under it, so the shim starts the pool under it too),
 * every allocating entry point of the malloc family fails with NULL (or
 * ENOMEM returned) and errno ENOMEM - as glibc's own do, posix_memalign()
 * included - a request larger than the limit, and a page-sized one once the
 * pool's arena and the C library's memory are full, under the LD_PRELOAD
 * shim (tests/preload-hostile.sh) and without it.  Links no pagepool
 * library; prints one line per entry point; exits 1 on a failure.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define HUGE ((size_t)1 << 30)		/* 1 GiB: more than the limit */

static int failures;

static void expect(const char *what, void *p, int ret)
{
	int err = errno;

	if (p || err != ENOMEM || ret != ENOMEM) {
		printf("FAIL %s: %p, returned %d, errno %d (%s)\n", what, p, ret, err,
		       strerror(err));
		failures++;
		return;		/* a success is leaked: the test has failed */
	}
	printf("ok   %s: NULL, errno ENOMEM\n", what);
}

/* Fill the address space with @size-byte requests until none fits; how many. */
static size_t exhaust(void **held, size_t max, size_t size)
{
	size_t n = 0;

	while (n < max && (held[n] = malloc(size)) != NULL)
		*(volatile char *)held[n++] = 1;
	return n;
}

/* @small: 16 bytes of the C library's; @run: 4 pages (the pool's under the shim). */
static void every_entry_point(const char *why, size_t size, void *small, void *run)
{
	void *r, *p = NULL;
	int ret;

	printf("-- %s, %zu bytes\n", why, size);
	errno = 0; expect("malloc", malloc(size), ENOMEM);
	errno = 0; expect("calloc", calloc(1, size), ENOMEM);
	errno = 0;
	r = realloc(small, size);
	expect("realloc (16 bytes)", r, ENOMEM);
	if (r)
		exit(1);	/* moved: @small is gone (reported above) */
	errno = 0;
	r = realloc(run, size + 4 * 4096);
	expect("realloc (4 pages)", r, ENOMEM);
	if (r)
		exit(1);
	errno = 0; expect("reallocarray", reallocarray(NULL, size / 2, 2), ENOMEM);
	errno = 0; expect("aligned_alloc", aligned_alloc(4096, size), ENOMEM);
	errno = 0; expect("memalign", memalign(1 << 16, size), ENOMEM);
	errno = 0; expect("valloc", valloc(size), ENOMEM);
	errno = 0; expect("pvalloc", pvalloc(size), ENOMEM);
	errno = 0;
	ret = posix_memalign(&p, 128, size);
	expect("posix_memalign(128)", p, ret);
	p = NULL;
	errno = 0;
	ret = posix_memalign(&p, 4096, size);
	expect("posix_memalign(4096)", p, ret);
}

int main(int argc, char **argv)
{
	static void *big[4096], *pages[1 << 16];
	void *small, *run;
	struct rlimit rl = { (size_t)256 << 20, (size_t)256 << 20 };
	size_t nbig, npages;

	/* Re-run under the limit, so that the shim starts the pool under it. */
	if (argc < 2) {
		if (setrlimit(RLIMIT_AS, &rl)) {
			perror("setrlimit");
			return 2;
		}
		execl("/proc/self/exe", argv[0], "limited", (char *)NULL);
		perror("exec");
		return 2;
	}
	small = malloc(16);
	run = malloc(4 * 4096);
	if (!small || !run) {
		printf("FAIL malloc before the tests\n");
		return 1;
	}
	every_entry_point("more than the limit", HUGE, small, run);
	/* Now fill it: the pool's arena with 1 MiB runs, then the C library's. */
	nbig = exhaust(big, 4096, (size_t)1 << 20);
	npages = exhaust(pages, 1 << 16, 8192);
	printf("-- filled: %zu requests of 1 MiB, %zu of 8 KiB\n", nbig, npages);
	every_entry_point("the pool and the C library full", 8192, small, run);
	free(small);	/* untouched by the failed reallocs */
	free(run);
	while (npages)
		free(pages[--npages]);
	while (nbig)
		free(big[--nbig]);
	return failures != 0;
}
