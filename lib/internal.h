/* SPDX-License-Identifier: MIT */
/*
 * internal.h - private structures of libpagepool and its hot paths.
 *
 * Owns: the page descriptor, the per-thread cache layout, the global state,
 * and the inline fast paths (cache pop/push and pointer validation) that the
 * public entry points in alloc.c and bulk.c are built from.  Nothing here
 * makes a system call or takes a lock; the slow paths live out of line in
 * their own files and are named *_slow.
 *
 * Atomics: the compiler's __atomic builtins, not liburcu's uatomic, because
 * ThreadSanitizer instruments the builtins and cannot see uatomic's inline
 * assembly; the concurrent suites run under TSan.
 */
#ifndef PP_INTERNAL_H
#define PP_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <urcu/list.h>

#include "pagepool.h"

#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)

#define PP_HIDDEN	__attribute__((visibility("hidden")))
#define PP_NORETURN	__attribute__((noreturn))

#define load_relaxed(p)		__atomic_load_n((p), __ATOMIC_RELAXED)
#define store_relaxed(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELAXED)
/*
 * Single-writer counter bump (a size_t), read by others with load_relaxed().
 * On x86-64 one add to memory, as the kernel's this_cpu_add(): an aligned
 * 8-byte store cannot tear, and a signal handler sees the count before or
 * after it; in asm, because the compiler emits three instructions for an
 * atomic load, add and store.  Elsewhere (x32's 4-byte size_t, other
 * architectures, ThreadSanitizer builds) exactly that relaxed load/store.
 */
#if defined(__SANITIZE_THREAD__)
#define PP_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PP_TSAN 1
#endif
#endif
/* Not under ThreadSanitizer, which cannot see into asm: it checks the C form. */
#if defined(__x86_64__) && __SIZEOF_SIZE_T__ == 8 && !defined(PP_TSAN)
#define bump(p, n) \
	__asm__ volatile("addq %1, %0" : "+m"(*(p)) : "er"((size_t)(n)))
#else
#define bump(p, n)		store_relaxed((p), load_relaxed(p) + (n))
#endif
/* Orders against a signal handler on this thread only: no fence instruction. */
#define signal_barrier()	__atomic_signal_fence(__ATOMIC_SEQ_CST)

#define PP_FLAGS_ALL	(PP_TRY | PP_NOWAIT | PP_ZERO)
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
 * Free pages are never written by the allocator: all its state is here.
 * Links are page indices, not pointers, to keep the descriptor small; that is
 * also why the buddy lists are hand-written rather than liburcu's cds_list
 * (16 bytes of links per page).
 */
struct pp_desc {
	uint32_t next;		/* buddy list or pending list link */
	uint32_t prev;		/* buddy list link; on a USED block, reserve.c's mark */
	union {
		struct {
			uint8_t state;	/* enum pp_page_state, accessed atomically */
			uint8_t order;	/* order of the block it heads, accessed atomically */
			uint16_t span;	/* pages of an exact run it starts (exact.c), else 0 */
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

/*
 * struct pp_tcache - one thread's cache of free blocks, orders 0..3.
 *
 * Lives in pool pages (state PP_PG_META) taken from the buddy lists, so that
 * creating one needs no C-library allocation and no system call; only a
 * pointer to it is thread-local (initial-exec TLS stays tiny, so the library
 * can also be dlopen()ed).  stack[k][0..count[k]) are the cached blocks of
 * order k, the most recently freed on top.
 */
struct pp_tcache {
	uint32_t count[PP_CACHE_ORDERS];
	uint32_t high[PP_CACHE_ORDERS];		/* the mark now (tcache.c) */
	uint32_t batch[PP_CACHE_ORDERS];
	void **stack[PP_CACHE_ORDERS];

	/* Fast-path counters: written by the owner only, read relaxed. */
	size_t pages_out;	/* pages allocated minus pages freed (wraps) */
	size_t hits;		/* allocations served from this cache */

	/* Sizing (tcache.c): slow paths only. */
	uint32_t high_min[PP_CACHE_ORDERS];	/* the configured mark */
	uint32_t high_max[PP_CACHE_ORDERS];	/* the most it grows to */
	uint32_t drain_run[PP_CACHE_ORDERS];	/* drains since the last refill */

