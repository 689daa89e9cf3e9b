/* SPDX-License-Identifier: MIT */
/*
 * fuzz-config.c - the coverage-guided fuzz target of pp_configure() and
 * PAGEPOOL_CONF, and its oracle.
 *
 * Owns: LLVMFuzzerTestOneInput() (libFuzzer's entry point; `make fuzz`
 * builds it with clang, tests/fuzz/replay.c runs it on the corpus under
 * make check) and the model it checks the library against: a parser of
 * the documented syntax written apart from lib/options.c's, from the table
 * of keys (lib/options.h's PP_OPTIONS: names, kinds, defaults, ranges -
 * a new key is fuzzed with no change here) and the documented rules
 * between keys:
 *   "key=value,key=value", blanks (spaces, tabs) around a key or a value
 *   skipped, empty or blank items ignored, a later item wins; COUNT is
 *   decimal digits, BYTES digits and at most one K/M/G/T suffix (either
 *   case, powers of 1024), BOOL one of 0/1, yes/no, true/false, on/off;
 *   each value within the table's [min, max]; batch <= high, grow <= arena,
 *   cap <= arena, prefault <= arena and <= cap when cap is set; cap is 0
 *   (none) or at least one page (issue 16); then arena and grow are rounded
 *   up to a multiple of the largest block (page size << PP_MAX_ORDER).
 *   A string is applied whole or not at all.
 *
 * One input is a sequence of strings separated by NUL bytes (a C string
 * ends at its NUL: the bytes after one are the next call's string), at
 * most MAX_STEPS of them.  Each input runs
 *   1. from the defaults (PAGEPOOL_CONF unset), every string through
 *      pp_configure() in turn; then, the options frozen as at the pool's
 *      first use, the first string again, which must fail with EBUSY;
 *   2. the first string as PAGEPOOL_CONF (read by pp_configure("") after
 *      pp_options_reset_for_test()), then the others through pp_configure()
 *      on top of it.
 * After every call the oracle checks: accepted <=> the model accepts; then
 * every key's value, read back with pp_option(), is the model's (the keys
 * set have the values set, rounded; the others keep theirs); a rejection
 * is errno EINVAL (PAGEPOOL_CONF: the defaults are kept), changes no byte
 * of the options and prints a message that names the source and, when the
 * model can tell (a bad value, a range, a rule between keys), one of the
 * keys at fault; an acceptance prints nothing.  A disagreement is printed
 * with the input and abort()s: libFuzzer saves the input as a crash.
 *
 * The library's messages go to fd 2: around each call fd 2 is a memfd the
 * oracle reads, so a run's output is libFuzzer's own; sanitizer reports go
 * to the stderr the target started with.
 *
 * Known bugs: PP_FUZZ_KNOWN_BUGS=cap-below-page tolerates the library
 * accepting 0 < cap < page size (being fixed in lib/options.c, issue 16);
 * nothing else can be tolerated.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pagepool.h"
#include "internal.h"
#include "fuzz-target.h"

#define MAX_STEPS	16	/* strings per input */
#define MSG_MAX		8192	/* messages kept of one call */

/* The sanitizers' report file, when one is linked in. */
extern void __sanitizer_set_report_fd(void *fd) __attribute__((weak));

/* ---- the table, as the model sees it ------------------------------------ */

enum mkind { M_COUNT, M_BYTES, M_BOOL };

enum key_index {
#define KEY_INDEX(name, kind, def, min, max, doc) I_##name,
	PP_OPTIONS(KEY_INDEX)
#undef KEY_INDEX
	NKEYS
};
_Static_assert(NKEYS <= 64, "blame masks are 64-bit");

static const char *const key_name[NKEYS] = {
#define KEY_NAME(name, kind, def, min, max, doc) #name,
	PP_OPTIONS(KEY_NAME)
#undef KEY_NAME
};

static const enum mkind key_kind[NKEYS] = {
#define KEY_KIND(name, kind, def, min, max, doc) M_##kind,
	PP_OPTIONS(KEY_KIND)
#undef KEY_KIND
};

/* Expressions (the page size): evaluated once, by init_once(). */
static size_t key_def[NKEYS], key_min[NKEYS], key_max[NKEYS];
static size_t page, block;

struct model {
	size_t v[NKEYS];
	bool arena_set;		/* arena= was given */
};

static struct model defaults;

/* What the model says of one string. */
struct verdict {
	bool ok;
	uint64_t blame;		/* rejected: keys one of which the message must name (0: any) */
	bool cap_rule;		/* rejected by the cap-below-a-page rule alone */
};

