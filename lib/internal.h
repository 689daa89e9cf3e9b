/* SPDX-License-Identifier: MIT */
/*
 * internal.h - libpagepool's private interface: what each file offers the
 * files above it.
 *
 * Owns: the out-of-line functions shared between the files of lib/, one section per
 * file, in layer order from the bottom (os.c) up.  A file calls only the
 * files below it - scripts/layers.sh checks that from the object files
 * (make check), and lists the one call that goes up.  The structures and
 * the inline fast paths are in the headers included here, by role:
 * compiler.h (attributes and atomics, shared with libpagepool-rcu),
 * options.h (the table of settings), desc.h (the page descriptor),
 * global.h (the global and per-thread state), hot.h (the inline fast
 * paths).  Test hooks the tests define are in tests/testhooks.h.
 */
#ifndef PP_INTERNAL_H
#define PP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "compiler.h"
#include "options.h"
#include "desc.h"
#include "global.h"
#include "hot.h"
#include "track.h"

struct timespec;

/* ---- os.c: every system call the library makes ---------------------- */
PP_HIDDEN size_t pp_os_page_size(void);
PP_HIDDEN size_t pp_os_ncpus(void);
PP_HIDDEN void *pp_os_reserve(size_t size, size_t align);
PP_HIDDEN void pp_os_unreserve(void *addr, size_t size);
PP_HIDDEN size_t pp_os_as_headroom(void);
PP_HIDDEN int pp_os_commit(void *addr, size_t size);
PP_HIDDEN int pp_os_commit_huge(void *addr, size_t size);
PP_HIDDEN int pp_os_advise_huge(void *addr, size_t size);
PP_HIDDEN int pp_os_lock(void *addr, size_t size);
PP_HIDDEN void pp_os_populate(void *addr, size_t size);
PP_HIDDEN int pp_os_release(void *addr, size_t size, bool lazy);
PP_HIDDEN size_t pp_os_now_ms(void);
PP_HIDDEN size_t pp_os_coarse_ms(void);
PP_HIDDEN uint64_t pp_os_now_ns(void);
PP_HIDDEN void pp_os_deadline(struct timespec *ts, unsigned ms);
PP_HIDDEN void pp_os_sleep_ms(unsigned ms);
PP_HIDDEN int pp_os_getpid(void);
PP_HIDDEN const char *pp_os_progname(void);
PP_HIDDEN void pp_os_write_err(const char *buf, size_t len);
PP_HIDDEN void pp_os_keep_stderr(void);		/* stats=1, at start-up */
PP_HIDDEN bool pp_os_to_kept_stderr(bool on);	/* false: the copy is gone */
PP_HIDDEN PP_NORETURN void pp_os_abort(void);
PP_HIDDEN int pp_os_membarrier_register(void);
PP_HIDDEN int pp_os_membarrier(void);
/*
 * Test only: fault injection.  Calls of @call fail with @err (0: ENOMEM):
 * @count of them after @skip more succeed, and each with probability
 * @per_million.  Every call is counted.
 */
enum pp_os_call {
	PP_OS_RESERVE,		/* mmap PROT_NONE: the arena, its descriptors */
	PP_OS_UNRESERVE,	/* munmap of a failed start-up's reservation */
	PP_OS_HEADROOM,		/* getrlimit, open and read of /proc/self/statm */
	PP_OS_COMMIT,		/* mmap MAP_FIXED: pages and descriptors */
	PP_OS_COMMIT_HUGE,	/* mmap MAP_HUGETLB (hugepages=1) */
	PP_OS_ADVISE_HUGE,	/* madvise MADV_HUGEPAGE (hugepages=1) */
	PP_OS_LOCK,		/* mlock (mlock=1) */
	PP_OS_POPULATE,		/* madvise MADV_POPULATE_WRITE (prefault=) */
	PP_OS_RELEASE,		/* madvise MADV_DONTNEED / MADV_FREE (trim) */
	PP_OS_SLEEP,		/* nanosleep */
	PP_OS_KEEP_STDERR,	/* fstat, fcntl of stderr (stats=1) */
	PP_OS_WRITE_ERR,	/* write of a message */
	PP_OS_MEMBARRIER,	/* membarrier: registration and fences (reclaim.c) */
	PP_OS_NCALLS
};
PP_HIDDEN void pp_os_fault_set(enum pp_os_call call, unsigned skip, unsigned count,
			       unsigned per_million, int err);
