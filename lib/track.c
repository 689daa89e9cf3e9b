/* SPDX-License-Identifier: MIT */
/*
 * track.c - tracking mode: the public allocation and free entry points as
 * debugging tools need them, and the quarantine.
 *
 * Owns: the exported names pp_alloc_page_try(), pp_alloc_page(),
 * pp_alloc_pages(), pp_alloc_pages_bulk(), pp_free_page(), pp_free_pages()
 * and pp_free_pages_bulk(); the choice, once, between their fast versions
 * (alloc.c, bulk.c) and the tracked ones here; the quarantine.
 *
 * The choice costs the fast path nothing.  In the default library each
 * exported name is a GNU indirect function: its resolver runs once, when
 * the dynamic linker (or a static program's start-up) binds the name, and
 * the GOT slot a call goes through then holds the fast function itself -
 * the same call through the PLT as before, no test, no extra instruction
 * (make bench-icount: pair-try 73.0, pair 79.0, batch 81.0 before and
 * after).  Under memcheck (a client request only memcheck answers, which
 * costs nothing natively; callgrind, which make bench-icount runs, does not
 * answer it) the resolvers pick the tracked versions and set pp_track_on
 * for the hooks of track.h.  A sanitizer build has no
 * resolvers: its names are the tracked versions, always.
 *
 * Why wrappers around the whole call rather than hooks in the cache's pop
 * and push: the per-thread caches stay exactly as they are in tracking
 * mode - the try path, NOWAIT, prefill's guarantee, the counters the
 * tests check - and still no page a cache holds is accessible, because a
 * tracked free tells the tool before the page reaches any cache
 * (VALGRIND_FREELIKE_BLOCK, ASan poisoning) and a tracked allocation only
 * after it left one (VALGRIND_MALLOCLIKE_BLOCK).  The pool never writes a
 * free page (its state is all in the descriptors), so between the two the
 * page is free wherever it is: a cache, the lists, the pending list, a
 * reserve (reserve.c's hooks), the arena's new growth (buddy.c's).  A
 * cache's own storage is made accessible (tcache.c's hooks) but is no
 * block: a tool reports no leak in it, and no access to it is the user's.
 * Hooks in hot.h instead would cost the default build instructions (a
 * client request is a dozen) or a second build of alloc.c and bulk.c.
 *
 * PP_ZERO is done here, after the block was handed to the tool: the fast
 * paths would write a page the tool still holds to be free.
 *
 * Why not "no caches under valgrind", so that every call reaches a slow
 * path: pp_alloc_page_try() only ever pops the cache, so it would fail
 * every time (and PP_TRY bulk calls, and pp_thread_prefill()'s guarantee
 * with them); and the suites make check-valgrind runs check the caches'
 * counters.  Why not caches of one block: the same counters, and a
 * try path that fails whenever the one block is out.  Measured: make
 * check-valgrind passes as before (test_bulk without the quarantine, see
 * Makefile.am), make check-track's 40 cases take about 50 s on 2 CPUs.
 *
 * The quarantine (memcheck and ASan): a freed block is held,
 * inaccessible, FIFO, and given to the fast free only once
 * PP_TRACK_QUARANTINE (64; PAGEPOOL_QUARANTINE=N sets it) more blocks were
 * freed after it (sooner when it holds more than
 * PP_TRACK_QUARANTINE_PAGES), so a write after free is caught even where
 * the cache would have handed the page out again at once.  Its blocks stay
 * USED, marked in desc.prev; they count as free in pp_stats()
 * (pp_g.quarantined).  A failed allocation empties it and tries again, so
 * that no limit (cap=) is reached early.  Its lock is only ever tried: a
 * free that finds it busy (another thread, a handler that interrupted
 * one) skips the quarantine.
 *
 * Memcheck's leak check scans all mapped memory for pointers, so two
 * stale pointers of the pool are dealt with: the block at the arena's
 * first page (pp_g.base points at it) is parked in the quarantine
 * (parked()), and the slot a cache's pop leaves its block in is cleared
 * (scrub_slot()).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define PP_TRACK_QUARANTINE	64	/* blocks, unless PAGEPOOL_QUARANTINE=N */
