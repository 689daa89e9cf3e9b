/* SPDX-License-Identifier: MIT */
/*
 * error.c - diagnostics: messages on stderr, and the report of a bad free.
 *
 * Owns: how every message is printed (pp_msg(): the "pagepool: " prefix,
 * one write(2), no lock), the names of errnos, and the wording of the
 * reports of bad flags and of a bad free.  Other messages are worded where
 * they are raised (options.c, reserve.c, ...: grep pp_msg).  A bad pointer
 * handed to a free call is diagnosed from its descriptor (why it is bad),
 * reported with the call's name and the address, and the process aborted:
 * continuing would corrupt the pool.  Formatting uses vsnprintf on the
 * stack: no allocation, so it also works inside a signal handler with
 * glibc (POSIX does not promise that; write(2) itself is safe).
 *
 * A message may be printed while the caller holds a C library lock - the
 * pool starts inside the first malloc() under the LD_PRELOAD shim, and
 * setlocale() allocates holding the locale lock - so nothing here takes
 * one: no strerror() (translated texts, the locale lock), no stdio stream,
 * no malloc(); an errno is named (ENOMEM), not described.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

void pp_msg(const char *fmt, ...)
{
	static const char prefix[] = "pagepool: ";
	char buf[512];
	size_t len = sizeof(prefix) - 1;
	va_list ap;
	int n;

	/* One write per message, so lines of concurrent processes stay whole. */
	memcpy(buf, prefix, len);
	va_start(ap, fmt);
	n = vsnprintf(buf + len, sizeof(buf) - len - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	len += (size_t)n < sizeof(buf) - len - 2 ? (size_t)n : sizeof(buf) - len - 2;
	buf[len++] = '\n';
	pp_os_write_err(buf, len);
}

const char *pp_errname(int err)
{
#ifdef HAVE_STRERRORNAME_NP
	const char *name = strerrorname_np(err);	/* a constant table */

	if (name)
		return name;
#else
	switch (err) {
	case ENOMEM: return "ENOMEM";
	case EINVAL: return "EINVAL";
	case EPERM: return "EPERM";
	case EAGAIN: return "EAGAIN";
	}
#endif
	return "an unknown error";
}

bool pp_check_flags(const char *fn, unsigned flags)
{
	if (likely(!(flags & ~PP_FLAGS_ALL)))
		return true;
	pp_msg("%s: unknown flags 0x%x (valid: PP_TRY, PP_NOWAIT, PP_ZERO)",
	       fn, flags & ~PP_FLAGS_ALL);
	return false;
}

static const char *state_name(unsigned s)
{
	switch (s) {
	case PP_PG_FREE:
	case PP_PG_CACHED:
	case PP_PG_PENDING:
		return "the block is already free (a double free, or use after free)";
	case PP_PG_TRIM:
		return "the block is free, being given back to the OS (a double free, or use after free)";
	case PP_PG_META:
		return "the page holds the allocator's own metadata";
	default:
		return "not the start of a pool allocation (interior or never-allocated page)";
	}
}

void pp_bad_free_slow(const char *fn, const void *p, unsigned order)
{
	size_t off = (size_t)((const char *)p - pp_g.base);
	size_t committed = load_relaxed(&pp_g.committed_bytes);
	const struct pp_desc *d;
	unsigned state, dorder;

	if (!pp_g.base || off >= pp_g.npages_max << pp_g.page_shift) {
		pp_msg("%s(%p): not a pointer from the pool", fn, p);
	} else if (off & (pp_g.page_size - 1)) {
		pp_msg("%s(%p): pointer is not page-aligned (offset %zu into a page)",
		       fn, p, off & (pp_g.page_size - 1));
	} else if (off >= committed) {
		pp_msg("%s(%p): inside the arena but never handed out (beyond the committed %zu bytes)",
		       fn, p, committed);
	} else {
		d = &pp_g.desc[off >> pp_g.page_shift];
		state = pp_state(d);
		dorder = load_relaxed(&d->order);
		if (state == PP_PG_USED && load_relaxed(&d->span))
			pp_msg("%s(%p): a block from malloc() (the LD_PRELOAD shim): free it with free()",
			       fn, p);
		else if (state == PP_PG_USED)
			pp_msg("%s(%p): wrong order: allocated with order %u, freed with order %u",
			       fn, p, dorder, order);
		else
			pp_msg("%s(%p): %s", fn, p, state_name(state));
	}
	pp_os_abort();
}
