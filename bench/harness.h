/* SPDX-License-Identifier: MIT */
/*
 * harness.h - what every benchmark program shares: the common options, the
 * page-size check, the child processes that run the cases (one per backend,
 * configuration and repetition, results read from a pipe), the machine and
 * command lines that head every report, statistics over the runs, and the
 * markdown and CSV writers.  A program keeps only its workload, its result
 * lines and its tables.
 */
#ifndef PP_BENCH_HARNESS_H
#define PP_BENCH_HARNESS_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#define MAX_RUNS	99	/* processes per case at most (--runs) */
#define EXIT_SKIPPED	2	/* a child's exit status: backend not available */

/* ---- errors and numbers -------------------------------------------------- */

/* Report on stderr, named after the program, and exit 1. */
__attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...);

/* A whole number in @lo..@hi for option @opt, or die naming it. */
unsigned long parse_ulong(const char *opt, const char *s, unsigned long lo, unsigned long hi);

double median(const double *v, int n);
double min_of(const double *v, int n);
double max_of(const double *v, int n);
int cmp_double(const void *a, const void *b);

/* CLOCK_MONOTONIC in ns. */
double now_ns(void);

/* VmRSS of this process in KiB, or 0. */
long rss_now_kib(void);

/*
 * The system page size, checked to be a power of two and, when @lib is not
 * 0 (pp_page_size() of a program that links the pool), to be the pool's.
 */
size_t bench_page_size(size_t lib);

/* ---- options ------------------------------------------------------------- */

/* The options every program takes; a program's own go to its handler. */
struct bench_opts {
	bool quick;		/* --quick */
	int runs;		/* --runs, 0 when not given */
	const char *csv;	/* --csv */
	const char *argv0;
	int argc;		/* the whole command line, for the report */
	char **argv;
};

/* A program's own option: where its value goes, and how it is read. */
enum bench_opt_kind {
	OPT_TRUE,	/* bool, set by the option (no argument) */
	OPT_FALSE,	/* bool, cleared by the option (no argument) */
	OPT_INT,	/* int, a whole number in lo..hi */
	OPT_UINT,	/* unsigned, a whole number in lo..hi */
	OPT_ULONG,	/* unsigned long, a whole number in lo..hi */
	OPT_STR,	/* const char *, the argument as it is */
};

struct bench_opt {
	const char *name;	/* --name */
	enum bench_opt_kind kind;
	void *dst;
	unsigned long lo, hi;	/* numbers only */
};

/*
 * Parse --quick, --runs N, --csv FILE and --help, and the program's own
 * options @extra (@nextra of them) into their places.  --help prints
 * @usage on stdout and exits 0; a bad option prints it on stderr and exits
 * 1; a bad number dies naming the option.  Returns optind: what is left is
 * the program's to check.
 */
int bench_options(int argc, char **argv, struct bench_opts *o, const struct bench_opt *extra,
		  size_t nextra, void (*usage)(FILE *f));

#define NR_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Print @usage on stderr and exit 1 (stray arguments). */
__attribute__((noreturn)) void bench_usage_error(void (*usage)(FILE *f));

/* ---- child processes ----------------------------------------------------- */

/*
 * One case in a process of its own: /proc/self/exe re-executed with @args,
 * its stdout read line by line through a pipe.  Several may run at once,
 * from threads of their own (the @line handler then runs on them).
 */
struct bench_child {
	const char *const *args;	/* argv, NULL-terminated */
	const char *what;		/* the case, in messages */
	/* In the child before exec (LD_PRELOAD, PAGEPOOL_CONF ...), or NULL. */
	void (*env)(const void *arg);
	const void *env_arg;
	/*
	 * Each line of the child's stdout (no newline); returns 1 for a result,
	 * 0 for any other line it knows, -1 for one it does not (the harness
	 * reports it).  NULL: the output is read and dropped (a probe).
	 */
	int (*line)(void *ctx, const char *line);
	void *ctx;
	bool quiet;		/* the child's stderr to /dev/null, no exit message */
	bool may_skip;		/* exit status EXIT_SKIPPED means "not available" */
	/* Out. */
	bool got;		/* a result line came */
	double ns;		/* fork to exit, wall clock */
	struct rusage ru;	/* the child's, from wait4() */
};

/*
 * Run @c's child to its end.  Returns 0 (exit status 0 and, unless @c->line
 * is NULL, a result), EXIT_SKIPPED (@c->may_skip), or -1: failed, and a
 * message has been printed (a result it printed before failing is still
 * counted in @c->got: the caller drops it).
 */
int bench_run_child(struct bench_child *c);

/* ---- the report ---------------------------------------------------------- */

struct bench_machine {
	struct utsname un;	/* "unknown" where uname() failed */
	char cpu[128];		/* model name from /proc/cpuinfo */
	int cpus;		/* this process's affinity */
	long online;
};

void bench_machine_get(struct bench_machine *m);

/*
 * "machine: nproc ..., <cpu>, <os>; page size N bytes" and "command: ..."
 * (the command line shell-quoted), then a blank line.
 */
void bench_print_machine(const struct bench_opts *o, size_t page_size);

/* The command line, shell-quoted where needed (libtool's wrapper's name). */
void print_command(FILE *f, int argc, char **argv);

/* "1.23" for @num / @den, "n/a" when either is not positive. */
void fmt_ratio(char *buf, size_t len, double num, double den);

/* "10,000,000": thousands separated with commas. */
const char *fmt_count(char *buf, size_t len, unsigned long v);

/*
 * A markdown table's head: "| " @cols " |" (the caller's " | "-separated
 * column names) and its rule, one "---" (l) or "--:" (r) per letter of
 * @align.
 */
__attribute__((format(printf, 2, 3))) void md_head(const char *align, const char *cols, ...);

/* Open --csv FILE (NULL: no CSV) and write its header line; dies on error. */
FILE *csv_open(const char *path, const char *header);

/*
 * End of a report: close the CSV, flush the tables, total time on stderr.
 * Returns the program's exit status: 1 if @failed, else 0.
 */
int finish_report(FILE *csv, const char *csv_name, double t_start, bool failed);

#endif /* PP_BENCH_HARNESS_H */
