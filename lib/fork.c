/* SPDX-License-Identifier: MIT */
/*
 * fork.c - fork(): keep the pool consistent across it, and repair the
 * child.
 *
 * Owns: the pthread_atfork handlers.  The global lock is held across
 * fork(), so the buddy lists are consistent in the child, and so are the
 * reserves' locks (reserve.c's part, taken first and rebuilt first).  Taking it is
 * the one wait of the prepare handler, and no holder of the lock waits for
 * anything while it holds it (no C library lock, no page): what the
 * prepare handler waits for always ends.  What could not end is a waiter:
 * glibc's fork() takes its stdio locks only after every prepare handler,
 * so a thread that waits for the pool lock while it holds a stream lock
 * (a realloc() inside getline() under the LD_PRELOAD shim) would wait for
 * ever behind a fork() that waits for that stream lock.  pp_g.forking, set
 * before the lock is taken, makes the shim's waiters give way (buddy.c's
 * lock_or_yield_slow()); a direct caller of the library waits, and the
 * rule it must follow is in pagepool.h's fork() paragraph.
 *
 * Design: the alternative - no pool lock across fork(), the child
 * rebuilding the lists from the descriptors - would have to trust no
 * descriptor another thread was rewriting at the instant of the fork (a
 * split, a merge, a growth in progress), and would walk every committed
 * page in every child of a threaded parent; the lock that gives way costs
 * nothing until a fork() meets a waiter.
 *
 * In the child only the forking thread exists, and the parent's other
 * threads may have been anywhere in their lock-free paths (a cache pop or
 * push, a pending push) at the instant of the fork.  The child therefore
 * repairs the pool from the descriptors, which say exactly where every
 * block is:
 *   - CACHED blocks not in the surviving thread's cache (the lost threads'
 *     caches, or blocks in transit), PENDING blocks not on the pending list
 *     and META blocks other than the survivor's cache storage belong to
 *     nobody now: freed;
 *   - USED blocks are in use (by the survivor, or leaked by a thread that
 *     no longer exists): in_use is recounted from them.
 * The walk is O(committed pages) and runs only in the child of a parent in
 * which another thread ever took a slow path.
 */
#include "config.h"

#include "internal.h"

/* A temporary descriptor mark, only while the child walks. */
#define MARK_KEEP	0x80

static void keep(size_t idx)
{
	pp_set_state(&pp_g.desc[idx], pp_state(&pp_g.desc[idx]) | MARK_KEEP);
}

/*
 * Mark what the child keeps: the survivor's cache and its storage, and the
 * pending list; returns the pages on the pending list.
 */
static size_t mark_kept(struct pp_tcache *tc)
{
	size_t pending = 0;

	if (tc) {
		keep(pp_index(tc));
		for (unsigned k = 0; k < PP_CACHE_ORDERS; k++)
			for (uint32_t i = 0; i < tc->count[k]; i++)
				keep(pp_index(tc->stack[k][i]));
	}
	for (uint32_t i = pp_g.pending_head; i != PP_NIL; i = pp_g.desc[i].next) {
		keep(i);
		pending += (size_t)1 << pp_g.desc[i].order;
	}
	return pending;
}

/* The child's repair walk; see the file comment.  Lock held. */
static void repair_locked(void)
{
	struct pp_tcache *tc = pp_tls.tc;
	size_t idx, step, used = 0, quarantined = 0;

	pp_tcache_forget_others();
	pp_g.trimming = 0;		/* a lost thread's trim: its blocks go back below */
	pp_g.pending_pages = mark_kept(tc);
	pp_g.cache_meta = tc ? (size_t)1 << tc->storage_order : 0;
	/* Counted afresh: a drain the fork cut between its two stores left it off. */
	pp_g.cache_marks = tc ? pp_tcache_marks_pages(tc) : 0;
	/*
	 * Head by head, skipping each block's length: a block another thread
	 * was cutting into a run at the fork (exact.c) counts whole until its
	 * head was re-marked, and its new pieces only after.
	 */
	for (idx = 0; idx < pp_g.committed; idx += step) {
		struct pp_desc *d = &pp_g.desc[idx];
		unsigned s = pp_state(d), order = d->order;

		step = s == PP_PG_NONE ? 1 : (size_t)1 << order;
		if (s & MARK_KEEP)
			pp_set_state(d, s & ~MARK_KEEP);
		else if (s == PP_PG_USED) {
			used += (size_t)1 << order;
			if (load_relaxed(&d->prev) == PP_QUARANTINED)
				quarantined += (size_t)1 << order;
		}
		else if (s == PP_PG_CACHED || s == PP_PG_PENDING || s == PP_PG_META ||
			 s == PP_PG_TRIM)
			pp_buddy_free_locked(idx, order);	/* a lost thread's */
	}
	/* Reserves' pages are USED blocks too, counted apart (reserve.c). */
	pp_g.stray_pages_out = used - (tc ? tc->pages_out : 0) - pp_g.reserved;
	/*
	 * Quarantined blocks (track.c) are USED blocks counted free, by their
	 * mark: counted afresh too, since a thread the fork cut between a
	 * block's mark and the count left them apart.
	 */
	pp_g.quarantined = quarantined;
}

/*
 * The handlers run as a pagepool call (busy), so a signal handler that
 * interrupts fork() while the lock is held does not block on it.
 */
static void atfork_prepare(void)
{
	pp_enter();
	__atomic_fetch_add(&pp_g.forking, 1, __ATOMIC_SEQ_CST);	/* before the waits */
	pp_reserve_atfork_prepare();	/* first: a resize may need the pool lock */
	pp_lock();
}

static void atfork_parent(void)
{
	pp_unlock();
	pp_reserve_atfork_parent();
	__atomic_fetch_sub(&pp_g.forking, 1, __ATOMIC_SEQ_CST);
	pp_leave();
}

static void atfork_child(void)
{
	/* Another thread may have been in a lock-free window, or a trim. */
	bool others = pp_g.threads_seen > (pp_tls.seen ? 1u : 0u) || pp_g.trimming;

	/*
	 * Still held by this thread from atfork_prepare(): kept, not re-made
	 * (re-initialising a locked mutex is undefined, and ThreadSanitizer
	 * then sees a double lock); glibc's adaptive mutex, like its default
	 * one, may be unlocked by the thread that holds it here.
	 */
	pp_options_atfork_child();
	store_relaxed(&pp_g.forking, 0);	/* the other forkers are not here */
	/* Reserves first: the repair counts in-use pages from pp_g.reserved. */
	if (pp_reserve_atfork_child() || others)
		repair_locked();
	pp_reclaim_init();	/* membarrier's registration is the parent's */
	if (pp_g.lock_pi)
		pp_lock_init();	/* a PI mutex records its owner's thread id: a new one */
	else
		pp_unlock();
	pp_leave();
}

void pp_fork_init(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}
