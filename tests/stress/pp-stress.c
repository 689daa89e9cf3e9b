/* SPDX-License-Identifier: MIT */
/*
 * pp-stress.c - a seeded randomised stress program checked against a model
 * (model.c): worker threads mix every allocation and free path of the pool
 * (PP_TRY, PP_NOWAIT, flags 0, orders 0-10, PP_ZERO, bulk with pre-filled
 * slots, bulk free with NULLs, drain, trim, reserves created, resized, used
 * and destroyed, frees on another thread, threads that exit holding pages
 * and new ones, fork() from the threaded process with the child allocating
 * and checking its own ledger) while a timer signal's handler takes pages
 * with the try path and frees them.  Every page carries a pattern checked
 * when it is freed, a bitmap catches a page handed out twice, and at quiet
 * points (every worker parked, the signal blocked) the ledger, the audit
 * and the model must agree.
 *
 * Owns: the options, the pool's random configuration, the workers and
 * their operations, the signal handler, the fork child, the main thread's
 * quiet points, and running several seeds (one child process each: a
 * fresh pool).  Each thread's PRNG comes from the seed, its slot and its
 * incarnation, so the sequence of choices each thread makes is given by the
 * seed; what they meet (the interleaving, what the signal interrupts)
 * is not, so a seed reproduces the mix, not the run.
 *
 * The parts of the program only it reads: a failure prints "pp-stress:
 * FAILED seed=N: what" and exits non-zero (model.c's st_fail()).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <getopt.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/time.h>

#include "../testutil.h"
#include "stress.h"

#define MAXT		16	/* worker slots */
#define MAXB		256	/* blocks a worker holds */
#define NRES		4	/* reserve slots */
#define SIGSTASH	8	/* pages the signal handler keeps per thread */
#define BULKN		32
#define RESCUE		16	/* main's pages for a reserve waiter at the cap */
#define WAIT_S		60	/* a fork child, a quiet point: then it is a hang */

enum op {
	OP_TRY, OP_NOWAIT, OP_PAGE0, OP_PAGES, OP_BULK, OP_FREE, OP_BULK_FREE, OP_DRAIN,
	OP_TRIM, OP_STATS, OP_ORDER, OP_VERIFY, OP_GIVE, OP_TAKE, OP_STASH, OP_RES_CREATE,
	OP_RES_DESTROY, OP_RES_RESIZE, OP_RES_ALLOC, OP_RES_FREE, OP_FORK, OP_EXIT, OP_N
};
static const char *const op_name[OP_N] = {
	"try", "nowait", "page0", "pages", "bulk", "free", "bulkfree", "drain", "trim",
	"stats", "order", "verify", "give", "take", "stash", "rcreate", "rdestroy",
	"rresize", "ralloc", "rfree", "fork", "exit",
};
/* Base weights; each seed scales them (rare ones stay rare). */
static const unsigned base_weight[OP_N] = {
	60, 60, 60, 60, 25, 220, 25, 3, 1, 2, 10, 10, 15, 15, 5, 2, 2, 4, 30, 25, 1, 1,
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
	_Atomic uint64_t nops;
	struct counts c;
};

/* ---- the run's settings and shared state --------------------------------- */

static struct {
	unsigned threads, seeds;
	double seconds;
	uint64_t ops;		/* 0: by time only */
	bool seed_given, fork, signals, reserves, quiet_log;
	unsigned fork_ms;	/* at most one fork per this many ms */
	const char *conf;	/* given: instead of a random one */
} opt = { 4, 1, 10, 0, false, true, true, true, false, 20, NULL };

static unsigned weight[OP_N], weight_sum;
static size_t max_pages;		/* per worker */
static unsigned timer_us;
static double t_end;
static char conf_str[256];

static struct worker workers[MAXT];
static __thread struct worker *self;
static atomic_bool stop;
static struct counts retired;		/* workers joined so far */

/* Blocks handed to another thread: a mutex, never taken in a fork child. */
static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static struct blk *queue;
static size_t q_len;

/* Quiet points. */
static pthread_mutex_t qp_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qp_cv = PTHREAD_COND_INITIALIZER;
static atomic_bool qp_want;
static unsigned qp_gen, qp_parked;

/* Reserves: state EMPTY, BUSY (created or destroyed now) or its users (>= 0). */
#define R_EMPTY	(-2)
#define R_BUSY	(-1)
static struct {
	_Atomic int state;
	struct pp_reserve *r;
} res[NRES];
static _Atomic int waiter = -1;		/* the reserve a flags-0 waiter waits on */
static _Atomic uint64_t waiter_since;	/* ms */
static struct blk rescue[RESCUE];
static size_t nrescue;
static atomic_bool fork_busy;
static _Atomic uint64_t fork_last;

static sigset_t alrm_set;

static uint64_t now_ms(void)
{
	return (uint64_t)(now_sec() * 1000);
}

static void sig_block(bool block)
{
	pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &alrm_set, NULL);
}

/* ---- the reserve slots ----------------------------------------------------- */

static bool res_get(unsigned i)
{
	int v = atomic_load(&res[i].state);

	while (v >= 0)
		if (atomic_compare_exchange_weak(&res[i].state, &v, v + 1))
			return true;
	return false;
}

static void res_put(unsigned i)
{
	atomic_fetch_sub(&res[i].state, 1);
}

/* ---- allocation results -------------------------------------------------- */

/* A NULL from @call with @flags: only EAGAIN (TRY, NOWAIT) or ENOMEM (0, limited). */
static void null_ok(struct counts *c, const char *call, unsigned flags, int err)
{
	if (flags & (PP_TRY | PP_NOWAIT)) {
		if (err != EAGAIN)
			st_fail("%s flags %#x: NULL with errno %d, want EAGAIN", call, flags, err);
		c->eagain++;
	} else {
		if (err != ENOMEM || !st_limited)
			st_fail("%s flags %#x: NULL with errno %d (%s)", call, flags, err,
				st_limited ? "want ENOMEM" : "no cap: must not fail");
		c->enomem++;
	}
}

