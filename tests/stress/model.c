/* SPDX-License-Identifier: MIT */
/*
 * model.c - pp-stress's model of the pool, and the checks against it.
 *
 * Owns: the bitmap over the arena's pages (a bit per page handed out; set
 * with an atomic or after the allocation returns, cleared with an atomic
 * and before the free is called, so a set bit always means "in use": a
 * page handed out while its bit is set was handed out twice, also in a
 * fork child, whose copy keeps the lost threads' bits), the pattern each
 * block carries from its allocation to its free (derived from its address
 * and a generation: 64 bytes at each end of every page, or every byte),
 * the failure report, and the quiet-point check: the pp_stats() ledger and
 * the descriptor audit (tests/testutil.h's conservation_ok()), in_use
 * against the model, reserved against the reserves' own stacks (white-box),
 * and the bitmap's population against the model.  Everything here that a
 * signal handler calls uses atomics and plain stores only.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <stdarg.h>

#include "../testutil.h"
#include "reserve-internal.h"
#include "stress.h"

uint64_t st_seed;
bool st_limited;

static uint64_t *bitmap;	/* one bit per page of the arena */
static size_t bm_words;
static char *arena_base;
static size_t arena_pages, page_size;
static unsigned page_shift;

#define EDGE 64		/* bytes patterned at each end of a page */

void st_fail(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n, m;

	n = snprintf(buf, sizeof(buf), "pp-stress: FAILED seed=%llu (pid %d): ",
		     (unsigned long long)st_seed, (int)getpid());
	va_start(ap, fmt);
	m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(STDERR_FILENO, buf, (size_t)n) < 0)
		_exit(2);
	_exit(1);
}

size_t st_page_size(void)
{
	return page_size;
}

void st_model_init(void)
{
	arena_base = pp_g.base;
	arena_pages = pp_g.npages_max;
	page_shift = pp_g.page_shift;
	page_size = pp_g.page_size;
	if (!arena_base || !arena_pages || page_size != pp_page_size())
		st_fail("the pool did not initialise (base %p, %zu pages)", (void *)arena_base,
			arena_pages);
	bm_words = (arena_pages + 63) / 64;
	bitmap = calloc(bm_words, sizeof(*bitmap));
	if (!bitmap)
		st_fail("no memory for a bitmap of %zu pages", arena_pages);
}

static size_t page_index(const void *p, unsigned order, const char *who)
{
	uintptr_t off = (uintptr_t)p - (uintptr_t)arena_base;

	if (!pp_owns(p) || (uintptr_t)p < (uintptr_t)arena_base ||
	    (off >> page_shift) + ((size_t)1 << order) > arena_pages)
		st_fail("%s: %p (order %u) is not in the arena", who, p, order);
	if (off & ((page_size << order) - 1))
		st_fail("%s: %p is not aligned to its order %u", who, p, order);
	return off >> page_shift;
}

void st_mark(const void *p, unsigned order, const char *who)
{
	size_t i = page_index(p, order, who);

	for (size_t k = 0; k < ((size_t)1 << order); k++) {
		uint64_t bit = 1ULL << ((i + k) & 63);

		if (__atomic_fetch_or(&bitmap[(i + k) / 64], bit, __ATOMIC_RELAXED) & bit)
			st_fail("%s: page %p of block %p (order %u) handed out twice: "
				"it is already in use", who,
				(void *)((char *)p + k * page_size), p, order);
	}
}

void st_unmark(const void *p, unsigned order, const char *who)
{
	size_t i = page_index(p, order, who);

	for (size_t k = 0; k < ((size_t)1 << order); k++) {
		uint64_t bit = 1ULL << ((i + k) & 63);

		if (!(__atomic_fetch_and(&bitmap[(i + k) / 64], ~bit, __ATOMIC_RELAXED) & bit))
			st_fail("%s: page %p of block %p (order %u) is not marked in use "
				"(model error)", who, (void *)((char *)p + k * page_size), p,
				order);
	}
}

size_t st_marked_pages(void)
{
	size_t n = 0;

	for (size_t i = 0; i < bm_words; i++)
		n += (size_t)__builtin_popcountll(__atomic_load_n(&bitmap[i], __ATOMIC_RELAXED));
	return n;
}

/* ---- patterns -------------------------------------------------------- */

static inline uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 33)) * 0xFF51AFD7ED558CCDULL;
	z = (z ^ (z >> 33)) * 0xC4CEB9FE1A85EC53ULL;
	return z ^ (z >> 33);
}

/* Word @i of a page at @page of generation @gen. */
static inline uint64_t pat(uint64_t page, uint32_t gen, size_t i)
{
	return mix(page ^ ((uint64_t)gen << 20)) + i * 0x9E3779B97F4A7C15ULL;
}

