/* SPDX-License-Identifier: MIT */
/*
 * backends.h - pagepool-bench's backends as the timed loops call them: one
 * always-inline allocation and free per backend (a page, and 2^order pages
 * aligned to their size for the orders workload), and the DISPATCH macros
 * that instantiate a workload's loop per backend.  Only the workloads'
 * files include it; backends.c finds the preloaded allocators' entry points.
 */
#ifndef PP_BENCH_PAGEPOOL_BACKENDS_H
#define PP_BENCH_PAGEPOOL_BACKENDS_H

#include <sched.h>
#include <stdint.h>
#include <stdlib.h>

#include "pagepool.h"
#include "bench.h"

/* Entry points of the preloaded allocators, found with dlsym() (backends.c). */
extern void *(*je_mallocx)(size_t, int);
extern void (*je_dallocx)(void *, int);
extern void *(*mi_malloc_aligned_p)(size_t, size_t);
extern void (*mi_free_p)(void *);

extern size_t page_size;
extern int je_align_flag;		/* MALLOCX_ALIGN(page_size) */
extern unsigned long try_fallbacks;	/* pagepool-try misses, producer only */
extern volatile uintptr_t sink;		/* keeps results observable */

__attribute__((noreturn)) void oom(void);
void *try_fallback(void);
void *try_fallback_order(unsigned order);

/* none (latency only): the next page of this thread's buffer; free: nothing. */
void *a_none(void);
void f_none(void *p);
void none_init(void);
void none_fini(void);

/* Map @bytes, faulted in now (no page fault inside a timed loop later). */
void *map_populated(size_t bytes);

/* The one write per page that every backend and workload does. */
static ALWAYS_INLINE void touch(void *p, size_t i)
{
	((volatile char *)p)[0] = (char)i;
}

static ALWAYS_INLINE void *a_try(void)
{
	void *p = pp_alloc_page_try();

	return __builtin_expect(p != NULL, 1) ? p : try_fallback();
}

static ALWAYS_INLINE void *a_pp(void)
{
	return pp_alloc_page(0);
}

static ALWAYS_INLINE void f_pp(void *p)
{
	pp_free_page(p);
}

static ALWAYS_INLINE void *a_je(void)
{
	return je_mallocx(page_size, je_align_flag);
}

static ALWAYS_INLINE void f_je(void *p)
{
	je_dallocx(p, 0);
}

/* glibc, and tcmalloc when it is preloaded (it interposes these). */
static ALWAYS_INLINE void *a_memalign(void)
{
	void *p;

	return posix_memalign(&p, page_size, page_size) == 0 ? p : NULL;
}

static ALWAYS_INLINE void f_libc(void *p)
{
	free(p);
}

static ALWAYS_INLINE void *a_mi(void)
{
	return mi_malloc_aligned_p(page_size, page_size);
}

static ALWAYS_INLINE void f_mi(void *p)
{
	mi_free_p(p);
}

/* Allocation of 2^order pages aligned to their size, per backend (orders). */
static ALWAYS_INLINE void *ao_try(unsigned order)
{
	void *p = pp_alloc_pages(order, PP_TRY);

	return __builtin_expect(p != NULL, 1) ? p : try_fallback_order(order);
}

static ALWAYS_INLINE void *ao_pp(unsigned order)
{
	return pp_alloc_pages(order, 0);
}

static ALWAYS_INLINE void fo_pp(void *p, unsigned order)
{
	pp_free_pages(p, order);
}

static ALWAYS_INLINE void *ao_je(unsigned order)
{
	/* MALLOCX_ALIGN(size) is MALLOCX_LG_ALIGN(log2(size)), the log itself. */
	return je_mallocx(page_size << order, je_align_flag + (int)order);
}

static ALWAYS_INLINE void fo_je(void *p, unsigned order)
{
	(void)order;
	je_dallocx(p, 0);
}

static ALWAYS_INLINE void *ao_memalign(unsigned order)
{
	void *p;

	return posix_memalign(&p, page_size << order, page_size << order) == 0 ? p : NULL;
}

static ALWAYS_INLINE void fo_libc(void *p, unsigned order)
{
	(void)order;
	free(p);
}

static ALWAYS_INLINE void *ao_mi(unsigned order)
{
	return mi_malloc_aligned_p(page_size << order, page_size << order);
}

static ALWAYS_INLINE void fo_mi(void *p, unsigned order)
{
	(void)order;
	mi_free_p(p);
}

/*
 * Each workload is an always-inline template taking the backend's alloc and
 * free; the dispatch switches below instantiate it per backend, so the
 * timed loops make direct calls (or, for the dlsym'd allocators, one
 * indirect call, as a PLT call would).
 */
#define DISPATCH(bk, impl, ...)							\
	switch (bk) {								\
	case BK_TRY:   return impl(a_try, f_pp, __VA_ARGS__);			\
	case BK_PP:    return impl(a_pp, f_pp, __VA_ARGS__);			\
	case BK_JE:    return impl(a_je, f_je, __VA_ARGS__);			\
	case BK_GLIBC: return impl(a_memalign, f_libc, __VA_ARGS__);		\
	case BK_MI:    return impl(a_mi, f_mi, __VA_ARGS__);			\
	case BK_TC:    return impl(a_memalign, f_libc, __VA_ARGS__);		\
	case BK_NONE:  return impl(a_none, f_none, __VA_ARGS__);		\
	default:       abort();							\
	}

/* The same for the orders workload's allocation and free of 2^order pages. */
#define DISPATCH_ORDER(bk, impl, ...)						\
	switch (bk) {								\
	case BK_TRY:   return impl(ao_try, fo_pp, __VA_ARGS__);			\
	case BK_PP:    return impl(ao_pp, fo_pp, __VA_ARGS__);			\
	case BK_JE:    return impl(ao_je, fo_je, __VA_ARGS__);			\
	case BK_GLIBC: return impl(ao_memalign, fo_libc, __VA_ARGS__);		\
	case BK_MI:    return impl(ao_mi, fo_mi, __VA_ARGS__);			\
	case BK_TC:    return impl(ao_memalign, fo_libc, __VA_ARGS__);		\
	default:       abort();							\
	}

typedef void *alloc_fn(void);
typedef void free_fn(void *);
typedef void *alloc_order_fn(unsigned);
typedef void free_order_fn(void *, unsigned);


/*
 * A timed loop runs up to @max units (pairs or pages) or until @budget ns
 * have passed, whichever comes first, looking at the clock about every
 * CHECK_UNITS units; it reports the time and the units done.
 */
#define CHECK_UNITS 4096

/* Spin politely; yield now and then: the other side may share our CPU. */
static inline void cpu_relax(unsigned *spins)
{
	if (++*spins < 256) {
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#elif defined(__aarch64__)
		__asm__ __volatile__("yield");
#endif
	} else {
		*spins = 0;
		sched_yield();	/* the other side may share our CPU */
	}
}

#endif /* PP_BENCH_PAGEPOOL_BACKENDS_H */