static unsigned rand_flags(uint64_t *rs, bool try_ok)
{
	static const unsigned modes[] = { PP_TRY, PP_NOWAIT, 0 };
	unsigned f = modes[try_ok ? st_below(rs, 3) : 1 + st_below(rs, 2)];

	return st_below(rs, 6) == 0 ? f | PP_ZERO : f;
}

static unsigned rand_order(uint64_t *rs)
{
	uint64_t x = st_below(rs, 100);

	return x < 70 ? (unsigned)(x % 4) : x < 96 ? 4 + (unsigned)(x % 4) : 8 + (unsigned)(x % 3);
}

static bool room(const struct worker *w, unsigned order)
{
	return w->nheld < MAXB && w->held_pages + ((size_t)1 << order) <= max_pages;
}

/* Record a new block in @w's hands. */
static void keep(struct worker *w, void *p, unsigned order, unsigned flags, const char *who)
{
	struct blk *b = &w->held[w->nheld];

	st_take(b, p, order, flags, ++w->gen, st_below(&w->rng, 16) == 0, who);
	w->nheld++;
	w->held_pages += (size_t)1 << order;
	w->c.pages_in += (size_t)1 << order;
}

/* Take block @i out of @w's hands, checked and unmarked: the caller frees it. */
static struct blk drop(struct worker *w, size_t i, const char *who)
{
	struct blk b = w->held[i];

	st_give(&b, st_below(&w->rng, 8) == 0, who);
	w->held[i] = w->held[--w->nheld];
	w->held_pages -= (size_t)1 << b.order;
	return b;
}

/* An index of an order-0 block in @w's hands, or -1. */
static long pick_page(struct worker *w)
{
	if (!w->nheld)
		return -1;
	for (unsigned t = 0; t < 8; t++) {
		size_t i = st_below(&w->rng, w->nheld);

		if (w->held[i].order == 0)
			return (long)i;
	}
	return -1;
}

/* Free @b by one of the paths that take its order. */
static void free_blk(uint64_t *rs, const struct blk *b)
{
	switch (st_below(rs, 3)) {
	case 0:
		if (b->order == 0) {
			pp_free_page(b->p);
			break;
		}
		/* fall through */
	case 1:
		pp_free_pages(b->p, b->order);
		break;
	default:
		if (b->order == 0) {
			void *v[3] = { NULL, b->p, NULL };

			pp_free_pages_bulk(3, v);
		} else {
			pp_free_pages(b->p, b->order);
		}
	}
}

/* ---- the signal handler ------------------------------------------------------ */

static void sig_free(struct worker *w, const struct blk *b)
{
	st_give(b, false, "signal handler free");
	free_blk(&w->sig_rng, b);
}

static void on_alarm(int sig)
{
	struct worker *w = self;
	int saved = errno;
	unsigned flags = 0, order = 0;
	void *p;

	(void)sig;
	if (!w)
		return;
	w->c.sigs++;
	switch (st_below(&w->sig_rng, 4)) {
	case 0:
		p = pp_alloc_page_try();
		flags = PP_TRY;
		break;
	case 1:
		order = (unsigned)st_below(&w->sig_rng, PP_CACHE_ORDERS);
		flags = PP_TRY | (st_below(&w->sig_rng, 4) ? 0 : PP_ZERO);
		p = pp_alloc_pages(order, flags);
		break;
	case 2:
		flags = PP_NOWAIT;
		p = pp_alloc_page(flags);
		break;
	default:
		p = pp_alloc_page_try();
		flags = PP_TRY;
	}
	if (!p) {
		if (errno != EAGAIN)
			st_fail("signal handler: flags %#x order %u: NULL with errno %d", flags,
				order, errno);
		w->c.sig_null++;
	} else {
		struct blk b;

		st_take(&b, p, order, flags, ++w->gen | 0x80000000u, false, "signal handler");
		w->c.sig_pages += (size_t)1 << order;
		if (w->exiting || w->nsig == SIGSTASH || st_below(&w->sig_rng, 2))
			sig_free(w, &b);
		else
			w->sig[w->nsig++] = b;
	}
	if (w->nsig && st_below(&w->sig_rng, 4) == 0)
		sig_free(w, &w->sig[--w->nsig]);
	errno = saved;
}

/* The handler's pages into the owner's hands (or freed if no room). */
static void take_stash(struct worker *w)
{
	sig_block(true);
	while (w->nsig) {
		struct blk b = w->sig[--w->nsig];

		if (w->nheld < MAXB) {
			w->held[w->nheld++] = b;
			w->held_pages += (size_t)1 << b.order;
		} else {
			st_give(&b, false, "stash free");
			pp_free_pages(b.p, b.order);
		}
	}
	sig_block(false);
}

/* ---- the fork child ------------------------------------------------------------ */

static void child_ledger(const char *when)
{
	char why[256];

	if (!conservation_ok(why, sizeof(why)))
		st_fail("fork child, %s: ledger: %s", when, why);
}

