#!/bin/sh
# icount.sh - instructions per allocate+free pair, counted by callgrind:
# runs bench/pp-icount at N and 2N pairs and divides the difference by N.
# Usage: bench/icount.sh [PP-ICOUNT]   (make bench-icount; an uninstalled
# libtool program needs LIBTOOL_EXEC="libtool --mode=execute")
set -eu
prog=${1:-./bench/pp-icount}
n=200000
# The arena is kept small: valgrind cannot reserve the default 64 GiB.
export PAGEPOOL_CONF=arena=256M
count() {
	# shellcheck disable=SC2086 # LIBTOOL_EXEC is a command prefix
	${LIBTOOL_EXEC:-} valgrind --tool=callgrind --callgrind-out-file=/dev/null \
		"$prog" "$1" "$2" 2>&1 |
		awk '/Collected/ {print $NF}'
}
echo "| pair | instructions per pair (incl. ~5 of loop) |"
echo "|---|--:|"
for mode in try alloc; do
	a=$(count $n $mode) b=$(count $((2 * n)) $mode)
	echo "| $mode | $(awk -v a="$a" -v b="$b" -v n=$n 'BEGIN {printf "%.1f", (b - a) / n}') |"
done
echo
echo "callgrind, $n vs $((2 * n)) pairs; command: $0 $prog"
