/* SPDX-License-Identifier: MIT */
/*
 * test_options.c - pp_configure() and PAGEPOOL_CONF.
 *
 * Each test runs in its own forked child (Check's CK_FORK), so each starts
 * with a fresh, uninitialised pool and may call pp_configure() or set
 * PAGEPOOL_CONF before the first use.
 */
#include <strings.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)
#define GIB ((size_t)1 << 30)

/* Initialise the pool with one allocation and return its statistics. */
static struct pp_stats first_use(void)
{
	void *p = pp_alloc_page(0);
	struct pp_stats s;

	ck_assert_msg(p != NULL, "first allocation failed: %s", strerror(errno));
	pp_free_page(p);
	s = get_stats();
	return s;
}

/* Case-insensitive substring. */
static bool has_text(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	if (!n)
		return true;
	for (; *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return true;
	return false;
}





/* ---- valid strings take effect ---------------------------------------- */

START_TEST(test_cap_suffixes)
{
	static const struct {
		const char *conf;
		size_t cap;
	} v[] = {
		{ "cap=8M", 8 * MIB },
		{ "cap=12288K", 12 * MIB },
		{ "cap=1G", GIB },
		{ "cap=9437184", 9 * MIB },
	};
	/* One pool per process: fork one child per string. */
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		pid_t pid;
		int st;

		fflush(NULL);
		pid = fork();
		ck_assert_int_ne(pid, -1);
		if (pid == 0) {
			struct pp_stats s;

			if (pp_configure(v[i].conf) != 0)
				_exit(1);
			if (!pp_alloc_page(0))
				_exit(2);
			s = get_stats();
			_exit(s.cap_bytes == v[i].cap ? 0 : 3);
		}
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			      "\"%s\": child status %#x (1 rejected, 2 no page, 3 cap_bytes wrong)",
			      v[i].conf, st);
	}
}
END_TEST

START_TEST(test_arena_size)
{
	struct pp_stats s;

	ck_assert_int_eq(pp_configure("arena=64M"), 0);
	s = first_use();
	ck_assert_uint_eq(s.arena_bytes, 64 * MIB);
}
END_TEST

START_TEST(test_arena_size_g)
{
	struct pp_stats s;

	ck_assert_int_eq(pp_configure("arena=2G,cap=16M"), 0);
	s = first_use();
	ck_assert_uint_eq(s.arena_bytes, 2 * GIB);
	ck_assert_uint_eq(s.cap_bytes, 16 * MIB);
}
END_TEST

/* grow: bytes committed per growth (multiples of the largest block). */
START_TEST(test_grow)
{
	const size_t blk = ps() << PP_MAX_ORDER, grow = 4 * blk;
	char conf[64];
	struct pp_stats s;
	void *p;

	snprintf(conf, sizeof(conf), "grow=%zuK", grow / KIB);
	ck_assert_int_eq(pp_configure(conf), 0);
	p = pp_alloc_page(0);
	ck_assert_ptr_nonnull(p);
	s = get_stats();
	ck_assert_msg(s.committed * ps() == grow && s.grows == 1,
		      "%s: first growth committed %zu bytes in %zu growths",
		      conf, s.committed * ps(), s.grows);
	pp_free_page(p);
	check_conservation();
}
END_TEST

/* high: the cached page count never exceeds it. */
static size_t free_many_watch_cache(size_t n, size_t high)
{
	void **v = calloc(n, sizeof(*v));
	size_t most = 0;

	ck_assert_ptr_nonnull(v);
	for (size_t i = 0; i < n; i++) {
		v[i] = pp_alloc_page(0);
		ck_assert_ptr_nonnull(v[i]);
		ck_assert_msg(cached_pages() <= high, "cache holds %zu pages, high %zu",
			      cached_pages(), high);
	}
	for (size_t i = 0; i < n; i++) {
		size_t c;

		pp_free_page(v[i]);
		c = cached_pages();
		ck_assert_msg(c <= high, "after %zu frees the cache holds %zu pages, high %zu",
			      i + 1, c, high);
		if (c > most)
			most = c;
	}
	check_conservation();
	free(v);
	return most;
}