#define BIT(k)	((uint64_t)1 << (k))

/* Decimal digits, then for BYTES at most one K, M, G or T; fits a size_t. */
static bool model_number(const char *s, size_t n, bool bytes, size_t *out)
{
	unsigned __int128 v = 0;
	unsigned shift = 0;
	size_t i;

	for (i = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		v = v * 10 + (unsigned)(s[i] - '0');
		if (v > SIZE_MAX)
			v = (unsigned __int128)SIZE_MAX + 1;	/* too big, however it ends */
	}
	if (i == 0)
		return false;
	if (i < n) {
		if (!bytes || i + 1 != n)
			return false;
		switch (s[i]) {
		case 'K': case 'k': shift = 10; break;
		case 'M': case 'm': shift = 20; break;
		case 'G': case 'g': shift = 30; break;
		case 'T': case 't': shift = 40; break;
		default: return false;
		}
	}
	v <<= shift;
	if (v > SIZE_MAX)
		return false;
	*out = (size_t)v;
	return true;
}

static bool model_bool(const char *s, size_t n, size_t *out)
{
	static const struct { const char *word; size_t v; } words[] = {
		{ "0", 0 }, { "1", 1 }, { "no", 0 }, { "yes", 1 },
		{ "false", 0 }, { "true", 1 }, { "off", 0 }, { "on", 1 },
	};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strlen(words[i].word) == n && !memcmp(words[i].word, s, n)) {
			*out = words[i].v;
			return true;
		}
	return false;
}

static int model_key(const char *s, size_t n)
{
	for (int k = 0; k < NKEYS; k++)
		if (strlen(key_name[k]) == n && !memcmp(key_name[k], s, n))
			return k;
	return -1;
}

static size_t round_up(size_t v, size_t to)
{
	return v % to ? v + (to - v % to) : v;
}

/*
 * Apply @str to @m as the documentation says: all of it (true) or, with
 * @m unchanged, none.  @cap_rule: enforce "cap is 0 or at least a page".
 */
static struct verdict model_apply(struct model *m, const char *str, bool cap_rule)
{
	struct verdict r = { .ok = false };
	struct model t = *m;
	const char *item = str;
	uint64_t blame = 0;

	for (;;) {
		const char *comma = strchr(item, ',');
		size_t len = comma ? (size_t)(comma - item) : strlen(item);
		const char *from = item, *to = item + len;

		while (from < to && (*from == ' ' || *from == '\t'))
			from++;
		while (to > from && (to[-1] == ' ' || to[-1] == '\t'))
			to--;
		if (from < to) {
			const char *eq = memchr(from, '=', (size_t)(to - from));
			const char *val, *kend;
			size_t vlen, x;
			bool good;
			int k;

			if (!eq)
				return r;		/* not key=value */
			kend = eq;
			while (kend > from && (kend[-1] == ' ' || kend[-1] == '\t'))
				kend--;
			k = model_key(from, (size_t)(kend - from));
			if (k < 0)
				return r;		/* unknown key */
			val = eq + 1;
			while (val < to && (*val == ' ' || *val == '\t'))
				val++;
			vlen = (size_t)(to - val);
			good = key_kind[k] == M_BOOL ? model_bool(val, vlen, &x)
						    : model_number(val, vlen, key_kind[k] == M_BYTES, &x);
			if (!good) {
				r.blame = BIT(k);
				return r;
			}
			t.v[k] = x;
			if (k == I_arena)
				t.arena_set = true;
		}
		if (!comma)
			break;
		item = comma + 1;
	}
	for (int k = 0; k < NKEYS; k++)
		if (t.v[k] < key_min[k] || t.v[k] > key_max[k])
			blame |= BIT(k);
	if (t.v[I_batch] > t.v[I_high])
		blame |= BIT(I_batch) | BIT(I_high);
	if (t.v[I_grow] > t.v[I_arena])
		blame |= BIT(I_grow) | BIT(I_arena);
	if (t.v[I_cap] > t.v[I_arena])
		blame |= BIT(I_cap) | BIT(I_arena);
	if (t.v[I_prefault] > t.v[I_arena])
		blame |= BIT(I_prefault) | BIT(I_arena);
	if (t.v[I_cap] && t.v[I_prefault] > t.v[I_cap])
		blame |= BIT(I_prefault) | BIT(I_cap);
	if (cap_rule && t.v[I_cap] && t.v[I_cap] < page) {
		r.cap_rule = !blame;
		blame |= BIT(I_cap);
	}
	if (blame) {
		r.blame = blame;
		return r;
	}
	t.v[I_arena] = round_up(t.v[I_arena], block);
	t.v[I_grow] = round_up(t.v[I_grow], block);
	*m = t;
	r.ok = true;
	return r;
}