	struct cds_list_head link;	/* the registry, under the global lock */
	unsigned storage_order;		/* order of the block this lives in */
};

/*
 * struct pp_tls - the thread-local part: 16 bytes, initial-exec model, so
 * the first access never allocates and a signal handler can use it.
 * @busy is set for the duration of every pagepool call on this thread; a
 * call that finds it set is re-entrant (a signal handler) and must not touch
 * the cache nor block on the lock.
 */
struct pp_tls {
	struct pp_tcache *tc;
	unsigned busy;
	uint8_t dead;		/* thread is exiting: never make a new cache */
	uint8_t seen;		/* counted in pp_g.threads_seen */
	uint8_t yield;		/* a shim call: a lock wait gives way to fork() (buddy.c) */
	uint8_t starting;	/* this thread is starting the pool (init.c) */
};

extern __thread struct pp_tls pp_tls PP_HIDDEN
	__attribute__((tls_model("initial-exec")));

/* Settings; fixed once the pool is initialised. */
struct pp_options {
	size_t high;		/* per-thread cache high mark, pages, order 0 */
	size_t high_max;	/* ... which an alternating cache may grow to */
	size_t batch;		/* refill / drain batch, pages, order 0 */
	size_t arena;		/* bytes of virtual reservation (the most) */
	bool arena_set;		/* arena= was given: reserved as it is, or not at all */
	size_t cap;		/* hard limit on committed bytes, 0 = none */
	size_t grow;		/* bytes committed per growth */
	bool stats;		/* print statistics at exit */
	bool verbose;		/* print the effective settings at start-up */
	/* read by libpagepool-rcu through pp_option() */
	size_t rcu_delay_ms;	/* a partly filled block is handed on at half this age */
	size_t rcu_spares;	/* empty blocks kept per thread */
	bool rcu_blocks;	/* 0: no blocks, every call takes the fallback */
	size_t rcu_inflight;	/* bytes of pool pages awaiting call_rcu per thread; 0: no limit */
	/* read by the preload shim (preload/) */
	size_t preload_min;	/* requests of at least this many bytes go to the pool */
	/* real time (README "Real-time use") */
	bool pi;		/* the global lock inherits priority */
	bool mlock;		/* committed memory is locked */
	size_t prefault;	/* bytes committed and touched at start-up */
	bool hugepages;		/* back the arena with huge pages */
	/* giving memory back (trim.c) */
	size_t retain;		/* free bytes kept resident; 0: no automatic trim */
	size_t trim_ms;		/* the automatic trim runs at most this often */
	bool madv_free;		/* release with MADV_FREE instead of MADV_DONTNEED */
};

/* The global state: arena, buddy lists, pending list, registry, counters. */
struct pp_global {
	/* Read-mostly: the arena geometry (fixed after init). */
	char *base;			/* first byte of the arena */
	struct pp_desc *desc;		/* descriptor array, one per page */
	uintptr_t desc_bias;		/* desc less base's page number (pp_desc_of) */
	size_t npages_max;		/* pages in the reservation */
	size_t committed_bytes;		/* bytes committed; grows under lock */
	unsigned page_shift;
	size_t page_size;
	bool ready;			/* init finished */
	bool lock_pi;			/* the global lock is priority-inheriting (pi=1 took) */
	unsigned forking;		/* fork()s waiting for the lock in prepare (atomic) */

	pthread_mutex_t lock;		/* guards everything below */
	uint32_t head[PP_MAX_ORDER + 1];	/* buddy free lists */
	size_t free_pages;		/* pages on the buddy lists */
	size_t committed;		/* pages committed (== committed_bytes >> shift) */
	size_t peak_committed;
	size_t cache_meta;		/* pages holding tcache storage */
	size_t grows, grow_fails;
	struct cds_list_head caches;	/* registry of live pp_tcache */
	size_t nthreads;
	size_t threads_seen;		/* threads that ever took a slow path (atomic) */
	size_t retired_hits;		/* hits of caches since released */

	/* Lock-free: pending list and slow-path event counters (atomic). */
	uint32_t pending_head;		/* pending-free list (push / take-all) */
	size_t pending_pages;		/* pages on it */
	size_t stray_pages_out;		/* pages_out not counted in any cache */
	size_t reserved;		/* pages held by reserves (reserve.c) */
	size_t trimming;		/* free pages off the lists being released (trim.c) */
	size_t last_trim_ms;		/* when the automatic trim last ran (trim.c) */
	size_t misses, refills, drains, trylock_fails, pending_frees;