START_TEST(test_high_small)
{
	size_t most;

	ck_assert_int_eq(pp_configure("high=16,batch=4"), 0);
	most = free_many_watch_cache(100, 16);
	ck_assert_uint_ge(most, 1);
}
END_TEST

START_TEST(test_high_large)
{
	size_t most;

	/* Control: a larger high lets the cache hold more than 16. */
	ck_assert_int_eq(pp_configure("high=128,batch=8"), 0);
	most = free_many_watch_cache(300, 128);
	ck_assert_msg(most > 16, "high=128 but the cache never held more than %zu", most);
}
END_TEST

/* batch: a refill moves a batch. */
static void batch_case(size_t batch)
{
	char conf[64];
	struct pp_stats s;
	void *p;

	snprintf(conf, sizeof(conf), "high=64,batch=%zu", batch);
	ck_assert_int_eq(pp_configure(conf), 0);
	p = pp_alloc_page(0);
	ck_assert_ptr_nonnull(p);
	s = get_stats();
	ck_assert_uint_eq(s.refills, 1);
	ck_assert_msg(s.cached - s.cache_meta + 1 >= batch &&
		      s.cached - s.cache_meta <= batch,
		      "%s: one refill left %zu pages cached", conf,
		      s.cached - s.cache_meta);
	pp_free_page(p);
	check_conservation();
}

START_TEST(test_batch_8)
{
	batch_case(8);
}
END_TEST

START_TEST(test_batch_24)
{
	batch_case(24);
}
END_TEST

START_TEST(test_flags_zero_one)
{
	ck_assert_int_eq(pp_configure("stats=0,verbose=0"), 0);
	ck_assert_int_eq(pp_configure("cap=0"), 0);
	first_use();
	check_conservation();
}
END_TEST

/*
 * Blanks around keys and values are skipped, as a user writes a list
 * ("stats=1, verbose=1"), in pp_configure() and PAGEPOOL_CONF alike; a
 * blank inside a key or a value is still an error.
 */
START_TEST(test_blanks_around_items)
{
	size_t v;

	ck_assert_int_eq(setenv("PAGEPOOL_CONF", "madv_free=1, verbose=0 ,\tcap = 8M\t", 1), 0);
	ck_assert_msg(pp_configure(" high = 64 , batch=32,  , high_max=\t128") == 0,
		      "blanks around keys and values rejected: %s", strerror(errno));
	ck_assert_int_eq(pp_option("madv_free", &v), 0);
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(pp_option("cap", &v), 0);
	ck_assert_uint_eq(v, 8 * MIB);
	ck_assert_int_eq(pp_option("high", &v), 0);
	ck_assert_uint_eq(v, 64);
	ck_assert_int_eq(pp_option("batch", &v), 0);
	ck_assert_uint_eq(v, 32);
	ck_assert_int_eq(pp_option("high_max", &v), 0);
	ck_assert_uint_eq(v, 128);
	ck_assert_int_eq(setenv("PAGEPOOL_CONF", "", 1), 0);
}
END_TEST

/* ---- bad strings ------------------------------------------------------- */