#define PP_TRACK_QUARANTINE_PAGES 4096	/* and pages (16 MiB of 4 KiB pages) */

#ifndef PP_TRACK_STATIC
bool pp_track_on;
#endif

#if defined(PP_TRACK_MEMCHECK) || defined(PP_TRACK_ASAN)
#define PP_QUARANTINE 1
#endif

/* ---- the quarantine --------------------------------------------------- */

/*
 * Its length in blocks: PAGEPOOL_QUARANTINE (0: none - for test suites
 * that check how the caches hand pages back), else PP_TRACK_QUARANTINE.
 * Read at the first free; a race reads the same value twice.
 */
#ifdef PP_QUARANTINE
static size_t quarantine_len(void)
{
	static size_t len = SIZE_MAX;
	size_t n = load_relaxed(&len);

	if (n == SIZE_MAX) {
		const char *s = getenv("PAGEPOOL_QUARANTINE");
		char *end;

		n = PP_TRACK_QUARANTINE;
		if (s && *s) {
			unsigned long v = strtoul(s, &end, 10);

			if (!*end && v < SIZE_MAX)
				n = v;
		}
		store_relaxed(&len, n);
	}
	return n;
}
#endif

static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t qhead = PP_NIL, qtail = PP_NIL;	/* linked by desc.next */
static size_t qblocks, qpages;
static bool base_parked;		/* page 0 held (parked()) */

static size_t block_bytes(unsigned order)
{
	return pp_g.page_size << order;
}

/*
 * Free a block taken out of the quarantine: through the fast free, into
 * this thread's cache, as any free; or (@global: an allocation failed and
 * empties the quarantine) straight to the global lists, where it can
 * coalesce - as alloc.c's free_global_slow() does.
 */
static void release(uint32_t idx, bool global)
{
	struct pp_desc *d = &pp_g.desc[idx];
	unsigned order = load_relaxed(&d->order);

	store_relaxed(&d->prev, PP_NIL);
	pp_event(quarantined, -((size_t)1 << order));
	if (!global) {
		PP_FAST(pp_free_pages)(pp_addr(idx), order);
		return;
	}
	pp_account(NULL, -((size_t)1 << order));
	if (pp_lock_for(PP_NOWAIT)) {
		pp_buddy_free_locked(idx, order);
		pp_unlock();
	} else {
		pp_pending_push(pp_addr(idx), d);
	}
}

/*
 * Hold the validated, inaccessible block @p of @order; give the oldest
 * one back once more than PP_TRACK_QUARANTINE are held.  False: not held
 * (the lock was busy, or no quarantine in this build).
 */
static bool quarantine_put(void *p, struct pp_desc *d, unsigned order)
{
#ifdef PP_QUARANTINE
	uint32_t idx = (uint32_t)pp_index(p), old = PP_NIL;

	size_t len = quarantine_len();

	if (!len || pthread_mutex_trylock(&qlock) != 0)
		return false;
	store_relaxed(&d->prev, PP_QUARANTINED);
	pp_event(quarantined, (size_t)1 << order);
	d->next = PP_NIL;
	if (qtail == PP_NIL)
		qhead = idx;
	else
		pp_g.desc[qtail].next = idx;
	qtail = idx;
	qblocks++;
	qpages += (size_t)1 << order;
	/* The oldest out, one at a time: after len blocks, or past
	 * PP_TRACK_QUARANTINE_PAGES (but the newest stays, however large). */
	while (qblocks > len || (qpages > PP_TRACK_QUARANTINE_PAGES && qblocks > 1)) {
		old = qhead;
		qhead = pp_g.desc[old].next;
		qblocks--;
		qpages -= (size_t)1 << load_relaxed(&pp_g.desc[old].order);
		pthread_mutex_unlock(&qlock);
		release(old, false);
		if (pthread_mutex_trylock(&qlock) != 0)
			return true;
	}
	pthread_mutex_unlock(&qlock);
	return true;
#else
	(void)p, (void)d, (void)order;
	return false;
#endif
}

