/* SPDX-License-Identifier: MIT */
/*
 * malloc.c - the malloc family, as the LD_PRELOAD shim exports it.
 *
 * Owns: the C and POSIX contracts of each entry point (errno, EINVAL for a
 * bad alignment, overflow checks, malloc(0), free(NULL), pvalloc rounding)
 * and realloc across the pool and the C library.  Which allocator serves a
 * request is route.c's decision; an address is the pool's exactly when it
 * lies in the arena (pp_arena_has()), so free() needs no header and no
 * lookup table.  Bad pool pointers are reported naming the call, and abort.
 */
#include "config.h"

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "preload.h"

/* glibc's MALLOC_ALIGNMENT on the 64-bit targets: malloc() already aligns so. */
#define LIBC_ALIGN	(2 * sizeof(size_t))

/**
 * malloc() - @size bytes: a run of whole pages from the pool when @size is
 * at least preload_min, else the C library's.
 * @size: bytes; 0 gives a unique pointer from the C library.
 *
 * Context: may block and make system calls, as glibc's malloc() may; the
 * first call of the process starts the pool.
 * Return: the memory, or NULL with errno ENOMEM.
 */
PP_PRELOAD_API void *malloc(size_t size)
{
	if (likely(!ppl_big(size))) {
		ppl_count(PPL_LIBC, size);
		return __libc_malloc(size);
	}
	return ppl_alloc_slow(size, 0, false);
}

/**
 * free() - give back memory from any function of the family.
 * @p: NULL (nothing happens), pool memory (told by the arena range check)
 * or the C library's.
 *
 * Context: pool memory: never blocks, no system call (lib/exact.c); a bad
 * pool pointer is reported naming free() and aborts.
 */
PP_PRELOAD_API void free(void *p)
{
	if (unlikely(pp_arena_has(p)))
		pp_exact_free("free", p);
	else
		__libc_free(p);
}

/**
 * calloc() - @n * @size zeroed bytes, routed as malloc() routes them.
 * @n: elements.
 * @size: bytes each.
 *
 * Context: as malloc().
 * Return: the memory, or NULL with errno ENOMEM (also when @n * @size
 * overflows).
 */
PP_PRELOAD_API void *calloc(size_t n, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	if (likely(!ppl_big(total))) {
		ppl_count(PPL_LIBC, total);
		return __libc_calloc(n, size);
	}
	return ppl_alloc_slow(total, 0, true);
}

/* Memory aligned to @align, a power of two. */
static void *alloc_aligned(size_t align, size_t size)
{
	if (align <= LIBC_ALIGN)
		return malloc(size);
	return ppl_alloc_slow(size, align, false);
}

/* realloc() of C library memory: stays there, or moves into the pool. */
static void *realloc_libc(void *p, size_t size)
{
	size_t old;
	void *q;

	if (size == 0 || !ppl_big(size) || !ppl_routes_to_pool(size, 0) ||
	    !(q = ppl_pool_alloc(size, 0, false))) {
		ppl_count(PPL_LIBC, size);
		return __libc_realloc(p, size);
	}
	old = ppl_libc_usable_size(p);
	memcpy(q, p, old < size ? old : size);
	__libc_free(p);
	return q;
}

/* realloc() of pool memory: in place when it can (a shrink, or free pages behind), else moves. */
static void *realloc_pool(void *p, size_t size)
{
	size_t old = pp_exact_pages("realloc", p) << pp_g.page_shift;
	void *q = NULL;

	if (size == 0) {		/* glibc: free, return NULL */
		pp_exact_free("realloc", p);
		return NULL;
	}
	if (ppl_big(size) && ppl_routes_to_pool(size, 0)) {
		size_t npages = (size + pp_g.page_size - 1) >> pp_g.page_shift;

		if (size <= old) {
			pp_exact_shrink("realloc", p, npages);
			return p;
		}
		uint8_t was = ppl_yield_begin();
		bool grown = pp_exact_grow("realloc", p, npages);

		ppl_yield_end(was);
		if (grown) {
			ppl_count(PPL_POOL, size);
			return p;
		}
		q = ppl_pool_alloc(size, 0, false);
	}
	if (!q) {
		ppl_count(PPL_LIBC, size);
		q = __libc_malloc(size);
	}
	if (!q && size <= old) {	/* a shrink cannot fail: keep it in the pool */
		pp_exact_shrink("realloc", p, (size + pp_g.page_size - 1) >> pp_g.page_shift);
		return p;
	}
	if (!q) {
		errno = ENOMEM;
		return NULL;		/* @p is untouched */
	}
	memcpy(q, p, old < size ? old : size);
	pp_exact_free("realloc", p);
	return q;
}