/* Write (or check, returning the first bad word's index or SIZE_MAX). */
static size_t pattern(const struct blk *b, bool all, bool write)
{
	size_t words = page_size / 8, edge = EDGE / 8;

	for (size_t k = 0; k < ((size_t)1 << b->order); k++) {
		uint64_t *w = (uint64_t *)((char *)b->p + k * page_size);
		uint64_t page = (uint64_t)(uintptr_t)w;

		for (size_t i = 0; i < words; i++) {
			if (!all && i == edge)
				i = words - edge;	/* skip the middle */
			if (write)
				w[i] = pat(page, b->gen, i);
			else if (w[i] != pat(page, b->gen, i))
				return k * words + i;
		}
	}
	return SIZE_MAX;
}

void st_take(struct blk *b, void *p, unsigned order, unsigned flags, uint32_t gen,
	     bool full, const char *who)
{
	st_mark(p, order, who);
	if (flags & PP_ZERO) {
		const uint64_t *w = p;

		for (size_t i = 0; i < (page_size << order) / 8; i++)
			if (w[i])
				st_fail("%s: PP_ZERO block %p (order %u) has %#llx at byte %zu",
					who, p, order, (unsigned long long)w[i], i * 8);
	}
	b->p = p;
	b->order = order;
	b->gen = gen;
	b->full = full;
	b->zero = !!(flags & PP_ZERO);
	pattern(b, full, true);
}

void st_verify(const struct blk *b, bool all, const char *who)
{
	size_t bad = pattern(b, all && b->full, false);

	if (bad != SIZE_MAX) {
		size_t words = page_size / 8;
		const uint64_t *w = (const uint64_t *)b->p + bad;

		st_fail("%s: block %p (order %u, gen %u): page %zu, byte %zu holds %#llx, "
			"want %#llx (written over while handed out)", who, b->p, b->order,
			b->gen, bad / words, (bad % words) * 8, (unsigned long long)*w,
			(unsigned long long)pat((uint64_t)(uintptr_t)((const char *)b->p +
						 bad / words * page_size), b->gen, bad % words));
	}
}

void st_give(const struct blk *b, bool all, const char *who)
{
	st_verify(b, all, who);
	st_unmark(b->p, b->order, who);
}

/* ---- reserves (white-box) --------------------------------------------- */

size_t st_reserve_meta(const struct pp_reserve *r)
{
	size_t n = 1;	/* the page holding the struct and chunk 0 */

	for (unsigned c = 1; c < RES_CHUNKS; c++)
		if (r->chunk[c])
			n += (size_t)1 << (c - 1);
	return n;
}

size_t st_reserve_held(const struct pp_reserve *r, size_t *min_pages)
{
	size_t n = 0;

	for (uint32_t s = (uint32_t)r->full; s != PP_NIL; s = slot_at(r, s)->next) {
		uint32_t idx = slot_at(r, s)->page;

		if (++n > r->nslots)
			st_fail("reserve %p: its full stack has a cycle", (const void *)r);
		if (idx >= pp_g.committed || pp_state(&pp_g.desc[idx]) != PP_PG_USED ||
		    pp_g.desc[idx].prev != PP_RESERVED)
			st_fail("reserve %p: slot %u holds page index %u, not a reserved "
				"USED page", (const void *)r, s, idx);
	}
	*min_pages = r->min_pages;
	return n;
}

/* ---- the quiet point --------------------------------------------------- */

void st_quiet_check(size_t pages, struct pp_reserve *const *res, size_t nres,
		    const char *when)
{
	struct pp_stats s = get_stats();
	size_t meta = 0, held = 0, marked;
	char why[256];

	if (!conservation_ok(why, sizeof(why)))
		st_fail("%s: ledger: %s", when, why);
	for (size_t i = 0; i < nres; i++) {
		size_t min, h;

		if (!res[i])
			continue;
		meta += st_reserve_meta(res[i]);
		h = st_reserve_held(res[i], &min);
		if (h > min)
			st_fail("%s: reserve %p holds %zu pages, more than its min_pages %zu",
				when, (const void *)res[i], h, min);
		held += h;
	}
	if (s.in_use != pages + meta)
		st_fail("%s: stats.in_use is %zu, the model has %zu pages out and the "
			"reserves' bookkeeping %zu", when, s.in_use, pages, meta);
	if (s.reserved != held)
		st_fail("%s: stats.reserved is %zu, the reserves' stacks hold %zu", when,
			s.reserved, held);
	if ((marked = st_marked_pages()) != pages)
		st_fail("%s: %zu pages marked in use in the bitmap, the model has %zu", when,
			marked, pages);
	if (s.cap_bytes && s.committed * s.page_size > s.cap_bytes)
		st_fail("%s: %zu pages committed, over the cap of %zu bytes", when,
			s.committed, s.cap_bytes);
}