/* Give every quarantined block back; false if there was none. */
static bool quarantine_flush(void)
{
	uint32_t idx;

	if (!load_relaxed(&pp_g.quarantined) || pthread_mutex_trylock(&qlock) != 0)
		return false;
	idx = qhead;
	qhead = qtail = PP_NIL;
	qblocks = qpages = 0;
	if (exchange_acq_rel(&base_parked, false)) {	/* last: page 0 goes back too */
		pp_g.desc[0].next = PP_NIL;
		if (idx == PP_NIL)
			idx = 0;
		else
			for (uint32_t i = idx;; i = pp_g.desc[i].next)
				if (pp_g.desc[i].next == PP_NIL) {
					pp_g.desc[i].next = 0;
					break;
				}
	}
	pthread_mutex_unlock(&qlock);
	while (idx != PP_NIL) {
		uint32_t next = pp_g.desc[idx].next;

		release(idx, true);
		idx = next;
	}
	return true;
}

/*
 * parked() - memcheck's leak check finds every block a word of mapped
 * memory points to, and the pool's own pp_g.base points to the arena's
 * first page: a block there could never be reported lost.  So a block an
 * allocation finds at page 0 joins the quarantine for good instead
 * (counted free, as its blocks are) and the caller takes another; only an
 * allocation that finds nothing else (quarantine_flush()) takes it back.
 * True: @p, of @order, was parked.
 */
static bool parked(void *p, unsigned order)
{
#ifdef PP_TRACK_MEMCHECK
	struct pp_desc *d = pp_desc_of(p);

	if (p != pp_g.base || load_relaxed(&base_parked))
		return false;
	store_relaxed(&d->prev, PP_QUARANTINED);
	pp_event(quarantined, (size_t)1 << order);
	__atomic_store_n(&base_parked, true, __ATOMIC_RELEASE);
	return true;
#else
	(void)p, (void)order;
	return false;
#endif
}

/* ---- the tracked entry points ---------------------------------------- */

/*
 * A pop leaves the block it handed out in the slot above the cache's
 * count, and memcheck's leak check, which scans the cache's storage as it
 * scans any mapped memory, would count that stale copy as a pointer to
 * the block: a leaked block would be "still reachable".  Clear the slot
 * of @p, @order, if this thread's cache still has it there.  Entered, so
 * that no reclaimer holds the cache meanwhile.
 */
static void scrub_slot(void *p, unsigned order)
{
#ifdef PP_TRACK_MEMCHECK
	struct pp_tcache *tc;
	uint32_t n;

	if (order >= PP_CACHE_ORDERS || !pp_enter())
		return;
	tc = pp_own_cache();
	if (tc) {
		n = load_relaxed(&tc->count[order]);
		for (uint32_t i = n; i < tc->high_max[order] && i < n + 64; i++)
			if (tc->stack[order][i] == p) {
				tc->stack[order][i] = NULL;
				break;
			}
	}
	pp_leave();
#else
	(void)p, (void)order;
#endif
}

/* @p (@order) from a fast allocation is the user's now; PP_ZERO here. */
static void *hand_out(void *p, unsigned order, unsigned flags)
{
	if (p) {
		scrub_slot(p, order);
		pp_track_out(p, block_bytes(order));
		if (flags & PP_ZERO)
			memset(p, 0, block_bytes(order));
	}
	return p;
}

static void *track_alloc_pages(unsigned order, unsigned flags)
{
	int err = errno;
	void *p;

	p = PP_FAST(pp_alloc_pages)(order, flags & ~PP_ZERO);
	if (p && parked(p, order))
		p = PP_FAST(pp_alloc_pages)(order, flags & ~PP_ZERO);

	if (!p && quarantine_flush() && (p = PP_FAST(pp_alloc_pages)(order, flags & ~PP_ZERO)))
		errno = err;
	return hand_out(p, order, flags);
}

static void *track_alloc_page(unsigned flags)
{
	int err = errno;
	void *p;

	p = PP_FAST(pp_alloc_page)(flags & ~PP_ZERO);	/* its name in reports */
	if (p && parked(p, 0))
		p = PP_FAST(pp_alloc_page)(flags & ~PP_ZERO);

	if (!p && quarantine_flush() && (p = PP_FAST(pp_alloc_page)(flags & ~PP_ZERO)))
		errno = err;
	return hand_out(p, 0, flags);
}

