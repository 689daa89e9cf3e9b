/* SPDX-License-Identifier: MIT */
/*
 * options.c - settings: defaults, PAGEPOOL_CONF, pp_configure().
 *
 * Owns: the key=value syntax, the table of keys, validation and the
 * precedence defaults < PAGEPOOL_CONF < pp_configure().  A string is applied
 * whole or not at all; every rejection names the key or value.  Options are
 * frozen when the pool initialises (pp_options_freeze()).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/*
 * Defaults, from bench/tune-cache.sh (README "Tuning the caches"): moving
 * 128 pages per lock hold halves the cost of a page freed on another thread
 * against 64, at the same memory; high = 512 is faster again but (with the
 * mark fixed, high_max = high) doubles what an idle thread can hoard (high
 * pages of order 0, ~1.9 * high over all cached orders).
 */
#define PP_DEF_HIGH	256
#define PP_DEF_BATCH	128
/*
 * A cache that alternates between refills and drains grows towards this
 * (tcache.c): 1024 pages hold a 512-page burst and its refill batch, so the
 * latency workload of bench/pagepool-bench stops taking the lock; tcmalloc
 * sizes its thread caches the same way (slow start, bounded).
 */
#define PP_DEF_HIGH_MAX	1024
#define PP_DEF_ARENA	((size_t)64 << 30)
#define PP_DEF_GROW	((size_t)4 << 20)
#define PP_MAX_HIGH	65536
/* libpagepool-rcu (include/pagepool/rcu.h): its keys live here too, so one
 * parser and one precedence rule cover the whole of PAGEPOOL_CONF. */
#define PP_DEF_RCU_DELAY_MS	1000
#define PP_MAX_RCU_DELAY_MS	3600000
#define PP_DEF_RCU_SPARES	4
#define PP_MAX_RCU_SPARES	64
/* Pool pages a thread may have waiting for liburcu's callbacks (rcu/free.c). */
#define PP_DEF_RCU_INFLIGHT	((size_t)64 << 20)

enum kind { K_COUNT, K_BYTES, K_BOOL };