/* The child of a fork from worker @w: only this thread exists now. */
static __attribute__((noreturn)) void fork_child(struct worker *w)
{
	struct blk mine[48];
	size_t n = 0, pages = 0, out = 0, meta0[NRES] = { 0 };
	struct pp_stats s0, s;
	uint64_t *rs = &w->rng;
	struct pp_reserve *own;

	signal(SIGALRM, SIG_DFL);
	alarm(WAIT_S);
	child_ledger("at the fork");
	s0 = get_stats();
	for (size_t i = 0; i < w->nheld; i++)
		st_verify(&w->held[i], true, "fork child, the parent's block");
	/* Pages of its own: never one the lost threads held (the bitmap). */
	for (unsigned i = 0, k = 8 + (unsigned)st_below(rs, 24); i < k; i++) {
		unsigned order = st_below(rs, 3) ? (unsigned)st_below(rs, 4) : rand_order(rs);
		unsigned flags = rand_flags(rs, true);
		void *p;

		errno = 0;
		if (!(p = pp_alloc_pages(order, flags))) {
			null_ok(&w->c, "fork child: pp_alloc_pages", flags, errno);
			continue;
		}
		st_take(&mine[n++], p, order, flags, ++w->gen, st_below(rs, 4) == 0,
			"fork child pp_alloc_pages");
		pages += (size_t)1 << order;
	}
	if ((s = get_stats()).in_use != s0.in_use + pages)
		st_fail("fork child: in_use %zu after allocating %zu pages, was %zu",
			s.in_use, pages, s0.in_use);
	/* The reserves it inherited, as they are (no other thread now). */
	for (unsigned i = 0; i < NRES && opt.reserves; i++) {
		struct pp_reserve *r;

		if (atomic_load(&res[i].state) < 0)
			continue;
		r = res[i].r;
		meta0[i] = st_reserve_meta(r);
		for (unsigned k = 0; k < 4 && n < 48; k++) {
			unsigned flags = rand_flags(rs, true);
			void *p;

			if (st_limited && !(flags & (PP_TRY | PP_NOWAIT)))
				flags |= PP_NOWAIT;	/* no one would give a page back */
			errno = 0;
			if (!(p = pp_reserve_alloc(r, flags))) {
				null_ok(&w->c, "fork child: pp_reserve_alloc", flags, errno);
				continue;
			}
			st_take(&mine[n++], p, 0, flags, ++w->gen, false,
				"fork child pp_reserve_alloc");
			pages++;
		}
		if (st_below(rs, 2) && pp_reserve_resize(r, 1 + st_below(rs, 80)) != 0)
			null_ok(&w->c, "fork child: pp_reserve_resize", 0, errno);
	}
	/* A reserve of its own. */
	if (opt.reserves && (own = pp_reserve_create(1 + st_below(rs, 32))) != NULL) {
		void *v[8];
		unsigned k = 0;
		struct blk tmp[8];

		if (pp_reserve_resize(own, 1 + st_below(rs, 300)) != 0)
			null_ok(&w->c, "fork child: pp_reserve_resize(own)", 0, errno);
		while (k < 8 && (v[k] = pp_reserve_alloc(own, PP_NOWAIT)) != NULL) {
			st_take(&tmp[k], v[k], 0, 0, ++w->gen, false, "fork child own reserve");
			k++;
		}
		while (k) {
			st_give(&tmp[--k], true, "fork child own reserve");
			pp_reserve_free(own, v[k]);
		}
		pp_reserve_destroy(own);
	} else if (opt.reserves) {
		null_ok(&w->c, "fork child: pp_reserve_create", 0, errno);
	}
	/* Free its own and some of the parent's. */
	while (n) {
		struct blk b = mine[--n];

		st_give(&b, true, "fork child free");
		free_blk(rs, &b);
	}
	while (w->nheld && st_below(rs, 2)) {
		struct blk b = drop(w, w->nheld - 1, "fork child free (parent's)");

		out += (size_t)1 << b.order;
		free_blk(rs, &b);
	}
	for (unsigned i = 0; i < NRES && opt.reserves; i++)
		if (atomic_load(&res[i].state) >= 0)
			s0.in_use += st_reserve_meta(res[i].r) - meta0[i];
	if ((s = get_stats()).in_use != s0.in_use - out)
		st_fail("fork child: in_use %zu at the end, want %zu (%zu at the fork less "
			"%zu of the parent's pages freed)", s.in_use, s0.in_use - out,
			s0.in_use, out);
	child_ledger("at the end");
	_exit(0);
}

/* ---- the operations ------------------------------------------------------------ */

#define QCAP	(MAXT * MAXB)		/* blocks the hand-over queue holds */

static size_t q_pages;

static void op_free(struct worker *w)
{
	if (w->nheld) {
		struct blk b = drop(w, st_below(&w->rng, w->nheld), "free");

		free_blk(&w->rng, &b);
	}
}

static void op_alloc(struct worker *w, enum op op)
{
	uint64_t *rs = &w->rng;
	unsigned order = 0, flags;
	const char *call;
	void *p;

	switch (op) {
	case OP_TRY:
		flags = PP_TRY;
		call = "pp_alloc_page_try";
		break;
	case OP_NOWAIT:
		flags = PP_NOWAIT | (st_below(rs, 6) ? 0 : PP_ZERO);
		call = "pp_alloc_page(PP_NOWAIT)";
		break;
	case OP_PAGE0:
		flags = st_below(rs, 6) ? 0 : PP_ZERO;
		call = "pp_alloc_page(0)";
		break;
	default:
		order = rand_order(rs);
		flags = rand_flags(rs, true);
		call = "pp_alloc_pages";
	}
	if (!room(w, order)) {
		op_free(w);
		return;
	}
	errno = 0;
	if (op == OP_TRY)
		p = pp_alloc_page_try();
	else if (op == OP_PAGES)
		p = pp_alloc_pages(order, flags);
	else
		p = pp_alloc_page(flags);
	if (!p)
		null_ok(&w->c, call, flags, errno);
	else
		keep(w, p, order, flags, call);
}

