/* SPDX-License-Identifier: MIT */
/*
 * worker.c - pp-stress's workers: the operations they mix and the timer
 * signal's handler (the child of a fork() from a worker is child.c's).
 *
 * Owns: the state the workers share with the main thread (worker.h), and
 * every call into the pool that the workers and the handler make, each
 * result checked against the model (model.c): a NULL must come with the
 * errno its mode allows, a block must be aligned, new (the bitmap),
 * zero-filled with PP_ZERO and keep its pattern until it is freed, bulk
 * calls must leave pre-filled slots alone and fill a prefix.
 * A worker's choices come from its own PRNG (worker.h's struct worker).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <sched.h>

#include "worker.h"

struct st_opts opt = { 4, 1, 10, 0, false, true, true, true, 20, NULL };
unsigned weight[OP_N], weight_sum;
size_t max_pages;
struct worker workers[MAXT];
atomic_bool stop;
pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
struct blk *queue;
size_t q_len, q_pages;
pthread_mutex_t qp_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t qp_cv = PTHREAD_COND_INITIALIZER;
atomic_bool qp_want;
unsigned qp_gen;
struct res_slot res[NRES];
_Atomic int waiter = -1;
_Atomic uint64_t waiter_since;
_Atomic size_t rescue_left;
sigset_t alrm_set;

static __thread struct worker *self;	/* for the signal handler */
static atomic_bool fork_busy;		/* one fork at a time ... */
static _Atomic uint64_t fork_last;	/* ... at most one per opt.fork_ms */

/* ---- allocation results -------------------------------------------------- */

/* A NULL from @call with @flags: only EAGAIN (TRY, NOWAIT) or ENOMEM (0, limited). */
void null_ok(struct counts *c, const char *call, unsigned flags, int err)
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
struct blk drop(struct worker *w, size_t i, const char *who)
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
void free_blk(uint64_t *rs, const struct blk *b)
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

void on_alarm(int sig)
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

/* ---- the operations ------------------------------------------------------------ */

static void op_free(struct worker *w)
{
	if (w->nheld) {
		struct blk b = drop(w, st_below(&w->rng, w->nheld), "free");

		free_blk(&w->rng, &b);
	}
}

/*
 * pp_thread_prefill() of 1 or 2 blocks (every cache holds at least 2 of
 * each order), then exactly that many PP_TRY allocations of the order,
 * each of which must succeed whatever the other threads do meanwhile
 * (reclaim, trim, cap).  The signal is blocked in between: the handler's
 * allocations would take from the guarantee.
 */
static void op_prefill(struct worker *w)
{
	uint64_t *rs = &w->rng;
	unsigned order = (unsigned)st_below(rs, PP_CACHE_ORDERS);
	unsigned flags = st_below(rs, 2) ? 0 : PP_NOWAIT;
	size_t n = 1 + st_below(rs, 2);
	int err;

	if (w->nheld + n > MAXB || w->held_pages + (n << order) > max_pages) {
		op_free(w);
		return;
	}
	sig_block(true);
	errno = 0;
	if (pp_thread_prefill(order, n, flags)) {
		err = errno;
		sig_block(false);
		null_ok(&w->c, "pp_thread_prefill", flags, err);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		void *p = pp_alloc_pages(order, PP_TRY);

		if (!p)
			st_fail("pp_thread_prefill(%u, %zu, %#x) returned 0, but try %zu of %zu "
				"found nothing (errno %d)", order, n, flags, i + 1, n, errno);
		keep(w, p, order, PP_TRY, "prefilled try");
	}
	sig_block(false);
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

/*
 * Park until the main thread has done its quiet point, the signal blocked;
 * park again at once if the next one has begun (the main thread clears
 * parked at each release, under qp_lock).
 */
static void park(struct worker *w)
{
	sig_block(true);
	pthread_mutex_lock(&qp_lock);
	while (atomic_load(&qp_want)) {
		unsigned g = qp_gen;

		w->parked = true;	/* main may take a page of ours to rescue a waiter */
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

void *worker_main(void *arg)
{
	struct worker *w = arg;

	self = w;
	sig_block(!opt.signals);
	while (!atomic_load(&stop)) {
		uint64_t x = st_below(&w->rng, weight_sum);
		enum op op = 0;

		if (atomic_load(&qp_want)) {
			park(w);
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
		case OP_PREFILL:
			op_prefill(w);
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