static const struct bad_case {
	const char *conf;
	const char *word1, *word2;	/* the message names one of these */
} bad_cases[] = {
	{ "bogus=1", "bogus", NULL },
	{ "cap", "cap", NULL },				/* missing '=' */
	{ "cap=", "cap", NULL },			/* empty value */
	{ "high=", "high", NULL },
	{ "high=abc", "high", "abc" },			/* non-numeric */
	{ "stats=maybe", "stats", "maybe" },
	{ "high=-5", "high", "-5" },			/* negative */
	{ "cap=-1", "cap", "-1" },
	{ "cap=99999999999999999999999", "cap", "99999999999999999999999" },
	{ "high=99999999999999999999999", "high", "99999999999999999999999" },
	{ "arena=99999999999G", "arena", "99999999999G" },	/* overflow by suffix */
	/* Overflows that would wrap around to valid values. */
	{ "high=18446744073709551621", "high", "18446744073709551621" },	/* 2^64 + 5 */
	{ "cap=18446744073709551616", "cap", "18446744073709551616" },	/* 2^64 */
	{ "cap=17179869184G", "cap", "17179869184G" },			/* 2^34 G = 2^64 */
	{ "cap=8X", "cap", "8X" },			/* bad suffix */
	{ "grow=1Mx", "grow", "1Mx" },
	{ "high=8,batch=16", "batch", "high" },		/* batch > high */
	{ "high=0", "high", NULL },
	{ "high_max=65537", "high_max", NULL },
	{ "high_max=lots", "high_max", "lots" },
	{ "stats=2", "stats", "2" },			/* 0/1 only */
	{ "verbose=1,cap=8M,bogus=1", "bogus", NULL },
	{ "rcu_delay_ms=0", "rcu_delay_ms", NULL },	/* libpagepool-rcu's keys */
	{ "rcu_delay_ms=3600001", "rcu_delay_ms", NULL },
	{ "rcu_spares=65", "rcu_spares", NULL },
	{ "rcu_inflight=lots", "rcu_inflight", "lots" },
	{ "rcu_blocks=2", "rcu_blocks", "2" },
	{ "preload_min=0", "preload_min", NULL },	/* the preload shim's */
	{ "preload_min=4Q", "preload_min", "4Q" },
	{ "cap=1", "cap", NULL },		/* below one page: no growth could fit */
	{ "cap=4095", "cap", NULL },
	{ "hi gh=64", "hi gh", NULL },			/* a blank inside a key */
	{ "high=6 4", "high", "6 4" },			/* ... inside a value */
	{ "cap=64 M", "cap", "64 M" },
	{ " = 1", "key", "=" },				/* no key at all */
};
enum { NBAD = sizeof(bad_cases) / sizeof(bad_cases[0]) };

START_TEST(test_bad_string)
{
	const struct bad_case *b = &bad_cases[_i];
	struct capture c;
	char msg[4096];
	int r, e;

	capture_begin(&c);
	errno = 0;
	r = pp_configure(b->conf);
	e = errno;
	capture_end(&c, msg, sizeof(msg));
	ck_assert_msg(r == -1 && e == EINVAL, "\"%s\": returned %d errno %d, want -1/EINVAL",
		      b->conf, r, e);
	ck_assert_msg(has_text(msg, b->word1) || (b->word2 && has_text(msg, b->word2)),
		      "\"%s\": message does not name \"%s\"%s%s: \"%.500s\"", b->conf,
		      b->word1, b->word2 ? " or " : "", b->word2 ? b->word2 : "", msg);
	/* A rejected string does not initialise the pool. */
	ck_assert_msg(pp_configure("cap=16M") == 0,
		      "\"%s\": a valid pp_configure after it failed (%s)", b->conf,
		      strerror(errno));
}
END_TEST

/* cap= of exactly one page is a cap: one page, then ENOMEM. */
START_TEST(test_cap_one_page)
{
	char conf[64];
	void *p, *q;

	snprintf(conf, sizeof(conf), "cap=%zu", pp_page_size());
	ck_assert_int_eq(pp_configure(conf), 0);
	p = pp_alloc_page(0);
	ck_assert_msg(p != NULL, "%s: no page at all (errno %d)", conf, errno);
	errno = 0;
	q = pp_alloc_page(0);
	ck_assert_msg(q == NULL && errno == ENOMEM, "%s: a second page %p (errno %d)",
		      conf, q, errno);
	pp_free_page(p);
	check_conservation();
}
END_TEST

/* The whole string is rejected when any part is bad. */
static const char *const partly_bad[] = {
	"cap=8M,bogus=1",
	"bogus=1,cap=8M",
	"cap=8M,high=0",
	"cap=8M,arena=",
	"cap=8M,verbose=1,high=abc",
};
enum { NPARTLY = sizeof(partly_bad) / sizeof(partly_bad[0]) };

