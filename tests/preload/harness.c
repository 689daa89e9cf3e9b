/* SPDX-License-Identifier: MIT */
/*
 * harness.c - test_preload's shared part and main(): the pool's interface
 * reached through the shim (dlsym), the helpers that keep the compiler out
 * of the way, children forked or re-run with other settings, and the start:
 * make sure the shim is loaded (re-executing this program under LD_PRELOAD
 * if not), then run the suite or a "--child MODE" of settings.c.
 *
 * preload.h says how the tests are run; the tests themselves, by concern:
 * routing.c, contracts.c, threads.c (threads and fork), settings.c,
 * badinput.c.
 */
#include "preload.h"

/* ---- the pool's interface, from the shim ------------------------------ */

__typeof__(pp_owns) *owns_fn;
__typeof__(pp_stats) *stats_fn;
__typeof__(pp_page_size) *page_size_fn;
__typeof__(pp_option) *option_fn;
size_t PS;	/* page size */

int owns(const void *p)
{
	__asm__ volatile("" : "+r"(p));	/* no claim about what *p holds */
	return owns_fn(p);
}

struct pp_stats stats(void)
{
	struct pp_stats s;

	memset(&s, 0, sizeof(s));
	stats_fn(&s, sizeof(s));
	return s;
}

size_t in_use(void)
{
	return stats().in_use;
}

/* The file that defines the code at @addr contains the shim's name. */
bool in_shim(const void *addr, const char **file)
{
	Dl_info info;

	*file = "(no object)";
	if (!addr || !dladdr(addr, &info) || !info.dli_fname)
		return false;
	*file = info.dli_fname;
	return strstr(info.dli_fname, SHIM_NAME) != NULL;
}

static bool shim_loaded(void)
{
	const char *file;

	return dlsym(RTLD_DEFAULT, "pp_owns") != NULL && in_shim((void *)malloc, &file);
}

static bool resolve_pool_api(void)
{
	owns_fn = (__typeof__(owns_fn))dlsym(RTLD_DEFAULT, "pp_owns");
	stats_fn = (__typeof__(stats_fn))dlsym(RTLD_DEFAULT, "pp_stats");
	page_size_fn = (__typeof__(page_size_fn))dlsym(RTLD_DEFAULT, "pp_page_size");
	option_fn = (__typeof__(option_fn))dlsym(RTLD_DEFAULT, "pp_option");
	if (!owns_fn || !stats_fn || !page_size_fn || !option_fn)
		return false;
	PS = page_size_fn();
	return PS != 0;
}

/* ---- keep the compiler out of the way --------------------------------- */

void *opaque(void *p)
{
	__asm__ volatile("" : "+r"(p));
	return p;
}

size_t sz(size_t v)
{
	__asm__ volatile("" : "+r"(v));
	return v;
}

bool aligned(const void *p, size_t a)
{
	return ((uintptr_t)p & (a - 1)) == 0;
}

/* A byte pattern that depends on the position and @seed. */
unsigned char pat(size_t i, unsigned seed)
{
	return (unsigned char)(seed + i * 7 + (i >> 12) * 13 + 1);
}

void fill(void *p, size_t n, unsigned seed)
{
	unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		c[i] = pat(i, seed);
	__asm__ volatile("" : : "r"(p) : "memory");
}

/* The first offset where @p differs from fill(@seed), or @n. */
size_t check_fill(const void *p, size_t n, unsigned seed)
{
	const unsigned char *c = p;

	__asm__ volatile("" : : "r"(p) : "memory");
	for (size_t i = 0; i < n; i++)
		if (c[i] != pat(i, seed))
			return i;
	return n;
}

void dirty(void *p, int byte, size_t n)
{
	memset(p, byte, n);
	__asm__ volatile("" : : "r"(p) : "memory");
}

/* The first non-zero offset, or @n. */
size_t first_nonzero(const void *p, size_t n)
{
	const unsigned char *c = p;

	__asm__ volatile("" : : "r"(p) : "memory");
	for (size_t i = 0; i < n; i++)
		if (c[i])
			return i;
	return n;
}

/* The pool's ledger balances (@when, for the message). */
void check_ledger(const char *when)
{
	struct pp_stats s = stats();

	ck_assert_msg(s.committed == s.in_use + s.cached + s.free + s.reserved,
		      "%s: committed %zu != in_use %zu + cached %zu + free %zu + reserved %zu",
		      when, s.committed, s.in_use, s.cached, s.free, s.reserved);
}

/* ---- running a child: forked, or this program re-run ------------------ */