static const struct key {
	const char *name;
	enum kind kind;
	size_t off;
} keys[] = {
	{ "high",    K_COUNT, offsetof(struct pp_options, high) },
	{ "batch",   K_COUNT, offsetof(struct pp_options, batch) },
	{ "high_max", K_COUNT, offsetof(struct pp_options, high_max) },
	{ "arena",   K_BYTES, offsetof(struct pp_options, arena) },
	{ "cap",     K_BYTES, offsetof(struct pp_options, cap) },
	{ "grow",    K_BYTES, offsetof(struct pp_options, grow) },
	{ "stats",   K_BOOL,  offsetof(struct pp_options, stats) },
	{ "verbose", K_BOOL,  offsetof(struct pp_options, verbose) },
	{ "rcu_delay_ms", K_COUNT, offsetof(struct pp_options, rcu_delay_ms) },
	{ "rcu_spares",   K_COUNT, offsetof(struct pp_options, rcu_spares) },
	{ "rcu_blocks",   K_BOOL,  offsetof(struct pp_options, rcu_blocks) },
	{ "rcu_inflight", K_BYTES, offsetof(struct pp_options, rcu_inflight) },
	{ "preload_min",  K_BYTES, offsetof(struct pp_options, preload_min) },
	{ "pi",        K_BOOL,  offsetof(struct pp_options, pi) },
	{ "mlock",     K_BOOL,  offsetof(struct pp_options, mlock) },
	{ "prefault",  K_BYTES, offsetof(struct pp_options, prefault) },
	{ "hugepages", K_BOOL,  offsetof(struct pp_options, hugepages) },
	{ "retain",    K_BYTES, offsetof(struct pp_options, retain) },
	{ "trim_ms",   K_COUNT, offsetof(struct pp_options, trim_ms) },
	{ "madv_free", K_BOOL,  offsetof(struct pp_options, madv_free) },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static pthread_mutex_t opt_lock = PTHREAD_MUTEX_INITIALIZER;
static bool env_read, frozen;

static void options_defaults(struct pp_options *o)
{
	memset(o, 0, sizeof(*o));
	o->high = PP_DEF_HIGH;
	o->batch = PP_DEF_BATCH;
	o->high_max = PP_DEF_HIGH_MAX;
	o->arena = PP_DEF_ARENA;
	o->grow = PP_DEF_GROW;
	o->rcu_delay_ms = PP_DEF_RCU_DELAY_MS;
	o->rcu_spares = PP_DEF_RCU_SPARES;
	o->rcu_blocks = true;
	o->rcu_inflight = PP_DEF_RCU_INFLIGHT;
	o->preload_min = pp_os_page_size();
	o->trim_ms = 1000;
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

/* Cross-key checks and rounding; @who names the caller in messages. */
static int finish(struct pp_options *o, const char *who)
{
	size_t block = pp_os_page_size() << PP_MAX_ORDER;

	if (o->high == 0 || o->high > PP_MAX_HIGH) {
		pp_msg("%s: high=%zu is out of range (1..%d)", who, o->high, PP_MAX_HIGH);
		return -1;
	}
	if (o->high_max > PP_MAX_HIGH) {
		pp_msg("%s: high_max=%zu is out of range (0..%d)", who, o->high_max, PP_MAX_HIGH);
		return -1;
	}
	if (o->batch == 0 || o->batch > o->high) {
		pp_msg("%s: batch=%zu is out of range (1..high=%zu)", who, o->batch, o->high);
		return -1;
	}
	/* Page indices are 32-bit and UINT32_MAX ends a list: < 2^32 pages. */
	size_t max_arena = (((size_t)1 << 32) - ((size_t)1 << PP_MAX_ORDER)) * pp_os_page_size();

	if (o->arena < block || o->arena > max_arena) {
		pp_msg("%s: arena=%zu is out of range (%zu .. %zu bytes)", who, o->arena,
		       block, max_arena);
		return -1;
	}
	if (o->grow == 0 || o->grow > o->arena) {
		pp_msg("%s: grow=%zu is out of range (1 .. arena=%zu bytes)", who, o->grow, o->arena);
		return -1;
	}
	if (o->cap > o->arena) {
		pp_msg("%s: cap=%zu is larger than arena=%zu", who, o->cap, o->arena);
		return -1;
	}
	if (o->rcu_delay_ms == 0 || o->rcu_delay_ms > PP_MAX_RCU_DELAY_MS) {
		pp_msg("%s: rcu_delay_ms=%zu is out of range (1..%d)", who, o->rcu_delay_ms,
		       PP_MAX_RCU_DELAY_MS);
		return -1;
	}
	if (o->rcu_spares > PP_MAX_RCU_SPARES) {
		pp_msg("%s: rcu_spares=%zu is out of range (0..%d)", who, o->rcu_spares,
		       PP_MAX_RCU_SPARES);
		return -1;
	}
	if (o->prefault > o->arena || (o->cap && o->prefault > o->cap)) {
		pp_msg("%s: prefault=%zu is larger than %s=%zu", who, o->prefault,
		       o->cap && o->cap < o->arena ? "cap" : "arena",
		       o->cap && o->cap < o->arena ? o->cap : o->arena);
		return -1;
	}
	if (o->preload_min == 0) {
		pp_msg("%s: preload_min=0 is out of range (1 byte or more)", who);
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

static int options_parse(struct pp_options *o, const char *conf, const char *who)
{
	struct pp_options t = *o;
	const char *s = conf;

	while (*s) {
		const char *end = strchr(s, ','), *eq;
		size_t len = end ? (size_t)(end - s) : strlen(s), klen, vlen;
		const struct key *k = NULL;

		if (len == 0) {			/* tolerate "a=1,,b=2" and a trailing comma */
			s += end ? 1 : 0;
			continue;
		}
		eq = memchr(s, '=', len);
		if (!eq) {
			pp_msg("%s: '%.*s' is not key=value", who, (int)len, s);
			return -1;
		}
		klen = (size_t)(eq - s);
		vlen = len - klen - 1;
		k = find_key(s, klen);
		if (!k) {
			unknown_key(who, s, klen);
			return -1;
		}
		if (k->kind == K_BOOL) {
			if (parse_bool(eq + 1, vlen, (bool *)((char *)&t + k->off))) {
				pp_msg("%s: bad value '%.*s' for key '%s' (want 0/1, yes/no, true/false or on/off)",
				       who, (int)vlen, eq + 1, k->name);
				return -1;
			}
		} else if (parse_number(eq + 1, vlen, k->kind == K_BYTES,
					(size_t *)((char *)&t + k->off))) {
			pp_msg("%s: bad value '%.*s' for key '%s' (want %s)", who,
			       (int)vlen, eq + 1, k->name,
			       k->kind == K_BYTES ? "bytes, optionally with a K, M, G or T suffix"
						  : "a whole number");
			return -1;
		}
		if (k->off == offsetof(struct pp_options, arena))
			t.arena_set = true;
		s += len + (end ? 1 : 0);
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

PP_API int pp_option(const char *key, size_t *value)
{
	const struct key *k;

	if (!key || !value) {
		pp_msg("pp_option: %s is NULL", key ? "value" : "key");
		errno = EINVAL;
		return -1;
	}
	k = find_key(key, strlen(key));
	if (!k) {
		unknown_key("pp_option", key, strlen(key));
		errno = ENOENT;
		return -1;
	}
	if (!pp_init())
		return -1;			/* errno ENOMEM, message printed */
	/* Frozen since pp_init(): no lock needed to read. */
	if (k->kind == K_BOOL)
		*value = *(const bool *)((const char *)&pp_g.opt + k->off);
	else
		*value = *(const size_t *)((const char *)&pp_g.opt + k->off);
	return 0;
}

void pp_options_print(const struct pp_options *o)
{
	size_t arena = pp_g.npages_max << pp_g.page_shift;	/* what was reserved */

	if (arena < o->arena)
		pp_msg("arena: %zu bytes reserved, not %zu: what fits the address space "
		       "this process may map (RLIMIT_AS) or the OS grants", arena, o->arena);
	pp_msg("settings: high=%zu high_max=%zu batch=%zu arena=%zu cap=%zu%s grow=%zu stats=%d verbose=%d "
	       "rcu_delay_ms=%zu rcu_spares=%zu rcu_blocks=%d rcu_inflight=%zu preload_min=%zu "
	       "pi=%d mlock=%d prefault=%zu hugepages=%d retain=%zu trim_ms=%zu madv_free=%d page_size=%zu max_order=%d desc=%zuB/page",
	       o->high, o->high_max > o->high ? o->high_max : o->high, o->batch, arena, o->cap, o->cap ? "" : " (none)",
	       o->grow, o->stats, o->verbose, o->rcu_delay_ms, o->rcu_spares, o->rcu_blocks,
	       o->rcu_inflight,
	       o->preload_min, o->pi, o->mlock, o->prefault, o->hugepages, o->retain, o->trim_ms, o->madv_free,
	       pp_g.page_size, PP_MAX_ORDER, sizeof(struct pp_desc));
}
