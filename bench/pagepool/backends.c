/* SPDX-License-Identifier: MIT */
/*
 * backends.c - pagepool-bench's backends: their names, the libraries that
 * are LD_PRELOADed for them, the entry points found with dlsym() in the
 * child, their versions, the pagepool-try fallbacks and the "none" backend
 * of the latency workload.  The allocation calls themselves are inline, in
 * backends.h.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <gnu/libc-version.h>
#include <string.h>
#include <sys/mman.h>

#include "backends.h"

const struct bkinfo bks[NR_BK] = {
	[BK_TRY]   = { "pagepool-try", NULL, true },
	[BK_PP]    = { "pagepool", NULL, true },
	[BK_JE]    = { "jemalloc", "libjemalloc.so.2", false },
	[BK_GLIBC] = { "glibc", NULL, true },
	[BK_MI]    = { "mimalloc", "libmimalloc.so.2", false },
	[BK_TC]    = { "tcmalloc", "libtcmalloc_minimal.so.4", false },
	[BK_NONE]  = { "none", NULL, true },
};

void *(*je_mallocx)(size_t, int);
void (*je_dallocx)(void *, int);
static int (*je_mallctl)(const char *, void *, size_t *, void *, size_t);
void *(*mi_malloc_aligned_p)(size_t, size_t);
void (*mi_free_p)(void *);
static int (*mi_version_p)(void);
static const char *(*tc_version_p)(int *, int *, const char **);

size_t page_size;
int je_align_flag;
unsigned long try_fallbacks;
volatile uintptr_t sink;

NOINLINE void oom(void)
{
	die("allocation failed: %s", strerror(errno));
}

NOINLINE void *try_fallback(void)
{
	try_fallbacks++;
	return pp_alloc_page(0);
}

NOINLINE void *try_fallback_order(unsigned order)
{
	try_fallbacks++;
	return pp_alloc_pages(order, 0);
}

/*
 * none (latency only): an empty call.  It hands out the next page of this
 * thread's own buffer (set up by none_init()) so that the loop around it
 * touches memory as with an allocator; freeing does nothing.
 */
#define NONE_PAGES	1024		/* pages per thread (power of two) */

static __thread char *none_base;
static __thread size_t none_next;

NOINLINE void *a_none(void)
{
	return none_base + (none_next++ & (NONE_PAGES - 1)) * page_size;
}

NOINLINE void f_none(void *p)
{
	__asm__ __volatile__("" : : "r"(p) : "memory");
}

/* Map @bytes, faulted in now (no page fault inside a timed loop later). */
void *map_populated(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (p == MAP_FAILED)
		die("mmap %zu bytes: %s", bytes, strerror(errno));
	memset(p, 0, bytes);
	return p;
}

void none_init(void)
{
	none_base = map_populated(NONE_PAGES * page_size);
	none_next = 0;
}

void none_fini(void)
{
	munmap(none_base, NONE_PAGES * page_size);
}

static void *sym(const char *name)
{
	void *p = dlsym(RTLD_DEFAULT, name);

	if (!p)
		die("dlsym(%s): %s", name, dlerror());
	return p;
}

/* Check the backend's library is loaded and find its entry points. */
bool backend_setup(enum backend bk)
{
	const struct bkinfo *b = &bks[bk];
	char ver[128];

	if (b->preload) {
		void *h = dlopen(b->preload, RTLD_NOLOAD | RTLD_LAZY);

		if (!h)
			return false;
		dlclose(h);
	}
	switch (bk) {
	case BK_TRY:
	case BK_PP:
		snprintf(ver, sizeof(ver), "%d.%d.%d", PAGEPOOL_VERSION_MAJOR,
			 PAGEPOOL_VERSION_MINOR, PAGEPOOL_VERSION_PATCH);
		break;
	case BK_JE: {
		const char *v = "?";
		size_t len = sizeof(v);

		*(void **)&je_mallocx = sym("mallocx");
		*(void **)&je_dallocx = sym("dallocx");
		*(void **)&je_mallctl = sym("mallctl");
		if (je_mallctl("version", &v, &len, NULL, 0) != 0)
			v = "?";
		snprintf(ver, sizeof(ver), "%.*s", (int)strcspn(v, "-"), v);
		break;
	}
	case BK_GLIBC:
		snprintf(ver, sizeof(ver), "%s", gnu_get_libc_version());
		break;
	case BK_MI: {
		int v;

		*(void **)&mi_malloc_aligned_p = sym("mi_malloc_aligned");
		*(void **)&mi_free_p = sym("mi_free");
		*(void **)&mi_version_p = sym("mi_version");
		v = mi_version_p();
		snprintf(ver, sizeof(ver), "%d.%d.%d", v / 100, v / 10 % 10, v % 10);
		break;
	}
	case BK_TC: {
		int maj, min;
		const char *patch;

		*(void **)&tc_version_p = sym("tc_version");
		snprintf(ver, sizeof(ver), "%s", tc_version_p(&maj, &min, &patch));
		break;
	}
	case BK_NONE:
		snprintf(ver, sizeof(ver), "-");
		break;
	default:
		abort();
	}
	printf("V %s %s\n", b->name, ver);
	return true;
}