static void (*as_fn)(void);
static const char *as_mode, *as_conf;

/* In the child: an alarm against hangs, then the function or the re-run. */
static void child_body(void)
{
	alarm(15);
	if (as_fn) {
		as_fn();
		return;
	}
	if (as_conf)
		setenv("PAGEPOOL_CONF", as_conf, 1);
	else
		unsetenv("PAGEPOOL_CONF");
	execl("/proc/self/exe", "test_preload", "--child", as_mode, (char *)NULL);
	dprintf(STDERR_FILENO, "exec /proc/self/exe: %s\n", strerror(errno));
	_exit(99);
}

/*
 * Run @fn in a forked child with its stderr in @c (checkutil.h's
 * run_child()), or, if @fn is NULL, this program as "--child @mode" with
 * PAGEPOOL_CONF=@conf.  A @fn that returns exits 0 after writing @after.
 */
void run_child_as(void (*fn)(void), const char *mode, const char *conf,
			 struct child *c, const char *after)
{
	as_fn = fn;
	as_mode = mode;
	as_conf = conf;
	run_child(child_body, c, after);
}

/* ---- main ------------------------------------------------------------- */

static Suite *preload_suite(void)
{
	Suite *s = suite_create("preload");
	struct preload_tcases t = {
		.interposition = new_tcase("interposition"),
		.routing = new_tcase("routing"),
		.exactness = new_tcase("exactness"),
		.contracts = new_tcase("contracts"),
		.threads = new_tcase("threads"),
		.reports = new_tcase("reports"),
	};

	add_routing_tests(&t);
	add_contracts_tests(&t);
	add_threads_tests(&t);
	add_settings_tests(&t);
	add_badinput_tests(&t);
	suite_add_tcase(s, t.interposition);
	suite_add_tcase(s, t.routing);
	suite_add_tcase(s, t.exactness);
	suite_add_tcase(s, t.contracts);
	suite_add_tcase(s, t.threads);
	suite_add_tcase(s, t.reports);
	return s;
}

/*
 * Make sure the shim is loaded, with no PAGEPOOL_CONF from outside: else
 * re-execute this program with LD_PRELOAD=$PP_PRELOAD_SO.  Returns only
 * when the shim is there.
 */
static void ensure_shim(char **argv, bool child_mode)
{
	const char *so = getenv("PP_PRELOAD_SO");
	bool loaded = shim_loaded();

	if (loaded && (child_mode || !getenv("PAGEPOOL_CONF")))
		return;
	if (child_mode || getenv(REEXEC_MARK)) {
		const char *file;

		in_shim((void *)malloc, &file);
		fprintf(stderr, "test_preload: FAIL: the shim is not loaded (LD_PRELOAD=%s; "
			"pp_owns %s; malloc is in %s)\n", getenv("LD_PRELOAD") ?: "(unset)",
			dlsym(RTLD_DEFAULT, "pp_owns") ? "found" : "not found", file);
		exit(child_mode ? 90 : EXIT_FAILURE);
	}
	if (!loaded && (!so || !*so || access(so, R_OK) != 0)) {
		printf("SKIP: the preload shim is not loaded and PP_PRELOAD_SO (%s) does not "
		       "name a readable file\n", so ? so : "unset");
		exit(77);
	}
	if (!loaded)
		setenv("LD_PRELOAD", so, 1);
	unsetenv("PAGEPOOL_CONF");
	setenv(REEXEC_MARK, "1", 1);
	fflush(NULL);
	execv("/proc/self/exe", argv);
	fprintf(stderr, "test_preload: exec /proc/self/exe: %s\n", strerror(errno));
	exit(EXIT_FAILURE);
}

int main(int argc, char **argv)
{
	bool child_mode = argc == 3 && strcmp(argv[1], "--child") == 0;

	ensure_shim(argv, child_mode);
	if (!resolve_pool_api()) {
		fprintf(stderr, "test_preload: the shim does not export pp_owns, pp_stats, "
			"pp_page_size and pp_option\n");
		return child_mode ? 90 : EXIT_FAILURE;
	}
	if (child_mode) {
		if (strcmp(argv[2], "preload_min") == 0)
			return child_preload_min();
		if (strcmp(argv[2], "preload_fit") == 0)
			return child_preload_fit();
		if (strcmp(argv[2], "stats") == 0)
			return child_stats();
		if (strcmp(argv[2], "cap") == 0)
			return child_cap();
		fprintf(stderr, "test_preload: unknown child mode %s\n", argv[2]);
		return 91;
	}
	return run_suite(preload_suite());
}