static void *track_alloc_page_try(void)
{
	int err = errno;
	void *p;

	p = PP_FAST(pp_alloc_page_try)();
	if (p && parked(p, 0))
		p = PP_FAST(pp_alloc_page_try)();

	if (!p && quarantine_flush() && (p = PP_FAST(pp_alloc_page_try)()))
		errno = err;
	return hand_out(p, 0, 0);
}

/*
 * A free of @p, @order: a plain USED block is handed back to the tool and
 * held in the quarantine; anything else (NULL, a run of the shim's malloc,
 * which exact.c tracks, a bad pointer, which the fast free reports) goes
 * to the fast free as it is.
 */
enum how { ONE_PAGE, ONE_BLOCK, BULK };

/* A plain USED block of @order at @p: its descriptor; NULL otherwise. */
static struct pp_desc *plain(const char *fn, void *p, unsigned order)
{
	struct pp_desc *d = p && pp_arena_has(p) ? pp_desc_at(p) : NULL;

	if (!d || order > PP_MAX_ORDER || load_relaxed(&d->key) != pp_used_key(order))
		return NULL;
	if (load_relaxed(&d->prev) == PP_QUARANTINED) {
		pp_msg("%s(%p): the block is already free (a double free, or use after free)",
		       fn, p);
		pp_os_abort();
	}
	return d;
}

static void track_free(const char *fn, void *p, unsigned order, enum how how)
{
	struct pp_desc *d = plain(fn, p, order);

	if (d) {
		pp_track_in(p, block_bytes(order));
		if (quarantine_put(p, d, order))
			return;
	}
	if (how == BULK)
		PP_FAST(pp_free_pages_bulk)(1, &p);	/* a run's first block may be any order */
	else if (how == ONE_PAGE)
		PP_FAST(pp_free_page)(p);		/* its name in reports */
	else
		PP_FAST(pp_free_pages)(p, order);
}

static void track_free_pages(void *addr, unsigned order)
{
	track_free("pp_free_pages", addr, order, ONE_BLOCK);
}

static void track_free_page(void *page)
{
	track_free("pp_free_page", page, 0, ONE_PAGE);
}

/* Every entry checked first, as the fast bulk free does: none freed if one is bad. */
static void track_free_pages_bulk(size_t nr, void *const *pages)
{
	if (nr && !pages) {
		PP_FAST(pp_free_pages_bulk)(nr, pages);		/* reports */
		return;
	}
	for (size_t i = 0; i < nr; i++)
		if (pages[i] && !plain("pp_free_pages_bulk", pages[i], 0))
			pp_free_check_slow("pp_free_pages_bulk", pages[i], false);	/* or aborts */
	for (size_t i = 0; i < nr; i++)
		if (pages[i])
			track_free("pp_free_pages_bulk", pages[i], 0, BULK);
}

#define BULK_CHUNK	512

/*
 * In chunks, so that the slots that were NULL - those the call fills -
 * fit a bitmap on the stack; the count is of every filled slot, as the
 * fast call counts.
 */
static size_t track_alloc_pages_bulk(unsigned flags, size_t nr, void **pages)
{
	size_t filled = 0;
	int err = errno;
	bool short_of = false;

	if (!nr || !pages)
		return PP_FAST(pp_alloc_pages_bulk)(flags, nr, pages);	/* reports */
	for (size_t off = 0; off < nr && !short_of; off += BULK_CHUNK) {
		size_t n = nr - off < BULK_CHUNK ? nr - off : BULK_CHUNK, got;
		unsigned char was_null[BULK_CHUNK];

		for (size_t i = 0; i < n; i++)
			was_null[i] = !pages[off + i];
		got = PP_FAST(pp_alloc_pages_bulk)(flags & ~PP_ZERO, n, pages + off);
		for (size_t i = 0; i < n; i++)
			if (was_null[i] && pages[off + i] && parked(pages[off + i], 0)) {
				pages[off + i] = NULL;
				got = PP_FAST(pp_alloc_pages_bulk)(flags & ~PP_ZERO, n, pages + off);
				/* No page for the hole: the last one filled moves in,
				 * so that the filled slots stay the first ones. */
				for (size_t j = n; !pages[off + i] && j-- > i + 1;)
					if (was_null[j] && pages[off + j]) {
						pages[off + i] = pages[off + j];
						pages[off + j] = NULL;
					}
				break;
			}
		if (got < n && quarantine_flush())
			got = PP_FAST(pp_alloc_pages_bulk)(flags & ~PP_ZERO, n, pages + off);
		if (got < n && got == 0 && errno == EINVAL)
			return 0;
		for (size_t i = 0; i < n; i++)
			if (was_null[i] && pages[off + i])
				hand_out(pages[off + i], 0, flags);
		short_of = got < n;
	}
	for (size_t i = 0; i < nr; i++)
		filled += !!pages[i];

	if (!short_of)
		errno = err;
	return filled;
}

