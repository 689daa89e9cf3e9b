/* SPDX-License-Identifier: MIT */
/*
 * testutil.h - helpers shared by the white-box Check test programs (they
 * link the library's objects and its test hooks); checkutil.h has the
 * generic part.
 *
 * Every test runs in its own forked child (CK_FORK), so each one starts with
 * a fresh, uninitialised pool and may call pp_configure() first.
 */
#ifndef PP_TESTUTIL_H
#define PP_TESTUTIL_H

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pagepool.h"
#include "internal.h"
#include "testhooks.h"
#include "checkutil.h"

static inline struct pp_stats get_stats(void)
{
	struct pp_stats s;

	memset(&s, 0, sizeof(s));
	pp_stats(&s, sizeof(s));
	return s;
}

static inline size_t ps(void)
{
	return pp_page_size();
}

static inline size_t in_use(void)
{
	return get_stats().in_use;
}

/* Cached pages (a single-threaded test: this thread's), the caches' storage excluded. */
static inline size_t cached_pages(void)
{
	struct pp_stats s = get_stats();

	return s.cached - s.cache_meta;
}

/* True when all @len bytes at @p are zero.  No system call: seccomp children use it. */
static inline bool all_zero(const void *p, size_t len)
{
	const unsigned char *c = p;
	size_t i = 0;

	for (; i + sizeof(uint64_t) <= len; i += sizeof(uint64_t)) {
		uint64_t w;

		memcpy(&w, c + i, sizeof(w));
		if (w)
			return false;
	}
	for (; i < len; i++)
		if (c[i])
			return false;
	return true;
}

/*
 * conservation_ok() - the two ledgers agree and no page is lost.  Call at a
 * quiescent point only.  No Check calls, so a fork()ed child may use it; on
 * failure @why says which equation broke.
 */
static inline bool conservation_ok(char *why, size_t len)
{
	struct pp_stats s = get_stats();
	struct pp_audit a;

	memset(&a, 0, sizeof(a));
	pp_test_audit(&a);
#define PP_EQ(x, y) do {						\
		if ((size_t)(x) != (size_t)(y)) {			\
			snprintf(why, len, "%s (%zu) != %s (%zu)",	\
				 #x, (size_t)(x), #y, (size_t)(y));	\
			return false;					\
		}							\
	} while (0)
	PP_EQ(s.committed, s.in_use + s.cached + s.free + s.reserved);
	PP_EQ(a.committed, s.committed);
	PP_EQ(a.used, s.in_use + s.reserved);	/* reserves hold USED blocks */
	PP_EQ(a.free + a.pending, s.free);
	PP_EQ(a.cached + a.meta, s.cached);
	PP_EQ(a.meta, s.cache_meta);
	PP_EQ(a.listed, a.free);
	PP_EQ(a.bad, 0);
#undef PP_EQ
	return true;
}

#define check_conservation() check_conservation_at(__FILE__, __LINE__)
static inline void check_conservation_at(const char *file, int line)
{
	char why[256];

	ck_assert_msg(conservation_ok(why, sizeof(why)),
		      "conservation broken at %s:%d: %s", file, line, why);
}

/* The block is aligned to its size and its pages are readable/writable. */
static inline bool block_aligned(const void *p, unsigned order)
{
	return ((uintptr_t)p & ((pp_page_size() << order) - 1)) == 0;
}

/* Write @tag at the start of every page of a block / check it is still there. */
static inline void tag_block(void *p, unsigned order, uint64_t tag)
{
	for (size_t i = 0; i < ((size_t)1 << order); i++)
		memcpy((char *)p + i * pp_page_size(), &tag, sizeof(tag));
}

static inline bool tag_ok(const void *p, unsigned order, uint64_t tag)
{
	for (size_t i = 0; i < ((size_t)1 << order); i++) {
		uint64_t t;

		memcpy(&t, (const char *)p + i * pp_page_size(), sizeof(t));
		if (t != tag)
			return false;
	}
	return true;
}

static inline pthread_t spawn(void *(*fn)(void *), void *arg)
{
	pthread_t t;

	ck_assert_int_eq(pthread_create(&t, NULL, fn, arg), 0);
	return t;
}

static inline void *join(pthread_t t)
{
	void *ret = NULL;

	ck_assert_int_eq(pthread_join(t, &ret), 0);
	return ret;
}

/* ---- another thread holds the global lock ------------------------------ */

/* hold_lock(): a thread takes the global lock and keeps it until release_lock(). */
struct lock_holder {
	pthread_t thread;
	pthread_barrier_t held, release;
};

static inline void *lock_holder_main(void *arg)
{
	struct lock_holder *h = arg;

	pp_test_lock();
	pthread_barrier_wait(&h->held);
	pthread_barrier_wait(&h->release);
	pp_test_unlock();
	return NULL;
}

static inline void hold_lock(struct lock_holder *h)
{
	ck_assert_int_eq(pthread_barrier_init(&h->held, NULL, 2), 0);
	ck_assert_int_eq(pthread_barrier_init(&h->release, NULL, 2), 0);
	h->thread = spawn(lock_holder_main, h);
	pthread_barrier_wait(&h->held);
}

static inline void release_lock(struct lock_holder *h)
{
	pthread_barrier_wait(&h->release);
	join(h->thread);
	pthread_barrier_destroy(&h->held);
	pthread_barrier_destroy(&h->release);
}

/* A small per-thread PRNG (xorshift64*). */
static inline uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static inline double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* In the child (no Check calls there): a block of @order, or exit 98. */
static inline void *must_alloc(unsigned order)
{
	void *p = pp_alloc_pages(order, 0);

	if (!p) {
		dprintf(STDERR_FILENO, "@@SETUP allocation of order %u failed\n", order);
		_exit(98);
	}
	return p;
}

#endif /* PP_TESTUTIL_H */