START_TEST(test_partly_bad_rejected)
{
	struct capture c;
	struct pp_stats s;
	char msg[4096];
	int r;

	capture_begin(&c);
	r = pp_configure(partly_bad[_i]);
	capture_end(&c, msg, sizeof(msg));
	ck_assert_int_eq(r, -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(pp_configure("arena=64M"), 0);
	capture_begin(&c);
	s = first_use();
	capture_end(&c, msg, sizeof(msg));
	ck_assert_msg(s.cap_bytes != 8 * MIB, "\"%s\" was rejected but cap=8M applied",
		      partly_bad[_i]);
	ck_assert_uint_eq(s.arena_bytes, 64 * MIB);
	/* verbose=1 in a rejected string must not take effect either. */
	ck_assert_msg(msg[0] == '\0', "\"%s\" was rejected, yet first use printed \"%.300s\"",
		      partly_bad[_i], msg);
}
END_TEST

START_TEST(test_busy_after_first_use)
{
	struct capture c;
	struct pp_stats s;
	char msg[4096];
	void *p = pp_alloc_page(0);
	int r1, e1, r2, e2;

	ck_assert_ptr_nonnull(p);
	capture_begin(&c);
	errno = 0;
	r1 = pp_configure("cap=8M");
	e1 = errno;
	pp_free_page(p);
	pp_thread_drain();
	errno = 0;
	r2 = pp_configure("cap=16M");
	e2 = errno;
	capture_end(&c, msg, sizeof(msg));
	ck_assert_msg(r1 == -1 && e1 == EBUSY, "after first use: %d errno %d, want -1/EBUSY",
		      r1, e1);
	ck_assert_msg(r2 == -1 && e2 == EBUSY, "after a drain: %d errno %d, want -1/EBUSY",
		      r2, e2);
	s = get_stats();
	ck_assert_uint_ne(s.cap_bytes, 8 * MIB);
	ck_assert_uint_ne(s.cap_bytes, 16 * MIB);
}
END_TEST

START_TEST(test_null_conf)
{
	struct capture c;
	char msg[4096];
	int r, e;

	capture_begin(&c);
	errno = 0;
	r = pp_configure(NULL);
	e = errno;
	capture_end(&c, msg, sizeof(msg));
	ck_assert_msg(r == -1 && e == EINVAL, "pp_configure(NULL): %d errno %d", r, e);
	ck_assert_msg(strstr(msg, "pp_configure") != NULL,
		      "pp_configure(NULL): no message naming the call: \"%.300s\"", msg);
}
END_TEST

/* ---- PAGEPOOL_CONF -------------------------------------------------- */

START_TEST(test_env_honoured)
{
	struct pp_stats s;

	ck_assert_int_eq(setenv("PAGEPOOL_CONF", "cap=8M,arena=64M", 1), 0);
	s = first_use();
	ck_assert_uint_eq(s.cap_bytes, 8 * MIB);
	ck_assert_uint_eq(s.arena_bytes, 64 * MIB);
	check_conservation();
}
END_TEST

START_TEST(test_env_bad_keeps_defaults)
{
	struct capture c;
	struct pp_stats s;
	char msg[4096];
	void *p;

	ck_assert_int_eq(setenv("PAGEPOOL_CONF", "cap=8M,bogus=1", 1), 0);
	capture_begin(&c);
	p = pp_alloc_page(0);
	capture_end(&c, msg, sizeof(msg));
	ck_assert_msg(p != NULL, "pool unusable after a bad PAGEPOOL_CONF");
	ck_assert_msg(has_text(msg, "bogus"),
		      "bad PAGEPOOL_CONF: message does not name \"bogus\": \"%.500s\"", msg);
	s = get_stats();
	ck_assert_msg(s.cap_bytes != 8 * MIB, "bad PAGEPOOL_CONF partly applied (cap=8M)");
	memset(p, 1, ps());
	pp_free_page(p);
	check_conservation();
}
END_TEST

START_TEST(test_env_bad_value)
{
	struct capture c;
	char msg[4096];
	void *p;

	ck_assert_int_eq(setenv("PAGEPOOL_CONF", "high=banana", 1), 0);
	capture_begin(&c);
	p = pp_alloc_page(0);
	capture_end(&c, msg, sizeof(msg));
	ck_assert_ptr_nonnull(p);
	ck_assert_msg(has_text(msg, "banana") || has_text(msg, "high"),
		      "bad PAGEPOOL_CONF value not reported: \"%.500s\"", msg);
	pp_free_page(p);
	check_conservation();
}
END_TEST

START_TEST(test_configure_overrides_env)
{
	struct pp_stats s;

	ck_assert_int_eq(setenv("PAGEPOOL_CONF", "cap=8M,arena=64M", 1), 0);
	ck_assert_int_eq(pp_configure("cap=16M"), 0);
	s = first_use();
	ck_assert_msg(s.cap_bytes == 16 * MIB, "cap_bytes %zu: pp_configure did not override PAGEPOOL_CONF",
		      s.cap_bytes);
	/* Keys pp_configure did not name still come from PAGEPOOL_CONF. */
	ck_assert_uint_eq(s.arena_bytes, 64 * MIB);
}
END_TEST

/* ---- pp_option(): the effective values ------------------------------- */

static size_t option(const char *key)
{
	size_t v = 12345;

	ck_assert_msg(pp_option(key, &v) == 0, "pp_option(\"%s\") failed: %s", key,
		      strerror(errno));
	return v;
}

START_TEST(test_option_defaults)
{
	ck_assert_uint_eq(option("high"), 256);
	ck_assert_uint_eq(option("batch"), 128);
	ck_assert_uint_eq(option("cap"), 0);
	ck_assert_uint_eq(option("stats"), 0);
	ck_assert_uint_eq(option("rcu_delay_ms"), 1000);
	ck_assert_uint_eq(option("rcu_spares"), 4);
	ck_assert_uint_eq(option("rcu_blocks"), 1);
	ck_assert_uint_eq(option("preload_min"), pp_page_size());
}
END_TEST

/* Precedence as for every key: defaults < PAGEPOOL_CONF < pp_configure(). */
START_TEST(test_option_precedence)
{
	ck_assert_int_eq(setenv("PAGEPOOL_CONF", "rcu_delay_ms=250,rcu_spares=9,cap=8M", 1), 0);
	ck_assert_int_eq(pp_configure("rcu_spares=2,rcu_blocks=off,arena=64M,preload_min=64K"), 0);
	ck_assert_uint_eq(option("rcu_delay_ms"), 250);
	ck_assert_uint_eq(option("rcu_spares"), 2);
	ck_assert_uint_eq(option("rcu_blocks"), 0);
	ck_assert_uint_eq(option("cap"), 8 * MIB);
	ck_assert_uint_eq(option("arena"), 64 * MIB);
	ck_assert_uint_eq(option("preload_min"), 65536);
}
END_TEST

/* Reading an option initialises the pool: the options are fixed from then on. */
START_TEST(test_option_fixes_options)
{
	struct capture c;
	char msg[4096];
	int r, e;

	ck_assert_uint_eq(option("high"), 256);
	capture_begin(&c);
	errno = 0;
	r = pp_configure("high=64");
	e = errno;
	capture_end(&c, msg, sizeof(msg));
	ck_assert_msg(r == -1 && e == EBUSY, "pp_configure after pp_option: %d errno %d", r, e);
	ck_assert_uint_eq(option("high"), 256);
}
END_TEST

START_TEST(test_option_bad)
{
	struct capture c;
	char msg[4096];
	size_t v = 7;
	int r, e;

	capture_begin(&c);
	errno = 0;
	r = pp_option("bogus", &v);
	e = errno;
	capture_end(&c, msg, sizeof(msg));
	ck_assert_msg(r == -1 && e == ENOENT, "unknown key: %d errno %d", r, e);
	ck_assert_msg(has_text(msg, "pp_option") && has_text(msg, "bogus") &&
		      has_text(msg, "rcu_delay_ms"),
		      "message should name the call, the key and the known keys: \"%.500s\"", msg);
	ck_assert_uint_eq(v, 7);
	capture_begin(&c);
	errno = 0;
	r = pp_option(NULL, &v);
	e = errno;
	capture_end(&c, msg, sizeof(msg));
	ck_assert_msg(r == -1 && e == EINVAL && has_text(msg, "pp_option"), "NULL key: %d %d \"%s\"",
		      r, e, msg);
	capture_begin(&c);
	errno = 0;
	r = pp_option("high", NULL);
	e = errno;
	capture_end(&c, msg, sizeof(msg));
	ck_assert_msg(r == -1 && e == EINVAL && has_text(msg, "pp_option"), "NULL value: %d %d \"%s\"",
		      r, e, msg);
}
END_TEST

/* ---- verbose and stats output --------------------------------------- */

START_TEST(test_verbose_prints_settings)
{
	static const char *const keys[] = { "high", "batch", "arena", "cap", "grow" };
	struct capture c;
	char msg[4096], msg2[4096];
	void *p;

	ck_assert_int_eq(pp_configure("verbose=1,high=48,batch=12"), 0);
	capture_begin(&c);
	p = pp_alloc_page(0);
	capture_end(&c, msg, sizeof(msg));
	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		ck_assert_msg(has_text(msg, keys[i]),
			      "verbose=1: settings printed at first use lack \"%s\": \"%.500s\"",
			      keys[i], msg);
	ck_assert_msg(strstr(msg, "48") && strstr(msg, "12"),
		      "verbose=1: the effective high/batch (48/12) not shown: \"%.500s\"", msg);
	/* Only once. */
	capture_begin(&c);
	pp_free_page(p);
	p = pp_alloc_page(0);
	pp_free_page(p);
	capture_end(&c, msg2, sizeof(msg2));
	ck_assert_msg(msg2[0] == '\0', "verbose output repeated: \"%.300s\"", msg2);
}
END_TEST

START_TEST(test_quiet_by_default)
{
	struct capture c;
	char msg[4096];
	void *p;

	unsetenv("PAGEPOOL_CONF");
	capture_begin(&c);
	p = pp_alloc_page(0);
	pp_free_page(p);
	capture_end(&c, msg, sizeof(msg));
	ck_assert_ptr_nonnull(p);
	ck_assert_msg(msg[0] == '\0', "first use printed without verbose: \"%.300s\"", msg);
}
END_TEST

static void child_exit_with_stats(void)
{
	void *p[4];

	if (pp_configure("stats=1") != 0)
		_exit(10);
	for (int i = 0; i < 4; i++)
		if (!(p[i] = pp_alloc_page(0)))
			_exit(11);
	pp_free_page(p[0]);
	fprintf(stderr, "@@EXITING\n");
	exit(0);	/* normal exit: atexit handlers and destructors run */
}

static void child_exit_without_stats(void)
{
	void *p;

	unsetenv("PAGEPOOL_CONF");
	if (!(p = pp_alloc_page(0)))
		_exit(11);
	pp_free_page(p);
	fprintf(stderr, "@@EXITING\n");
	exit(0);
}

static void child_exit_env_stats(void)
{
	void *p;

	setenv("PAGEPOOL_CONF", "stats=1", 1);
	if (!(p = pp_alloc_page(0)))
		_exit(11);
	fprintf(stderr, "@@EXITING\n");
	exit(0);
}

static const char *after_marker(const struct child *c)
{
	const char *m = strstr(c->err, "@@EXITING\n");

	ck_assert_msg(m != NULL, "child did not reach exit (status %#x): \"%.500s\"",
		      c->status, c->err);
	return m + strlen("@@EXITING\n");
}

START_TEST(test_stats_at_exit)
{
	struct child c;
	const char *tail;

	run_child(child_exit_with_stats, &c, NULL);
	ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0,
		      "child status %#x: \"%.500s\"", c.status, c.err);
	tail = after_marker(&c);
	ck_assert_msg(has_text(tail, "committed"),
		      "stats=1: no statistics at exit: \"%.500s\"", tail);
}
END_TEST

