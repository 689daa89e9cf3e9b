/* SPDX-License-Identifier: MIT */
/*
 * harness.c - the benchmark programs' shared harness (harness.h): options,
 * the page-size check, child processes and their pipes, the machine header,
 * statistics, and the markdown and CSV writers.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* ---- errors and numbers -------------------------------------------------- */

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

unsigned long parse_ulong(const char *opt, const char *s, unsigned long lo, unsigned long hi)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi || s[0] == '-')
		die("%s: '%s' is not a number in %lu..%lu", opt, s, lo, hi);
	return v;
}

int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double median(const double *v, int n)
{
	double s[MAX_RUNS];

	memcpy(s, v, (size_t)n * sizeof(*s));
	qsort(s, (size_t)n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

double min_of(const double *v, int n)
{
	double m = v[0];

	for (int i = 1; i < n; i++)
		m = v[i] < m ? v[i] : m;
	return m;
}

double max_of(const double *v, int n)
{
	double m = v[0];

	for (int i = 1; i < n; i++)
		m = v[i] > m ? v[i] : m;
	return m;
}

double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

long rss_now_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

size_t bench_page_size(size_t lib)
{
	long ps = sysconf(_SC_PAGESIZE);

	if (ps <= 0 || (ps & (ps - 1)))
		die("bad page size %ld", ps);
	if (lib && lib != (size_t)ps)
		die("pp_page_size() %zu != system page size %zu", lib, (size_t)ps);
	return (size_t)ps;
}

/* ---- options ------------------------------------------------------------- */

static const struct option common_opts[] = {
	{ "quick", no_argument, NULL, 'q' },
	{ "runs", required_argument, NULL, 'r' },
	{ "csv", required_argument, NULL, 'c' },
	{ "help", no_argument, NULL, 'h' },
};
#define NR_COMMON (sizeof(common_opts) / sizeof(common_opts[0]))
#define MAX_OPTS 32
#define EXTRA_VAL 256		/* getopt's val of extra[i]: EXTRA_VAL + i */

void bench_usage_error(void (*usage)(FILE *f))
{
	usage(stderr);
	exit(1);
}

/* Store @arg of option @x. */
static void set_option(const struct bench_opt *x, const char *arg)
{
	char name[64];

	snprintf(name, sizeof(name), "--%s", x->name);
	switch (x->kind) {
	case OPT_TRUE:
	case OPT_FALSE:
		*(bool *)x->dst = x->kind == OPT_TRUE;
		break;
	case OPT_INT:
		*(int *)x->dst = (int)parse_ulong(name, arg, x->lo, x->hi);
		break;
	case OPT_UINT:
		*(unsigned *)x->dst = (unsigned)parse_ulong(name, arg, x->lo, x->hi);
		break;
	case OPT_ULONG:
		*(unsigned long *)x->dst = parse_ulong(name, arg, x->lo, x->hi);
		break;
	case OPT_STR:
		*(const char **)x->dst = arg;
		break;
	}
}

int bench_options(int argc, char **argv, struct bench_opts *o, const struct bench_opt *extra,
		  size_t nextra, void (*usage)(FILE *f))
{
	struct option all[MAX_OPTS];
	size_t n = 0;
	int c;

	if (NR_COMMON + nextra >= MAX_OPTS)
		die("too many options");
	for (size_t i = 0; i < NR_COMMON; i++)
		all[n++] = common_opts[i];
	for (size_t i = 0; i < nextra; i++)
		all[n++] = (struct option){ extra[i].name,
					    extra[i].kind <= OPT_FALSE ? no_argument
								       : required_argument,
					    NULL, EXTRA_VAL + (int)i };
	memset(&all[n], 0, sizeof(all[n]));
	o->argv0 = argv[0];
	o->argc = argc;
	o->argv = argv;
	while ((c = getopt_long(argc, argv, "", all, NULL)) != -1) {
		switch (c) {
		case 'q':
			o->quick = true;
			break;
		case 'r':
			o->runs = (int)parse_ulong("--runs", optarg, 1, MAX_RUNS);
			break;
		case 'c':
			o->csv = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			if (c < EXTRA_VAL || c >= EXTRA_VAL + (int)nextra)
				bench_usage_error(usage);
			set_option(&extra[c - EXTRA_VAL], optarg);
		}
	}
	return optind;
}

/* ---- child processes ----------------------------------------------------- */

/* Fork; the child runs @c->env and execs /proc/self/exe.  Returns its stdout. */
static FILE *spawn_self(const struct bench_child *c, pid_t *pid)
{
	int fd[2];
	FILE *in;

	/* Close-on-exec: children spawned at once do not hold each other's pipes. */
	if (pipe2(fd, O_CLOEXEC) != 0)
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
		if (c->quiet) {
			int null = open("/dev/null", O_WRONLY);

			if (null >= 0)
				dup2(null, STDERR_FILENO);
		}
		if (c->env)
			c->env(c->env_arg);
		execv("/proc/self/exe", (char *const *)c->args);
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

/* Hand each line to @c->line; a line it does not know is reported. */
static void read_lines(struct bench_child *c, FILE *in)
{
	char *line = NULL;
	size_t cap = 0;

	while (getline(&line, &cap, in) > 0) {
		int rc;

		if (!c->line)
			continue;
		line[strcspn(line, "\n")] = '\0';
		rc = c->line(c->ctx, line);
		if (rc > 0)
			c->got = true;
		else if (rc < 0 && line[0])
			fprintf(stderr, "%s: %s: unexpected output '%s'\n",
				program_invocation_short_name, c->what, line);
	}
	free(line);
}

int bench_run_child(struct bench_child *c)
{
	double t0 = now_ns();
	int status;
	pid_t pid;
	FILE *in;

	c->got = false;
	memset(&c->ru, 0, sizeof(c->ru));
	in = spawn_self(c, &pid);
	read_lines(c, in);
	fclose(in);
	while (wait4(pid, &status, 0, &c->ru) < 0)
		if (errno != EINTR)
			die("wait4: %s", strerror(errno));
	c->ns = now_ns() - t0;
	if (c->may_skip && WIFEXITED(status) && WEXITSTATUS(status) == EXIT_SKIPPED)
		return EXIT_SKIPPED;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && (!c->line || c->got))
		return 0;
	if (WIFSIGNALED(status))
		fprintf(stderr, "%s: %s: child killed by signal %d (%s)\n",
			program_invocation_short_name, c->what, WTERMSIG(status),
			strsignal(WTERMSIG(status)));
	else if (!c->quiet)
		fprintf(stderr, "%s: %s: child exited with status %d%s\n",
			program_invocation_short_name, c->what, WEXITSTATUS(status),
			!c->line || c->got ? "" : ", no results");
	return -1;
}

/* ---- the report ---------------------------------------------------------- */

static void cpu_model(char *buf, size_t len)
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

void bench_machine_get(struct bench_machine *m)
{
	cpu_set_t set;

	if (uname(&m->un) != 0) {
		snprintf(m->un.sysname, sizeof(m->un.sysname), "unknown");
		snprintf(m->un.release, sizeof(m->un.release), "unknown");
		snprintf(m->un.machine, sizeof(m->un.machine), "unknown");
	}
	cpu_model(m->cpu, sizeof(m->cpu));
	m->online = sysconf(_SC_NPROCESSORS_ONLN);
	m->cpus = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : (int)m->online;
}

void bench_print_machine(const struct bench_opts *o, size_t page_size)
{
	struct bench_machine m;

	bench_machine_get(&m);
	printf("machine: nproc %d (%ld online), %s, %s %s %s; page size %zu bytes\n", m.cpus,
	       m.online, m.cpu, m.un.sysname, m.un.release, m.un.machine, page_size);
	printf("command: ");
	print_command(stdout, o->argc, o->argv);
	printf("\n\n");
}

void print_command(FILE *f, int argc, char **argv)
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

void fmt_ratio(char *buf, size_t len, double num, double den)
{
	if (num > 0 && den > 0)
		snprintf(buf, len, "%.2f", num / den);
	else
		snprintf(buf, len, "n/a");
}

const char *fmt_count(char *buf, size_t len, unsigned long v)
{
	char tmp[32];
	size_t n = (size_t)snprintf(tmp, sizeof(tmp), "%lu", v), o = 0;

	for (size_t i = 0; i < n && o + 2 < len; i++) {
		if (i && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = '\0';
	return buf;
}

void md_head(const char *align, const char *cols, ...)
{
	va_list ap;

	fputs("| ", stdout);
	va_start(ap, cols);
	vprintf(cols, ap);
	va_end(ap);
	fputs(" |\n|", stdout);
	for (; *align; align++)
		fputs(*align == 'r' ? "--:|" : "---|", stdout);
	fputc('\n', stdout);
}

FILE *csv_open(const char *path, const char *header)
{
	FILE *f;

	if (!path)
		return NULL;
	f = fopen(path, "w");
	if (!f)
		die("%s: %s", path, strerror(errno));
	fprintf(f, "%s\n", header);
	return f;
}

int finish_report(FILE *csv, const char *csv_name, double t_start, bool failed)
{
	if (csv && fclose(csv) != 0)
		die("%s: %s", csv_name, strerror(errno));
	if (fflush(stdout) != 0)
		die("stdout: %s", strerror(errno));
	fprintf(stderr, "%s: total %.1f s\n", program_invocation_short_name,
		(now_ns() - t_start) / 1e9);
	return failed ? 1 : 0;
}
