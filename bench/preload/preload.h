/* SPDX-License-Identifier: MIT */
/*
 * preload.h - preload-bench's parts: the workload that runs in a child
 * under one allocator (workload.c) and the driver that runs the children
 * and prints the table (main.c, which describes the program).
 */
#ifndef PP_BENCH_PRELOAD_H
#define PP_BENCH_PRELOAD_H

#include <stdbool.h>

#include "harness.h"

#define WSET		256		/* live buffers per thread */
#define RING		256		/* cross-thread ring slots per thread */
#define DRAIN_EVERY	8		/* steps between ring drains (power of two) */
#define WAIT_MS		1		/* longest sleep on a ring */
#define MIN_SIZE	4096		/* new buffers: MIN_SIZE .. MAX_SIZE bytes */
#define MAX_SIZE	65536
#define GROW_MIN	4096		/* realloc growth: GROW_MIN .. GROW_MAX_STEP more */
#define GROW_MAX_STEP	32768
#define GROW_LIMIT	131072		/* no buffer grows beyond this */
#define MARK_PAGE	4096		/* one byte written per MARK_PAGE bytes */
#define HDR_SIZE	16
#define END_SIZE	8
#define ALIGN		4096		/* posix_memalign alignment */
#define VERIFY_SIZE	16384		/* the pp_owns(malloc()) check */
#define CHECK_ZERO_EVERY 8		/* callocs per check of their zeroes */

#define DEF_THREADS	4
#define MAX_THREADS	256
#define FULL_OPS	400000UL	/* steps per thread */
#define QUICK_OPS	100000UL
#define FULL_RUNS	5
#define QUICK_RUNS	3

enum config { C_GLIBC, C_JE, C_PP, NR_CONFIG };

extern const char *const config_names[NR_CONFIG];
extern const char je_preload[];

/*
 * The child: check it runs under @cfg's allocator (print the V line), then,
 * unless @probe, run the workload and print its R (and P) lines.  Returns
 * the exit status: 0, EXIT_SKIPPED (jemalloc not loaded) or 1.
 */
int child_main(enum config cfg, int nthreads, unsigned long ops, bool verify, bool probe,
	       bool quick);

#endif /* PP_BENCH_PRELOAD_H */
