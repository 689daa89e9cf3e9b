/* SPDX-License-Identifier: MIT */
/*
 * arena.c - the arena: one virtual reservation, committed on demand.
 *
 * Owns: the arena's geometry (base, size, page shift), the out-of-band
 * descriptor array, and growth.  The reservation is aligned to the largest
 * block (2^PP_MAX_ORDER pages), so buddy alignment by page index is
 * alignment in memory.  A pointer belongs to the pool iff it falls in the
 * committed part of the range: an O(1) check with no header.  Descriptors
 * are committed alongside the pages they describe.  Growth runs with the
 * global lock held and is only reached from allocations with flags 0 (and
 * prefault= at start-up); it returns the range it committed, and the
 * buddy lists (buddy.c, the layer above) take it.  With hugepages=1 the committed memory is backed
 * by huge pages, with mlock=1 it is locked as it is committed.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "internal.h"

static size_t desc_committed;	/* bytes of the descriptor array committed */

/* Bytes of descriptors for an arena of @size bytes, whole pages. */
static size_t desc_bytes_for(size_t size)
{
	size_t bytes = (size >> pp_g.page_shift) * sizeof(struct pp_desc);

	return (bytes + pp_g.page_size - 1) & ~(pp_g.page_size - 1);
}

/* Reserve an arena of @size bytes and its descriptors, both or neither. */
static bool reserve(size_t size)
{
	size_t block = pp_g.page_size << PP_MAX_ORDER;
	char *base = pp_os_reserve(size, block);
	void *desc;

	if (!base)
		return false;
	desc = pp_os_reserve(desc_bytes_for(size), pp_g.page_size);
	if (!desc) {
		pp_os_unreserve(base, size);
		return false;
	}
	pp_g.base = base;
	pp_g.desc = desc;
	pp_g.npages_max = size >> pp_g.page_shift;
	pp_g.desc_bias = (uintptr_t)pp_g.desc -
			 ((uintptr_t)pp_g.base >> pp_g.page_shift) * sizeof(struct pp_desc);
	return true;
}

/*
 * The default arena's size, where the address space is limited: a quarter
 * of the headroom under RLIMIT_AS.  The reservation is PROT_NONE and costs
 * no memory, but it counts in full against the limit, so the program keeps
 * three quarters of what its limit leaves for its own mappings (a heap,
 * thread stacks, files), while the pool can still hold a quarter - under
 * the LD_PRELOAD shim a full arena only sends requests to the C library.
 */
#define AS_SHARE_SHIFT	2

/*
 * pp_arena_init() - reserve the arena.  An arena= the user set is reserved
 * as it is or not at all; the default is the smaller of opt.arena (64 GiB)
 * and a share of the address space left under RLIMIT_AS, halved while the
 * OS refuses it (valgrind, an overcommit policy, vm.max_map_count) down to
 * one largest block.  -1 with errno when nothing could be reserved.
 */
int pp_arena_init(void)
{
	size_t block = pp_g.page_size << PP_MAX_ORDER;
	size_t size = pp_g.opt.arena, room;

	if (!pp_g.opt.arena_set) {
		room = pp_os_as_headroom();
		if (room != SIZE_MAX && (room >> AS_SHARE_SHIFT) < size)
			size = (room >> AS_SHARE_SHIFT) & ~(block - 1);
		if (size < block)
			size = block;
	}
	while (!reserve(size)) {
		if (pp_g.opt.arena_set || size <= block)
			return -1;
		size = (size / 2) & ~(block - 1);
	}
	return 0;
}

/* mlock=1: lock a range just committed, or say why not. */
static bool lock_range(void *addr, size_t size)
{
	static bool said;

	if (!pp_g.opt.mlock || pp_os_lock(addr, size) == 0)
		return true;
	if (!said) {		/* once: every later growth would fail the same way */
		said = true;
		pp_msg("mlock=1: cannot lock %zu bytes: %s (raise RLIMIT_MEMLOCK, ulimit -l, "
		       "or run with CAP_IPC_LOCK); the arena does not grow", size,
		       pp_errname(errno));
	}
	errno = ENOMEM;
	return false;
}

/*
 * Commit @size bytes of the arena at @addr: huge pages with hugepages=1
 * (hugetlbfs, else transparent huge pages, said once), locked with mlock=1.
 */
static bool commit_pages(char *addr, size_t size)
{
	static bool said_thp;

	if (pp_g.opt.hugepages && pp_os_commit_huge(addr, size) == 0)
		return lock_range(addr, size);
	if (pp_os_commit(addr, size))
		return false;
	if (pp_g.opt.hugepages) {
		int err = pp_os_advise_huge(addr, size) ? errno : 0;

		if (!said_thp) {
			said_thp = true;
			pp_msg("hugepages=1: no hugetlbfs pages (see /proc/sys/vm/nr_hugepages); "
			       "using transparent huge pages%s%s", err ? ": " : "",
			       err ? pp_errname(err) : "");
		}
	}
	return lock_range(addr, size);
}

/* Commit descriptors for the first @npages pages. */
static bool commit_desc(size_t npages)
{
	size_t need = npages * sizeof(struct pp_desc);
	char *at = (char *)pp_g.desc + desc_committed;

	need = (need + pp_g.page_size - 1) & ~(pp_g.page_size - 1);
	if (need <= desc_committed)
		return true;
	if (pp_os_commit(at, need - desc_committed) || !lock_range(at, need - desc_committed))
		return false;
	desc_committed = need;
	return true;
}

/*
 * pp_arena_grow_locked() - commit more of the arena so that a block of
 * @order fits.  Commits opt.grow bytes (a multiple of the largest block) or
 * less where the cap or the end of the reservation stops it.  The new pages,
 * [*@idx, *@idx + *@npages), are the caller's to hand to the lists (buddy.c
 * does).  Returns false, with errno ENOMEM, when it cannot.
 */
bool pp_arena_grow_locked(unsigned order, size_t *idx, size_t *npages)
{
	size_t cur = pp_g.committed_bytes;
	size_t need = pp_g.page_size << order;
	size_t limit = pp_g.npages_max << pp_g.page_shift;
	size_t step = pp_g.opt.grow;

	if (pp_g.opt.cap && pp_g.opt.cap < limit)
		limit = pp_g.opt.cap & ~(pp_g.page_size - 1);
	if (step > limit - cur)
		step = limit - cur;
	/* Blocks are aligned to their size: a short step may not hold one. */
	if (step < need || (cur & (need - 1))) {
		pp_g.grow_fails++;
		errno = ENOMEM;
		return false;
	}
	if (!commit_desc((cur + step) >> pp_g.page_shift) ||
	    !commit_pages(pp_g.base + cur, step)) {
		pp_g.grow_fails++;
		errno = ENOMEM;
		return false;
	}
	__atomic_store_n(&pp_g.committed_bytes, cur + step, __ATOMIC_RELEASE);
	pp_g.committed += step >> pp_g.page_shift;
	if (pp_g.committed > pp_g.peak_committed)
		pp_g.peak_committed = pp_g.committed;
	pp_g.grows++;
	*idx = cur >> pp_g.page_shift;
	*npages = step >> pp_g.page_shift;
	return true;
}

/*
 * pp_arena_populate() - prefault=BYTES, once that much is committed: fault
 * in every committed page and its descriptors, so that the steady state
 * takes no page fault.
 */
void pp_arena_populate(void)
{
	pp_os_populate(pp_g.base, pp_g.committed_bytes);
	pp_os_populate(pp_g.desc, desc_committed);
}
