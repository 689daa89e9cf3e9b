#!/bin/sh
# meta.sh - bench-meta.txt for bench/report.sh: how and where `make bench`
# ran.  Usage: bench/meta.sh COMMAND PP-ICOUNT > bench-meta.txt
# (PP-ICOUNT: bench/pp-icount, which prints the descriptor bytes per page;
# an uninstalled libtool program needs LIBTOOL_EXEC="libtool --mode=execute").
set -eu
cmd=$1 icount=$2
cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
echo "command: $cmd"
echo "machine: ${cpu:-unknown CPU}, $(nproc) CPUs, $(uname -sr) $(uname -m), glibc $(getconf GNU_LIBC_VERSION | cut -d' ' -f2)"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
# shellcheck disable=SC2086 # LIBTOOL_EXEC is a command prefix
echo "desc_bytes_per_page: $(${LIBTOOL_EXEC:-} "$icount" desc)"
if git -C "$(dirname "$0")" rev-parse --short HEAD >/dev/null 2>&1; then
	echo "commit: $(git -C "$(dirname "$0")" rev-parse --short HEAD)"
fi