static void op_bulk(struct worker *w)
{
	uint64_t *rs = &w->rng;
	size_t n = 1 + st_below(rs, BULKN), got, nn = 0, pre = 0;
	size_t fit = MAXB - w->nheld;
	void *v[BULKN], *orig[BULKN];
	unsigned flags = rand_flags(rs, true);
	bool prefill = w->nheld && st_below(rs, 3) == 0;

	if (max_pages - w->held_pages < fit)
		fit = max_pages - w->held_pages;
	if (n > fit)
		n = fit;
	if (!n) {
		op_free(w);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		v[i] = prefill && st_below(rs, 3) == 0 ? w->held[st_below(rs, w->nheld)].p : NULL;
		pre += v[i] != NULL;
	}
	memcpy(orig, v, sizeof(v[0]) * n);
	got = pp_alloc_pages_bulk(flags, n, v);
	for (size_t i = 0; i < n; i++) {
		if (orig[i] && v[i] != orig[i])
			st_fail("pp_alloc_pages_bulk(%#x, %zu): pre-filled slot %zu changed from "
				"%p to %p", flags, n, i, orig[i], v[i]);
		nn += v[i] != NULL;
		if (!pre && (i < got) != (v[i] != NULL))
			st_fail("pp_alloc_pages_bulk(%#x, %zu) returned %zu but slot %zu is %p: "
				"not a filled prefix", flags, n, got, i, v[i]);
	}
	if (got != nn)
		st_fail("pp_alloc_pages_bulk(%#x, %zu) returned %zu, %zu slots are filled",
			flags, n, got, nn);
	if (got == pre)
		w->c.eagain++;	/* none filled: allowed, counted */
	for (size_t i = 0; i < n; i++)
		if (!orig[i] && v[i])
			keep(w, v[i], 0, flags, "pp_alloc_pages_bulk");
}

static void op_bulk_free(struct worker *w)
{
	uint64_t *rs = &w->rng;
	void *v[2 * BULKN];
	size_t n = 0, want = 1 + st_below(rs, BULKN);

	for (size_t i = w->nheld; i-- > 0 && want;) {
		if (w->held[i].order != 0 || st_below(rs, 2))
			continue;
		if (st_below(rs, 3) == 0)
			v[n++] = NULL;
		v[n++] = drop(w, i, "pp_free_pages_bulk").p;
		want--;
	}
	if (st_below(rs, 2))
		v[n++] = NULL;
	pp_free_pages_bulk(n, v);
}

static void op_check(struct worker *w, enum op op)
{
	struct pp_stats s;
	const struct blk *b;

	switch (op) {
	case OP_DRAIN:
		pp_thread_drain();
		return;
	case OP_TRIM:
		if (pp_trim(st_below(&w->rng, 2048)) < 0)
			st_fail("pp_trim: -1 with errno %d", errno);
		return;
	case OP_STATS:
		pp_stats(&s, sizeof(s));
		if (s.page_size != st_page_size() || (s.cap_bytes &&
		    s.committed * s.page_size > s.cap_bytes))
			st_fail("pp_stats: page_size %zu, committed %zu pages, cap %zu bytes",
				s.page_size, s.committed, s.cap_bytes);
		return;
	default:
		break;
	}
	if (!w->nheld)
		return;
	b = &w->held[st_below(&w->rng, w->nheld)];
	if (op == OP_VERIFY) {
		st_verify(b, true, "verify");
		return;
	}
	errno = 0;
	if (pp_block_order(b->p) != (int)b->order)
		st_fail("pp_block_order(%p) is %d, it was allocated with order %u (errno %d)",
			b->p, pp_block_order(b->p), b->order, errno);
	if (b->order && (pp_block_order((char *)b->p + st_page_size()) != -1 || errno != EINVAL))
		st_fail("pp_block_order(%p), an interior page of an order-%u block: not -1 "
			"with EINVAL", (void *)((char *)b->p + st_page_size()), b->order);
}

/* Hand blocks to other threads; take theirs and free or keep them. */
static void op_give(struct worker *w)
{
	size_t k = 1 + st_below(&w->rng, 8);

	pthread_mutex_lock(&q_lock);
	while (k-- && w->nheld && q_len < QCAP - MAXB && q_pages < 4 * max_pages) {
		size_t i = st_below(&w->rng, w->nheld);

		queue[q_len++] = w->held[i];
		q_pages += (size_t)1 << w->held[i].order;
		w->held_pages -= (size_t)1 << w->held[i].order;
		w->held[i] = w->held[--w->nheld];
	}
	pthread_mutex_unlock(&q_lock);
}

static void op_take(struct worker *w)
{
	struct blk got[8];
	size_t n = 0, k = 1 + st_below(&w->rng, 8);

	pthread_mutex_lock(&q_lock);
	while (n < k && q_len) {
		size_t i = st_below(&w->rng, q_len);

		got[n++] = queue[i];
		q_pages -= (size_t)1 << queue[i].order;
		queue[i] = queue[--q_len];
	}
	pthread_mutex_unlock(&q_lock);
	while (n) {
		struct blk b = got[--n];

		if (st_below(&w->rng, 2) && room(w, b.order)) {
			st_verify(&b, false, "taken from another thread");
			w->held[w->nheld++] = b;
			w->held_pages += (size_t)1 << b.order;
		} else {
			st_give(&b, st_below(&w->rng, 4) == 0, "free of another thread's block");
			free_blk(&w->rng, &b);
		}
	}
}

static size_t res_size(uint64_t *rs)
{
	return st_below(rs, 4) ? 1 + st_below(rs, 64) : 1 + st_below(rs, 700);
}

static _Atomic size_t rescue_left;