START_TEST(test_stats_at_exit_env)
{
	struct child c;

	run_child(child_exit_env_stats, &c, NULL);
	ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0,
		      "child status %#x: \"%.500s\"", c.status, c.err);
	ck_assert_msg(has_text(after_marker(&c), "committed"),
		      "PAGEPOOL_CONF=stats=1: no statistics at exit: \"%.500s\"", c.err);
}
END_TEST

START_TEST(test_no_stats_at_exit_by_default)
{
	struct child c;

	run_child(child_exit_without_stats, &c, NULL);
	ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0,
		      "child status %#x: \"%.500s\"", c.status, c.err);
	ck_assert_msg(*after_marker(&c) == '\0',
		      "statistics printed at exit without stats=1: \"%.500s\"", c.err);
}
END_TEST

/* ---- stats=1: the global lock's hold times ---------------------------- */

static bool take_lock(void)
{
	pp_lock();
	return true;
}

static bool take_try(void)
{
	return pp_trylock();
}

static bool take_nowait(void)
{
	return pp_lock_for(PP_NOWAIT);
}

static bool take_wait(void)
{
	return pp_lock_for(0);
}

static bool (*const lock_ways[])(void) = { take_lock, take_try, take_nowait, take_wait };

/*
 * hold_counted() - in a child: a hold taken by @take, kept for @ms, is
 * timed from its acquisition (pp_g.lock_t0 set while held) and counted
 * with at least @ms at its release (when @timed), or not at all.  0: so.
 */