/* ---- binding the exported names -------------------------------------- */

#ifdef PP_TRACK_STATIC
/* A sanitizer build: the tracked versions, always. */
PP_API void *pp_alloc_page_try(void) { return track_alloc_page_try(); }
PP_API void *pp_alloc_page(unsigned flags) { return track_alloc_page(flags); }
PP_API void *pp_alloc_pages(unsigned order, unsigned flags)
{
	return track_alloc_pages(order, flags);
}
PP_API void pp_free_page(void *page) { track_free_page(page); }
PP_API void pp_free_pages(void *addr, unsigned order) { track_free_pages(addr, order); }
PP_API size_t pp_alloc_pages_bulk(unsigned flags, size_t nr, void **pages)
{
	return track_alloc_pages_bulk(flags, nr, pages);
}
PP_API void pp_free_pages_bulk(size_t nr, void *const *pages)
{
	track_free_pages_bulk(nr, pages);
}
#else
/*
 * Resolvers: run once each, at load time, before any call; nothing here
 * may need a relocation of its own or the C library.
 */
static bool tracking(void)
{
#ifdef PP_TRACK_MEMCHECK
	/*
	 * Memcheck only: a request only memcheck answers (1: the bits were
	 * read); another tool (callgrind: make bench-icount) or none answers
	 * 0, and the fast functions are bound.
	 */
	unsigned char byte = 0, vbits;

	if (VALGRIND_GET_VBITS(&byte, &vbits, 1) == 1)
		pp_track_on = true;
#endif
	return pp_track_on;
}

#define PP_BIND(name, type)						\
	static type *name##_pick(void)					\
	{								\
		return tracking() ? track_##name : PP_FAST(pp_##name);	\
	}

typedef void *alloc_page_try_t(void);
typedef void *alloc_page_t(unsigned);
typedef void *alloc_pages_t(unsigned, unsigned);
typedef void free_page_t(void *);
typedef void free_pages_t(void *, unsigned);
typedef size_t alloc_pages_bulk_t(unsigned, size_t, void **);
typedef void free_pages_bulk_t(size_t, void *const *);

PP_BIND(alloc_page_try, alloc_page_try_t)
PP_BIND(alloc_page, alloc_page_t)
PP_BIND(alloc_pages, alloc_pages_t)
PP_BIND(free_page, free_page_t)
PP_BIND(free_pages, free_pages_t)
PP_BIND(alloc_pages_bulk, alloc_pages_bulk_t)
PP_BIND(free_pages_bulk, free_pages_bulk_t)

PP_API void *pp_alloc_page_try(void) __attribute__((ifunc("alloc_page_try_pick")));
PP_API void *pp_alloc_page(unsigned flags) __attribute__((ifunc("alloc_page_pick")));
PP_API void *pp_alloc_pages(unsigned order, unsigned flags)
	__attribute__((ifunc("alloc_pages_pick")));
PP_API void pp_free_page(void *page) __attribute__((ifunc("free_page_pick")));
PP_API void pp_free_pages(void *addr, unsigned order) __attribute__((ifunc("free_pages_pick")));
PP_API size_t pp_alloc_pages_bulk(unsigned flags, size_t nr, void **pages)
	__attribute__((ifunc("alloc_pages_bulk_pick")));
PP_API void pp_free_pages_bulk(size_t nr, void *const *pages)
	__attribute__((ifunc("free_pages_bulk_pick")));
#endif
