/* SPDX-License-Identifier: MIT */
/*
 * testhooks.h - test hooks into libpagepool, defined in tests/testhooks.c:
 * the white-box suites link the library's objects directly, so these
 * reach its hidden state; the installed library has none of them.
 *
 * pp_test_audit() walks every committed descriptor under the global lock
 * and counts pages by state: a second ledger, independent of the counters
 * pp_stats() reports, to prove that no page is lost.
 */
#ifndef PP_TESTHOOKS_H
#define PP_TESTHOOKS_H

#include <stddef.h>

struct pp_audit {
	size_t committed;	/* pages covered by committed descriptors */
	size_t free;		/* pages in FREE blocks (buddy lists) */
	size_t cached;		/* pages in CACHED blocks */
	size_t used;		/* pages in USED blocks */
	size_t pending;		/* pages in PENDING blocks */
	size_t meta;		/* pages in META blocks */
	size_t listed;		/* pages reachable from the buddy list heads */
	size_t bad;		/* descriptors in an impossible state */
};

void pp_test_lock(void);
unsigned pp_test_lock_word(void);
void pp_test_unlock(void);
void pp_test_audit(struct pp_audit *a);
size_t pp_test_reclaim(void);	/* other threads' caches not inside a call */

#endif /* PP_TESTHOOKS_H */
