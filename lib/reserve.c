/* SPDX-License-Identifier: MIT */
/*
 * reserve.c - mempool-style reserves (include/pagepool/reserve.h):
 * pp_reserve_create(), pp_reserve_alloc(), pp_reserve_free(),
 * pp_reserve_resize(), pp_reserve_destroy().
 *
 * Owns: struct pp_reserve (reserve-internal.h).  A reserve's pages stay USED blocks, counted in
 * pp_g.reserved rather than in_use (pp_reserved_move()).  They sit in slots,
 * 8 bytes each {next, page index}, on two Treiber stacks: full (slots holding
 * a page) and empty (slots with room).  Taking a page pops a full slot and
 * pushes it back empty; a free pops an empty slot - none left means the
 * reserve holds min_pages, so the page goes to the pool - and pushes it full.
 * The stacks' heads are 64-bit {generation, slot}, so a pop whose slot was
 * popped and pushed again meanwhile fails its compare-and-swap (ABA-safe
 * unless exactly 2^32 operations fit between its load and its CAS).
 *
 * The links are not in the pages (a write after free would corrupt the
 * stack) nor in the descriptors (the buddy lists write their links without
 * atomics, racing with a stale pop's read): slots are the reserve's own.
 * The slot count only changes in create and resize (under resize_lock):
 * slots leaving service go to a spare list, and slot memory is never
 * freed before destroy, so a stale pop always reads a slot.  It lives in
 * pool pages: chunk 0 is the second half of the page holding the struct,
 * chunk c >= 1 a block of order c - 1 (page_size/16 << c slots).
 *
 * A page in a reserve has PP_RESERVED in its descriptor's prev link, unused
 * while a block is USED: a second pp_reserve_free() of it is caught.
 * Waiters (flags 0, reserve empty, pool exhausted) sleep on a semaphore that
 * a free posts only when someone waits (sem_post is async-signal-safe), and
 * poll the pool every RES_POLL_MS for pages freed there.  fork(): the
 * list of reserves and the child's rebuild of their stacks are
 * reserve-fork.c's.
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <semaphore.h>
#include <string.h>
#include <time.h>

#include "reserve-internal.h"

/* ---- taking and giving back ------------------------------------------ */

/* Wake up to @n waiters; the seq_cst pair with res_wait() loses none. */
static void res_wake(struct pp_reserve *r, size_t n)
{
	unsigned w = __atomic_load_n(&r->waiters, __ATOMIC_SEQ_CST);

	for (size_t i = 0; i < n && i < w; i++)
		sem_post(&r->wake);
}

/* A page from the reserve, or NULL: lock-free, no system call. */
static inline void *res_take(struct pp_reserve *r, unsigned zero)
{
	uint32_t s = stack_pop(r, &r->full), idx;
	void *p;

	if (s == PP_NIL)
		return NULL;
	idx = load_relaxed(&slot_at(r, s)->page);
	store_relaxed(&slot_at(r, s)->page, PP_NIL);	/* empty: see fork, above */
	stack_push(r, &r->empty, s);
	store_relaxed(&pp_g.desc[idx].prev, PP_NIL);
	pp_reserved_move(-1);
	p = pp_addr(idx);
	pp_track_out(p, pp_g.page_size);
	if (zero)
		memset(p, 0, pp_g.page_size);
	return p;
}

/* Give a page of the reserve back to the pool. */
static void res_release(size_t idx)
{
	store_relaxed(&pp_g.desc[idx].prev, PP_NIL);
	pp_reserved_move(-1);
	pp_track_out(pp_addr(idx), pp_g.page_size);	/* as if the user freed it */
	pp_free_page(pp_addr(idx));
}

/* ---- errors ---------------------------------------------------------- */

static PP_NORETURN void res_die(const char *fn, const void *r, const void *page,
				const char *why)
{
	if (page)
		pp_msg("%s(%p, %p): %s", fn, r, page, why);
	else
		pp_msg("%s(%p): %s", fn, r, why);
	pp_os_abort();
}

