/* SPDX-License-Identifier: MIT */
/*
 * fence.c - the asymmetric fence of the block hand-over (rcu-internal.h).
 *
 * Owns: membarrier(2).  The rare side (the monitor, pp_rcu_barrier(), a
 * pp_rcu_free() caller helping the monitor) makes every thread of the
 * process execute a full memory barrier, so the
 * common side (a thread queueing a pointer) needs none; liburcu's urcu-memb
 * flavour rests on the same system call.  Where it is missing (Linux < 4.14,
 * or filtered by seccomp) both sides use ordinary full fences.
 */
#include "config.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rcu-internal.h"

static int membarrier(int cmd)
{
	return (int)syscall(__NR_membarrier, cmd, 0, 0);
}

/* At pp_rcu_init() and in a fork child (the registration is per process). */
void ppr_fence_init(void)
{
	int cmds = membarrier(MEMBARRIER_CMD_QUERY);

	ppr.membarrier = cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
			 membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
}

/* The taker's side: raise @t's steal flag (before ppr_fence_others()). */
void ppr_mark_steal(struct ppr_thread *t)
{
	__atomic_store_n(&t->steal, 1, __ATOMIC_SEQ_CST);
}

/*
 * A full barrier on every thread of the process.  Without membarrier the
 * owners' own sequentially consistent stores stand in for it.
 */
void ppr_fence_others(void)
{
	if (ppr.membarrier && membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED))
		ppr_die("membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed after "
			"registration succeeded: cannot hand blocks over safely");
}

/* After ppr_fence_others(): is @t's owner inside a call? */
bool ppr_is_busy(struct ppr_thread *t)
{
	return __atomic_load_n(&t->busy, __ATOMIC_SEQ_CST);
}