/* ---- the library's side ------------------------------------------------- */

static int saved_err = -1;	/* the stderr the target started with */
static int capture_fd = -1;	/* fd 2 during a library call */
static bool known_cap_bug;	/* PP_FUZZ_KNOWN_BUGS=cap-below-page */
static bool said_cap_bug, said_cap_fixed;

static const uint8_t *cur_data;	/* the input, for reports */
static size_t cur_size;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0) {
		ssize_t w = write(saved_err, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);

		(void)w;	/* nowhere to say it failed */
	}
}

/* The input, escaped: printable ASCII as is, NUL as \0, the rest \xNN. */
static void say_input(void)
{
	char out[4 * 256 + 8];
	size_t n = 0;

	for (size_t i = 0; i < cur_size && n < sizeof(out) - 8; i++) {
		uint8_t c = cur_data[i];

		if (c == 0)
			n += (size_t)snprintf(out + n, sizeof(out) - n, "\\0");
		else if (c == '\\' || c == '"')
			n += (size_t)snprintf(out + n, sizeof(out) - n, "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			out[n++] = (char)c;
		else
			n += (size_t)snprintf(out + n, sizeof(out) - n, "\\x%02x", c);
	}
	out[n] = '\0';
	say("fuzz-config: input (%zu bytes): \"%s\"%s\n", cur_size, out,
	    n >= sizeof(out) - 8 ? "..." : "");
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
	char buf[2048];
	va_list ap;

	dup2(saved_err, STDERR_FILENO);
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	say("fuzz-config: ORACLE FAILURE: %s\n", buf);
	say_input();
	abort();
}

static void capture_begin(void)
{
	if (ftruncate(capture_fd, 0) || lseek(capture_fd, 0, SEEK_SET) ||
	    dup2(capture_fd, STDERR_FILENO) < 0)
		fail("cannot redirect fd 2: %s", strerror(errno));
}

/* The messages printed since capture_begin(), NUL-terminated. */
static size_t capture_end(char *buf, size_t size)
{
	ssize_t n;

	if (dup2(saved_err, STDERR_FILENO) < 0)
		abort();
	n = pread(capture_fd, buf, size - 1, 0);
	if (n < 0)
		fail("cannot read the messages back: %s", strerror(errno));
	buf[n] = '\0';
	return (size_t)n;
}

static void blame_names(uint64_t blame, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int k = 0; k < NKEYS && n < size; k++)
		if (blame & BIT(k))
			n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? ", " : "", key_name[k]);
	if (!n)
		snprintf(buf, size, "(syntax or key)");
}

/* Every key's value as pp_option() gives it back, and arena_set. */
static void library_values(struct model *out)
{
	for (int k = 0; k < NKEYS; k++) {
		out->v[k] = (size_t)0xdeadbeef;
		if (pp_option(key_name[k], &out->v[k]))
			fail("pp_option(\"%s\") failed: %s", key_name[k], strerror(errno));
	}
	out->arena_set = pp_g.opt.arena_set;
}

static void compare(const struct model *want, const char *when)
{
	struct model got;

	library_values(&got);
	for (int k = 0; k < NKEYS; k++)
		if (got.v[k] != want->v[k])
			fail("%s: pp_option(\"%s\") = %zu, the model says %zu", when, key_name[k],
			     got.v[k], want->v[k]);
	if (got.arena_set != want->arena_set)
		fail("%s: arena_set is %d, the model says %d", when, got.arena_set, want->arena_set);
}

static bool word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

static bool names_word(const char *text, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = strstr(text, word); p; p = strstr(p + 1, word))
		if ((p == text || !word_char(p[-1])) && !word_char(p[n]))
			return true;
	return false;
}

/* The messages of a rejection: some, from @who, naming a key of @blame. */
static void check_rejection_text(const char *msgs, size_t len, const char *who, uint64_t blame)
{
	char prefix[64], names[512];

	if (!len)
		fail("%s rejected the string and printed no message", who);
	snprintf(prefix, sizeof(prefix), "pagepool: %s", who);
	if (strncmp(msgs, prefix, strlen(prefix)))
		fail("%s rejected the string; its message does not start with \"%s\": %s", who,
		     prefix, msgs);
	/*
	 * pp_msg() cuts a message at 511 bytes, which may cut off the key; a
	 * value may hold newlines: only when all the messages are shorter is
	 * none of them cut.
	 */
	if (!blame || len >= 500)
		return;
	for (int k = 0; k < NKEYS; k++)
		if ((blame & BIT(k)) && names_word(msgs, key_name[k]))
			return;
	blame_names(blame, names, sizeof(names));
	fail("%s rejected the string without naming a key at fault (one of: %s): %s", who,
	     names, msgs);
}

