/* SPDX-License-Identifier: MIT */
/*
 * preload.h - what the files of test_preload (tests/preload/) share: the
 * LD_PRELOAD shim (libpagepool-preload.so) keeps the C and POSIX contracts
 * of the malloc family while it routes page-sized requests to the pool.
 *
 * This program does not link libpagepool: it reaches pp_owns(), pp_stats()
 * and the rest through dlsym(RTLD_DEFAULT, ...) in the preloaded shim.  When
 * the shim is not loaded, main() re-executes the program (/proc/self/exe)
 * with LD_PRELOAD=$PP_PRELOAD_SO (no PP_PRELOAD_SO: exit 77, skip); still
 * not loaded after that is a failure.  A PAGEPOOL_CONF inherited from the
 * environment is dropped the same way, since the shim reads it before main().
 *
 * Each test runs in its own forked child (CK_FORK).  The tests that need
 * other settings re-run this program as "--child MODE" with PAGEPOOL_CONF
 * set; the bad-input tests fork a child and expect it to die of SIGABRT
 * with a message naming the call.
 *
 * The calls go through opaque() so that the compiler cannot elide a
 * malloc/free pair, fold a comparison of two allocations or assume what
 * calloc's memory holds; sz() hides constant sizes the same way.
 *
 * Everything declared here is defined in harness.c, but for each file's
 * add_*_tests() and settings.c's child modes.
 */
#ifndef PP_TEST_PRELOAD_H
#define PP_TEST_PRELOAD_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pagepool.h"
#include "checkutil.h"

#define SHIM_NAME "libpagepool-preload"
#define REEXEC_MARK "PP_TEST_PRELOAD_REEXECUTED"
#define MIB ((size_t)1 << 20)
#define MAX_RUN ((size_t)1 << PP_MAX_ORDER)	/* pages in the largest pool request */

/* ---- the pool's interface, from the shim -------------------------------- */

extern __typeof__(pp_owns) *owns_fn;
extern __typeof__(pp_stats) *stats_fn;
extern __typeof__(pp_page_size) *page_size_fn;
extern __typeof__(pp_option) *option_fn;
extern size_t PS;	/* page size */

int owns(const void *p);
struct pp_stats stats(void);
size_t in_use(void);
bool in_shim(const void *addr, const char **file);
void check_ledger(const char *when);

/* ---- keep the compiler out of the way ----------------------------------- */

void *opaque(void *p);
size_t sz(size_t v);
bool aligned(const void *p, size_t a);
unsigned char pat(size_t i, unsigned seed);
void fill(void *p, size_t n, unsigned seed);
size_t check_fill(const void *p, size_t n, unsigned seed);
void dirty(void *p, int byte, size_t n);
size_t first_nonzero(const void *p, size_t n);

/* ---- running a child: forked, or this program re-run -------------------- */

void run_child_as(void (*fn)(void), const char *mode, const char *conf,
		  struct child *c, const char *after);

/* settings.c: "--child MODE", each under its PAGEPOOL_CONF. */
int child_preload_min(void);
int child_preload_fit(void);
int child_stats(void);
int child_cap(void);

/* ---- the suite: each file adds its tests to the test cases they join ---- */

struct preload_tcases {
	TCase *interposition, *routing, *exactness, *contracts, *threads, *reports;
};

void add_routing_tests(struct preload_tcases *t);
void add_contracts_tests(struct preload_tcases *t);
void add_threads_tests(struct preload_tcases *t);
void add_settings_tests(struct preload_tcases *t);
void add_badinput_tests(struct preload_tcases *t);

#endif /* PP_TEST_PRELOAD_H */
