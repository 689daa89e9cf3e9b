/* SPDX-License-Identifier: MIT */
/*
 * rcu.h - what the files of the libpagepool-rcu suite (tests/rcu/) share:
 * the flavour, the conventions below, the small helpers, the canary objects
 * and the run_child() children's helpers (all defined in harness.c), and
 * each file's part of the suite.
 *
 * The suite is built twice, as tests/test_rcu_memb (-DPP_TEST_FLAVOR_MEMB,
 * linked with liburcu-memb) and tests/test_rcu_qsbr (-DPP_TEST_FLAVOR_QSBR,
 * liburcu-qsbr).  Everything flavour-specific goes through the struct
 * rcu_flavor_struct pointer `fl`, except the call_rcu fork hooks, which the
 * flavour struct does not carry.
 *
 * Conventions, so that one source serves both flavours:
 *   - every thread that queues or reads registers with the flavour;
 *   - a registered thread stays offline except while it reads (with
 *     urcu-qsbr an online thread that reports no quiescent state stops every
 *     grace period, and "online" counts as a read-side critical section for
 *     the calls that wait; with urcu-memb offline/online are no-ops);
 *   - readers load shared slots with __atomic_load_n(ACQUIRE) and writers
 *     publish with __atomic_exchange_n / __atomic_store_n(RELEASE), not
 *     rcu_dereference(), so that ThreadSanitizer sees the publication.
 *
 * Each test runs in its own forked child (CK_FORK): a fresh pool, which the
 * test may pp_configure() before pp_rcu_init().
 */
#ifndef PP_TEST_RCU_H
#define PP_TEST_RCU_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#if defined(PP_TEST_FLAVOR_MEMB)
#include <urcu/urcu-memb.h>
#define FLAVOR_NAME	"memb"
#define FLAVOR_QSBR	0
static const struct rcu_flavor_struct *const fl = &urcu_memb_flavor;
static inline void fork_before(void) { urcu_memb_call_rcu_before_fork(); }
static inline void fork_after_parent(void) { urcu_memb_call_rcu_after_fork_parent(); }
static inline void fork_after_child(void) { urcu_memb_call_rcu_after_fork_child(); }
#elif defined(PP_TEST_FLAVOR_QSBR)
#include <urcu/urcu-qsbr.h>
#define FLAVOR_NAME	"qsbr"
#define FLAVOR_QSBR	1
static const struct rcu_flavor_struct *const fl = &urcu_qsbr_flavor;
static inline void fork_before(void) { urcu_qsbr_call_rcu_before_fork(); }
static inline void fork_after_parent(void) { urcu_qsbr_call_rcu_after_fork_parent(); }
static inline void fork_after_child(void) { urcu_qsbr_call_rcu_after_fork_child(); }
#else
#error "build with -DPP_TEST_FLAVOR_MEMB or -DPP_TEST_FLAVOR_QSBR"
#endif

#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pagepool/rcu.h"
#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

#ifdef __SANITIZE_THREAD__
#define SLOWDOWN 10	/* sanitizer builds: less done in the same time */
#elif SANITIZED
#define SLOWDOWN 3
#else
#define SLOWDOWN 1
#endif

#define ld_acq(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define st_rel(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define add_rlx(p, n)	__atomic_fetch_add((p), (n), __ATOMIC_RELAXED)

/* ---- small helpers (harness.c) ------------------------------------------ */

double ms_since(double t0);
void sleep_ms(double ms);
size_t rcu_spares(void);
size_t slack(size_t threads);
void reg(void);
void unreg(void);
void reader_enter(void);
void reader_leave(void);
void rcu_setup(const char *conf);
double wait_in_use_le(size_t limit, double t0, double timeout_ms);
bool wait_flag(const int *flag, int want, double timeout_ms);
size_t heap_in_use(void);

/*
 * A watchdog for a call that must not block: fails the test (instead of
 * letting it hang until Check's timeout) if not stopped within @secs.
 */
struct watchdog {
	pthread_t thr;
	int done;
	double secs;
	const char *what;
};

void watchdog_start(struct watchdog *w, double secs, const char *what);
void watchdog_stop(struct watchdog *w);

/* ---- canary objects (harness.c) -----------------------------------------
 *
 * An object is a pool block (orders 0..2) or a heap object (64..2048
 * bytes).  Its header says where it is, its generation and size, with a
 * hash of all that; every 8-byte word of the body holds a pattern derived
 * from the address, the generation and the word's index.  The rcu_head
 * pagepool may write (pp_rcu_free_head()'s fallback) is not checked.
 */
#define HEAP_KIND	0xffu
#define OBJ_MIN		64u
#define OBJ_HEAP_MAX	2048u
#define OBJ_MAX_ORDER	2u

struct obj {
	uint64_t gen;		/* from 1 */
	uint32_t size;		/* bytes, the whole object */
	uint32_t kind;		/* pool order, or HEAP_KIND */
	uint64_t check;		/* hdr_hash() */
	struct rcu_head head;	/* for pp_rcu_free_head(); not checked */
	uint64_t body[];	/* body_word() */
};

uint64_t rcu_test_reader_check(const struct obj *o);
struct obj *obj_new_pool(unsigned order, uint64_t gen);
struct obj *obj_new_heap(uint32_t size, uint64_t gen);
struct obj *obj_new_random(uint64_t *rs, uint64_t gen);
void obj_free_now(struct obj *o);

/* ---- children that must abort with a message (run_child), harness.c ---- */

void child_fail(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
void child_alarm(unsigned secs);
void child_setup(const char *conf, bool init);
size_t child_slack(void);

/* ---- threads that queued a partial block and stay quiet (barrier.c) ---- */

#define QUEUERS	4
#define QPAGES	100

struct queuers {
	int ready, leave;
	int pages;			/* per queuer; QPAGES unless set */
};
extern struct queuers qs;

/* ---- the suite: each file's test cases ---------------------------------- */

void add_stress_tests(Suite *s);	/* stress.c: "canary" */
void add_barrier_tests(Suite *s);	/* barrier.c: "barrier" */
void add_bounds_tests(Suite *s);	/* bounds.c: "bounds" */
void add_fallback_tests(Suite *s);	/* fallback.c: "fallback" */
void add_badinput_tests(Suite *s);	/* badinput.c: "badinput" */
void add_fork_tests(Suite *s);		/* fork.c: "fork" */
void add_stall_tests(Suite *s);		/* stall.c: "stall" */
Suite *broken_writer_suite(void);	/* stress.c */

#endif /* PP_TEST_RCU_H */