/*
 * The model rejects (@v) and the library accepted: an error, unless it is
 * the known cap-below-a-page bug and PP_FUZZ_KNOWN_BUGS tolerates it - then
 * the model follows the library (true).
 */
static bool tolerated(const struct verdict *v, struct model *m, const char *str)
{
	if (!v->cap_rule || !known_cap_bug)
		return false;
	if (!model_apply(m, str, false).ok)
		return false;
	if (!said_cap_bug)
		say("fuzz-config: known bug tolerated (PP_FUZZ_KNOWN_BUGS=cap-below-page): "
		    "cap=%zu, below one page, was accepted\n", m->v[I_cap]);
	said_cap_bug = true;
	return true;
}

static void cap_rule_honoured(const struct verdict *v)
{
	if (v->cap_rule && known_cap_bug && !said_cap_fixed) {
		say("fuzz-config: cap below one page is rejected now: "
		    "PP_FUZZ_KNOWN_BUGS=cap-below-page can go\n");
		said_cap_fixed = true;
	}
}

/* pp_configure(@str) on the state @m: checked, and @m follows. */
static void step_configure(struct model *m, const char *str)
{
	static char msgs[MSG_MAX];
	unsigned char before[sizeof(pp_g.opt)];
	struct model want = *m;
	struct verdict v = model_apply(&want, str, true);
	char names[512];
	size_t len;
	int ret, err;

	memcpy(before, &pp_g.opt, sizeof(before));
	capture_begin();
	errno = 0;
	ret = pp_configure(str);
	err = errno;
	len = capture_end(msgs, sizeof(msgs));
	if (ret == 0) {
		if (!v.ok && !tolerated(&v, &want, str)) {
			blame_names(v.blame, names, sizeof(names));
			fail("pp_configure() accepted the string; the model rejects it (%s)", names);
		}
		if (len)
			fail("pp_configure() accepted the string and printed: %s", msgs);
		*m = want;
		compare(m, "after an accepted pp_configure()");
		return;
	}
	if (ret != -1)
		fail("pp_configure() returned %d", ret);
	if (v.ok)
		fail("pp_configure() rejected the string; the model accepts it; the library said: %s",
		     msgs);
	if (err != EINVAL)
		fail("pp_configure() rejected the string with errno %d, not EINVAL", err);
	if (memcmp(before, &pp_g.opt, sizeof(before)))
		fail("pp_configure() rejected the string and changed the options");
	compare(m, "after a rejected pp_configure()");
	check_rejection_text(msgs, len, "pp_configure", v.blame);
	cap_rule_honoured(&v);
}

/* Options frozen (the pool in use): pp_configure(@str) fails, EBUSY, no change. */
static void step_frozen(const struct model *m, const char *str)
{
	static char msgs[MSG_MAX];
	unsigned char before[sizeof(pp_g.opt)];
	int ret, err;

	memcpy(before, &pp_g.opt, sizeof(before));
	pp_options_freeze();
	capture_begin();
	errno = 0;
	ret = pp_configure(str);
	err = errno;
	capture_end(msgs, sizeof(msgs));
	if (ret != -1 || err != EBUSY)
		fail("frozen options: pp_configure() returned %d, errno %d, not -1 EBUSY", ret, err);
	if (memcmp(before, &pp_g.opt, sizeof(before)))
		fail("frozen options: pp_configure() changed them");
	compare(m, "after pp_configure() on frozen options");
}

/*
 * PAGEPOOL_CONF=@str, with putenv() of a buffer of ours: setenv() keeps
 * every value it was given (glibc), a leak per input.
 */
static void set_env(const char *str)
{
	static const char name[] = "PAGEPOOL_CONF=";
	static char *buf;
	static size_t size;
	size_t need = sizeof(name) + strlen(str);

	if (need > size) {
		char *old = buf;

		size = need < 256 ? 256 : 2 * need;
		if (!(buf = malloc(size)))
			abort();
		memcpy(buf, name, sizeof(name) - 1);
		strcpy(buf + sizeof(name) - 1, str);
		if (putenv(buf))
			fail("putenv: %s", strerror(errno));
		free(old);	/* no longer in the environment */
		return;
	}
	strcpy(buf + sizeof(name) - 1, str);
	if (!getenv("PAGEPOOL_CONF") && putenv(buf))	/* unsetenv() took it out */
		fail("putenv: %s", strerror(errno));
}

