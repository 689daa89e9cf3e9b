/* SPDX-License-Identifier: MIT */
/*
 * options.c - settings: defaults, PAGEPOOL_CONF, pp_configure().
 *
 * Owns: the key=value syntax (blanks around keys and values are skipped:
 * "stats=1, verbose=1"), validation and the precedence defaults <
 * PAGEPOOL_CONF < pp_configure().  The keys are options.h's table: the
 * defaults, the parser's key list, the range checks and the verbose=1 line
 * here are expanded from it.  A string is applied whole or not at all;
 * every rejection names the key or value.  Options are frozen when the
 * pool initialises (pp_options_freeze()); pp_option() is query.c's.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum kind { K_COUNT, K_BYTES, K_BOOL };

/* The keys, from the table: name, kind, field. */
static const struct key {
	const char *name;
	enum kind kind;
	size_t off;
} keys[] = {
#define KEY_ROW(name, kind, def, min, max, doc) \
	{ #name, K_##kind, offsetof(struct pp_options, name) },
	PP_OPTIONS(KEY_ROW)
#undef KEY_ROW
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static pthread_mutex_t opt_lock = PTHREAD_MUTEX_INITIALIZER;
static bool env_read, frozen;

static void options_defaults(struct pp_options *o)
{
	memset(o, 0, sizeof(*o));
#define SET_DEFAULT(name, kind, def, min, max, doc) o->name = (def);
	PP_OPTIONS(SET_DEFAULT)
#undef SET_DEFAULT
}

/* Parse an unsigned number with an optional K/M/G/T suffix (bytes only). */
static int parse_number(const char *s, size_t len, bool suffix, size_t *out)
{
	unsigned long long v = 0;
	size_t i = 0, shift = 0;

	if (len == 0)
		return -1;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (v > (~0ULL - d) / 10)
			return -1;			/* overflow */
		v = v * 10 + d;
	}
	if (i == 0)
		return -1;				/* no digits */
	if (i < len && suffix) {
		switch (s[i]) {
		case 'k': case 'K': shift = 10; break;
		case 'm': case 'M': shift = 20; break;
		case 'g': case 'G': shift = 30; break;
		case 't': case 'T': shift = 40; break;
		default: return -1;
		}
		i++;
	}
	if (i != len)
		return -1;				/* trailing junk */
	if (shift && v > (~0ULL >> shift))
		return -1;
	v <<= shift;
	if (v > SIZE_MAX)
		return -1;
	*out = (size_t)v;
	return 0;
}

static int parse_bool(const char *s, size_t len, bool *out)
{
	static const char *const yes[] = { "1", "yes", "true", "on" };
	static const char *const no[] = { "0", "no", "false", "off" };

	for (size_t i = 0; i < 4; i++) {
		if (strlen(yes[i]) == len && !strncmp(s, yes[i], len))
			return *out = true, 0;
		if (strlen(no[i]) == len && !strncmp(s, no[i], len))
			return *out = false, 0;
	}
	return -1;
}

/* @v outside [@min, @max]: say so, naming the key. */
static bool out_of_range(const char *who, const char *name, enum kind kind, size_t v,
			 size_t min, size_t max)
{
	const char *unit = kind == K_BYTES ? " bytes" : "";

	if (v >= min && v <= max)
		return false;
	if (max == SIZE_MAX)
		pp_msg("%s: %s=%zu is out of range (%zu or more%s)", who, name, v, min, unit);
	else
		pp_msg("%s: %s=%zu is out of range (%zu..%zu%s)", who, name, v, min, max, unit);
	return true;
}

/* Every key's range (the table), then checks between keys, and rounding. */
static int finish(struct pp_options *o, const char *who)
{
	size_t block = PP_ARENA_MIN;

#define CHECK_RANGE(name, kind, def, min, max, doc) \
	if (out_of_range(who, #name, K_##kind, o->name, (min), (max))) \
		return -1;
	PP_OPTIONS(CHECK_RANGE)
#undef CHECK_RANGE
	if (o->batch > o->high) {
		pp_msg("%s: batch=%zu is out of range (1..high=%zu)", who, o->batch, o->high);
		return -1;
	}
	if (o->grow > o->arena) {
		pp_msg("%s: grow=%zu is out of range (1 .. arena=%zu bytes)", who, o->grow, o->arena);
		return -1;
	}
	if (o->cap && o->cap < pp_os_page_size()) {	/* it would refuse every growth */
		pp_msg("%s: cap=%zu is less than one page (%zu bytes); cap=0 means no cap",
		       who, o->cap, pp_os_page_size());
		return -1;
	}
	if (o->cap > o->arena) {
		pp_msg("%s: cap=%zu is larger than arena=%zu", who, o->cap, o->arena);
		return -1;
	}
	if (o->prefault > o->arena || (o->cap && o->prefault > o->cap)) {
		pp_msg("%s: prefault=%zu is larger than %s=%zu", who, o->prefault,
		       o->cap && o->cap < o->arena ? "cap" : "arena",
		       o->cap && o->cap < o->arena ? o->cap : o->arena);
		return -1;
	}
	o->arena = (o->arena + block - 1) & ~(block - 1);
	o->grow = (o->grow + block - 1) & ~(block - 1);
	return 0;
}

static const struct key *find_key(const char *name, size_t len)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strlen(keys[i].name) == len && !strncmp(keys[i].name, name, len))
			return &keys[i];
	return NULL;
}

static void unknown_key(const char *who, const char *name, size_t len)
{
	char known[256];
	size_t n = 0;

	known[0] = '\0';
	for (size_t i = 0; i < NKEYS && n < sizeof(known); i++)
		n += (size_t)snprintf(known + n, sizeof(known) - n, "%s%s",
				      i ? ", " : "", keys[i].name);
	pp_msg("%s: unknown key '%.*s' (known: %s)", who, (int)len, name, known);
}

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Drop the blanks (spaces, tabs) at both ends of [*@s, *@s + *@len). */
static void trim_blanks(const char **s, size_t *len)
{
	while (*len && blank(**s))
		(*s)++, (*len)--;
	while (*len && blank((*s)[*len - 1]))
		(*len)--;
}

static int options_parse(struct pp_options *o, const char *conf, const char *who)
{
	struct pp_options t = *o;
	const char *s = conf;

	while (*s) {
		const char *end = strchr(s, ','), *eq, *item = s, *val;
		size_t len = end ? (size_t)(end - s) : strlen(s), klen, vlen;
		const struct key *k = NULL;

		s += len + (end ? 1 : 0);
		/* "stats=1, verbose=1": blanks around keys and values are skipped */
		trim_blanks(&item, &len);
		if (len == 0)			/* tolerate "a=1,,b=2" and a trailing comma */
			continue;
		eq = memchr(item, '=', len);
		if (!eq) {
			pp_msg("%s: '%.*s' is not key=value", who, (int)len, item);
			return -1;
		}
		klen = (size_t)(eq - item);
		val = eq + 1;
		vlen = len - klen - 1;
		trim_blanks(&item, &klen);
		trim_blanks(&val, &vlen);
		k = find_key(item, klen);
		if (!k) {
			unknown_key(who, item, klen);
			return -1;
		}
		if (k->kind == K_BOOL) {
			if (parse_bool(val, vlen, (bool *)((char *)&t + k->off))) {
				pp_msg("%s: bad value '%.*s' for key '%s' (want 0/1, yes/no, true/false or on/off)",
				       who, (int)vlen, val, k->name);
				return -1;
			}
		} else if (parse_number(val, vlen, k->kind == K_BYTES,
					(size_t *)((char *)&t + k->off))) {
			pp_msg("%s: bad value '%.*s' for key '%s' (want %s)", who,
			       (int)vlen, val, k->name,
			       k->kind == K_BYTES ? "bytes, optionally with a K, M, G or T suffix"
						  : "a whole number");
			return -1;
		}
		if (k->off == offsetof(struct pp_options, arena))
			t.arena_set = true;
	}
	if (finish(&t, who))
		return -1;
	*o = t;
	return 0;
}

/* Read PAGEPOOL_CONF once; caller holds opt_lock. */
static void from_env_locked(void)
{
	const char *env;

	if (env_read)
		return;
	env_read = true;
	options_defaults(&pp_g.opt);
	env = secure_getenv("PAGEPOOL_CONF");
	if (env && options_parse(&pp_g.opt, env, "PAGEPOOL_CONF"))
		pp_msg("PAGEPOOL_CONF ignored: using the defaults");
}

void pp_options_freeze(void)
{
	pthread_mutex_lock(&opt_lock);
	from_env_locked();
	frozen = true;
	pthread_mutex_unlock(&opt_lock);
}

/* Fork child: opt_lock may have been held by another thread at fork time. */
void pp_options_atfork_child(void)
{
	pthread_mutex_init(&opt_lock, NULL);
}

/*
 * Test only (tests/fuzz): forget PAGEPOOL_CONF and every pp_configure(),
 * and accept settings again, as in a fresh process.  pp_g.opt is the live
 * settings: a pool already started then runs on whatever is set next, so
 * only a program that allocates nothing (the fuzzer) may use this.
 */
void pp_options_reset_for_test(void)
{
	pthread_mutex_lock(&opt_lock);
	env_read = frozen = false;
	pthread_mutex_unlock(&opt_lock);
}

PP_API int pp_configure(const char *conf)
{
	int ret = 0;

	if (!conf) {
		pp_msg("pp_configure: conf is NULL");
		errno = EINVAL;
		return -1;
	}
	if (!pp_enter()) {	/* a handler interrupted pagepool: opt_lock may be held */
		pp_msg("pp_configure: called from a signal handler that interrupted pagepool");
		errno = EBUSY;
		return -1;
	}
	pthread_mutex_lock(&opt_lock);
	from_env_locked();
	if (frozen) {
		pp_msg("pp_configure: the pool is already in use; options are fixed at first use");
		errno = EBUSY;
		ret = -1;
	} else if (options_parse(&pp_g.opt, conf, "pp_configure")) {
		errno = EINVAL;
		ret = -1;
	}
	pthread_mutex_unlock(&opt_lock);
	pp_leave();
	return ret;
}

/*
 * pp_options_find() - the index of @key in the table, or -1 after a message
 * naming @who and listing the keys there are.
 */
int pp_options_find(const char *who, const char *key)
{
	const struct key *k = find_key(key, strlen(key));

	if (!k) {
		unknown_key(who, key, strlen(key));
		return -1;
	}
	return (int)(k - keys);
}

/* The value of key @i of @o (booleans as 0/1). */
size_t pp_options_value(const struct pp_options *o, int i)
{
	const char *field = (const char *)o + keys[i].off;

	return keys[i].kind == K_BOOL ? *(const bool *)field : *(const size_t *)field;
}

/*
 * pp_options_print() - verbose=1: every key's effective value, in the
 * table's order, on one line: arena says what was reserved (@arena_bytes),
 * and high_max what a cache grows to.
 */
void pp_options_print(const struct pp_options *o, size_t arena_bytes)
{
	char line[1024];
	size_t n = 0;

	if (arena_bytes < o->arena)
		pp_msg("arena: %zu bytes reserved, not %zu: what fits the address space "
		       "this process may map (RLIMIT_AS) or the OS grants", arena_bytes, o->arena);
	for (size_t i = 0; i < NKEYS && n < sizeof(line); i++) {
		size_t v = pp_options_value(o, (int)i);

		if (keys[i].off == offsetof(struct pp_options, arena))
			v = arena_bytes;
		else if (keys[i].off == offsetof(struct pp_options, high_max) && v < o->high)
			v = o->high;
		else if (keys[i].off == offsetof(struct pp_options, cache_max))
			v = pp_g.cache_max_pages * pp_os_page_size();	/* 0 resolved */
		n += (size_t)snprintf(line + n, sizeof(line) - n, " %s=%zu%s", keys[i].name, v,
				      keys[i].off == offsetof(struct pp_options, cap) && !v ?
				      " (none)" : "");
	}
	pp_msg("settings:%s page_size=%zu max_order=%d desc=%zuB/page", line,
	       pp_os_page_size(), PP_MAX_ORDER, sizeof(struct pp_desc));
}
