/* SPDX-License-Identifier: MIT */
/*
 * reserve-fork.c - the list of live reserves and their part of fork().
 *
 * Owns: res_all and its lock, and the reserves' side of fork.c's handlers.
 * fork(): every reserve is on a list, and the prepare handler takes the
 * list's lock and each reserve's resize_lock, so no create, resize or
 * destroy is half done in the child.  Their holders wait for nothing but
 * the pool's lock (taken after these, by fork.c's handler, which runs
 * later) and frees, which never wait.  A take or a free in another thread
 * may still be between its two stack operations at the fork: the child
 * rebuilds both stacks from the slots in service, by their page field - a
 * slot holds a page's index exactly while it is full (res_take() clears it
 * before it pushes the slot empty) - and recounts pp_g.reserved, before
 * the pool's repair walk recounts the pages in use from it.  A page a lost
 * thread had in hand is in use in the child, like any page it held.
 *
 * Kept apart from reserve.c, whose calls take pages from the pool through
 * the public API: fork.c, below that API, calls only this file.
 */
#include "config.h"

#include "reserve-internal.h"

/* Every live reserve, for the fork handlers. */
static CDS_LIST_HEAD(res_all);
static pthread_mutex_t res_all_lock = PTHREAD_MUTEX_INITIALIZER;

void pp_reserves_lock(void)
{
	pthread_mutex_lock(&res_all_lock);
}

void pp_reserves_unlock(void)
{
	pthread_mutex_unlock(&res_all_lock);
}

void pp_reserve_link(struct pp_reserve *r)
{
	cds_list_add(&r->link, &res_all);
}

void pp_reserve_unlink(struct pp_reserve *r)
{
	cds_list_del(&r->link);
}

/*
 * Each reserve on res_all.  By the links, not cds_list_for_each_entry():
 * its end test makes a struct pp_reserve pointer of the list head itself,
 * which the struct's 64-byte alignment makes undefined (UBSan says so).
 */
#define for_each_reserve(pos, r) \
	for ((pos) = res_all.next; \
	     (pos) != &res_all && ((r) = cds_list_entry((pos), struct pp_reserve, link)); \
	     (pos) = (pos)->next)

/*
 * fork.c's handlers call these: prepare before the pool's lock is taken (a
 * resize waited for may still need it), child before the pool's repair
 * (which counts in-use pages from pp_g.reserved).
 */
void pp_reserve_atfork_prepare(void)
{
	struct cds_list_head *pos;
	struct pp_reserve *r;

	pthread_mutex_lock(&res_all_lock);
	for_each_reserve(pos, r)
		pthread_mutex_lock(&r->resize_lock);
}

void pp_reserve_atfork_parent(void)
{
	struct cds_list_head *pos;
	struct pp_reserve *r;

	for_each_reserve(pos, r)
		pthread_mutex_unlock(&r->resize_lock);
	pthread_mutex_unlock(&res_all_lock);
}

/* Mark the spare slots (their page field: only the child reads it now). */
#define SLOT_SPARE	(PP_NIL - 1)

/* The child: @r's stacks from its slots in service; the pages it holds. */
static size_t res_rebuild(struct pp_reserve *r)
{
	size_t held = 0;

	for (uint32_t s = r->spare; s != PP_NIL; s = slot_at(r, s)->next)
		slot_at(r, s)->page = SLOT_SPARE;
	r->full = r->empty = PP_NIL;
	for (uint32_t s = 0; s < r->nslots; s++) {
		struct slot *sl = slot_at(r, s);

		if (sl->page == SLOT_SPARE)
			continue;
		if (sl->page == PP_NIL) {
			stack_push(r, &r->empty, s);
		} else {
			stack_push(r, &r->full, s);
			held++;
		}
	}
	/* The spare list again, in the same order (its links were kept). */
	for (uint32_t s = r->spare; s != PP_NIL; s = slot_at(r, s)->next)
		slot_at(r, s)->page = PP_NIL;
	r->waiters = 0;			/* the waiting threads are not here */
	sem_destroy(&r->wake);
	sem_init(&r->wake, 0, 0);
	return held;
}

/* The child: true if there are reserves (the pool's repair must run). */
bool pp_reserve_atfork_child(void)
{
	struct cds_list_head *pos;
	struct pp_reserve *r;
	size_t held = 0;

	for_each_reserve(pos, r) {
		held += res_rebuild(r);
		pthread_mutex_unlock(&r->resize_lock);	/* this thread's: see fork.c */
	}
	pthread_mutex_unlock(&res_all_lock);
	store_relaxed(&pp_g.reserved, held);
	return !cds_list_empty(&res_all);
}
