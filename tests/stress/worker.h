/* SPDX-License-Identifier: MIT */
/*
 * worker.h - what pp-stress's main thread (pp-stress.c) and its workers
 * (worker.c) share: the run's options, the worker record and its counts,
 * the hand-over queue, the quiet-point rendezvous, the reserve slots and
 * the flags-0 reserve waiter that the main thread rescues at a limit.
 * The shared state is defined in worker.c.
 */
#ifndef PP_STRESS_WORKER_H
#define PP_STRESS_WORKER_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "../testutil.h"
#include "stress.h"

#define MAXT		16	/* worker slots */
#define MAXB		256	/* blocks a worker holds */
#define NRES		4	/* reserve slots */
#define SIGSTASH	8	/* pages the signal handler keeps per thread */
#define BULKN		32	/* slots of a bulk call */
#define RESCUE		16	/* main's pages for a reserve waiter at the cap */
#define WAIT_S		60	/* a fork child, a quiet point: then it is a hang */
#define QCAP		(MAXT * MAXB)	/* blocks the hand-over queue holds */

enum op {
	OP_TRY, OP_NOWAIT, OP_PAGE0, OP_PAGES, OP_BULK, OP_FREE, OP_BULK_FREE, OP_DRAIN,
	OP_TRIM, OP_STATS, OP_ORDER, OP_VERIFY, OP_GIVE, OP_TAKE, OP_STASH, OP_PREFILL, OP_RES_CREATE,
	OP_RES_DESTROY, OP_RES_RESIZE, OP_RES_ALLOC, OP_RES_FREE, OP_FORK, OP_EXIT, OP_N
};

struct counts {
	uint64_t ops[OP_N];
	uint64_t eagain, enomem, pages_in, forks, exits, sigs, sig_pages, sig_null;
};

enum { W_EMPTY, W_RUNNING, W_EXITING, W_DONE };

struct worker {
	pthread_t thr;
	unsigned slot, incarnation;
	_Atomic int state;
	uint64_t rng, sig_rng;
	uint32_t gen;
	struct blk held[MAXB];
	size_t nheld, held_pages;
	/* The signal handler's pages: touched by the handler, and by the owner
	 * with the signal blocked. */
	struct blk sig[SIGSTASH];
	volatile unsigned nsig;
	volatile sig_atomic_t exiting;
	bool parked;		/* at a quiet point: under qp_lock */
	_Atomic uint64_t nops;
	struct counts c;
};

struct st_opts {
	unsigned threads, seeds;
	double seconds;
	uint64_t ops;		/* 0: by time only */
	bool seed_given, fork, signals, reserves;
	unsigned fork_ms;	/* at most one fork per this many ms */
	const char *conf;	/* given: instead of a random one */
};
extern struct st_opts opt;

extern unsigned weight[OP_N], weight_sum;	/* this seed's mix */
extern size_t max_pages;			/* a worker holds at most */
extern struct worker workers[MAXT];
extern atomic_bool stop;

/* Blocks handed to another thread: a mutex, never taken in a fork child. */
extern pthread_mutex_t q_lock;
extern struct blk *queue;
extern size_t q_len, q_pages;

/* Quiet points: workers park (struct worker's parked) under qp_lock until qp_gen moves. */
extern pthread_mutex_t qp_lock;
extern pthread_cond_t qp_cv;
extern atomic_bool qp_want;
extern unsigned qp_gen;

/* Reserves: state EMPTY, BUSY (being created or destroyed) or its users (>= 0). */
#define R_EMPTY	(-2)
#define R_BUSY	(-1)
struct res_slot {
	_Atomic int state;
	struct pp_reserve *r;
};
extern struct res_slot res[NRES];

/* One flags-0 pp_reserve_alloc() at a limit at a time; main rescues it. */
extern _Atomic int waiter;		/* its reserve slot, or -1 */
extern _Atomic uint64_t waiter_since;	/* ms */
extern _Atomic size_t rescue_left;	/* main's rescue pages */

extern sigset_t alrm_set;

static inline uint64_t now_ms(void)
{
	return (uint64_t)(now_sec() * 1000);
}

static inline void sig_block(bool block)
{
	pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &alrm_set, NULL);
}

/* A user's reference to reserve slot @i, if it is live. */
static inline bool res_get(unsigned i)
{
	int v = atomic_load(&res[i].state);

	while (v >= 0)
		if (atomic_compare_exchange_weak(&res[i].state, &v, v + 1))
			return true;
	return false;
}

static inline void res_put(unsigned i)
{
	atomic_fetch_sub(&res[i].state, 1);
}

/* A mode (PP_TRY, PP_NOWAIT or 0; PP_TRY only if @try_ok), PP_ZERO at times. */
static inline unsigned rand_flags(uint64_t *rs, bool try_ok)
{
	static const unsigned modes[] = { PP_TRY, PP_NOWAIT, 0 };
	unsigned f = modes[try_ok ? st_below(rs, 3) : 1 + st_below(rs, 2)];

	return st_below(rs, 6) == 0 ? f | PP_ZERO : f;
}

/* An order: 0-3 mostly, 4-7 at times, 8-10 rarely. */
static inline unsigned rand_order(uint64_t *rs)
{
	uint64_t x = st_below(rs, 100);

	return x < 70 ? (unsigned)(x % 4) : x < 96 ? 4 + (unsigned)(x % 4) : 8 + (unsigned)(x % 3);
}

/* worker.c */
void null_ok(struct counts *c, const char *call, unsigned flags, int err);
struct blk drop(struct worker *w, size_t i, const char *who);
void free_blk(uint64_t *rs, const struct blk *b);
void on_alarm(int sig);
void *worker_main(void *arg);

/* child.c: the child of a fork() from worker @w. */
void fork_child(struct worker *w) __attribute__((noreturn));

#endif /* PP_STRESS_WORKER_H */