/* Unchecked: it reads a destroyed reserve's freed page to say so (track.h). */
static inline PP_TRACK_UNCHECKED void res_check(const char *fn, const struct pp_reserve *r)
{
	if (unlikely(load_relaxed(&r->magic) != RES_MAGIC))
		res_die(fn, r, NULL, "not a reserve (destroyed, or not from pp_reserve_create())");
}

/* 1 .. what the pool can ever hold (the pool is initialised). */
static bool res_size_ok(const char *fn, size_t min_pages)
{
	size_t most = (((size_t)1 << RES_CHUNKS) - 1) << (pp_g.page_shift - 4);
	size_t pool = pp_g.opt.cap ? pp_g.opt.cap >> pp_g.page_shift : pp_g.npages_max;

	if (pool < most)
		most = pool;
	if (min_pages == 0)
		pp_msg("%s: min_pages is 0", fn);
	else if (min_pages > most)
		pp_msg("%s: min_pages %zu is more than a reserve can hold (%zu pages)",
		       fn, min_pages, most);
	else
		return true;
	errno = EINVAL;
	return false;
}

/* ---- create, resize, destroy: under resize_lock ---------------------- */

/* A slot out of service: from the spare list, or a new one. */
static uint32_t slot_get(struct pp_reserve *r)
{
	uint32_t s = r->spare;
	unsigned c;

	if (s != PP_NIL) {
		r->spare = load_relaxed(&slot_at(r, s)->next);
		return s;
	}
	s = r->nslots;
	c = (unsigned)(63 - __builtin_clzll(((size_t)s >> r->base_shift) + 1));
	if (!r->chunk[c]) {
		struct slot *b = pp_alloc_pages(c - 1, 0);

		if (!b)
			return PP_NIL;
		__atomic_store_n(&r->chunk[c], b, __ATOMIC_RELEASE);
	}
	r->nslots++;
	return s;
}

static void slot_spare(struct pp_reserve *r, uint32_t s)
{
	store_relaxed(&slot_at(r, s)->next, r->spare);
	r->spare = s;
}

/* Put @s on a private @chain of slots still without a page. */
static void chain_add(struct pp_reserve *r, uint32_t *chain, uint32_t s)
{
	store_relaxed(&slot_at(r, s)->page, PP_NIL);
	store_relaxed(&slot_at(r, s)->next, *chain);
	*chain = s;
}

/* A new page for each slot of @chain; false at the first that cannot be had. */
static bool chain_fill(struct pp_reserve *r, uint32_t s)
{
	for (; s != PP_NIL; s = load_relaxed(&slot_at(r, s)->next)) {
		void *p = pp_alloc_page(0);

		if (!p)
			return false;
		pp_track_in(p, pp_g.page_size);		/* held: no access */
		store_relaxed(&pp_desc_of(p)->prev, PP_RESERVED);
		store_relaxed(&slot_at(r, s)->page, (uint32_t)pp_index(p));
	}
	return true;
}

/* Undo a failed grow: free @chain's pages; its slots to @head or the spares. */
static void chain_unwind(struct pp_reserve *r, uint32_t chain, uint64_t *head)
{
	uint32_t s;

	while ((s = chain) != PP_NIL) {
		uint32_t idx = load_relaxed(&slot_at(r, s)->page);

		chain = load_relaxed(&slot_at(r, s)->next);
		if (idx != PP_NIL) {
			store_relaxed(&pp_g.desc[idx].prev, PP_NIL);
			pp_track_out(pp_addr(idx), pp_g.page_size);	/* as if the user freed it */
			pp_free_page(pp_addr(idx));
			store_relaxed(&slot_at(r, s)->page, PP_NIL);	/* empty */
		}
		if (head)
			stack_push(r, head, s);
		else
			slot_spare(r, s);
	}
}

/* Push @chain's slots, each with its page, on the full stack; how many. */
static size_t chain_commit(struct pp_reserve *r, uint32_t chain)
{
	uint32_t s;
	size_t n = 0;

	while ((s = chain) != PP_NIL) {
		chain = load_relaxed(&slot_at(r, s)->next);
		pp_reserved_move(1);
		stack_push(r, &r->full, s);
		n++;
	}
	return n;
}