/**
 * realloc() - resize, across the pool and the C library as the new size
 * routes; within the pool in place when it can.
 * @p: NULL (as malloc()), or memory from the family.
 * @size: bytes; 0 frees @p and returns NULL, as glibc does.
 *
 * Context: as malloc().  A bad pool pointer aborts, naming realloc().
 * Return: the memory, or NULL with errno ENOMEM and @p untouched.
 */
PP_PRELOAD_API void *realloc(void *p, size_t size)
{
	if (!p)
		return malloc(size);
	if (unlikely(pp_arena_has(p)))
		return realloc_pool(p, size);
	if (likely(!ppl_big(size))) {
		ppl_count(PPL_LIBC, size);
		return __libc_realloc(p, size);
	}
	return realloc_libc(p, size);
}

/**
 * reallocarray() - realloc() to @n * @size bytes, checking the product.
 * @p: as realloc().
 * @n: elements.
 * @size: bytes each.
 *
 * Context: as realloc().
 * Return: as realloc(); NULL with errno ENOMEM and @p untouched on overflow.
 */
PP_PRELOAD_API void *reallocarray(void *p, size_t n, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, total);
}

static bool power_of_two(size_t x)
{
	return x && !(x & (x - 1));
}

/**
 * posix_memalign() - @size bytes aligned to @align: the pool for a page
 * alignment or more (up to the largest block) or a large size.
 * @memptr: where the pointer goes, on success only.
 * @align: a power of two and a multiple of sizeof(void *).
 * @size: bytes.
 *
 * Context: as malloc(); errno is left alone on success, ENOMEM on failure
 * as glibc's (POSIX only promises the return value).
 * Return: 0, EINVAL for a bad @align, or ENOMEM.
 */
PP_PRELOAD_API int posix_memalign(void **memptr, size_t align, size_t size)
{
	int saved = errno;
	void *p;

	if (!power_of_two(align) || align % sizeof(void *))
		return EINVAL;
	p = alloc_aligned(align, size);
	if (!p)
		return errno = ENOMEM;	/* glibc's sets errno too; programs test it */
	errno = saved;			/* a success leaves errno alone */
	*memptr = p;
	return 0;
}

/**
 * aligned_alloc() - as posix_memalign(), returning the pointer.
 * @align: a power of two.
 * @size: bytes.
 *
 * Context: as malloc().
 * Return: the memory, or NULL with errno EINVAL (bad @align) or ENOMEM.
 */
PP_PRELOAD_API void *aligned_alloc(size_t align, size_t size)
{
	if (!power_of_two(align)) {
		errno = EINVAL;
		return NULL;
	}
	return alloc_aligned(align, size);
}

/**
 * memalign() - as aligned_alloc(); a non-power-of-two @align is rounded up.
 * @align: the alignment.
 * @size: bytes.
 *
 * Context: as malloc().
 * Return: the memory, or NULL with errno EINVAL (@align beyond half the
 * address space) or ENOMEM.
 */
PP_PRELOAD_API void *memalign(size_t align, size_t size)
{
	/* As glibc: a non-power of two is rounded up, a huge one refused. */
	if (align > SIZE_MAX / 2 + 1) {
		errno = EINVAL;
		return NULL;
	}
	while (!power_of_two(align))
		align = align ? (align | (align - 1)) + 1 : 1;
	return alloc_aligned(align, size);
}

/**
 * valloc() - @size bytes aligned to a page (from the pool unless @size is 0).
 * @size: bytes.
 *
 * Context: as malloc().
 * Return: the memory, or NULL with errno ENOMEM.
 */
PP_PRELOAD_API void *valloc(size_t size)
{
	return alloc_aligned(pp_page_size(), size);
}

/**
 * pvalloc() - valloc() of @size rounded up to whole pages (0: one page).
 * @size: bytes.
 *
 * Context: as malloc().
 * Return: the memory, or NULL with errno ENOMEM (also when rounding overflows).
 */
PP_PRELOAD_API void *pvalloc(size_t size)
{
	size_t page = pp_page_size();

	if (size > SIZE_MAX - (page - 1)) {
		errno = ENOMEM;
		return NULL;
	}
	size = size ? (size + page - 1) & ~(page - 1) : page;
	return alloc_aligned(page, size);
}

/**
 * malloc_usable_size() - bytes usable at @p: its whole pages for pool
 * memory, the C library's answer for its own.
 * @p: memory from the family, or NULL.
 *
 * Context: no lock; the first call for C library memory looks glibc's
 * function up (libc.c).  A bad pool pointer aborts, naming the call.
 * Return: at least the size asked for; 0 for NULL.
 */
PP_PRELOAD_API size_t malloc_usable_size(void *p)
{
	if (!p)
		return 0;
	if (pp_arena_has(p))
		return pp_exact_pages("malloc_usable_size", p) << pp_g.page_shift;
	return ppl_libc_usable_size(p);
}