/* @str as PAGEPOOL_CONF, read at the next pp_configure(""): @m follows. */
static void step_env(struct model *m, const char *str)
{
	static char msgs[MSG_MAX];
	struct model want = defaults;
	struct verdict v = model_apply(&want, str, true);
	char names[512];
	size_t len;
	int ret;

	set_env(str);
	pp_options_reset_for_test();
	capture_begin();
	errno = 0;
	ret = pp_configure("");
	len = capture_end(msgs, sizeof(msgs));
	if (ret)
		fail("pp_configure(\"\") with PAGEPOOL_CONF set failed: %s", strerror(errno));
	if (!len) {		/* no message: PAGEPOOL_CONF was taken */
		if (!v.ok && !tolerated(&v, &want, str)) {
			blame_names(v.blame, names, sizeof(names));
			fail("PAGEPOOL_CONF was accepted; the model rejects it (%s)", names);
		}
		*m = want;
		compare(m, "after an accepted PAGEPOOL_CONF");
		return;
	}
	if (v.ok)
		fail("PAGEPOOL_CONF was rejected; the model accepts it; the library said: %s", msgs);
	*m = defaults;
	compare(m, "after a rejected PAGEPOOL_CONF (the defaults)");
	check_rejection_text(msgs, len, "PAGEPOOL_CONF", v.blame);
	cap_rule_honoured(&v);
}

/* ---- set-up ------------------------------------------------------------- */

static void init_once(void)
{
	static char msgs[MSG_MAX];
	const char *bugs = getenv("PP_FUZZ_KNOWN_BUGS");
	size_t v;
	int ok;

	saved_err = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	if (saved_err < 0)
		abort();
	if (__sanitizer_set_report_fd)
		__sanitizer_set_report_fd((void *)(intptr_t)saved_err);
	capture_fd = memfd_create("fuzz-config-messages", MFD_CLOEXEC);
	if (capture_fd < 0)
		fail("memfd_create: %s", strerror(errno));
	known_cap_bug = bugs && strstr(bugs, "cap-below-page");

	page = (size_t)sysconf(_SC_PAGESIZE);
	block = page << PP_MAX_ORDER;
#define KEY_VALUES(name, kind, def, min, max, doc) \
	key_def[I_##name] = (size_t)(def); \
	key_min[I_##name] = (size_t)(min); \
	key_max[I_##name] = (size_t)(max);
	PP_OPTIONS(KEY_VALUES)
#undef KEY_VALUES
	memcpy(defaults.v, key_def, sizeof(key_def));
	defaults.arena_set = false;

	/*
	 * Start the pool once, small, so that pp_option() only reads from now
	 * on: the strings fuzzed are never started with (a prefault=1T, say).
	 */
	unsetenv("PAGEPOOL_CONF");
	pp_options_reset_for_test();
	capture_begin();
	ok = !pp_configure("arena=64M") && !pp_option("high", &v);
	capture_end(msgs, sizeof(msgs));
	if (!ok)
		fail("cannot start the pool with arena=64M: %s", msgs);
	/* The reset forgets; the defaults are made when the options are next read. */
	pp_options_reset_for_test();
	capture_begin();
	ok = !pp_configure("");
	capture_end(msgs, sizeof(msgs));
	if (!ok)
		fail("pp_configure(\"\") failed: %s", msgs);
	compare(&defaults, "the defaults");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool started;
	const char *step[MAX_STEPS];
	size_t nsteps = 0;
	char *copy;
	struct model m;

	if (!started) {
		init_once();
		started = true;
	}
	cur_data = data;
	cur_size = size;
	copy = malloc(size + 1);
	if (!copy)
		abort();
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (size_t i = 0; i <= size && nsteps < MAX_STEPS; i += strlen(copy + i) + 1)
		step[nsteps++] = copy + i;	/* the strings between NULs */

	/* 1. From the defaults, through pp_configure(); then frozen. */
	unsetenv("PAGEPOOL_CONF");
	pp_options_reset_for_test();
	m = defaults;
	step_configure(&m, "");		/* the reset's defaults are made at the next read */
	for (size_t i = 0; i < nsteps; i++)
		step_configure(&m, step[i]);
	step_frozen(&m, step[0]);

	/* 2. The first string as PAGEPOOL_CONF, the others on top of it. */
	step_env(&m, step[0]);
	for (size_t i = 1; i < nsteps; i++)
		step_configure(&m, step[i]);

	unsetenv("PAGEPOOL_CONF");
	pp_options_reset_for_test();
	free(copy);
	return 0;
}
