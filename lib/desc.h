/* SPDX-License-Identifier: MIT */
/*
 * desc.h - the page descriptor: the pool's only record of a page.
 *
 * Owns: struct pp_desc, the page states and the key a free validates.
 * Free pages are never written by the allocator: all its state is here,
 * one 12-byte descriptor per page in an array beside the arena (arena.c).
 */
#ifndef PP_DESC_H
#define PP_DESC_H

#include <stddef.h>
#include <stdint.h>

#define PP_NIL		UINT32_MAX	/* end of a descriptor-linked list */

/*
 * Page descriptor states.  FREE and PENDING change only under the global
 * lock (or, for PENDING, by the pusher of a page it owns); USED <-> CACHED
 * change only by the thread that owns the page.  NONE marks every page that
 * is not the head of a block, and every page never committed.
 */
enum pp_page_state {
	PP_PG_NONE = 0,		/* tail of a block, or not committed */
	PP_PG_FREE,		/* head of a block on a buddy free list */
	PP_PG_CACHED,		/* head of a block in a per-thread cache */
	PP_PG_USED,		/* head of a block handed out */
	PP_PG_PENDING,		/* head of a block on the pending-free list */
	PP_PG_META,		/* head of a block holding a cache's storage */
	PP_PG_TRIM,		/* head of a free block off the lists, being released (trim.c) */
};

/*
 * struct pp_desc - out-of-band descriptor of one page (12 bytes).
 *
 * Links are page indices, not pointers, to keep the descriptor small; that
 * is also why the buddy lists are hand-written rather than liburcu's
 * cds_list (16 bytes of links per page).  Each field's users, by the state
 * of the block whose head it is:
 *   next   FREE: the buddy list (buddy.c).  PENDING: the pending list
 *          (buddy.c pushes and absorbs, fork.c's child walks it).  USED, in
 *          pp_alloc_pages_bulk() between the lock hold and the hand-out: its
 *          chain of pages taken under the lock (bulk.c).  TRIM: trim.c's
 *          chains of blocks off the lists.  Otherwise unused.
 *   prev   FREE: the buddy list (buddy.c).  USED: reserve.c's mark of a page
 *          a reserve holds (PP_NIL otherwise; a second pp_reserve_free() is
 *          caught by it).  Otherwise unused.
 *   state  every page: enum pp_page_state, read and written atomically.
 *   order  a head: the order of its block, atomically (NONE pages: stale).
 *   span   USED: the page count of the run an exact.c block starts (the
 *          preload shim's malloc), else 0.  Being part of the key, a
 *          non-zero span sends any free of the block to the slow path,
 *          which hands it to exact.c (alloc.c's one call up).
 */
struct pp_desc {
	uint32_t next;
	uint32_t prev;
	union {
		struct {
			uint8_t state;
			uint8_t order;
			uint16_t span;
		};
		uint32_t key;	/* all three at once: one load and compare validates a free */
	};
};

/*
 * The key of the head of a USED block of @order that is not a run's start:
 * arithmetic, so that a variable @order costs no trip through the stack.
 */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define PP_KEY(state, order)	((uint32_t)(state) | (uint32_t)(order) << 8)
#else
#define PP_KEY(state, order)	((uint32_t)(state) << 24 | (uint32_t)(order) << 16)
#endif
_Static_assert(offsetof(struct pp_desc, state) == 8 && offsetof(struct pp_desc, order) == 9 &&
	       offsetof(struct pp_desc, span) == 10, "pp_desc key layout");

static inline uint32_t pp_used_key(unsigned order)
{
	return PP_KEY(PP_PG_USED, order);
}

#endif /* PP_DESC_H */