	struct pp_options opt;
	pthread_key_t key;		/* runs the exit destructor */
};

extern struct pp_global pp_g PP_HIDDEN;

/* ---- Descriptor helpers -------------------------------------------- */

/*
 * The page shift of the fast paths: a constant where the architecture fixes
 * the base page (x86: 4 KiB; init.c checks), which saves a load and a
 * variable shift per call; elsewhere (arm64 kernels use 4, 16 or 64 KiB)
 * the value found at initialisation.
 */
#if defined(__x86_64__) || defined(__i386__)
#define PP_SHIFT	12u
#else
#define PP_SHIFT	pp_g.page_shift
#endif
#define PP_PAGE_MASK	(((size_t)1 << PP_SHIFT) - 1)

static inline size_t pp_index(const void *p)
{
	return (size_t)((const char *)p - pp_g.base) >> PP_SHIFT;
}

static inline void *pp_addr(size_t idx)
{
	return pp_g.base + (idx << PP_SHIFT);
}

/*
 * The descriptor of a block known to be in the arena (a cached one, or one
 * already validated): one
 * shift and one multiply-add, base's page number being folded into
 * desc_bias.  Unsigned arithmetic, so the bias may wrap.
 */
static inline struct pp_desc *pp_desc_of(const void *p)
{
	return (struct pp_desc *)(pp_g.desc_bias +
				  ((uintptr_t)p >> PP_SHIFT) * sizeof(struct pp_desc));
}

static inline unsigned pp_state(const struct pp_desc *d)
{
	return load_relaxed(&d->state);
}

static inline void pp_set_state(struct pp_desc *d, unsigned s)
{
	store_relaxed(&d->state, (uint8_t)s);
}

/*
 * pp_validate() - check a pointer handed to a free call and return its
 * descriptor.  Validate before writing: nothing is modified here.  Any
 * failure is reported with @fn's name and aborts.
 */
PP_HIDDEN PP_NORETURN void pp_bad_free_slow(const char *fn, const void *p,
					    unsigned order);

/* Is @p page-aligned in the committed arena?  Its byte offset in *@off. */
static inline bool pp_page_off(const void *p, size_t *off)
{
	*off = (size_t)((const char *)p - pp_g.base);
	return likely(*off < load_relaxed(&pp_g.committed_bytes) &&
		      !(*off & PP_PAGE_MASK));
}

/* The descriptor of a page-aligned address in the committed arena, or NULL. */
static inline struct pp_desc *pp_desc_at(const void *p)
{
	size_t off;

	return pp_page_off(p, &off) ? &pp_g.desc[off >> PP_SHIFT] : NULL;
}

static inline struct pp_desc *pp_validate(const char *fn, const void *p,
					  unsigned order)
{
	struct pp_desc *d;
	size_t off;

	if (unlikely(!pp_page_off(p, &off)))
		pp_bad_free_slow(fn, p, order);
	d = &pp_g.desc[off >> PP_SHIFT];
	if (unlikely(load_relaxed(&d->key) != pp_used_key(order)))
		pp_bad_free_slow(fn, p, order);
	return d;
}

/* Is @p inside the arena's reservation?  False before initialisation. */
static inline bool pp_arena_has(const void *p)
{
	if (!__atomic_load_n(&pp_g.ready, __ATOMIC_ACQUIRE))
		return false;
	return (size_t)((const char *)p - pp_g.base) < (pp_g.npages_max << pp_g.page_shift);
}

/* ---- Per-thread cache fast paths ------------------------------------ */

/* Pop a block of @order from @tc, or NULL.  Caller holds pp_tls.busy. */
static inline void *pp_tcache_pop(struct pp_tcache *tc, unsigned order)
{
	uint32_t n = load_relaxed(&tc->count[order]);
	void *p;

	if (unlikely(n == 0))
		return NULL;
	p = tc->stack[order][n - 1];
	if (!p)
		__builtin_unreachable();	/* a stack holds blocks: no NULL test */
	store_relaxed(&tc->count[order], n - 1);
	pp_set_state(pp_desc_of(p), PP_PG_USED);
	bump(&tc->hits, 1);
	bump(&tc->pages_out, (size_t)1 << order);
	return p;
}

/* Push a validated block; false when the cache is at its high mark. */
static inline bool pp_tcache_push(struct pp_tcache *tc, void *p,
				  struct pp_desc *d, unsigned order)
{
	uint32_t n = load_relaxed(&tc->count[order]);

