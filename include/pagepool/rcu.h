/* SPDX-License-Identifier: MIT */
/*
 * pagepool/rcu.h - deferred free after an RCU grace period (libpagepool-rcu).
 *
 * kfree_rcu() for userspace, on liburcu.  A pointer handed to pp_rcu_free()
 * or pp_rcu_free_head() is freed only after a grace period of the flavour
 * given to pp_rcu_init(): no reader that could have seen it is still inside a
 * read-side critical section.  The pointer may be a block from the pool (any
 * order: the order comes from the page descriptor) or memory from the C
 * library heap (the malloc family); the pool's range check tells which.
 *
 * How: each thread collects pointers in page-sized blocks (one pool page: a
 * small header and about 500 pointers).  A full block gets one call_rcu()
 * (or, while its thread has rcu_inflight bytes of pool pages waiting for
 * liburcu's callbacks, goes to the helper thread, which waits for grace
 * periods back to back); after its grace period its pool pages go back in
 * bulk and its heap pointers to free().  A few empty blocks are kept per thread, so the common case
 * allocates nothing; the block's own thread frees its pointers, one per
 * call (into its own caches, on top), or a helper thread does if it has
 * gone quiet.  A partly filled block is handed on at rcu_delay_ms / 2
 * (PAGEPOOL_CONF, default 1000 ms), by the helper thread (made on first
 * need), and at once when its thread exits: every pointer is freed within
 * rcu_delay_ms as long as a grace period takes less than half of it.
 *
 * When no block can be had without blocking (the pool is at its cap, or
 * rcu_blocks=0), pp_rcu_free_head() queues the object through its embedded
 * rcu_head, and pp_rcu_free() tries a blocking pool allocation, then waits
 * for a grace period and frees at once.  pp_rcu_free() may also wait for a
 * grace period to help the helper thread past rcu_inflight (see below).
 *
 * Threads that call pp_rcu_free() and pp_rcu_free_head() must be registered
 * with the flavour, as liburcu's call_rcu() requires.  With urcu-qsbr,
 * read_ongoing() is true whenever the thread is online, so a call that has to
 * wait must come from an offline thread (see pp_rcu_free()).
 * Build with `pkg-config --cflags --libs pagepool-rcu`: -lpagepool-rcu,
 * -lpagepool and liburcu's default flavour, urcu-memb (-lurcu); readers of
 * another flavour need that flavour's library too (-lurcu-qsbr, ...).
 */
#ifndef PAGEPOOL_RCU_H
#define PAGEPOOL_RCU_H

/*
 * Nothing of liburcu is included here (its <urcu/flavor.h> must come after a
 * flavour's header, which maps the names): include your flavour's header,
 * e.g. <urcu/urcu-memb.h>, before or after this one.
 */
struct rcu_flavor_struct;
struct rcu_head;

#include <stddef.h>
#include <stdint.h>

#include <pagepool.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * pp_rcu_init() - say which RCU flavour the application's readers use.
 * @flavor: e.g. &urcu_memb_flavor or &urcu_qsbr_flavor.
 *
 * Must be called before the first pp_rcu_free(); initialises the pool (so
 * options are fixed from here on).  Calling it again with the same flavour
 * returns 0 and changes nothing.
 *
 * Context: may block; makes system calls; not async-signal-safe.
 * Return: 0; or -1 with errno EINVAL (@flavor is NULL or lacks an entry
 * point), EBUSY (already initialised with another flavour), ENOMEM (the
 * pool cannot initialise) or EAGAIN (no thread-exit key), with a message
 * on stderr.
 */
PP_API int pp_rcu_init(const struct rcu_flavor_struct *flavor);

