/* SPDX-License-Identifier: MIT */
/*
 * benchutil.h - helpers shared by the benchmark programs: timing, medians,
 * ratios, and the machine and command lines every report starts with.
 */
#ifndef PP_BENCHUTIL_H
#define PP_BENCHUTIL_H

#include <errno.h>
#include <sys/wait.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_RUNS	99	/* processes per case at most (--runs) */

/* Report on stderr, named after the program, and exit 1. */
static inline __attribute__((noreturn, format(printf, 1, 2)))
void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", program_invocation_short_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* The argument of --runs: 1 .. MAX_RUNS. */
/* A whole number in @lo..@hi for option @opt, or die naming it. */
static inline unsigned long parse_ulong(const char *opt, const char *s, unsigned long lo,
					unsigned long hi)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi || s[0] == '-')
		die("%s: '%s' is not a number in %lu..%lu", opt, s, lo, hi);
	return v;
}

static inline int parse_runs(const char *arg)
{
	return (int)parse_ulong("--runs", arg, 1, MAX_RUNS);
}

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static inline double median(const double *v, int n)
{
	double s[MAX_RUNS];

	memcpy(s, v, (size_t)n * sizeof(*s));
	qsort(s, (size_t)n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static inline double min_of(const double *v, int n)
{
	double m = v[0];

	for (int i = 1; i < n; i++)
		m = v[i] < m ? v[i] : m;
	return m;
}

static inline double max_of(const double *v, int n)
{
	double m = v[0];

	for (int i = 1; i < n; i++)
		m = v[i] > m ? v[i] : m;
	return m;
}

static inline double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline int nr_cpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		return CPU_COUNT(&set);
	return (int)sysconf(_SC_NPROCESSORS_ONLN);
}

static inline void cpu_model(char *buf, size_t len)
{
	static const char *const keys[] = { "model name", "Model", "Hardware", "cpu model",
					    "uarch", "cpu" };
	FILE *f = fopen("/proc/cpuinfo", "r");
	char *line = NULL;
	size_t cap = 0;
	size_t best = sizeof(keys) / sizeof(keys[0]);

	snprintf(buf, len, "unknown CPU");
	if (!f)
		return;
	while (getline(&line, &cap, f) > 0) {
		char *colon = strchr(line, ':');

		if (!colon)
			continue;
		for (size_t k = 0; k < best; k++) {
			size_t kl = strlen(keys[k]);

			if (!strncmp(line, keys[k], kl) && (line[kl] == '\t' || line[kl] == ' ' ||
							    line[kl] == ':')) {
				char *v = colon + 1;

				v += strspn(v, " \t");
				v[strcspn(v, "\n")] = '\0';
				if (*v) {
					snprintf(buf, len, "%s", v);
					best = k;
				}
				break;
			}
		}
	}
	free(line);
	fclose(f);
}

/* The command line, shell-quoted where needed. */
static inline void print_command(FILE *f, int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *libs = i ? NULL : strstr(a, "/.libs/");
		char buf[PATH_MAX];

		if (libs) {	/* libtool's wrapper ran us: show the wrapper */
			const char *base = libs + strlen("/.libs/");

			if (!strncmp(base, "lt-", 3))
				base += 3;
			snprintf(buf, sizeof(buf), "%.*s/%s", (int)(libs - a), a, base);
			a = buf;
		}
		if (i)
			fputc(' ', f);
		if (*a && !a[strcspn(a, " \t\n'\"\\$`*?[]{}()<>|&;!#~")]) {
			fputs(a, f);
			continue;
		}
		fputc('\'', f);
		for (; *a; a++)
			if (*a == '\'')
				fputs("'\\''", f);
			else
				fputc(*a, f);
		fputc('\'', f);
	}
}

static inline void fmt_ratio(char *buf, size_t len, double num, double den)
{
	if (num > 0 && den > 0)
		snprintf(buf, len, "%.2f", num / den);
	else
		snprintf(buf, len, "n/a");
}

/*
 * Re-run this program (/proc/self/exe) with @args, its stdout on a pipe.
 * @in_child (may be NULL) prepares the child's environment before exec.
 * Return: the pipe's reading end; *@pid the child.
 */
static inline FILE *spawn_self(const char *const *args, void (*in_child)(const void *),
			       const void *arg, pid_t *pid)
{
	int fd[2];
	FILE *in;

	if (pipe(fd) != 0)
		die("pipe: %s", strerror(errno));
	fflush(NULL);
	*pid = fork();
	if (*pid < 0)
		die("fork: %s", strerror(errno));
	if (*pid == 0) {
		if (dup2(fd[1], STDOUT_FILENO) < 0)
			_exit(127);
		close(fd[0]);
		close(fd[1]);
		if (in_child)
			in_child(arg);
		execv("/proc/self/exe", (char *const *)args);
		fprintf(stderr, "%s: exec /proc/self/exe: %s\n", program_invocation_short_name,
			strerror(errno));
		_exit(127);
	}
	close(fd[1]);
	in = fdopen(fd[0], "r");
	if (!in)
		die("fdopen: %s", strerror(errno));
	return in;
}

/* The exit status of child @pid. */
static inline int wait_child(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid: %s", strerror(errno));
	return status;
}

/* End of a report: close the CSV, flush the table, total time on stderr. */
static inline void finish_report(FILE *csv, const char *csv_name, double t_start)
{
	if (csv && fclose(csv) != 0)
		die("%s: %s", csv_name, strerror(errno));
	if (fflush(stdout) != 0)
		die("stdout: %s", strerror(errno));
	fprintf(stderr, "%s: total %.1f s\n", program_invocation_short_name,
		(now_ns() - t_start) / 1e9);
}

#endif /* PP_BENCHUTIL_H */