static int hold_counted(bool (*take)(void), unsigned ms, bool timed)
{
	size_t holds, ns;
	bool started, counted;

	if (!take())
		return 1;
	holds = pp_g.lock_holds;
	ns = pp_g.lock_hold_ns;
	started = pp_g.lock_t0 != 0;
	if (ms)
		usleep(ms * 1000);
	pp_unlock();
	pp_lock();		/* to read the counters; its own hold ends later */
	if (timed)
		counted = pp_g.lock_holds == holds + 1 &&
			  pp_g.lock_hold_ns - ns >= (size_t)ms * 1000000;
	else
		counted = pp_g.lock_holds != 0 || pp_g.lock_hold_ns != 0;
	pp_unlock();
	if (started != timed)
		return 2;
	return counted == timed ? 0 : 3;
}

struct yield_taker {
	pthread_barrier_t go;
	int result;		/* 0: timed; else what failed */
	size_t holds;		/* pp_g.lock_holds when it got the lock */
};

/*
 * A shim call's wait (pp_tls.yield): the lock is busy, so pp_lock_for(0)
 * waits in lock_or_yield_slow()'s slices; the hold it gets is timed too.
 */
static void *yield_taker_main(void *arg)
{
	struct yield_taker *y = arg;

	pp_tls.yield = 1;
	pthread_barrier_wait(&y->go);
	if (!pp_lock_for(0)) {
		y->result = 1;
		return NULL;
	}
	y->holds = pp_g.lock_holds;
	y->result = pp_g.lock_t0 ? 0 : 2;
	pp_unlock();
	pp_tls.yield = 0;
	return NULL;
}

