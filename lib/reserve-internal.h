/* SPDX-License-Identifier: MIT */
/*
 * reserve-internal.h - struct pp_reserve and its two slot stacks, shared by
 * reserve.c (the calls) and reserve-fork.c (the list of reserves and their
 * part of fork()); reserve.c's top comment describes the design.
 */
#ifndef PP_RESERVE_INTERNAL_H
#define PP_RESERVE_INTERNAL_H

#include <semaphore.h>

#include "internal.h"
#include "pagepool/reserve.h"

#define RES_MAGIC	0x52455356u	/* "RESV" */
#define PP_RESERVED	0xfffffffeu	/* desc.prev of a page held by a reserve */
#define RES_CHUNKS	(PP_MAX_ORDER + 2)	/* chunk c >= 1 is of order c - 1 */
#define RES_POLL_MS	10

struct slot {
	uint32_t next;		/* next slot on its stack or the spare list */
	uint32_t page;		/* page index, while on the full stack */
};

struct pp_reserve {
	/* Read-mostly. */
	uint32_t magic;
	unsigned base_shift;		/* chunk 0 holds 1 << base_shift slots */
	struct slot *chunk[RES_CHUNKS];	/* set once, before any of its slots is used */

	uint64_t full __attribute__((aligned(64)));	/* {generation, slot} */
	uint64_t empty __attribute__((aligned(64)));

	unsigned waiters __attribute__((aligned(64)));	/* in res_wait() */
	sem_t wake;
	struct cds_list_head link;	/* on res_all, under res_all_lock */
	pthread_mutex_t resize_lock;	/* guards the rest */
	size_t min_pages;		/* slots in service (on the stacks) */
	uint32_t nslots;		/* slots made */
	uint32_t spare;			/* slots out of service */
};

/* The struct and chunk 0 share a page: both halves of the smallest page. */
_Static_assert(sizeof(struct pp_reserve) <= 2048, "struct pp_reserve too large");

static inline struct slot *slot_at(const struct pp_reserve *r, uint32_t s)
{
	size_t q = ((size_t)s >> r->base_shift) + 1;
	unsigned c = (unsigned)(63 - __builtin_clzll(q));
	size_t off = s - ((((size_t)1 << c) - 1) << r->base_shift);

	return &load_relaxed(&r->chunk[c])[off];
}

static inline uint32_t stack_pop(const struct pp_reserve *r, uint64_t *head)
{
	uint64_t old = __atomic_load_n(head, __ATOMIC_SEQ_CST), new;

	do {
		uint32_t s = (uint32_t)old;

		if (s == PP_NIL)
			return PP_NIL;
		new = ((old >> 32) + 1) << 32 | load_relaxed(&slot_at(r, s)->next);
	} while (!__atomic_compare_exchange_n(head, &old, new, true, __ATOMIC_SEQ_CST,
					      __ATOMIC_SEQ_CST));
	return (uint32_t)old;
}

static inline void stack_push(const struct pp_reserve *r, uint64_t *head, uint32_t s)
{
	uint64_t old = __atomic_load_n(head, __ATOMIC_RELAXED), new;

	do {
		store_relaxed(&slot_at(r, s)->next, (uint32_t)old);
		new = ((old >> 32) + 1) << 32 | s;
	} while (!__atomic_compare_exchange_n(head, &old, new, true, __ATOMIC_SEQ_CST,
					      __ATOMIC_RELAXED));
}

/* reserve-fork.c: the list of live reserves, for the fork handlers. */
PP_HIDDEN void pp_reserves_lock(void);
PP_HIDDEN void pp_reserves_unlock(void);
PP_HIDDEN void pp_reserve_link(struct pp_reserve *r);	/* list lock held */
PP_HIDDEN void pp_reserve_unlink(struct pp_reserve *r);	/* list lock held */

#endif /* PP_RESERVE_INTERNAL_H */
