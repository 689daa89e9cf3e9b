#!/bin/sh
# SPDX-License-Identifier: MIT
#
# preload-limits.sh - real programs under an address-space limit behave the
# same under the LD_PRELOAD shim as in a plain run, and the pool serves
# requests in each: the arena fits the limit (lib/arena.c).  bash starts in
# a UTF-8 locale, where the pool starts inside setlocale() while the C
# library holds its locale lock.  Two limits: ulimit -v 1000000 (about
# 1 GB) for bash, python3, sqlite3 and git, and 200000 (200 MB) for bash and
# sqlite3 (python3's workload needs more than that even without the shim).
# tests/preload-programs.sh does the comparing; a watchdog ends a hang.
#   PP_PROGRAMS  as there, for the 1 GB pass; the 200 MB pass runs when unset
here=$(cd "$(dirname "$0")" && pwd)
PP_ULIMIT_V=1000000 PP_PROGRAMS=${PP_PROGRAMS:-"bash-locale python3 sqlite3 git"} \
	sh "$here/preload-programs.sh" || exit $?
[ -n "${PP_PROGRAMS:-}" ] && exit 0
PP_ULIMIT_V=200000 PP_PROGRAMS="bash-locale sqlite3" exec sh "$here/preload-programs.sh"