static void child_lock_hold_times(void)
{
	enum { N = 400 };
	static void *pg[N];
	struct yield_taker y = { .result = -1 };
	struct pp_stats s0, s1, s2;
	pthread_t th;
	int r;

	if (pp_configure("stats=1,high=64,batch=16") != 0)
		_exit(10);
	pp_free_page(must_alloc(0));
	/* Each way of taking the lock times its hold. */
	for (size_t i = 0; i < sizeof(lock_ways) / sizeof(lock_ways[0]); i++)
		if ((r = hold_counted(lock_ways[i], 2, true)) != 0)
			_exit(20 + (int)i * 4 + r);
	/* ... and so does the shim's wait that gives way to fork(). */
	if (pthread_barrier_init(&y.go, NULL, 2) || pthread_create(&th, NULL, yield_taker_main, &y))
		_exit(40);
	pp_lock();
	pthread_barrier_wait(&y.go);
	usleep(5000);		/* the taker is in its slices */
	pp_unlock();
	if (pthread_join(th, NULL) || y.result != 0)
		_exit(41 + (y.result > 0 ? y.result : 2));
	pp_lock();
	r = pp_g.lock_holds == y.holds + 1 ? 0 : 44;	/* its release counted it */
	pp_unlock();
	if (r)
		_exit(r);

	/* Refills and drains: one timed hold each, at least. */
	s0 = get_stats();
	for (size_t i = 0; i < N; i++)
		pg[i] = must_alloc(0);
	s1 = get_stats();
	if (s1.refills - s0.refills < N / 64 ||
	    s1.lock_holds - s0.lock_holds < s1.refills - s0.refills)
		_exit(50);
	if (s1.lock_hold_ns <= s0.lock_hold_ns)
		_exit(51);
	for (size_t i = 0; i < N; i++)
		pp_free_page(pg[i]);
	s2 = get_stats();
	if (s2.drains - s1.drains < (N - 64) / 64 ||
	    s2.lock_holds - s1.lock_holds < s2.drains - s1.drains)
		_exit(52);
	if (s2.lock_hold_ns <= s1.lock_hold_ns ||
	    s2.lock_hold_ns / s2.lock_holds > 100000000)	/* a mean hold under 0.1 s */
		_exit(53);
	fprintf(stderr, "@@EXITING\n");
	exit(0);		/* the stats=1 line at exit */
}

