/* SPDX-License-Identifier: MIT */
/*
 * rcu-options.h - libpagepool-rcu's keys of PAGEPOOL_CONF, as rows of
 * libpagepool's one options table (lib/options.h, where the columns are
 * described).  Compiled into libpagepool, not into libpagepool-rcu:
 * PAGEPOOL_CONF is parsed whole, possibly before libpagepool-rcu is loaded;
 * libpagepool-rcu reads its values with pp_option() (init.c).
 */
#ifndef PPR_OPTIONS_H
#define PPR_OPTIONS_H

/* Pool pages a thread may have waiting for liburcu's callbacks (free.c). */
#define PPR_DEF_INFLIGHT	((size_t)64 << 20)

#define PPR_OPTIONS(X)								\
	X(rcu_delay_ms, COUNT, 1000, 1, 3600000,				\
	  "a partly filled block is handed on at half this age (ms)")		\
	X(rcu_spares, COUNT, 4, 0, 64,						\
	  "empty blocks a thread keeps, and as many coming back")		\
	X(rcu_blocks, BOOL, 1, 0, 1,						\
	  "0: no blocks, every call takes the fallback")			\
	X(rcu_inflight, BYTES, PPR_DEF_INFLIGHT, 0, SIZE_MAX,			\
	  "bytes of pool pages a thread may have waiting for call_rcu(); 0: no limit") \
	X(rcu_stall_ms, COUNT, 21000, 0, 86400000,				\
	  "a grace period pending this long is said, once (ms; 0: never)")	\
	X(rcu_stall_bytes, BYTES, (size_t)1 << 30, 0, SIZE_MAX,		\
	  "memory waiting for grace periods past this is said, once (0: never)")

#endif /* PPR_OPTIONS_H */