PP_HIDDEN void pp_os_fault_clear(void);
PP_HIDDEN size_t pp_os_fault_calls(enum pp_os_call call);

/* The page size, before start-up too (pp_page_size(), pp_stats()). */
static inline size_t pp_page_size_any(void)
{
	size_t ps = load_relaxed(&pp_g.page_size);

	return likely(ps) ? ps : pp_os_page_size();
}

/* ---- error.c: messages and reports of bad calls --------------------- */
PP_HIDDEN void pp_msg(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
PP_HIDDEN bool pp_check_flags(const char *fn, unsigned flags);
PP_HIDDEN const char *pp_errname(int err);	/* "ENOMEM": no locale, no lock */
/* pp_bad_free_slow() is declared in hot.h, for pp_validate(). */

/* ---- options.c: the settings of options.h's table ------------------- */
PP_HIDDEN void pp_options_freeze(void);	/* reads PAGEPOOL_CONF if not yet */
PP_HIDDEN void pp_options_atfork_child(void);
PP_HIDDEN int pp_options_find(const char *who, const char *key);	/* -1: said */
PP_HIDDEN size_t pp_options_value(const struct pp_options *o, int i);
PP_HIDDEN void pp_options_print(const struct pp_options *o, size_t arena_bytes);
PP_HIDDEN void pp_options_reset_for_test(void);	/* test only: unfreeze, forget */

/* ---- arena.c: the reservation, its descriptors, growth -------------- */
PP_HIDDEN int pp_arena_init(void);
/* Commit more, for a block of @order; the new pages: [*idx, *idx + *npages). */
PP_HIDDEN bool pp_arena_grow_locked(unsigned order, size_t *idx, size_t *npages);
PP_HIDDEN void pp_arena_populate(void);	/* fault in what is committed */

/* ---- buddy.c: the global lists and the pending list; *_locked with the
 * lock held ----------------------------------------------------------- */
PP_HIDDEN void *pp_buddy_alloc_locked(unsigned order, unsigned flags);
PP_HIDDEN size_t pp_buddy_alloc_many_locked(unsigned order, unsigned flags, size_t want,
					  void **out, unsigned state);
PP_HIDDEN void pp_buddy_free_locked(size_t idx, unsigned order);
PP_HIDDEN bool pp_buddy_grow_locked(unsigned order);
PP_HIDDEN void pp_buddy_add_range_locked(size_t idx, size_t npages);
PP_HIDDEN bool pp_buddy_take_range_locked(size_t idx, size_t npages);
PP_HIDDEN void pp_buddy_unlist_locked(size_t idx, unsigned order);
PP_HIDDEN void pp_pending_push(void *p, struct pp_desc *d);
PP_HIDDEN void pp_pending_absorb_locked(void);

/* ---- lock.c: the global lock ---------------------------------------- */
PP_HIDDEN void pp_lock_init(void);	/* (re)makes it per the options */
PP_HIDDEN void pp_lock(void);
PP_HIDDEN bool pp_trylock(void);
PP_HIDDEN void pp_unlock(void);
PP_HIDDEN bool pp_lock_for(unsigned flags);	/* by mode; false: not taken */
PP_HIDDEN void pp_lock_absorb(void);		/* always waits; absorbs pending */

/* ---- reclaim.c: caches' blocks back to the lists (before trim.c) ------ */
PP_HIDDEN void pp_reclaim_init(void);		/* membarrier: start-up, fork child */
PP_HIDDEN size_t pp_reclaim_flush_locked(struct pp_tcache *tc, bool keep_prefilled);
PP_HIDDEN size_t pp_reclaim_others_locked(const struct pp_tcache *self);
PP_HIDDEN size_t pp_reclaim_idle_locked(void);
PP_HIDDEN void pp_reclaim_tick_locked(void);
PP_HIDDEN bool pp_reclaim_idle_now(const struct pp_tcache *tc, size_t now);
PP_HIDDEN void pp_reclaim_note_slow(struct pp_tcache *tc);	/* the owner's refill, drain */

/* ---- trim.c: giving memory back ------------------------------------- */
PP_HIDDEN void pp_trim_auto(void);

/* ---- tcache.c: the per-thread caches -------------------------------- */
PP_HIDDEN void pp_tcache_init_bound(void);		/* cache_max=, at start-up */
PP_HIDDEN size_t pp_tcache_marks_pages(const struct pp_tcache *tc);
PP_HIDDEN size_t pp_tcache_high_max(void);
PP_HIDDEN uint32_t pp_tcache_capacity(unsigned order);
PP_HIDDEN struct pp_tcache *pp_tcache_get_locked(unsigned flags);
PP_HIDDEN void *pp_tcache_refill_slow(struct pp_tcache *tc, unsigned order,
				      unsigned flags);
PP_HIDDEN void pp_tcache_drain_slow(struct pp_tcache *tc, unsigned order);
PP_HIDDEN void *pp_tcache_alloc_reclaim_locked(struct pp_tcache *tc, unsigned order,
					       unsigned flags);
PP_HIDDEN void pp_tcache_release_locked(struct pp_tcache *tc);
PP_HIDDEN void pp_tcache_thread_exit(void *arg);
PP_HIDDEN void pp_tcache_forget_others(void);	/* in a fork child */

/* ---- stats.c --------------------------------------------------------- */
PP_HIDDEN void pp_stats_print(void);
extern void (*pp_stats_at_exit)(void) PP_HIDDEN;	/* init.c; pp_stats_print */

/* ---- reserve-fork.c: the reserves' part of fork.c's handlers ---------- */
PP_HIDDEN void pp_reserve_atfork_prepare(void);
PP_HIDDEN void pp_reserve_atfork_parent(void);
PP_HIDDEN bool pp_reserve_atfork_child(void);	/* true: there are reserves */

/* ---- fork.c ---------------------------------------------------------- */
PP_HIDDEN void pp_fork_init(void);

/* ---- init.c ---------------------------------------------------------- */
PP_HIDDEN bool pp_init(void);	/* may block; false (errno ENOMEM) on failure, retried */

/* ---- alloc.c: the single-block calls --------------------------------- */
/* Initialise if @flags allow it (false, errno EAGAIN or ENOMEM). */
PP_HIDDEN bool pp_ready_for(unsigned flags);
/* pp_free_pages() naming @fn; the start of a shim run is freed whole. */
PP_HIDDEN void pp_free_block(const char *fn, void *p, unsigned order);
/* A bulk free's entry: a run's start (true: validated whole, and freed
 * whole if @free), a plain page (false), or a report and abort. */
PP_HIDDEN bool pp_free_check_slow(const char *fn, void *p, bool free);

/* ---- prefill.c: pp_thread_prefill()'s guarantee ----------------------- */
PP_HIDDEN bool pp_prefill_spoken_for(void);	/* for pp_reserve_alloc() */

/*
 * ---- exact.c: runs of an exact number of pages (the shim's malloc) ----
 * A run is cut into aligned buddy blocks from its start; its first page's
 * descriptor holds the page count (span).  @fn names the caller in
 * messages.  pp_exact_run_slow() is alloc.c's one call up.
 */
#define PP_EXACT_MAX	((size_t)1 << PP_MAX_ORDER)	/* pages in the longest run */
PP_HIDDEN void *pp_exact_alloc(size_t npages, unsigned align_order, unsigned flags);
PP_HIDDEN size_t pp_exact_pages(const char *fn, const void *p);
PP_HIDDEN void pp_exact_free(const char *fn, void *p);
PP_HIDDEN size_t pp_exact_run_slow(const char *fn, void *p, bool free);
PP_HIDDEN void pp_exact_shrink(const char *fn, void *p, size_t npages);
PP_HIDDEN bool pp_exact_grow(const char *fn, void *p, size_t npages);

#endif /* PP_INTERNAL_H */
