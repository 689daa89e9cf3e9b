/* SPDX-License-Identifier: MIT */
/*
 * libc.c - the C library's own allocator, for what the pool does not serve.
 *
 * Owns: reaching glibc's allocator past the shim.  Allocation goes through
 * glibc's exported __libc_malloc, __libc_calloc, __libc_realloc,
 * __libc_memalign and __libc_free, so no dlsym() is needed at start-up,
 * when it could recurse into malloc.  glibc has no such name for
 * malloc_usable_size(): it is looked up in libc.so.6 itself on first need
 * (realloc from the C library into the pool, or malloc_usable_size() of C
 * library memory), never at start-up.
 */
#include "config.h"

#include <dlfcn.h>
#include <gnu/lib-names.h>

#include "preload.h"

static size_t (*libc_usable)(void *);

static __typeof__(libc_usable) find_usable_slow(void)
{
	void *h = dlopen(LIBC_SO, RTLD_LAZY | RTLD_NOLOAD);
	__typeof__(libc_usable) fn = NULL;

	if (h) {
		/* dlsym() on libc's own handle finds its definition, not ours. */
		*(void **)&fn = dlsym(h, "malloc_usable_size");
		dlclose(h);
	}
	if (!fn) {
		pp_msg("malloc_usable_size: cannot find the C library's own in %s", LIBC_SO);
		pp_os_abort();
	}
	__atomic_store_n(&libc_usable, fn, __ATOMIC_RELEASE);
	return fn;
}

/**
 * ppl_libc_usable_size() - glibc's malloc_usable_size() of its own memory.
 * @p: memory from the C library's allocator.
 *
 * Context: the first call looks the function up (dlopen of the loaded
 * libc.so.6 and dlsym, which take the dynamic loader's lock; not
 * async-signal-safe); later calls only call it.
 * Return: the usable size of @p.
 */
size_t ppl_libc_usable_size(void *p)
{
	__typeof__(libc_usable) fn = __atomic_load_n(&libc_usable, __ATOMIC_ACQUIRE);

	if (unlikely(!fn))
		fn = find_usable_slow();
	return fn(p);
}