/*
 * Put @n more slots in service and fill them and every empty slot: the
 * reserve holds min_pages pages after, or is as before (errno ENOMEM).
 */
static bool res_grow(struct pp_reserve *r, size_t n)
{
	uint32_t fresh = PP_NIL, old = PP_NIL, s;
	bool ok = true;

	for (size_t i = 0; i < n && ok; i++) {
		if ((s = slot_get(r)) == PP_NIL)
			ok = false;
		else
			chain_add(r, &fresh, s);
	}
	while (ok && (s = stack_pop(r, &r->empty)) != PP_NIL)
		chain_add(r, &old, s);
	if (!ok || !chain_fill(r, fresh) || !chain_fill(r, old)) {
		chain_unwind(r, fresh, NULL);
		chain_unwind(r, old, &r->empty);
		errno = ENOMEM;
		return false;
	}
	r->min_pages += n;
	res_wake(r, chain_commit(r, fresh) + chain_commit(r, old));
	return true;
}

/* Take @n slots out of service, giving back pages beyond the new size. */
static void res_shrink(struct pp_reserve *r, size_t n)
{
	while (n) {
		uint32_t s = stack_pop(r, &r->empty);

		if (s == PP_NIL) {
			s = stack_pop(r, &r->full);
			if (s == PP_NIL) {
				sched_yield();	/* every slot is in another call's hands */
				continue;
			}
			res_release(load_relaxed(&slot_at(r, s)->page));
		}
		slot_spare(r, s);
		r->min_pages--;
		n--;
	}
}

static void res_free_struct(struct pp_reserve *r)
{
	for (unsigned c = 1; c < RES_CHUNKS; c++)
		if (r->chunk[c])
			pp_free_pages(r->chunk[c], c - 1);
	sem_destroy(&r->wake);
	pthread_mutex_destroy(&r->resize_lock);
	r->magic = 0;
	pp_free_page(r);
}

PP_API struct pp_reserve *pp_reserve_create(size_t min_pages)
{
	struct pp_reserve *r;

	if (min_pages == 0) {
		pp_msg("pp_reserve_create: min_pages is 0");
		errno = EINVAL;
		return NULL;
	}
	if (!pp_ready_for(0) || !res_size_ok("pp_reserve_create", min_pages))
		return NULL;
	if (!(r = pp_alloc_page(PP_ZERO)))
		return NULL;			/* errno ENOMEM */
	r->magic = RES_MAGIC;
	r->base_shift = pp_g.page_shift - 4;
	r->chunk[0] = (struct slot *)((char *)r + pp_g.page_size / 2);
	r->full = r->empty = PP_NIL;
	r->spare = PP_NIL;
	pthread_mutex_init(&r->resize_lock, NULL);
	if (sem_init(&r->wake, 0, 0) != 0 || !res_grow(r, min_pages)) {
		res_free_struct(r);
		errno = ENOMEM;
		return NULL;
	}
	pp_reserves_lock();
	pp_reserve_link(r);
	pp_reserves_unlock();
	return r;
}

PP_API int pp_reserve_resize(struct pp_reserve *r, size_t min_pages)
{
	bool ok = true;

	if (!r) {
		pp_msg("pp_reserve_resize: the reserve is NULL");
		errno = EINVAL;
		return -1;
	}
	res_check("pp_reserve_resize", r);
	if (!res_size_ok("pp_reserve_resize", min_pages))
		return -1;
	pthread_mutex_lock(&r->resize_lock);
	if (min_pages > r->min_pages)
		ok = res_grow(r, min_pages - r->min_pages);
	else
		res_shrink(r, r->min_pages - min_pages);
	pthread_mutex_unlock(&r->resize_lock);
	return ok ? 0 : -1;
}

