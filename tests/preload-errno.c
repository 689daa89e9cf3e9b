/* SPDX-License-Identifier: MIT */
/*
 * preload-errno.c - under an address-space limit (RLIMIT_AS, 256 MiB),
 * every allocating entry point of the malloc family fails a request that
 * cannot fit with NULL (or ENOMEM returned) and errno ENOMEM - as glibc's
 * own do, posix_memalign() included - for pool sizes and alignments, under
 * the LD_PRELOAD shim (tests/preload-hostile.sh) and without it.  Links no
 * pagepool library; prints one line per entry point; exits 1 on a failure.
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

int main(void)
{
	struct rlimit rl = { (size_t)256 << 20, (size_t)256 << 20 };
	void *small = malloc(100), *q, *r;

	if (setrlimit(RLIMIT_AS, &rl)) {
		perror("setrlimit");
		return 2;
	}
	free(malloc(3 * 4096));		/* start the pool under the limit */
	errno = 0; expect("malloc", malloc(HUGE), ENOMEM);
	errno = 0; expect("calloc", calloc(1, HUGE), ENOMEM);
	errno = 0; expect("calloc (overflow)", calloc(HUGE, HUGE), ENOMEM);
	errno = 0;
	r = realloc(small, HUGE);
	expect("realloc (C library memory)", r, ENOMEM);
	if (!r)		/* untouched, as it must be */
		free(small);
	q = malloc(4 * 4096);
	errno = 0;
	r = realloc(q, HUGE);
	expect("realloc (pool size)", r, ENOMEM);
	if (!r)
		free(q);
	errno = 0; expect("reallocarray", reallocarray(NULL, HUGE, 2), ENOMEM);
	errno = 0; expect("aligned_alloc", aligned_alloc(4096, HUGE), ENOMEM);
	errno = 0; expect("memalign", memalign(1 << 16, HUGE), ENOMEM);
	errno = 0; expect("valloc", valloc(HUGE), ENOMEM);
	errno = 0; expect("pvalloc", pvalloc(HUGE), ENOMEM);
	{
		void *p = NULL;
		int ret;

		errno = 0;
		ret = posix_memalign(&p, 128, HUGE);
		expect("posix_memalign(128)", p, ret);
		p = NULL;
		errno = 0;
		ret = posix_memalign(&p, 4096, HUGE);
		expect("posix_memalign(4096)", p, ret);
	}
	return failures != 0;
}
