/* SPDX-License-Identifier: MIT */
/*
 * query.c - questions about an address: is it the pool's, and what block.
 *
 * Owns: pp_owns() and pp_block_order(), for code that holds pointers of
 * more than one origin (libpagepool-rcu, the preload shim) and must route a
 * free.  Both read the arena geometry and one descriptor; nothing is
 * written, no lock is taken.
 */
#include "config.h"

#include <errno.h>

#include "internal.h"

PP_API int pp_owns(const void *addr)
{
	return pp_arena_has(addr);
}

PP_API int pp_block_order(const void *addr)
{
	const struct pp_desc *d = pp_arena_has(addr) ? pp_desc_at(addr) : NULL;

	if (!d || pp_state(d) != PP_PG_USED)
		goto bad;
	return load_relaxed(&d->order);
bad:
	errno = EINVAL;
	return -1;
}
