/* SPDX-License-Identifier: MIT */
/*
 * fallback.h - fallback-bench's parts: the flood that runs one
 * configuration in a child (flood.c) and the sweep that runs the children
 * and prints the tables (main.c, which describes the program).
 */
#ifndef PP_BENCH_FALLBACK_H
#define PP_BENCH_FALLBACK_H

#include <stddef.h>

#include "harness.h"

#define MAX_THREADS	64
#define DEF_THREADS	2
#define DEF_DELAY_MS	10
/*
 * Objects per second per flooder.  10M with 509 pointers per block is ~19.6k
 * blocks/s per thread: two threads and a 10 ms grace period keep ~393 pages
 * in flight, the seed's "~400 pages to cover the bandwidth".
 */
#define DEF_RATE	10000000UL
#define FULL_OBJECTS	5000000UL	/* per thread: ~0.5 s, ~50 grace periods */
#define FULL_RUNS	3
#define QUICK_OBJECTS	1500000UL	/* per thread: ~0.15 s */
#define QUICK_RUNS	1
#define DEF_SAMPLE_US	1000
#define MIN_PRECOMMIT_MIB 64
#define CHUNK		256		/* objects between pacing/reclaim checks */
#define PACE_SLACK_NS	100000		/* sleep when this far ahead of the pace */
#define ZERO_PCT	0.1		/* "fallback rate ~0": below this % */

#define NR_HIGH 4
extern const unsigned highs[NR_HIGH];

enum mode { M_TRY, M_NOWAIT, M_TRY_NOWAIT, NR_MODE };
enum policy { P_SMALL, P_LARGE, P_PREFILL, NR_POLICY };
enum reclaim { R_REMOTE, R_LOCAL, NR_RECLAIM };

extern const char *const mode_names[NR_MODE];
extern const char *const policy_names[NR_POLICY];
extern const char *const policy_desc[NR_POLICY];
extern const char *const reclaim_names[NR_RECLAIM];

extern size_t page_size;
extern size_t slots;			/* pointers per block */

/* Settings shared by parent and child (the parent passes them on). */
struct params {
	unsigned threads;
	unsigned delay_ms;
	unsigned long rate;		/* objects/s per thread; 0 = flat out */
	unsigned long objects;		/* per thread */
	unsigned sample_us;
	unsigned long precommit_mib;	/* 0 = automatic */
};

/* One configuration, the child's. */
struct config {
	enum mode mode;
	enum policy policy;
	enum reclaim reclaim;
	unsigned high, batch;
	struct params p;
};

/* Pointers per page-sized block (a 3-word header, then the pointers). */
size_t block_slots(void);

/* The child: flood with configuration @c and print its R line; exit status. */
int child_main(const struct config *c);

#endif /* PP_BENCH_FALLBACK_H */
