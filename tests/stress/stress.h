/* SPDX-License-Identifier: MIT */
/*
 * stress.h - what the two files of pp-stress share: the model's block
 * record, the page bitmap and patterns (model.c), the failure report, the
 * PRNG, and the quiet-point check.  pp-stress.c owns the workers and the
 * operations; model.c owns what they are checked against.
 */
#ifndef PP_STRESS_H
#define PP_STRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pagepool.h"

/* A block the model knows is handed out: by whom is where it is stored. */
struct blk {
	void *p;
	uint32_t order;
	uint32_t gen;		/* pattern generation: with p, the pattern */
	uint32_t full;		/* every byte patterned (else 64 at each end of a page) */
	uint32_t zero;		/* came with PP_ZERO (already checked) */
};

extern uint64_t st_seed;	/* the seed of this run (in every failure) */
extern bool st_limited;		/* cap= or arena= set: ENOMEM is a legal answer */

/* splitmix64: any state works, each call a new value. */
static inline uint64_t st_rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0. */
static inline uint64_t st_below(uint64_t *s, uint64_t n)
{
	return st_rnd(s) % n;
}

/*
 * Report "pp-stress: FAILED seed=N: ..." on stderr with one write(2) and
 * _exit(1).  Uses vsnprintf and write only: callable from a signal handler
 * and a fork child (a failure is the end anyway).
 */
void st_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* After the pool is initialised: the geometry and the bitmap. */
void st_model_init(void);
size_t st_page_size(void);

/* The bitmap over the arena's pages: a page handed out twice fails. */
void st_mark(const void *p, unsigned order, const char *who);
void st_unmark(const void *p, unsigned order, const char *who);
size_t st_marked_pages(void);

/* Checks of a new block (aligned, in the arena, zero if asked), then
 * mark it, pattern it and fill in @b. */
void st_take(struct blk *b, void *p, unsigned order, unsigned flags, uint32_t gen,
	     bool full, const char *who);
/* Check @b's pattern (all of it if @all), then unmark it: the caller frees. */
void st_give(const struct blk *b, bool all, const char *who);
/* Check the pattern only. */
void st_verify(const struct blk *b, bool all, const char *who);

/* White-box: pages @r's own bookkeeping holds, and pages on its full stack. */
struct pp_reserve;
size_t st_reserve_meta(const struct pp_reserve *r);
size_t st_reserve_held(const struct pp_reserve *r, size_t *min_pages);

/*
 * At a quiet point (no pagepool call in flight, no handler can run): the
 * ledger, the audit, in_use against the model's @pages out plus the live
 * reserves' bookkeeping, reserved against their stacks, the bitmap.
 */
void st_quiet_check(size_t pages, struct pp_reserve *const *res, size_t nres,
		    const char *when);

#endif /* PP_STRESS_H */