static void op_reserve(struct worker *w, enum op op)
{
	uint64_t *rs = &w->rng;
	unsigned i = (unsigned)st_below(rs, NRES);
	int v = op == OP_RES_CREATE ? R_EMPTY : 0;
	struct pp_reserve *r;

	if (op == OP_RES_CREATE || op == OP_RES_DESTROY) {
		if (!atomic_compare_exchange_strong(&res[i].state, &v, R_BUSY))
			return;
		if (op == OP_RES_DESTROY) {
			pp_reserve_destroy(res[i].r);
			res[i].r = NULL;
		} else if (!(res[i].r = pp_reserve_create(res_size(rs)))) {
			null_ok(&w->c, "pp_reserve_create", 0, errno);
		}
		atomic_store(&res[i].state, res[i].r ? 0 : R_EMPTY);
		return;
	}
	if (!res_get(i))
		return;
	r = res[i].r;
	if (op == OP_RES_RESIZE) {
		if (pp_reserve_resize(r, res_size(rs)) != 0)
			null_ok(&w->c, "pp_reserve_resize", 0, errno);
	} else if (op == OP_RES_FREE) {
		long k = pick_page(w);

		if (k >= 0)
			pp_reserve_free(r, drop(w, (size_t)k, "pp_reserve_free").p);
	} else if (room(w, 0)) {
		unsigned flags = rand_flags(rs, true);
		int none = -1;
		void *p;

		/* At a limit, flags 0 may wait for ever: one waiter, main rescues it. */
		if (!(flags & (PP_TRY | PP_NOWAIT)) && st_limited) {
			atomic_store(&waiter_since, now_ms());
			if (!atomic_load(&rescue_left) ||
			    !atomic_compare_exchange_strong(&waiter, &none, (int)i))
				flags |= PP_NOWAIT;
		}
		errno = 0;
		p = pp_reserve_alloc(r, flags);
		if (!(flags & (PP_TRY | PP_NOWAIT)) && st_limited)
			atomic_store(&waiter, -1);
		if (!p && !(flags & (PP_TRY | PP_NOWAIT)))
			st_fail("pp_reserve_alloc(r, %#x) returned NULL, errno %d", flags, errno);
		if (!p)
			null_ok(&w->c, "pp_reserve_alloc", flags, errno);
		else
			keep(w, p, 0, flags, "pp_reserve_alloc");
	}
	res_put(i);
}

static void op_fork(struct worker *w)
{
	uint64_t t = now_ms(), last = atomic_load(&fork_last);
	double t0;
	bool no = false;
	int status = 0;
	pid_t pid, got;

	if (t < last + opt.fork_ms || !atomic_compare_exchange_strong(&fork_busy, &no, true))
		return;
	atomic_store(&fork_last, t);
	pid = fork();
	if (pid == 0)
		fork_child(w);
	if (pid < 0) {		/* EAGAIN, ENOMEM: the machine, not the pool */
		atomic_store(&fork_busy, false);
		return;
	}
	w->c.forks++;
	t0 = now_sec();
	while ((got = waitpid(pid, &status, WNOHANG)) == 0 || (got < 0 && errno == EINTR)) {
		if (now_sec() - t0 > WAIT_S) {
			kill(pid, SIGKILL);
			st_fail("fork child %d did not finish in %d s (a deadlock after fork?)",
				(int)pid, WAIT_S);
		}
		usleep(200);
	}
	if (got != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char how[128];

		describe(status, how, sizeof(how));
		st_fail("fork child %d %s (its message above)", (int)pid, how);
	}
	atomic_store(&fork_busy, false);
}

/* ---- workers -------------------------------------------------------------------- */

static void park(void)
{
	sig_block(true);
	pthread_mutex_lock(&qp_lock);
	if (atomic_load(&qp_want)) {
		unsigned g = qp_gen;

		qp_parked++;
		while (qp_gen == g)
			pthread_cond_wait(&qp_cv, &qp_lock);
	}
	pthread_mutex_unlock(&qp_lock);
	sig_block(false);
}

/* Exit holding pages: they go to the other threads first (or are freed). */
static void worker_exit(struct worker *w)
{
	w->exiting = 1;		/* the handler frees what it takes from now on */
	take_stash(w);
	if (st_below(&w->rng, 2))
		pp_thread_drain();
	pthread_mutex_lock(&q_lock);
	while (w->nheld && q_len < QCAP) {
		queue[q_len++] = w->held[--w->nheld];
		q_pages += (size_t)1 << queue[q_len - 1].order;
	}
	pthread_mutex_unlock(&q_lock);
	while (w->nheld)
		op_free(w);
	w->held_pages = 0;
	w->c.exits++;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	self = w;
	sig_block(!opt.signals);
	while (!atomic_load(&stop)) {
		uint64_t x = st_below(&w->rng, weight_sum);
		enum op op = 0;

		if (atomic_load(&qp_want)) {
			park();
			continue;
		}
		while (x >= weight[op])
			x -= weight[op++];
		w->c.ops[op]++;
		atomic_fetch_add_explicit(&w->nops, 1, memory_order_relaxed);
		switch (op) {
		case OP_TRY: case OP_NOWAIT: case OP_PAGE0: case OP_PAGES:
			op_alloc(w, op);
			break;
		case OP_BULK:
			op_bulk(w);
			break;
		case OP_FREE:
			op_free(w);
			break;
		case OP_BULK_FREE:
			op_bulk_free(w);
			break;
		case OP_GIVE:
			op_give(w);
			break;
		case OP_TAKE:
			op_take(w);
			break;
		case OP_STASH:
			take_stash(w);
			break;
		case OP_RES_CREATE: case OP_RES_DESTROY: case OP_RES_RESIZE:
		case OP_RES_ALLOC: case OP_RES_FREE:
			op_reserve(w, op);
			break;
		case OP_FORK:
			op_fork(w);
			break;
		case OP_EXIT:
			worker_exit(w);
			atomic_store(&w->state, W_EXITING);
			return NULL;
		default:
			op_check(w, op);
		}
	}
	w->exiting = 1;
	take_stash(w);
	sig_block(true);
	while (w->nheld)
		op_free(w);
	atomic_store(&w->state, W_DONE);
	return NULL;
}

