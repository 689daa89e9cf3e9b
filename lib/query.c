/* SPDX-License-Identifier: MIT */
/*
 * query.c - questions a program asks: the page size, is an address the
 * pool's, what block is it, what is a setting.
 *
 * Owns: pp_owns() and pp_block_order(), for code that holds pointers of
 * more than one origin (libpagepool-rcu, the preload shim) and must route a
 * free - both read the arena geometry and one descriptor; nothing is
 * written, no lock is taken - and pp_option(), which starts the pool (the
 * settings are final then) and reads options.h's table.
 */
#include "config.h"

#include <errno.h>

#include "internal.h"

PP_API size_t pp_page_size(void)
{
	return pp_page_size_any();
}

PP_API int pp_owns(const void *addr)
{
	return pp_arena_has(addr);
}

PP_API int pp_block_order(const void *addr)
{
	const struct pp_desc *d = pp_arena_has(addr) ? pp_desc_at(addr) : NULL;

	if (!d || pp_state(d) != PP_PG_USED || load_relaxed(&d->prev) == PP_QUARANTINED)
		goto bad;			/* quarantined: freed (track.c) */
	return load_relaxed(&d->order);
bad:
	errno = EINVAL;
	return -1;
}

PP_API int pp_option(const char *key, size_t *value)
{
	int i;

	if (!key || !value) {
		pp_msg("pp_option: %s is NULL", key ? "value" : "key");
		errno = EINVAL;
		return -1;
	}
	i = pp_options_find("pp_option", key);
	if (i < 0) {
		errno = ENOENT;
		return -1;
	}
	if (!pp_init())
		return -1;			/* errno ENOMEM, message printed */
	*value = pp_options_value(&pp_g.opt, i);	/* frozen since pp_init(): no lock */
	return 0;
}