	if (unlikely(n >= tc->high[order]))
		return false;
	pp_set_state(d, PP_PG_CACHED);
	tc->stack[order][n] = p;
	store_relaxed(&tc->count[order], n + 1);
	bump(&tc->pages_out, -((size_t)1 << order));
	return true;
}

/* Enter / leave a pagepool call on this thread (see struct pp_tls). */
static inline bool pp_enter(void)
{
	if (unlikely(pp_tls.busy))
		return false;
	pp_tls.busy = 1;
	signal_barrier();
	return true;
}

static inline void pp_leave(void)
{
	signal_barrier();
	pp_tls.busy = 0;
}

/* Slow-path event counter: shared, so atomic. */
#define pp_event(field, n) \
	__atomic_fetch_add(&pp_g.field, (n), __ATOMIC_RELAXED)

/*
 * @n pages (negative: back) move between handed out (in_use) and held by a
 * reserve (reserved); lock-free, async-signal-safe.
 */
static inline void pp_reserved_move(long n)
{
	pp_event(reserved, (size_t)n);
	pp_event(stray_pages_out, -(size_t)n);
}

/*
 * Count this thread once in pp_g.threads_seen, from every slow path (the
 * lock and the pending list): a fork child repairs its ledger when another
 * thread may have been inside a lock-free window at the fork.
 */
static inline void pp_seen(void)
{
	if (unlikely(!pp_tls.seen)) {
		pp_tls.seen = 1;
		pp_event(threads_seen, 1);
	}
}

/*
 * Count pages handed out (+) or back (-).  @tc only when this call owns it
 * (not re-entrant); otherwise the shared atomic counter.
 */
static inline void pp_account(struct pp_tcache *tc, size_t pages)
{
	if (tc)
		bump(&tc->pages_out, pages);
	else
		pp_event(stray_pages_out, pages);
}

/* ---- Out-of-line pieces, one file each -------------------------------- */

/* init.c */
PP_HIDDEN bool pp_init(void);	/* may block; false (errno ENOMEM) on failure, retried */
PP_HIDDEN void pp_lock_init(void);	/* (re)makes the global lock per the options */

/* alloc.c: initialise if @flags allow it (false, errno EAGAIN or ENOMEM) */
PP_HIDDEN bool pp_ready_for(unsigned flags);
/* alloc.c: pp_free_pages() naming @fn; the start of a shim run is freed whole */
PP_HIDDEN void pp_free_block(const char *fn, void *p, unsigned order);

/* fork.c */
PP_HIDDEN void pp_fork_init(void);

/* reserve.c: the reserves' part of fork.c's handlers */
PP_HIDDEN void pp_reserve_atfork_prepare(void);
PP_HIDDEN void pp_reserve_atfork_parent(void);
PP_HIDDEN bool pp_reserve_atfork_child(void);	/* true: there are reserves */

/* options.c */
PP_HIDDEN void pp_options_freeze(void);	/* reads PAGEPOOL_CONF if not yet */
PP_HIDDEN void pp_options_atfork_child(void);
PP_HIDDEN void pp_options_print(const struct pp_options *o);

/* arena.c: geometry and growth; grow is called with the lock held. */
PP_HIDDEN int pp_arena_init(void);
PP_HIDDEN bool pp_arena_grow_locked(unsigned order);
PP_HIDDEN bool pp_arena_prefault_locked(size_t bytes);

/* buddy.c: the global lists; *_locked with pp_g.lock held. */
PP_HIDDEN void pp_lock(void);
PP_HIDDEN bool pp_trylock(void);
PP_HIDDEN void pp_unlock(void);
PP_HIDDEN bool pp_lock_for(unsigned flags);	/* by mode; false: not taken */
PP_HIDDEN void pp_lock_absorb(void);		/* always waits; absorbs pending */
PP_HIDDEN void *pp_buddy_alloc_locked(unsigned order, unsigned flags);
PP_HIDDEN size_t pp_buddy_alloc_many_locked(unsigned order, unsigned flags, size_t want,
					  void **out, unsigned state);
PP_HIDDEN void pp_buddy_free_locked(size_t idx, unsigned order);
PP_HIDDEN void pp_buddy_add_range_locked(size_t idx, size_t npages);
PP_HIDDEN bool pp_buddy_take_range_locked(size_t idx, size_t npages);
PP_HIDDEN void pp_buddy_unlist_locked(size_t idx, unsigned order);
PP_HIDDEN void *pp_buddy_alloc_reclaim_locked(struct pp_tcache *tc,
					      unsigned order, unsigned flags);
PP_HIDDEN void pp_pending_push(void *p, struct pp_desc *d);
PP_HIDDEN void pp_pending_absorb_locked(void);
PP_HIDDEN void pp_free_global_slow(struct pp_tcache *tc, void *p,
				   struct pp_desc *d, unsigned order);

/* tcache.c */
PP_HIDDEN struct pp_tcache *pp_tcache_get_locked(unsigned flags);
PP_HIDDEN void *pp_tcache_refill_slow(struct pp_tcache *tc, unsigned order,
				      unsigned flags);
PP_HIDDEN void pp_tcache_drain_slow(struct pp_tcache *tc, unsigned order);
PP_HIDDEN void pp_tcache_flush_locked(struct pp_tcache *tc);
PP_HIDDEN void pp_tcache_release_locked(struct pp_tcache *tc);
PP_HIDDEN void pp_tcache_thread_exit(void *arg);
PP_HIDDEN void pp_tcache_forget_others(void);	/* in a fork child */

/*
 * exact.c: runs of an exact number of pages (the preload shim's malloc).
 * A run is cut into aligned buddy blocks from its start; its first page's
 * descriptor holds the page count (span).  @fn names the caller in messages.
 */
#define PP_EXACT_MAX	((size_t)1 << PP_MAX_ORDER)	/* pages in the longest run */
PP_HIDDEN void *pp_exact_alloc(size_t npages, unsigned align_order, unsigned flags);
PP_HIDDEN size_t pp_exact_pages(const char *fn, const void *p);
PP_HIDDEN void pp_exact_free(const char *fn, void *p);
PP_HIDDEN void pp_exact_shrink(const char *fn, void *p, size_t npages);
PP_HIDDEN bool pp_exact_grow(const char *fn, void *p, size_t npages);

/* trim.c */
PP_HIDDEN void pp_trim_auto(void);

/* stats.c */
PP_HIDDEN void pp_stats_print(void);
extern void (*pp_stats_at_exit)(void) PP_HIDDEN;	/* init.c; pp_stats_print */

/* error.c */
PP_HIDDEN void pp_msg(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
PP_HIDDEN bool pp_check_flags(const char *fn, unsigned flags);
PP_HIDDEN const char *pp_errname(int err);	/* "ENOMEM": no locale, no lock */

/* os.c: every system call the library makes. */
PP_HIDDEN size_t pp_os_page_size(void);
PP_HIDDEN void *pp_os_reserve(size_t size, size_t align);
PP_HIDDEN void pp_os_unreserve(void *addr, size_t size);
PP_HIDDEN size_t pp_os_as_headroom(void);
PP_HIDDEN int pp_os_commit(void *addr, size_t size);
PP_HIDDEN int pp_os_commit_huge(void *addr, size_t size);
PP_HIDDEN int pp_os_advise_huge(void *addr, size_t size);
PP_HIDDEN int pp_os_lock(void *addr, size_t size);
PP_HIDDEN void pp_os_populate(void *addr, size_t size);
PP_HIDDEN void pp_os_release(void *addr, size_t size, bool lazy);
PP_HIDDEN size_t pp_os_now_ms(void);
struct timespec;
PP_HIDDEN void pp_os_deadline(struct timespec *ts, unsigned ms);
PP_HIDDEN void pp_os_sleep_ms(unsigned ms);
PP_HIDDEN int pp_os_getpid(void);
PP_HIDDEN const char *pp_os_progname(void);
PP_HIDDEN void pp_os_write_err(const char *buf, size_t len);
PP_HIDDEN void pp_os_keep_stderr(void);		/* stats=1, at start-up */
PP_HIDDEN bool pp_os_to_kept_stderr(bool on);	/* false: the copy is gone */
PP_HIDDEN PP_NORETURN void pp_os_abort(void);

/*
 * Test hooks (tests/ link the objects directly; never exported).
 * pp_test_audit() walks every committed descriptor under the global lock
 * and counts pages by state: a second ledger, independent of the counters
 * pp_stats() reports, to prove that no page is lost.
 */
struct pp_audit {
	size_t committed;	/* pages covered by committed descriptors */
	size_t free;		/* pages in FREE blocks (buddy lists) */
	size_t cached;		/* pages in CACHED blocks */
	size_t used;		/* pages in USED blocks */
	size_t pending;		/* pages in PENDING blocks */
	size_t meta;		/* pages in META blocks */
	size_t listed;		/* pages reachable from the buddy list heads */
	size_t bad;		/* descriptors in an impossible state */
};
PP_HIDDEN void pp_test_lock(void);
PP_HIDDEN unsigned pp_test_lock_word(void);
PP_HIDDEN void pp_test_unlock(void);
PP_HIDDEN void pp_test_audit(struct pp_audit *a);
/* os.c: make the next N arena reservations fail; reservations tried */
extern unsigned pp_os_fail_reserve PP_HIDDEN;
extern size_t pp_os_reserve_calls PP_HIDDEN;

#endif /* PP_INTERNAL_H */