static void spawn_worker(unsigned slot)
{
	struct worker *w = &workers[slot];
	unsigned inc = w->incarnation + 1;
	uint64_t s = st_seed ^ ((uint64_t)slot << 48) ^ ((uint64_t)inc << 32);

	memset(w, 0, sizeof(*w));
	w->slot = slot;
	w->incarnation = inc;
	w->rng = st_rnd(&s);
	w->sig_rng = st_rnd(&s);
	w->gen = (uint32_t)slot << 24;
	atomic_store(&w->state, W_RUNNING);
	if (pthread_create(&w->thr, NULL, worker_main, w) != 0)
		st_fail("pthread_create: %s", strerror(errno));
}

static void add_counts(struct counts *to, const struct counts *c)
{
	for (unsigned i = 0; i < OP_N; i++)
		to->ops[i] += c->ops[i];
	to->eagain += c->eagain;
	to->enomem += c->enomem;
	to->pages_in += c->pages_in;
	to->forks += c->forks;
	to->exits += c->exits;
	to->sigs += c->sigs;
	to->sig_pages += c->sig_pages;
	to->sig_null += c->sig_null;
}

/* Join the workers that have exited or finished; their slots become empty. */
static void reap(void)
{
	for (unsigned i = 0; i < opt.threads; i++) {
		int st = atomic_load(&workers[i].state);

		if (st == W_EXITING || st == W_DONE) {
			pthread_join(workers[i].thr, NULL);
			add_counts(&retired, &workers[i].c);
			atomic_store(&workers[i].state, W_EMPTY);
		}
	}
}

static unsigned running(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < opt.threads; i++)
		n += atomic_load(&workers[i].state) == W_RUNNING;
	return n;
}

/* ---- the main thread: rescues, quiet points ---------------------------------- */

static uint64_t rescues, quiet_points;

/* A flags-0 reserve waiter at the cap for 100 ms: give its reserve a page. */
static void rescue_waiter(void)
{
	int i = atomic_load(&waiter);
	struct blk b;

	if (i < 0 || now_ms() < atomic_load(&waiter_since) + 100 || !nrescue || !res_get((unsigned)i))
		return;
	b = rescue[--nrescue];
	atomic_store(&rescue_left, nrescue);
	st_give(&b, false, "rescue");
	if (b.order == 0)
		pp_reserve_free(res[i].r, b.p);
	res_put((unsigned)i);
	pp_thread_drain();	/* a full reserve sent it to this cache */
	atomic_store(&waiter_since, now_ms());
	rescues++;
}

static void rescue_fill(void)
{
	while (nrescue < RESCUE) {
		void *p = pp_alloc_page(0);

		if (!p) {
			null_ok(&retired, "pp_alloc_page(0) (main)", 0, errno);
			break;
		}
		st_take(&rescue[nrescue], p, 0, 0, 0x7f000000u + (uint32_t)nrescue, false,
			"main pp_alloc_page(0)");
		nrescue++;
	}
	atomic_store(&rescue_left, nrescue);
}

static size_t model_pages(void)
{
	size_t pages = nrescue;

	for (unsigned i = 0; i < opt.threads; i++) {
		struct worker *w = &workers[i];
		size_t sum = 0;

		if (atomic_load(&w->state) != W_RUNNING)
			continue;
		for (size_t k = 0; k < w->nheld; k++) {
			st_verify(&w->held[k], false, "quiet point");
			sum += (size_t)1 << w->held[k].order;
		}
		if (sum != w->held_pages)
			st_fail("model error: worker %u holds %zu pages, counted %zu", i, sum,
				w->held_pages);
		for (unsigned k = 0; k < w->nsig; k++)
			sum += (size_t)1 << w->sig[k].order;
		pages += sum;
	}
	for (size_t k = 0; k < q_len; k++)
		pages += (size_t)1 << queue[k].order;
	return pages;
}

static void reserves_now(struct pp_reserve **rs)
{
	for (unsigned i = 0; i < NRES; i++)
		rs[i] = atomic_load(&res[i].state) >= 0 ? res[i].r : NULL;
}

static void quiet_point(void)
{
	struct pp_reserve *rs[NRES];
	double t0 = now_sec();
	char when[64];

	atomic_store(&qp_want, true);
	for (;;) {
		unsigned parked;

		reap();
		pthread_mutex_lock(&qp_lock);
		parked = qp_parked;
		pthread_mutex_unlock(&qp_lock);
		if (parked == running())
			break;
		rescue_waiter();
		if (now_sec() - t0 > WAIT_S)
			st_fail("quiet point %llu: %u of %u workers parked after %d s (a hang?)",
				(unsigned long long)quiet_points, parked, running(), WAIT_S);
		usleep(200);
	}
	quiet_points++;
	snprintf(when, sizeof(when), "quiet point %llu", (unsigned long long)quiet_points);
	reserves_now(rs);
	st_quiet_check(model_pages(), rs, NRES, when);
	rescue_fill();
	pthread_mutex_lock(&qp_lock);
	atomic_store(&qp_want, false);
	qp_parked = 0;
	qp_gen++;
	pthread_cond_broadcast(&qp_cv);
	pthread_mutex_unlock(&qp_lock);
	for (unsigned i = 0; i < opt.threads; i++)
		if (atomic_load(&workers[i].state) == W_EMPTY)
			spawn_worker(i);
}

/* ---- one seed ---------------------------------------------------------------- */

