/* SPDX-License-Identifier: MIT */
/*
 * hot.h - the inline fast paths: from a pointer to its descriptor, the
 * validation of a free, the per-thread cache's pop and push, and entering
 * and leaving a call.
 *
 * Owns: what the public entry points in alloc.c and bulk.c are built from.
 * Nothing here makes a system call or takes a lock; the slow paths live
 * out of line in their own files and are named *_slow.
 */
#ifndef PP_HOT_H
#define PP_HOT_H

#include "global.h"

#define PP_FLAGS_ALL	(PP_TRY | PP_NOWAIT | PP_ZERO)

/*
 * The page shift of the fast paths: a constant where the architecture fixes
 * the base page (x86: 4 KiB; init.c checks), which saves a load and a
 * variable shift per call; elsewhere (arm64 kernels use 4, 16 or 64 KiB)
 * the value found at initialisation.
 */
#if defined(__x86_64__) || defined(__i386__)
#define PP_SHIFT	12u
#else
#define PP_SHIFT	pp_g.page_shift
#endif
#define PP_PAGE_MASK	(((size_t)1 << PP_SHIFT) - 1)

static inline size_t pp_index(const void *p)
{
	return (size_t)((const char *)p - pp_g.base) >> PP_SHIFT;
}

static inline void *pp_addr(size_t idx)
{
	return pp_g.base + (idx << PP_SHIFT);
}

/*
 * The descriptor of a block known to be in the arena (a cached one, or one
 * already validated): one
 * shift and one multiply-add, base's page number being folded into
 * desc_bias.  Unsigned arithmetic, so the bias may wrap.
 */
static inline struct pp_desc *pp_desc_of(const void *p)
{
	return (struct pp_desc *)(pp_g.desc_bias +
				  ((uintptr_t)p >> PP_SHIFT) * sizeof(struct pp_desc));
}

static inline unsigned pp_state(const struct pp_desc *d)
{
	return load_relaxed(&d->state);
}

static inline void pp_set_state(struct pp_desc *d, unsigned s)
{
	store_relaxed(&d->state, (uint8_t)s);
}

/*
 * pp_validate() - check a pointer handed to a free call and return its
 * descriptor.  Validate before writing: nothing is modified here.  Any
 * failure is reported with @fn's name and aborts.
 */
PP_HIDDEN PP_NORETURN void pp_bad_free_slow(const char *fn, const void *p,
					    unsigned order);

/* Is @p page-aligned in the committed arena?  Its byte offset in *@off. */
static inline bool pp_page_off(const void *p, size_t *off)
{
	*off = (size_t)((const char *)p - pp_g.base);
	return likely(*off < load_relaxed(&pp_g.committed_bytes) &&
		      !(*off & PP_PAGE_MASK));
}

/* The descriptor of a page-aligned address in the committed arena, or NULL. */
static inline struct pp_desc *pp_desc_at(const void *p)
{
	size_t off;

	return pp_page_off(p, &off) ? &pp_g.desc[off >> PP_SHIFT] : NULL;
}

static inline struct pp_desc *pp_validate(const char *fn, const void *p,
					  unsigned order)
{
	struct pp_desc *d;
	size_t off;

	if (unlikely(!pp_page_off(p, &off)))
		pp_bad_free_slow(fn, p, order);
	d = &pp_g.desc[off >> PP_SHIFT];
	if (unlikely(load_relaxed(&d->key) != pp_used_key(order)))
		pp_bad_free_slow(fn, p, order);
	return d;
}

/* Is @p inside the arena's reservation?  False before initialisation. */
static inline bool pp_arena_has(const void *p)
{
	if (!__atomic_load_n(&pp_g.ready, __ATOMIC_ACQUIRE))
		return false;
	return (size_t)((const char *)p - pp_g.base) < (pp_g.npages_max << pp_g.page_shift);
}

/* ---- Per-thread cache fast paths ------------------------------------ */

/* Pop a block of @order from @tc, or NULL.  Caller holds pp_tls.busy. */
static inline void *pp_tcache_pop(struct pp_tcache *tc, unsigned order)
{
	uint32_t n = load_relaxed(&tc->count[order]);
	void *p;

	if (unlikely(n == 0))
		return NULL;
	p = tc->stack[order][n - 1];
	if (!p)
		__builtin_unreachable();	/* a stack holds blocks: no NULL test */
	store_relaxed(&tc->count[order], n - 1);
	pp_set_state(pp_desc_of(p), PP_PG_USED);
	bump(&tc->hits[order], 1);
	bump(&tc->pages_out, (size_t)1 << order);
	return p;
}

/* Push a validated block; false when the cache is at its high mark. */
static inline bool pp_tcache_push(struct pp_tcache *tc, void *p,
				  struct pp_desc *d, unsigned order)
{
	uint32_t n = load_relaxed(&tc->count[order]);

	if (unlikely(n >= tc->high[order]))
		return false;
	pp_set_state(d, PP_PG_CACHED);
	tc->stack[order][n] = p;
	store_relaxed(&tc->count[order], n + 1);
	bump(&tc->pages_out, -((size_t)1 << order));
	return true;
}

/* Enter / leave a pagepool call on this thread (see struct pp_tls). */
/*
 * The owner's half of reclaim.c's asymmetric Dekker pair: store busy, then
 * load the cache pointer.  A reclaimer clears the pointer, fences every
 * thread (membarrier), then loads busy - so either it sees the owner busy,
 * or the owner sees no cache.  The owner needs no fence, only the compiler
 * barrier (signal_barrier()); ThreadSanitizer cannot see membarrier, so
 * its builds make both sides sequentially consistent instead.
 */
#ifdef PP_TSAN
#define PP_OWNER_STORE	__ATOMIC_SEQ_CST
#define PP_OWNER_LOAD	__ATOMIC_SEQ_CST
#else
#define PP_OWNER_STORE	__ATOMIC_RELAXED
#define PP_OWNER_LOAD	__ATOMIC_ACQUIRE	/* what the reclaimer wrote before putting it back */
#endif

static inline bool pp_enter(void)
{
	if (unlikely(load_relaxed(&pp_tls.busy)))
		return false;
	__atomic_store_n(&pp_tls.busy, 1, PP_OWNER_STORE);
	signal_barrier();
	return true;
}

static inline void pp_leave(void)
{
	signal_barrier();
	store_release(&pp_tls.busy, 0);
}

/* This thread's cache, read after pp_enter(); NULL: none, or being reclaimed. */
static inline struct pp_tcache *pp_own_cache(void)
{
	return __atomic_load_n(&pp_tls.tc, PP_OWNER_LOAD);
}

#endif /* PP_HOT_H */