/**
 * pp_rcu_free() - free @ptr after a grace period (single-argument form).
 * @ptr: a block from the pool (its first page) or a pointer from the malloc
 *       family; NULL does nothing.
 *
 * Queues @ptr in this thread's block.  When no block can be had without
 * blocking, it allocates one from the pool (may block) and, failing that,
 * waits for a grace period and frees @ptr before returning.
 *
 * Context: the common case takes no lock, makes no system call and no
 * atomic read-modify-write, and frees one pointer of an expired block of
 * this thread (free() or a pool free); once per ~500 pointers it hands a
 * block to call_rcu() (past rcu_inflight bytes of pool pages waiting for
 * callbacks, to pagepool's helper thread instead) and may free what remains
 * of an expired block.  When the helper thread is 32 blocks behind, a call
 * outside a read-side critical section waits for one grace period to do
 * its work (inside one it leaves it to the helper).  May block and wait for
 * a grace period when no block can be had, so it must then not be called
 * inside a read-side critical section (flavor->read_ongoing(); with
 * urcu-qsbr: while online): that misuse is reported on stderr naming the
 * call, and aborts, instead of deadlocking.  Not async-signal-safe.  A pool pointer that is not the first
 * page of an allocated block is reported and aborts.
 */
PP_API void pp_rcu_free(void *ptr);

/**
 * pp_rcu_free_head() - free @ptr after a grace period (two-argument form).
 * @ptr: as for pp_rcu_free(); NULL does nothing.
 * @head: an rcu_head inside *@ptr's object, for pagepool's use until the
 *        object is freed.
 *
 * Like pp_rcu_free(), but when no block can be had the object is queued
 * through @head instead of waiting.
 *
 * Context: never waits for a grace period, so it may be called inside a
 * read-side critical section; takes pool pages with PP_NOWAIT only.  The
 * first call on a thread makes its small state (calloc, the registry
 * lock), and the first call in a process (or a fork child) that has work
 * for the helper thread starts it.  Like pp_rcu_free() it frees one pointer
 * of an expired block per call, and up to ~500 once per ~500 calls.  Not
 * async-signal-safe.  @head outside a pool block, or before
 * @ptr, is reported and aborts.
 */
PP_API void pp_rcu_free_head(void *ptr, struct rcu_head *head);

/**
 * pp_rcu_barrier() - wait until everything queued so far has been freed.
 *
 * When it returns, every pointer queued by any thread before the call has
 * been freed (partly filled blocks of other threads included).
 *
 * Context: blocks for at least one grace period; must not be called inside a
 * read-side critical section (reported, and aborts) nor from an RCU callback.
 * With urcu-qsbr an online caller is taken offline while it waits, as
 * liburcu's own rcu_barrier() does.  Not async-signal-safe.
 */
PP_API void pp_rcu_barrier(void);

/*
 * struct pp_rcu_stats - what waits for grace periods.  Fields may be added
 * at the end; pass sizeof to pp_rcu_stats().
 */
struct pp_rcu_stats {
	size_t waiting_blocks;	/* blocks of queued pointers not yet past their grace period */
	size_t waiting_bytes;	/* their pool pages and the blocks' own */
	uint64_t pending_ms;	/* how long the current wait has lasted; 0: nothing waits */
	size_t stalls;		/* waits found past rcu_stall_ms or rcu_stall_bytes */
};

/**
 * pp_rcu_stats() - copy a snapshot of what waits for grace periods.
 * @out: where to write.
 * @out_size: sizeof(*out) as the caller knows it; at most that much is copied.
 *
 * A grace period cannot end while a reader stays in a read-side critical
 * section (with urcu-qsbr: a thread online without rcu_quiescent_state()).
 * Then what waits grows with every call: each thread's share in
 * call_rcu() is bounded by rcu_inflight, but blocks past it wait for the
 * helper thread, without bound, and a pp_rcu_free() caller that helps it
 * waits for the reader.  When the current wait passes rcu_stall_ms
 * (default 21000; 0: never) or the memory waiting passes rcu_stall_bytes
 * (default 1G; 0: never), the library says so once per process on stderr,
 * naming the flavour, how long and how much, and counts the wait in
 * @stalls.  Heap objects queued are not counted in @waiting_bytes.
 *
 * Context: any thread, before pp_rcu_init() too (all zero); no lock, no
 * system call; async-signal-safe.
 */
PP_API void pp_rcu_stats(struct pp_rcu_stats *out, size_t out_size);

#ifdef __cplusplus
}
#endif

#endif /* PAGEPOOL_RCU_H */
