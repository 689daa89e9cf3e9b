/* SPDX-License-Identifier: MIT */
/*
 * rt-loop.c - a real-time loop on pagepool: per-call latency of the calls
 * that never block, while another thread hammers the pool's lock.
 *
 * The loop runs every millisecond, at SCHED_FIFO when permitted.  Before
 * each period it asks pp_thread_prefill() for the period's order-0 pages
 * (its frees bring them back, so after the first period that takes no
 * lock); then it takes BURST pages with each of pp_alloc_page_try(),
 * pp_alloc_page(PP_NOWAIT) and pp_reserve_alloc(r, PP_NOWAIT), interleaved,
 * touches them and frees them; each call is timed.  --no-prefill leaves
 * the prefill out: the try and NOWAIT calls then find the cache short
 * whenever a period needs more than it holds.  Meanwhile a
 * normal-priority thread allocates and frees hundreds of pages, orders 0
 * and 2-6, with calls that may block, so it holds the global lock often.
 * At the end: calls, NULL returns, percentiles and maximum per call kind,
 * the worst period, the page faults taken in the loop and the pool's stats.
 *
 * The recipe, in the order main() follows it: mlockall(); pp_configure()
 * with pi=1 (the lock inherits priority), mlock=1 (the pool's memory stays
 * locked) and prefault= (committed and faulted in at start-up); a reserve
 * for the pages that must come; the stack faulted in; then SCHED_FIFO;
 * and each period, pp_thread_prefill() for the cache's share.
 *
 *   rt-loop [--quick] [--no-prefill] [PERIODS]  (default 5000 periods, --quick 1000)
 *
 * Build against an installed pagepool:
 *   cc -o rt-loop rt-loop.c $(pkg-config --cflags --libs pagepool) -pthread
 */
#define _GNU_SOURCE	/* RUSAGE_THREAD */
#include <errno.h>
#include <linux/capability.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#include <pagepool.h>
#include <pagepool/reserve.h>

#define PERIOD_NS	1000000L	/* 1 ms */
#define BURST		128		/* pages per call kind per period */
#define RESERVE		BURST		/* pages in the reserve: its calls' share */
#define PREFAULT	((size_t)32 << 20)
#define RT_PRIO		40		/* below the kernel's threaded IRQs (50) */
#define STACK_BYTES	(64 * 1024)	/* stack faulted in before the loop */
#define SLOW_NS		10000		/* the "over 10 us" column */
#define CHURN_PAGES	512		/* order-0 pages per churn round: twice a cache */
#define CHURN_BLOCKS	20		/* blocks of orders 2-6 per churn round */

enum { K_TRY, K_NOWAIT, K_RESERVE, NKINDS };
static const char *const kind_name[NKINDS] = {
	"pp_alloc_page_try()", "pp_alloc_page(PP_NOWAIT)", "pp_reserve_alloc(NOWAIT)",
};

static atomic_bool stop;
static size_t churn_rounds, churn_pages;	/* read after the join */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The normal-priority thread: calls that may block, on the global lists. */
static void *churn(void *arg)
{
	void *pages[CHURN_PAGES], *blocks[CHURN_BLOCKS];
	size_t got, n = 0;

	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		memset(pages, 0, sizeof(pages));
		got = pp_alloc_pages_bulk(0, CHURN_PAGES, pages);
		for (unsigned i = 0; i < CHURN_BLOCKS; i++) {
			blocks[i] = pp_alloc_pages(2 + i % 5, 0);
			if (blocks[i])
				*(volatile char *)blocks[i] = 1;
		}
		for (size_t i = 0; i < got; i++)
			*(volatile char *)pages[i] = 1;
		pp_free_pages_bulk(got, pages);
		for (unsigned i = 0; i < CHURN_BLOCKS; i++) {
			n += blocks[i] ? (size_t)1 << (2 + i % 5) : 0;
			pp_free_pages(blocks[i], 2 + i % 5);
		}
		n += got;
		churn_rounds++;
	}
	churn_pages = n;
	return NULL;
}

