/* SPDX-License-Identifier: MIT */
/*
 * pp-stress.c - a seeded randomised stress program checked against a model:
 * worker threads (worker.c) mix every allocation and free path of the pool
 * (PP_TRY, PP_NOWAIT, flags 0, orders 0-10, PP_ZERO, bulk with pre-filled
 * slots, bulk free with NULLs, drain, trim, reserves created, resized, used
 * and destroyed, frees on another thread, threads that exit holding pages
 * and new ones, fork() from the threaded process with the child allocating
 * and checking its own ledger: child.c) while a timer signal's handler
 * takes pages with the try path and frees them.  Every page carries a
 * pattern checked when it is freed, a bitmap catches a page handed out
 * twice (model.c), and at quiet points (every worker parked, the signal
 * blocked) the ledger, the descriptor audit and the model must agree.
 *
 * Owns: the main thread - options, the pool's random configuration and
 * this seed's mix of operations, spawning and joining workers, the quiet
 * points, rescuing a flags-0 reserve waiter at a limit, the end (every
 * page back, in_use and reserved 0) - and running several seeds, each in a
 * child process of its own (a fresh pool) watched for a hang.
 *
 * Reproducing: each thread's PRNG comes from the seed, its slot and its
 * incarnation, and the configuration and mix from the seed, so a seed
 * gives each thread the same sequence of choices; what they meet (the
 * interleaving, what the signal interrupts, when a quiet point falls) is
 * not reproducible, so a seed reproduces the mix, not the exact run.  A
 * failure prints "pp-stress: FAILED seed=N: what" (model.c's st_fail())
 * and the command that runs that seed again.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <getopt.h>
#include <sys/time.h>

#include "worker.h"

static const char *const op_name[OP_N] = {
	"try", "nowait", "page0", "pages", "bulk", "free", "bulkfree", "drain", "trim",
	"stats", "order", "verify", "give", "take", "stash", "prefill", "rcreate", "rdestroy",
	"rresize", "ralloc", "rfree", "fork", "exit",
};
/* Base weights; each seed scales them (rare ones stay rare). */
static const unsigned base_weight[OP_N] = {
	60, 60, 60, 60, 25, 220, 25, 3, 1, 2, 10, 10, 15, 15, 5, 10, 2, 2, 4, 30, 25, 1, 1,
};

static unsigned timer_us;
static char conf_str[256];
static struct counts retired;		/* of the workers joined so far */
static struct blk rescue[RESCUE];	/* main's pages for a reserve waiter */
static size_t nrescue;

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

/*
 * An order-0 block for a rescue: main's own, else one queued for another
 * thread, else (at a quiet point, @quiet) one a parked worker holds.
 */
static bool rescue_page(struct blk *b, bool quiet)
{
	bool found = false;

	if (nrescue) {
		*b = rescue[--nrescue];
		atomic_store(&rescue_left, nrescue);
		return true;
	}
	pthread_mutex_lock(&q_lock);
	for (size_t k = 0; k < q_len && !found; k++) {
		if (queue[k].order == 0) {
			*b = queue[k];
			queue[k] = queue[--q_len];
			q_pages--;
			found = true;
		}
	}
	pthread_mutex_unlock(&q_lock);
	pthread_mutex_lock(&qp_lock);
	for (unsigned i = 0; i < opt.threads && quiet && !found; i++) {
		struct worker *w = &workers[i];

		for (size_t k = 0; k < w->nheld && w->parked && !found; k++) {
			if (w->held[k].order == 0) {
				*b = w->held[k];
				w->held[k] = w->held[--w->nheld];
				w->held_pages--;
				found = true;
			}
		}
	}
	pthread_mutex_unlock(&qp_lock);
	return found;
}

/* A flags-0 reserve waiter at the cap for 100 ms: give its reserve a page. */
static void rescue_waiter(bool quiet)
{
	int i = atomic_load(&waiter);
	struct blk b;

	if (i < 0 || now_ms() < atomic_load(&waiter_since) + 100 || !res_get((unsigned)i))
		return;
	if (!rescue_page(&b, quiet)) {
		res_put((unsigned)i);
		return;
	}
	st_give(&b, false, "rescue");
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

/*
 * Every worker slot empty or parked: a worker sets its parked flag under
 * qp_lock and cannot leave until qp_gen moves; one that exits is joined
 * first (its thread-exit drain is a pagepool call).
 */
static unsigned not_parked(void)
{
	unsigned n = 0;

	reap();
	pthread_mutex_lock(&qp_lock);
	for (unsigned i = 0; i < opt.threads; i++) {
		int st = atomic_load(&workers[i].state);

		n += st != W_EMPTY && (st != W_RUNNING || !workers[i].parked);
	}
	pthread_mutex_unlock(&qp_lock);
	return n;
}

static void quiet_point(void)
{
	struct pp_reserve *rs[NRES];
	double t0 = now_sec();
	char when[64];
	unsigned n;

	atomic_store(&qp_want, true);
	while ((n = not_parked()) != 0) {
		rescue_waiter(true);
		if (now_sec() - t0 > WAIT_S)
			st_fail("quiet point %llu: %u workers not parked after %d s (a hang?)",
				(unsigned long long)quiet_points + 1, n, WAIT_S);
		usleep(200);
	}
	quiet_points++;
	snprintf(when, sizeof(when), "quiet point %llu", (unsigned long long)quiet_points);
	reserves_now(rs);
	st_quiet_check(model_pages(), rs, NRES, when);
	rescue_fill();
	pthread_mutex_lock(&qp_lock);
	for (unsigned i = 0; i < opt.threads; i++)
		workers[i].parked = false;
	atomic_store(&qp_want, false);
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
	if (st_below(rs, 3) == 0) {
		unsigned cap = 16 + 4 * (unsigned)st_below(rs, 24);
		struct rlimit rl;

		ADD(",cap=%uM", cap);
		/* mlock=1 under a cap, where RLIMIT_MEMLOCK allows it all */
		if (st_below(rs, 4) == 0 && getrlimit(RLIMIT_MEMLOCK, &rl) == 0 &&
		    (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= ((rlim_t)cap + 8) << 20))
			ADD(",mlock=1");
	}
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
	/* Idle reclaim every few ms (0: off), and tight or loose cache bounds. */
	if (st_below(rs, 2))
		ADD(",reclaim_ms=%u", (unsigned)st_below(rs, 20));
	if (st_below(rs, 3) == 0)
		ADD(",cache_max=%uK", 64 << (unsigned)st_below(rs, 8));
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
		rescue_waiter(false);
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
	next_quiet = now_sec() + 0.02 + (double)st_below(&qrs, 200) / 1000;
	while (now_sec() < t0 + opt.seconds && (!opt.ops || total_ops() < opt.ops)) {
		reap();
		for (unsigned i = 0; i < opt.threads; i++)
			if (atomic_load(&workers[i].state) == W_EMPTY)
				spawn_worker(i);
		rescue_waiter(false);
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
		while ((got = waitpid(pid, &status, WNOHANG)) == 0 && now_sec() - ts < opt.seconds + 240)
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
