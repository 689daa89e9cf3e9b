/* SPDX-License-Identifier: MIT */
/*
 * rcu-internal.h - private structures of libpagepool-rcu and its hot path.
 *
 * Owns: the block layout, the per-thread state, the global state, and the
 * inline helpers the entry points in free.c are built from.
 *
 * A thread's current block (ppr_thread.cur) belongs to its thread while the
 * thread is inside a pp_rcu_free*() call (ppr_thread.busy).  Anyone else
 * (the monitor handing on an aged block, pp_rcu_barrier()) takes it by
 * raising ppr_thread.steal, issuing an asymmetric fence (membarrier(2),
 * fence.c), then waiting until busy is clear: the owner, which checks steal
 * after raising busy, either is seen busy or sees steal and waits.  So the
 * owner's common path has no atomic read-modify-write and no fence - which
 * matters: a locked instruction right after the caller's writes to a freshly
 * allocated (often cold) object stalls until those writes complete, ~50 ns
 * per object measured.  Where membarrier(2) is unavailable the owner's store
 * is sequentially consistent instead (both sides' flags are always stored
 * and loaded sequentially consistent by the taker).  (A fork child, the only thread left, uses plain
 * accesses.)
 *
 * Atomics and attributes: libpagepool's compiler.h, so that the two
 * libraries spell them alike and ThreadSanitizer sees every access.
 */
#ifndef PPR_INTERNAL_H
#define PPR_INTERNAL_H

#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <urcu/arch.h>	/* caa_cpu_relax() */
#include <urcu/call-rcu.h>	/* struct rcu_head */
#include <urcu/flavor.h>
#include <urcu/list.h>

#include "pagepool/rcu.h"
#include "compiler.h"

/*
 * struct ppr_block - one pool page of queued pointers.
 * @head: the one call_rcu() of the block.
 * @next: link on the hand-off, returned and spare lists.
 * @owner: the thread state that gets the block back once it is emptied.
 * @count: pointers in @ptrs.
 * @pages: pool pages those pointers hold (heap objects count 0).
 * @sealed: written with release before call_rcu(), read with acquire by the
 *          callback: the hand-over is visible to ThreadSanitizer, which
 *          cannot see liburcu's own (inline assembly) ordering.
 */
struct ppr_block {
	struct rcu_head head;
	struct ppr_block *next;
	struct ppr_thread *owner;
	uint32_t count;
	uint32_t sealed;
	uint32_t pages;
	void *ptrs[];
};

/* The value of ppr_thread.cur when the thread has no partly filled block. */
extern struct ppr_block ppr_empty_block PP_HIDDEN;
#define PPR_EMPTY (&ppr_empty_block)

/*
 * struct ppr_thread - one thread's queueing state.  Never freed: a state
 * whose thread exited is reused by a later thread, so blocks in flight can
 * always find their owner's @returned list.
 */
struct ppr_thread {
	struct ppr_block *cur;		/* PPR_EMPTY or a partly filled block */
	unsigned busy;			/* the owner is in a call: cur is its own */
	unsigned steal;			/* someone waits to take cur */
	uint64_t cur_birth;		/* ms when cur got its first pointer */
	struct ppr_block *expired;	/* grace period over, pointers to free (push / take-all) */
	struct ppr_block *drain;	/* owner's: expired blocks it frees one pointer per call */
	uint64_t drain_at;		/* ms when drain was taken from expired */
	struct ppr_block *returned;	/* emptied blocks (push / take-all) */
	size_t nreturned;		/* blocks on it, at most rcu_spares */
	struct ppr_block *spare;	/* owner only: empty blocks ready */
	size_t nspare;
	long inflight;			/* pool pages in its blocks awaiting callbacks (atomic) */
	bool alive;			/* a live thread owns it: blocks may come back */
	bool reusable;			/* its thread's exit is over: a new one may take it */
	uint64_t expired_at;		/* ms when expired last became non-empty */
	struct cds_list_head link;	/* ppr.threads, under ppr.lock */
};