static void random_conf(uint64_t *rs)
{
	static const unsigned highs[] = { 2, 4, 8, 16, 32, 64, 128, 256, 512 };
	unsigned high = highs[st_below(rs, 9)], batch = 1 + (unsigned)st_below(rs, high);
	unsigned hmax = ((unsigned[]){ high, high * 4, 1024 })[st_below(rs, 3)];
	int n = snprintf(conf_str, sizeof(conf_str), "high=%u,batch=%u,high_max=%u", high,
			 batch, hmax < high ? high : hmax);

#define ADD(...) (n += snprintf(conf_str + n, sizeof(conf_str) - (size_t)n, __VA_ARGS__))
	if (st_below(rs, 3) == 0)
		ADD(",cap=%uM", 16 + 4 * (unsigned)st_below(rs, 24));
	if (st_below(rs, 4) == 0)
		ADD(",arena=1G");
	if (st_below(rs, 2))
		ADD(",retain=%uK,trim_ms=%u", 64 * (unsigned)st_below(rs, 64),
		    (unsigned)st_below(rs, 50));
	if (st_below(rs, 4) == 0)
		ADD(",madv_free=1");
	if (st_below(rs, 4) == 0)
		ADD(",pi=1");
	if (st_below(rs, 4) == 0)
		ADD(",prefault=4M");
	if (st_below(rs, 3) == 0)
		ADD(",grow=8M");
#undef ADD
}

static void setup(void)
{
	uint64_t rs = st_seed;
	size_t v;

	random_conf(&rs);
	if (opt.conf)
		snprintf(conf_str, sizeof(conf_str), "%s", opt.conf);
	st_limited = strstr(conf_str, "cap=") || strstr(conf_str, "arena=");
	if (pp_configure(conf_str) != 0)
		st_fail("pp_configure(\"%s\"): errno %d", conf_str, errno);
	if (pp_option("high", &v) != 0)
		st_fail("pp_option: errno %d", errno);
	st_model_init();
	max_pages = (size_t)256 << st_below(&rs, 4);
	timer_us = 200 + (unsigned)st_below(&rs, 4800);
	weight_sum = 0;
	for (unsigned i = 0; i < OP_N; i++) {
		weight[i] = base_weight[i] * (1 + (unsigned)st_below(&rs, 4));
		if (i >= OP_DRAIN && i != OP_FORK && i != OP_EXIT && st_below(&rs, 8) == 0)
			weight[i] = 0;	/* some seeds go without it */
		if ((i == OP_FORK && !opt.fork) || (i == OP_STASH && !opt.signals) ||
		    (i >= OP_RES_CREATE && i <= OP_RES_FREE && !opt.reserves))
			weight[i] = 0;
		weight_sum += weight[i];
	}
	for (unsigned i = 0; i < NRES; i++)
		atomic_store(&res[i].state, R_EMPTY);
	if (!(queue = calloc(QCAP, sizeof(*queue))))
		st_fail("out of memory");
	printf("pp-stress: seed=%llu threads=%u seconds=%g conf=%s max_pages=%zu timer=%uus%s%s%s\n",
	       (unsigned long long)st_seed, opt.threads, opt.seconds, conf_str, max_pages,
	       opt.signals ? timer_us : 0, opt.fork ? "" : " no-fork",
	       opt.reserves ? "" : " no-reserves", opt.signals ? "" : " no-signals");
	fflush(stdout);
}

static uint64_t total_ops(void)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < OP_N; i++)
		n += retired.ops[i];
	for (unsigned i = 0; i < opt.threads; i++)
		if (atomic_load(&workers[i].state) != W_EMPTY)
			n += atomic_load_explicit(&workers[i].nops, memory_order_relaxed);
	return n;
}

static void finish(void)
{
	struct pp_reserve *rs[NRES];

	atomic_store(&stop, true);
	for (;;) {
		rescue_waiter();
		if (!running())
			break;
		usleep(500);
	}
	reap();
	while (q_len) {
		struct blk b = queue[--q_len];

		st_give(&b, true, "the end: queued block");
		pp_free_pages(b.p, b.order);
	}
	q_pages = 0;
	while (nrescue) {
		struct blk b = rescue[--nrescue];

		st_give(&b, true, "the end: rescue page");
		pp_free_page(b.p);
	}
	reserves_now(rs);
	st_quiet_check(0, rs, NRES, "the end, reserves live");
	for (unsigned i = 0; i < NRES; i++)
		if (rs[i])
			pp_reserve_destroy(rs[i]);
	st_quiet_check(0, NULL, 0, "the end");
	free(queue);
}

/* Run seed st_seed in this process; the counts to @fd. */
static void run_seed(int fd)
{
	struct sigaction sa;
	struct itimerval it;
	double t0 = now_sec(), next_quiet;
	uint64_t qrs = st_seed ^ 0x5555;
	size_t sz = sizeof(retired);

	setup();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	sig_block(true);		/* the main thread never runs the handler */
	rescue_fill();
	for (unsigned i = 0; i < opt.threads; i++)
		spawn_worker(i);
	if (opt.signals) {
		memset(&it, 0, sizeof(it));
		it.it_interval.tv_usec = it.it_value.tv_usec = timer_us;
		setitimer(ITIMER_REAL, &it, NULL);
	}
	t_end = t0 + opt.seconds;
	next_quiet = now_sec() + 0.02 + (double)st_below(&qrs, 200) / 1000;
	while (now_sec() < t_end && (!opt.ops || total_ops() < opt.ops)) {
		reap();
		for (unsigned i = 0; i < opt.threads; i++)
			if (atomic_load(&workers[i].state) == W_EMPTY)
				spawn_worker(i);
		rescue_waiter();
		if (now_sec() >= next_quiet) {
			quiet_point();
			next_quiet = now_sec() + 0.02 + (double)st_below(&qrs, 200) / 1000;
		}
		usleep(1000);
	}
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	quiet_point();
	finish();
	if (write(fd, &retired, sz) != (ssize_t)sz || write(fd, &quiet_points, 8) != 8 ||
	    write(fd, &rescues, 8) != 8)
		st_fail("cannot report the counts");
}

