/* SPDX-License-Identifier: MIT */
/*
 * os.c - every system call libpagepool makes, and nothing else.
 *
 * Owns: reserving the arena's virtual range, committing parts of it, writing
 * to stderr, aborting.  Keeping them here makes "the try path never enters
 * the kernel" checkable from the includes: no other file includes
 * <sys/mman.h> or <unistd.h>.  (Locks may reach the kernel through futex;
 * they live in buddy.c and the try and free paths do not take them.)
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

size_t pp_os_page_size(void)
{
	long ps = sysconf(_SC_PAGESIZE);	/* from the auxv: no system call */

	return ps > 0 ? (size_t)ps : 4096;
}

/*
 * pp_os_reserve() - reserve @size bytes of address space aligned to @align
 * (a power of two), inaccessible and without commit charge.
 */
void *pp_os_reserve(size_t size, size_t align)
{
	size_t len = size + align;
	char *raw, *p;

	if (len < size)
		return NULL;
	raw = mmap(NULL, len, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	p = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
	/* Give back the slack on both sides. */
	if (p > raw)
		munmap(raw, (size_t)(p - raw));
	if (raw + len > p + size)
		munmap(p + size, (size_t)(raw + len - (p + size)));
	return p;
}

/*
 * pp_os_commit() - make [@addr, @addr+@size) of a reservation readable and
 * writable, charged against the commit limit (so a strict-overcommit system
 * refuses here, with ENOMEM, rather than at first touch).
 */
int pp_os_commit(void *addr, size_t size)
{
	void *p = mmap(addr, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

	return p == MAP_FAILED ? -1 : 0;
}

/* Commit @size bytes at @addr backed by huge pages (hugetlbfs); -1 if none. */
int pp_os_commit_huge(void *addr, size_t size)
{
	void *p = mmap(addr, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_HUGETLB, -1, 0);

	return p == MAP_FAILED ? -1 : 0;
}

/* Ask for transparent huge pages on a committed range; -1 with errno. */
int pp_os_advise_huge(void *addr, size_t size)
{
	return madvise(addr, size, MADV_HUGEPAGE);
}

/* Lock a committed range in memory (faulting it in); -1 with errno. */
int pp_os_lock(void *addr, size_t size)
{
	return mlock(addr, size);
}

/*
 * Fault a committed range in for writing, so that touching it later takes
 * no page fault: MADV_POPULATE_WRITE (Linux 5.14), else a write to each
 * page (of its own value: nothing is written that was not there).
 */
void pp_os_populate(void *addr, size_t size)
{
#ifdef MADV_POPULATE_WRITE
	if (madvise(addr, size, MADV_POPULATE_WRITE) == 0)
		return;
#endif
	for (size_t off = 0; off < size; off += pp_g.page_size) {
		volatile char *c = (volatile char *)addr + off;

		*c = *c;
	}
}

/*
 * Give a free range's memory back to the OS; it stays mapped and reads as
 * zero (MADV_DONTNEED) or as before until reclaimed (MADV_FREE, @lazy).
 */
void pp_os_release(void *addr, size_t size, bool lazy)
{
	madvise(addr, size, lazy ? MADV_FREE : MADV_DONTNEED);
}

/* Monotonic milliseconds; clock_gettime() is a vDSO call, no system call. */
size_t pp_os_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (size_t)ts.tv_sec * 1000 + (size_t)ts.tv_nsec / 1000000;
}

/* CLOCK_REALTIME @ms from now, for pthread_mutex_timedlock() (buddy.c). */
void pp_os_deadline(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_nsec += (long)ms * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec += ts->tv_nsec / 1000000000L;
		ts->tv_nsec %= 1000000000L;
	}
}

/* Sleep about @ms milliseconds (EINTR ends it early). */
void pp_os_sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Async-signal-safe; a short write is retried, an error dropped. */
void pp_os_write_err(const char *buf, size_t len)
{
	int saved = errno;

	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		buf += n;
		len -= (size_t)n;
	}
	errno = saved;
}

void pp_os_abort(void)
{
	abort();
}