/* Fallback objects queued through their own rcu_head: link and pointer. */
struct ppr_hnode {
	struct rcu_head *next;
	void *ptr;
};

struct ppr_global {
	const struct rcu_flavor_struct *flavor;	/* set once by pp_rcu_init() */
	size_t cap;			/* pointers per block */
	uint64_t delay_ms;		/* rcu_delay_ms */
	size_t spares;			/* rcu_spares */
	bool blocks;			/* rcu_blocks */
	long inflight_max;		/* rcu_inflight, in pages; 0: no limit */
	size_t handed;			/* full blocks handed to the monitor since it last took them */

	pthread_mutex_t lock;		/* the registry */
	pthread_mutex_t start_lock;	/* starting the monitor */
	struct cds_list_head threads;
	pthread_key_t key;		/* thread-exit destructor */

	bool monitor_running;		/* atomic */
	bool monitor_idle;		/* in its untimed wait: new blocks must wake it */
	sem_t wake;			/* posted when the monitor has work */
	pthread_mutex_t work;		/* held while taken work is being freed */
	size_t partials;		/* partly filled blocks in ppr_thread.cur */
	size_t expired;			/* blocks on the threads' expired lists */
	size_t reclaiming;		/* callbacks freeing an exited owner's expired blocks */
	struct ppr_block *handoff;	/* blocks for the monitor (push / take-all) */
	struct rcu_head *heads;		/* fallback objects (push / take-all) */
	bool membarrier;		/* fence.c: asymmetric fences available */

	/* stall.c: waiting for grace periods (atomic) */
	long gp_blocks;			/* blocks queued for one, not yet past it */
	long gp_pages;			/* their pool pages and their own */
	uint64_t gp_since;		/* ms: the current wait began (or one ended) */
	uint64_t sync_since;		/* ms: a watched synchronize_rcu() began; 0: none */
	char flavor_name[48];		/* for the message (ppr_stall_init()) */
	size_t stalls;			/* waits found past rcu_stall_ms or _bytes */
	bool stalled;			/* the stall now is counted (stall.c) */
	bool stall_said;		/* the message is out (once per process) */
	uint64_t stall_ms;		/* rcu_stall_ms; 0: never */
	size_t stall_bytes;		/* rcu_stall_bytes; 0: never */
};

extern struct ppr_global ppr PP_HIDDEN;
extern __thread struct ppr_thread *ppr_self PP_HIDDEN
	__attribute__((tls_model("initial-exec")));
extern __thread bool ppr_exited PP_HIDDEN
	__attribute__((tls_model("initial-exec")));

/*
 * Lock-free push onto a take-all list: @link is the node's next field.
 * Sequentially consistent, so that a check made after the push (the owner's
 * liveness in ppr_block_put()) is ordered after it.
 */
#define ppr_push(headp, node, link)						\
	do {									\
		__typeof__(*(headp)) old_ = load_relaxed(headp);			\
		do									\
			(node)->link = old_;					\
		while (!__atomic_compare_exchange_n((headp), &old_, (node), true,	\
						    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)); \
	} while (0)

/* monitor.c: a short sleep for a wait on another thread */
PP_HIDDEN void ppr_pause_briefly(void);

/* fence.c */
PP_HIDDEN void ppr_fence_init(void);
PP_HIDDEN void ppr_fence_others(void);
PP_HIDDEN void ppr_mark_steal(struct ppr_thread *t);
PP_HIDDEN bool ppr_is_busy(struct ppr_thread *t);

/*
 * The owner's side of the hand-over protocol (see the file comment): enter
 * and leave owning @t->cur.  No read-modify-write, no fence with membarrier.
 */