/* True with CAP_IPC_LOCK or an unlimited RLIMIT_MEMLOCK. */
static bool lock_unlimited(struct rlimit *rl)
{
	unsigned long long caps = 0;
	char line[256];
	FILE *f;

	if (getrlimit(RLIMIT_MEMLOCK, rl) == 0 && rl->rlim_cur == RLIM_INFINITY)
		return true;
	f = fopen("/proc/self/status", "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &caps) == 1)
			break;
	fclose(f);
	return (caps >> CAP_IPC_LOCK) & 1;
}

/*
 * Lock memory and configure the pool; returns the configuration used.
 * MCL_FUTURE counts every later mapping against RLIMIT_MEMLOCK, the pool's
 * arena reservation and thread stacks included, which then fail: under a
 * finite limit the program stays unlocked and the pool locks only its own
 * memory (mlock=1), if the limit has room for it.
 */
static const char *lock_and_configure(void)
{
	static const char *const conf[] = { "pi=1,mlock=1,prefault=32M", "pi=1,prefault=32M" };
	const char *c = conf[0];
	struct rlimit rl = { 0, 0 };

	if (!lock_unlimited(&rl)) {
		printf("note: no mlockall: RLIMIT_MEMLOCK is %llu KiB, no CAP_IPC_LOCK\n",
		       (unsigned long long)rl.rlim_cur >> 10);
		if (rl.rlim_cur < PREFAULT + PREFAULT / 8) {
			c = conf[1];
			printf("note: no mlock=1 either: raise ulimit -l above %zu MiB\n",
			       (PREFAULT + PREFAULT / 8) >> 20);
		}
	} else if (mlockall(MCL_CURRENT | MCL_FUTURE)) {
		printf("note: mlockall: %s\n", strerror(errno));
	}
	if (pp_configure(c)) {
		perror("pp_configure");
		exit(1);
	}
	return c;
}

/* Fault in the stack the loop will use, so that it takes no fault there. */
static void prefault_stack(void)
{
	volatile char stack[STACK_BYTES];

	for (size_t i = 0; i < sizeof(stack); i += 256)
		stack[i] = 0;
}

/* SCHED_FIFO for this thread, or a note; true if it is. */
static bool go_realtime(void)
{
	struct sched_param sp = { .sched_priority = RT_PRIO };
	int err = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);

	if (err) {
		printf("note: SCHED_FIFO: %s; normal priority, so preemption shows\n",
		       strerror(err));
		return false;
	}
	return true;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static void report(const char *name, uint32_t *ns, size_t n, size_t fails)
{
	size_t slow = 0;

	qsort(ns, n, sizeof(*ns), cmp_u32);
	for (size_t i = n; i > 0 && ns[i - 1] > SLOW_NS; i--)
		slow++;
	printf("%-25s %7zu %5zu %5u %5u %6u %6u %6zu\n", name, n, fails,
	       ns[n / 2], ns[n - 1 - n / 100], ns[n - 1 - n / 1000], ns[n - 1], slow);
}

int main(int argc, char **argv)
{
	size_t periods = 5000, n = 0, fails[NKINDS] = { 0 }, overruns = 0, prefill_fails = 0;
	bool prefill = true;
	int64_t t, next, late, worst_late = 0, worst_done = 0, clk = INT64_MAX;
	static void *page[NKINDS][BURST];
	uint32_t *ns[NKINDS];
	struct rusage ru0, ru1;
	struct pp_reserve *r;
	struct pp_stats s;
	char sched[32] = "normal priority";
	const char *conf;
	pthread_t tid;

	for (int i = 1; i < argc; i++) {
		char *end;

		if (!strcmp(argv[i], "--quick"))
			periods = 1000;
		else if (!strcmp(argv[i], "--no-prefill"))
			prefill = false;
		else if ((periods = strtoul(argv[i], &end, 10)) == 0 || *end || argv[i][0] == '-')
			return fprintf(stderr, "usage: %s [--quick] [--no-prefill] [PERIODS]\n",
				       argv[0]), 2;
	}

	/* The recipe: lock, configure, reserve, fault in, then go real-time. */
	conf = lock_and_configure();
	r = pp_reserve_create(RESERVE);		/* the pool starts here: prefaults */
	if (!r)
		return perror("pp_reserve_create"), 1;
	for (int k = 0; k < NKINDS; k++) {
		ns[k] = malloc(periods * BURST * sizeof(*ns[k]));
		if (!ns[k])
			return perror("malloc"), 1;
		memset(ns[k], 0, periods * BURST * sizeof(*ns[k]));
	}
	/* This thread's cache, filled by calls that may block, outside the loop. */
	for (int k = 0; k < NKINDS; k++)
		if (pp_alloc_pages_bulk(0, BURST, page[k]) != BURST)
			return perror("pp_alloc_pages_bulk"), 1;
	for (int k = 0; k < NKINDS; k++)
		pp_free_pages_bulk(BURST, page[k]);
	prefault_stack();
	for (int i = 0; i < 1000; i++) {	/* the cost of the clock itself */
		t = now_ns();
		t = now_ns() - t;
		clk = t < clk ? t : clk;
	}
	if (pthread_create(&tid, NULL, churn, NULL))	/* before FIFO: it inherits */
		return perror("pthread_create"), 1;
	if (go_realtime())
		snprintf(sched, sizeof(sched), "SCHED_FIFO %d", RT_PRIO);

	getrusage(RUSAGE_THREAD, &ru0);
	next = now_ns() + PERIOD_NS;
	for (size_t p = 0; p < periods; p++) {
		struct timespec ts = { (time_t)(next / 1000000000), (long)(next % 1000000000) };

		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		late = now_ns() - next;
		worst_late = late > worst_late ? late : worst_late;
		/* The try and NOWAIT calls' pages, guaranteed in the cache. */
		if (prefill && pp_thread_prefill(0, 2 * BURST, 0))
			prefill_fails++;
		for (int i = 0; i < BURST; i++, n++) {
			t = now_ns();
			page[K_TRY][i] = pp_alloc_page_try();
			ns[K_TRY][n] = (uint32_t)(now_ns() - t);
			t = now_ns();
			page[K_NOWAIT][i] = pp_alloc_page(PP_NOWAIT);
			ns[K_NOWAIT][n] = (uint32_t)(now_ns() - t);
			t = now_ns();
			page[K_RESERVE][i] = pp_reserve_alloc(r, PP_NOWAIT);
			ns[K_RESERVE][n] = (uint32_t)(now_ns() - t);
		}
		for (int k = 0; k < NKINDS; k++)
			for (int i = 0; i < BURST; i++)
				if (page[k][i])
					memset(page[k][i], i, 64);	/* touch */
				else
					fails[k]++;
		for (int i = 0; i < BURST; i++) {
			pp_free_page(page[K_TRY][i]);
			pp_free_page(page[K_NOWAIT][i]);
			if (page[K_RESERVE][i])
				pp_reserve_free(r, page[K_RESERVE][i]);
		}
		t = now_ns() - next;
		worst_done = t > worst_done ? t : worst_done;
		overruns += t > PERIOD_NS;
		next += PERIOD_NS;
		while (next < now_ns())		/* an overrun skips periods */
			next += PERIOD_NS;
	}
	getrusage(RUSAGE_THREAD, &ru1);

	atomic_store(&stop, true);
	pthread_join(tid, NULL);
	printf("rt-loop: %zu periods of 1 ms, %s; pagepool %s; reserve %d pages; %s\n",
	       periods, sched, conf, RESERVE,
	       prefill ? "pp_thread_prefill() per period" : "no prefill");
	if (prefill_fails)
		printf("pp_thread_prefill() failed in %zu periods\n", prefill_fails);
	printf("%-25s %7s %5s %5s %5s %6s %6s %6s\n", "ns per call (incl. clock)",
	       "calls", "NULL", "p50", "p99", "p99.9", "max", ">10us");
	for (int k = 0; k < NKINDS; k++)
		report(kind_name[k], ns[k], n, fails[k]);
	printf("clock_gettime pair %lld ns; worst wake-up %lld us late, work done %lld us "
	       "into the period, %zu overruns\n", (long long)clk, (long long)worst_late / 1000,
	       (long long)worst_done / 1000, overruns);
	printf("loop page faults: %ld minor, %ld major; churn thread: %zu rounds, %zu pages\n",
	       ru1.ru_minflt - ru0.ru_minflt, ru1.ru_majflt - ru0.ru_majflt,
	       churn_rounds, churn_pages);
	pp_stats(&s, sizeof(s));
	printf("pp_stats: committed %zu, in_use %zu, cached %zu, free %zu, reserved %zu pages; "
	       "%zu trylock failures\n", s.committed, s.in_use, s.cached, s.free, s.reserved,
	       s.trylock_fails);
	pp_reserve_destroy(r);
	for (int k = 0; k < NKINDS; k++)
		free(ns[k]);
	return 0;
}