START_TEST(test_lock_hold_times)
{
	struct child c;
	const char *tail, *line;
	size_t holds = 0;

	run_child(child_lock_hold_times, &c, NULL);
	ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0,
		      "stats=1: lock hold times: child status %#x: \"%.500s\"", c.status, c.err);
	tail = after_marker(&c);
	line = strstr(tail, "lock holds ");
	ck_assert_msg(line && sscanf(line, "lock holds %zu", &holds) == 1 && holds > 0 &&
		      has_text(line, "mean"),
		      "stats=1: no lock hold line at exit: \"%.500s\"", tail);
}
END_TEST

/* stats=0: no hold is timed or counted, whichever way the lock is taken. */
START_TEST(test_lock_hold_times_off)
{
	enum { N = 400 };
	static void *pg[N];
	struct pp_stats s;

	ck_assert_int_eq(pp_configure("stats=0,high=64,batch=16"), 0);
	for (size_t i = 0; i < N; i++)
		ck_assert_ptr_nonnull(pg[i] = pp_alloc_page(0));
	for (size_t i = 0; i < N; i++)
		pp_free_page(pg[i]);
	for (size_t i = 0; i < sizeof(lock_ways) / sizeof(lock_ways[0]); i++)
		ck_assert_int_eq(hold_counted(lock_ways[i], 0, false), 0);
	s = get_stats();
	ck_assert_uint_gt(s.refills, 0);
	ck_assert_uint_gt(s.drains, 0);
	ck_assert_uint_eq(s.lock_holds, 0);
	ck_assert_uint_eq(s.lock_hold_ns, 0);
}
END_TEST

static Suite *options_suite(void)
{
	Suite *s = suite_create("options");
	TCase *tc = new_tcase("valid");
	TCase *tb = new_tcase("invalid");
	TCase *te = new_tcase("env");
	TCase *to = new_tcase("output");

	tcase_add_test(tc, test_cap_suffixes);
	tcase_add_test(tc, test_arena_size);
	tcase_add_test(tc, test_arena_size_g);
	tcase_add_test(tc, test_grow);
	tcase_add_test(tc, test_high_small);
	tcase_add_test(tc, test_high_large);
	tcase_add_test(tc, test_batch_8);
	tcase_add_test(tc, test_batch_24);
	tcase_add_test(tc, test_flags_zero_one);
	tcase_add_test(tc, test_blanks_around_items);
	suite_add_tcase(s, tc);

	tcase_add_loop_test(tb, test_bad_string, 0, NBAD);

	tcase_add_test(tb, test_cap_one_page);
	tcase_add_loop_test(tb, test_partly_bad_rejected, 0, NPARTLY);
	tcase_add_test(tb, test_busy_after_first_use);
	tcase_add_test(tb, test_null_conf);
	suite_add_tcase(s, tb);

	tcase_add_test(te, test_env_honoured);
	tcase_add_test(te, test_env_bad_keeps_defaults);
	tcase_add_test(te, test_env_bad_value);
	tcase_add_test(te, test_configure_overrides_env);
	tcase_add_test(te, test_option_defaults);
	tcase_add_test(te, test_option_precedence);
	tcase_add_test(te, test_option_fixes_options);
	tcase_add_test(te, test_option_bad);
	suite_add_tcase(s, te);

	tcase_add_test(to, test_verbose_prints_settings);
	tcase_add_test(to, test_quiet_by_default);
	tcase_add_test(to, test_stats_at_exit);
	tcase_add_test(to, test_stats_at_exit_env);
	tcase_add_test(to, test_no_stats_at_exit_by_default);
	tcase_add_test(to, test_lock_hold_times);
	tcase_add_test(to, test_lock_hold_times_off);
	suite_add_tcase(s, to);
	return s;
}

int main(void)
{
	/* The environment of `make check` must not leak into these tests. */
	unsetenv("PAGEPOOL_CONF");
	return run_suite(options_suite());
}