static inline void ppr_own(struct ppr_thread *t)
{
	for (;;) {
		if (unlikely(!ppr.membarrier))
			__atomic_store_n(&t->busy, 1, __ATOMIC_SEQ_CST);
		else
			store_relaxed(&t->busy, 1), __atomic_signal_fence(__ATOMIC_SEQ_CST);
		if (likely(!__atomic_load_n(&t->steal, __ATOMIC_SEQ_CST)))
			return;
		store_release(&t->busy, 0);
		for (unsigned spins = 0; load_acquire(&t->steal); spins++)
			if (spins < 1000)
				caa_cpu_relax();
			else		/* let a preempted taker run (SCHED_FIFO) */
				ppr_pause_briefly();
	}
}

static inline void ppr_unown(struct ppr_thread *t)
{
	store_release(&t->busy, 0);
}

/* init.c */
PP_HIDDEN void ppr_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
PP_HIDDEN const char *ppr_errname(int err);
PP_HIDDEN PP_NORETURN void ppr_die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
PP_HIDDEN PP_NORETURN void ppr_not_init_slow(const char *fn);
PP_HIDDEN uint64_t ppr_now_ms(void);

/* Every entry point first: pp_rcu_init() has been called (it dies if not). */
static inline void ppr_check_init(const char *fn)
{
	if (unlikely(!load_acquire(&ppr.flavor)))
		ppr_not_init_slow(fn);
}

/* thread.c */
PP_HIDDEN struct ppr_thread *ppr_thread_slow(void);
PP_HIDDEN struct ppr_block *ppr_block_get_slow(struct ppr_thread *t, unsigned flags);
PP_HIDDEN void ppr_block_put(struct ppr_block *b);
PP_HIDDEN bool ppr_block_expire(struct ppr_block *b);
PP_HIDDEN struct ppr_block *ppr_take_expired(struct ppr_thread *t);
PP_HIDDEN void ppr_keep_spare(struct ppr_thread *t, struct ppr_block *b);
PP_HIDDEN void ppr_thread_exit(void *arg);
PP_HIDDEN void ppr_threads_atfork_child(void);

/* reclaim.c: freeing after the grace period */
PP_HIDDEN void ppr_free_now(const char *fn, void *ptr);
PP_HIDDEN void ppr_reclaim_contents(struct ppr_block *b);
PP_HIDDEN void ppr_reclaim_block(struct ppr_block *b);
PP_HIDDEN void ppr_reclaim_list(struct ppr_block *b);
PP_HIDDEN void ppr_drain_one(struct ppr_thread *t);
PP_HIDDEN void ppr_reclaim_heads(struct rcu_head *h);
PP_HIDDEN bool ppr_seal(struct ppr_thread *t, struct ppr_block *b);
/* Full blocks waiting for the monitor beyond which a caller that may wait helps. */
#define PPR_HELP_BLOCKS	32

/* monitor.c */
PP_HIDDEN void ppr_monitor_kick(void);
PP_HIDDEN void ppr_monitor_kick_if_idle(void);
PP_HIDDEN int ppr_monitor_start(void);
PP_HIDDEN void ppr_monitor_atfork_child(void);
PP_HIDDEN void ppr_flush_all_locked(bool force, uint64_t *next);
PP_HIDDEN void ppr_help_slow(void);

/* stall.c */
PP_HIDDEN void ppr_gp_queued(const struct ppr_block *b, bool check);
PP_HIDDEN void ppr_gp_passed(const struct ppr_block *b);
PP_HIDDEN void ppr_stall_check(uint64_t now);
PP_HIDDEN void ppr_synchronize(void);
PP_HIDDEN void ppr_stall_atfork_child(void);
PP_HIDDEN void ppr_stall_init(const struct rcu_flavor_struct *f);

/* barrier.c */
PP_HIDDEN bool ppr_wait_enter(const char *fn, const void *ptr);
PP_HIDDEN bool ppr_may_wait(void);
PP_HIDDEN void ppr_wait_leave(bool was_online);

#endif /* PPR_INTERNAL_H */
