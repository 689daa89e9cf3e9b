/* SPDX-License-Identifier: MIT */
/*
 * child.c - the child of a fork() that a pp-stress worker makes while the
 * other workers allocate, free and create, resize, use and destroy
 * reserves, and the timer signal runs its handler.
 *
 * Owns: what the child does and checks.  Only the forking thread exists
 * there: the pages the other threads held are theirs in the parent only,
 * so the child neither frees nor checks them (their bits stay set in its
 * copy of the bitmap, so one handed out again fails as handed out twice).
 * It checks its ledger at the fork and at the end, the forking thread's
 * blocks' patterns, allocates in every mode (in_use must grow by exactly
 * what it got), uses and resizes the reserves it inherited and makes one
 * of its own, frees its pages and some of the forking thread's, and ends
 * with in_use where its frees and the reserves' bookkeeping put it.  No
 * lock another thread may have held at the fork is taken, and nothing is
 * allocated from the C library; a failure is model.c's st_fail().
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "worker.h"

static void child_ledger(const char *when)
{
	char why[256];

	if (!conservation_ok(why, sizeof(why)))
		st_fail("fork child, %s: ledger: %s", when, why);
}

/* The child of a fork from worker @w: only this thread exists now. */
void fork_child(struct worker *w)
{
	struct blk mine[48];
	size_t n = 0, pages = 0, out = 0, meta0[NRES] = { 0 };
	struct pp_stats s0, s;
	uint64_t *rs = &w->rng;
	struct pp_reserve *own;

	signal(SIGALRM, SIG_DFL);
	alarm(WAIT_S);
	child_ledger("at the fork");
	s0 = get_stats();
	for (size_t i = 0; i < w->nheld; i++)
		st_verify(&w->held[i], true, "fork child, the parent's block");
	/* Pages of its own: never one the lost threads held (the bitmap). */
	for (unsigned i = 0, k = 8 + (unsigned)st_below(rs, 24); i < k; i++) {
		unsigned order = st_below(rs, 3) ? (unsigned)st_below(rs, 4) : rand_order(rs);
		unsigned flags = rand_flags(rs, true);
		void *p;

		errno = 0;
		if (!(p = pp_alloc_pages(order, flags))) {
			null_ok(&w->c, "fork child: pp_alloc_pages", flags, errno);
			continue;
		}
		st_take(&mine[n++], p, order, flags, ++w->gen, st_below(rs, 4) == 0,
			"fork child pp_alloc_pages");
		pages += (size_t)1 << order;
	}
	if ((s = get_stats()).in_use != s0.in_use + pages)
		st_fail("fork child: in_use %zu after allocating %zu pages, was %zu",
			s.in_use, pages, s0.in_use);
	/* The reserves it inherited, as they are (no other thread now). */
	for (unsigned i = 0; i < NRES && opt.reserves; i++) {
		struct pp_reserve *r;

		if (atomic_load(&res[i].state) < 0)
			continue;
		r = res[i].r;
		meta0[i] = st_reserve_meta(r);
		for (unsigned k = 0; k < 4 && n < 48; k++) {
			unsigned flags = rand_flags(rs, true);
			void *p;

			if (st_limited && !(flags & (PP_TRY | PP_NOWAIT)))
				flags |= PP_NOWAIT;	/* no one would give a page back */
			errno = 0;
			if (!(p = pp_reserve_alloc(r, flags))) {
				null_ok(&w->c, "fork child: pp_reserve_alloc", flags, errno);
				continue;
			}
			st_take(&mine[n++], p, 0, flags, ++w->gen, false,
				"fork child pp_reserve_alloc");
			pages++;
		}
		if (st_below(rs, 2) && pp_reserve_resize(r, 1 + st_below(rs, 80)) != 0)
			null_ok(&w->c, "fork child: pp_reserve_resize", 0, errno);
	}
	/* A reserve of its own. */
	if (opt.reserves && (own = pp_reserve_create(1 + st_below(rs, 32))) != NULL) {
		void *v[8];
		unsigned k = 0;
		struct blk tmp[8];

		if (pp_reserve_resize(own, 1 + st_below(rs, 300)) != 0)
			null_ok(&w->c, "fork child: pp_reserve_resize(own)", 0, errno);
		while (k < 8 && (v[k] = pp_reserve_alloc(own, PP_NOWAIT)) != NULL) {
			st_take(&tmp[k], v[k], 0, 0, ++w->gen, false, "fork child own reserve");
			k++;
		}
		while (k) {
			st_give(&tmp[--k], true, "fork child own reserve");
			pp_reserve_free(own, v[k]);
		}
		pp_reserve_destroy(own);
	} else if (opt.reserves) {
		null_ok(&w->c, "fork child: pp_reserve_create", 0, errno);
	}
	/* Free its own and some of the parent's. */
	while (n) {
		struct blk b = mine[--n];

		st_give(&b, true, "fork child free");
		free_blk(rs, &b);
	}
	while (w->nheld && st_below(rs, 2)) {
		struct blk b = drop(w, w->nheld - 1, "fork child free (parent's)");

		out += (size_t)1 << b.order;
		free_blk(rs, &b);
	}
	for (unsigned i = 0; i < NRES && opt.reserves; i++)
		if (atomic_load(&res[i].state) >= 0)
			s0.in_use += st_reserve_meta(res[i].r) - meta0[i];
	if ((s = get_stats()).in_use != s0.in_use - out)
		st_fail("fork child: in_use %zu at the end, want %zu (%zu at the fork less "
			"%zu of the parent's pages freed)", s.in_use, s0.in_use - out,
			s0.in_use, out);
	child_ledger("at the end");
	_exit(0);
}
