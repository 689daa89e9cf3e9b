/* SPDX-License-Identifier: MIT */
/*
 * fork.c - fork(): keep the pool consistent across it, and repair the
 * child.
 *
 * Owns: the pthread_atfork handlers.  The global lock is held across
 * fork(), so the buddy lists are consistent in the child; but only the
 * forking thread exists there, and the parent's other threads may have been
 * anywhere in their lock-free paths (a cache pop or push, a pending push)
 * at the instant of the fork.  The child therefore gives back their caches
 * and then repairs the ledger from the descriptors, which say exactly where
 * every block is:
 *   - CACHED blocks not in the surviving thread's cache, and PENDING blocks
 *     not on the pending list, were in transit and owned by nobody: freed;
 *   - USED blocks are in use (by the survivor, or leaked by a thread that
 *     no longer exists): in_use is recounted from them.
 * The walk is O(committed pages) and runs only in the child of a parent
 * that had other threads with caches.
 */
#include "config.h"

#include "internal.h"

/* Temporary descriptor marks, only while the child walks. */
#define MARK_CACHED	0x80
#define MARK_PENDING	0x40

static void mark_survivor_cache(struct pp_tcache *tc)
{
	for (unsigned k = 0; tc && k < PP_CACHE_ORDERS; k++)
		for (uint32_t i = 0; i < tc->count[k]; i++) {
			struct pp_desc *d = &pp_g.desc[pp_index(tc->stack[k][i])];

			pp_set_state(d, pp_state(d) | MARK_CACHED);
		}
}

static size_t mark_pending(void)
{
	size_t pages = 0;

	for (uint32_t i = pp_g.pending_head; i != PP_NIL; i = pp_g.desc[i].next) {
		pp_set_state(&pp_g.desc[i], PP_PG_PENDING | MARK_PENDING);
		pages += (size_t)1 << pp_g.desc[i].order;
	}
	return pages;
}

/* The child's repair walk; see the file comment.  Lock held. */
static void repair_locked(void)
{
	struct pp_tcache *tc = pp_tls.tc;
	size_t idx, used = 0;

	mark_survivor_cache(tc);
	pp_g.pending_pages = mark_pending();
	for (idx = 0; idx < pp_g.committed; idx++) {
		struct pp_desc *d = &pp_g.desc[idx];
		unsigned s = pp_state(d), order = d->order;

		if (s == PP_PG_CACHED || s == PP_PG_PENDING) {
			pp_buddy_free_locked(idx, order);	/* in transit: orphaned */
		} else if (s == PP_PG_USED) {
			used += (size_t)1 << order;
		} else if (s & (MARK_CACHED | MARK_PENDING)) {
			pp_set_state(d, s & ~(MARK_CACHED | MARK_PENDING));
		}
	}
	pp_g.stray_pages_out = used - (tc ? tc->pages_out : 0);
}

static void atfork_prepare(void)
{
	pp_lock();
}

static void atfork_parent(void)
{
	pp_unlock();
}

static void atfork_child(void)
{
	bool others = pp_g.nthreads > (pp_tls.tc ? 1u : 0u);

	/* Re-made rather than unlocked: this thread's id may differ in the child. */
	pthread_mutex_init(&pp_g.lock, NULL);
	pp_options_atfork_child();
	pp_lock();
	pp_tcache_forget_others();
	if (others)
		repair_locked();
	pp_unlock();
}

void pp_fork_init(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}
