#!/bin/sh
# SPDX-License-Identifier: MIT
#
# preload-limits.sh - real programs under an address-space limit (ulimit -v
# 1000000, about 1 GB) behave the same under the LD_PRELOAD shim as in a
# plain run, and the pool serves requests in each: the arena fits the limit
# (lib/arena.c).  bash starts in a UTF-8 locale, where the pool starts inside
# setlocale() while the C library holds its locale lock.  tests/preload-
# programs.sh does the comparing; a watchdog ends a hang.
here=$(cd "$(dirname "$0")" && pwd)
PP_ULIMIT_V=${PP_ULIMIT_V:-1000000} PP_PROGRAMS=${PP_PROGRAMS:-"bash-locale python3 sqlite3 git"} \
	exec sh "$here/preload-programs.sh"