PP_API void pp_reserve_destroy(struct pp_reserve *r)
{
	uint32_t s;

	if (!r)
		return;
	res_check("pp_reserve_destroy", r);
	/* Frees only, which never wait: a fork() sees the reserve whole or gone. */
	pp_reserves_lock();
	pp_reserve_unlink(r);
	while ((s = stack_pop(r, &r->full)) != PP_NIL)
		res_release(load_relaxed(&slot_at(r, s)->page));
	res_free_struct(r);
	pp_reserves_unlock();
}

/* ---- alloc and free --------------------------------------------------- */

#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 30)
#define RES_CLOCK CLOCK_MONOTONIC
#define res_timedwait(sem, ts) sem_clockwait((sem), RES_CLOCK, (ts))
#else
#define RES_CLOCK CLOCK_REALTIME	/* a clock step only delays one poll */
#define res_timedwait(sem, ts) sem_timedwait((sem), (ts))
#endif

/* Sleep until a post or RES_POLL_MS. */
static void res_sleep(struct pp_reserve *r)
{
	struct timespec ts;

	clock_gettime(RES_CLOCK, &ts);
	ts.tv_nsec += RES_POLL_MS * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	res_timedwait(&r->wake, &ts);	/* a post, the timeout or EINTR */
}

/* Flags 0 and the reserve empty: the blocking pool, then wait. */
static void *res_wait(struct pp_reserve *r, unsigned zero)
{
	void *p = pp_alloc_page(zero);	/* may block and grow the arena */

	if (p)
		return p;
	__atomic_fetch_add(&r->waiters, 1, __ATOMIC_SEQ_CST);
	while (!(p = res_take(r, zero)) && !(p = pp_alloc_page(PP_NOWAIT | zero)))
		res_sleep(r);
	__atomic_fetch_sub(&r->waiters, 1, __ATOMIC_SEQ_CST);
	return p;
}

PP_API void *pp_reserve_alloc(struct pp_reserve *r, unsigned flags)
{
	int saved = errno;
	unsigned zero = flags & PP_ZERO;
	bool spoken;
	void *p;

	if (unlikely(!r || !pp_check_flags("pp_reserve_alloc", flags))) {
		if (!r)
			pp_msg("pp_reserve_alloc: the reserve is NULL");
		errno = EINVAL;
		return NULL;
	}
	res_check("pp_reserve_alloc", r);
	/* The pool first - but not a supply pp_thread_prefill() promised. */
	spoken = pp_prefill_spoken_for();
	p = spoken ? NULL : pp_alloc_page(((flags & PP_TRY) ? PP_TRY : PP_NOWAIT) | zero);
	if (!p)
		p = res_take(r, zero);
	if (!p && spoken)	/* the reserve is empty: the supply after all */
		p = pp_alloc_page(((flags & PP_TRY) ? PP_TRY : PP_NOWAIT) | zero);
	if (!p && !(flags & (PP_TRY | PP_NOWAIT)) && !load_relaxed(&pp_tls.busy))
		p = res_wait(r, zero);	/* not from a handler inside pagepool */
	errno = p ? saved : EAGAIN;
	return p;
}

PP_API void pp_reserve_free(struct pp_reserve *r, void *page)
{
	struct pp_desc *d;
	uint32_t s;

	if (!page)
		return;
	if (unlikely(!r))
		res_die("pp_reserve_free", r, page, "the reserve is NULL");
	res_check("pp_reserve_free", r);
	d = pp_validate("pp_reserve_free", page, 0);
	if (unlikely(__atomic_exchange_n(&d->prev, PP_RESERVED, __ATOMIC_RELAXED) ==
		     PP_RESERVED))
		res_die("pp_reserve_free", r, page,
			"the page is already in a reserve (a double free)");
	s = stack_pop(r, &r->empty);
	if (s == PP_NIL) {		/* full: to the pool */
		store_relaxed(&d->prev, PP_NIL);
		pp_free_page(page);
		return;
	}
	pp_track_in(page, pp_g.page_size);		/* held: no access */
	store_relaxed(&slot_at(r, s)->page, (uint32_t)pp_index(page));
	pp_reserved_move(1);
	stack_push(r, &r->full, s);
	res_wake(r, 1);
}
