/* SPDX-License-Identifier: MIT */
/*
 * preload-options.h - the LD_PRELOAD shim's keys of PAGEPOOL_CONF, as rows
 * of libpagepool's one options table (lib/options.h, where the columns are
 * described).  Compiled into libpagepool: PAGEPOOL_CONF is parsed whole;
 * the shim reads its values with pp_option() (route.c).
 */
#ifndef PPL_OPTIONS_H
#define PPL_OPTIONS_H

#define PPL_OPTIONS(X)								\
	X(preload_min, BYTES, pp_os_page_size(), 1, SIZE_MAX,			\
	  "requests of at least this many bytes go to the pool")

#endif /* PPL_OPTIONS_H */
