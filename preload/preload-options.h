/* SPDX-License-Identifier: MIT */
/*
 * preload-options.h - the LD_PRELOAD shim's keys of PAGEPOOL_CONF, as rows
 * of libpagepool's one options table (lib/options.h, where the columns are
 * described).
 *
 * preload_fit's default, 87: a request that would leave more than about an
 * eighth of its whole pages unused goes to the C library, whose chunks
 * waste a few bytes.  Measured on doc/preload.md's sqlite3 example (peak RSS,
 * median of 3, against glibc's 22.3 MB): its page buffers are 4,104 and
 * 4,368 bytes - a page plus sqlite's headers, two pages each in the pool -
 * so with every request of a page or more in the pool the shim peaked at
 * 41.0 MB (1.84x); preload_fit=75 still takes its 6,584-byte buffers (80%
 * of two pages): 27.3 MB (1.23x); 87: 25.0 MB (1.12x).  The memory is
 * live: no trim can lower that peak (retain=1,trim_ms=0: 40.0 MB).  Page
 * multiples and page-aligned requests still always go to the pool.
 * Compiled into libpagepool: PAGEPOOL_CONF is parsed whole;
 * the shim reads its values with pp_option() (route.c).
 */
#ifndef PPL_OPTIONS_H
#define PPL_OPTIONS_H

#define PPL_OPTIONS(X)								\
	X(preload_min, BYTES, pp_os_page_size(), 1, SIZE_MAX,			\
	  "requests of at least this many bytes go to the pool")		\
	X(preload_fit, COUNT, 87, 0, 100,					\
	  "such a request goes only if it fills this percent of its pages (0: any)")

#endif /* PPL_OPTIONS_H */