/* ---- seeds, options, the summary ------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f, "usage: pp-stress [--seed N] [--seeds K] [--seconds S] [--threads T] "
		"[--ops N]\n"
		"                 [--conf KEY=VALUE,...] [--fork-ms MS] [--no-fork] "
		"[--no-signals] [--no-reserves]\n"
		"Runs K seeds (N, N+1, ...; N from the clock if not given), each for S "
		"seconds (default 10)\nor N operations, in a child process of its own; "
		"a failure prints its seed.\n");
}

static void parse(int argc, char **argv, uint64_t *seed)
{
	static const struct option lo[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "seeds", required_argument, NULL, 'k' },
		{ "seconds", required_argument, NULL, 't' },
		{ "threads", required_argument, NULL, 'T' },
		{ "ops", required_argument, NULL, 'o' },
		{ "conf", required_argument, NULL, 'c' },
		{ "fork-ms", required_argument, NULL, 'f' },
		{ "no-fork", no_argument, NULL, 'F' },
		{ "no-signals", no_argument, NULL, 'S' },
		{ "no-reserves", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			*seed = strtoull(optarg, NULL, 0);
			opt.seed_given = true;
			break;
		case 'k':
			opt.seeds = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 't':
			opt.seconds = strtod(optarg, NULL);
			break;
		case 'T':
			opt.threads = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'o':
			opt.ops = strtoull(optarg, NULL, 0);
			break;
		case 'c':
			opt.conf = optarg;
			break;
		case 'f':
			opt.fork_ms = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'F':
			opt.fork = false;
			break;
		case 'S':
			opt.signals = false;
			break;
		case 'R':
			opt.reserves = false;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc || !opt.seeds || !opt.threads || opt.threads > MAXT ||
	    !(opt.seconds > 0)) {
		usage(stderr);
		exit(2);
	}
}

int main(int argc, char **argv)
{
	uint64_t seed = 0, qp = 0, resc = 0, nops = 0;
	struct counts all;
	double t0 = now_sec();

	memset(&all, 0, sizeof(all));
	parse(argc, argv, &seed);
	sigemptyset(&alrm_set);
	sigaddset(&alrm_set, SIGALRM);
	if (!opt.seed_given) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		seed = ((uint64_t)ts.tv_sec * 1000003u ^ (uint64_t)ts.tv_nsec ^
			(uint64_t)getpid() << 20) % 1000000000u;
	}
	for (unsigned k = 0; k < opt.seeds; k++) {
		struct counts c;
		uint64_t q, r;
		int fds[2], status = 0;
		pid_t pid, got;
		double ts = now_sec();

		st_seed = seed + k;
		if (pipe(fds) != 0)
			st_fail("pipe: %s", strerror(errno));
		fflush(NULL);
		if ((pid = fork()) < 0)
			st_fail("fork: %s", strerror(errno));
		if (pid == 0) {
			close(fds[0]);
			run_seed(fds[1]);
			fflush(NULL);
			_exit(0);
		}
		close(fds[1]);
		memset(&c, 0, sizeof(c));
		q = r = 0;
		if (read(fds[0], &c, sizeof(c)) != (ssize_t)sizeof(c) ||
		    read(fds[0], &q, 8) != 8 || read(fds[0], &r, 8) != 8)
			memset(&c, 0, sizeof(c));
		close(fds[0]);
		while ((got = waitpid(pid, &status, WNOHANG)) == 0 && now_sec() - ts < 300)
			usleep(10000);
		if (got != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			char how[128];

			if (got == 0) {
				kill(pid, SIGKILL);
				waitpid(pid, &status, 0);
			}
			describe(status, how, sizeof(how));
			fprintf(stderr, "pp-stress: FAILED seed=%llu: the run %s%s; reproduce: "
				"pp-stress --seed %llu --threads %u --seconds %g%s%s%s%s%s\n",
				(unsigned long long)st_seed, got == 0 ? "hung, killed; " : "", how,
				(unsigned long long)st_seed, opt.threads, opt.seconds,
				opt.conf ? " --conf " : "", opt.conf ? opt.conf : "",
				opt.fork ? "" : " --no-fork", opt.signals ? "" : " --no-signals",
				opt.reserves ? "" : " --no-reserves");
			return 1;
		}
		add_counts(&all, &c);
		qp += q;
		resc += r;
	}
	for (unsigned i = 0; i < OP_N; i++)
		nops += all.ops[i];
	printf("pp-stress: PASS seeds=%llu..%llu (%u) threads=%u ops=%llu in %.1f s:",
	       (unsigned long long)seed, (unsigned long long)(seed + opt.seeds - 1), opt.seeds,
	       opt.threads, (unsigned long long)nops, now_sec() - t0);
	for (unsigned i = 0; i < OP_N; i++)
		printf(" %s=%llu", op_name[i], (unsigned long long)all.ops[i]);
	printf("; pages=%llu eagain=%llu enomem=%llu forks=%llu exits=%llu signals=%llu "
	       "(pages %llu, null %llu) quiet-points=%llu rescues=%llu\n",
	       (unsigned long long)all.pages_in, (unsigned long long)all.eagain,
	       (unsigned long long)all.enomem, (unsigned long long)all.forks,
	       (unsigned long long)all.exits, (unsigned long long)all.sigs,
	       (unsigned long long)all.sig_pages, (unsigned long long)all.sig_null,
	       (unsigned long long)qp, (unsigned long long)resc);
	return 0;
}
