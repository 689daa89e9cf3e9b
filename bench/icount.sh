#!/bin/sh
# icount.sh - instructions per allocate+free pair (pair) and per page of
# the batch workload, counted by callgrind: runs bench/pp-icount at N and
# 2N and divides the difference by N.
# Usage: bench/icount.sh [PP-ICOUNT [CSV]]   (make bench-icount; an
# uninstalled libtool program needs LIBTOOL_EXEC="libtool --mode=execute")
set -eu
prog=${1:-./bench/pp-icount}
csv=${2:-}
n=200000
# The arena is kept small: valgrind cannot reserve the default 64 GiB.
export PAGEPOOL_CONF=arena=256M
count() {
	# shellcheck disable=SC2086 # LIBTOOL_EXEC is a command prefix
	${LIBTOOL_EXEC:-} valgrind --tool=callgrind --callgrind-out-file=/dev/null \
		"$prog" "$1" "$2" 2>&1 |
		awk '/Collected/ {print $NF}'
}
[ -z "$csv" ] || echo "workload,instructions_per_op" >"$csv"
echo "| workload | instructions per op (incl. ~5 of loop) |"
echo "|---|--:|"
for mode in try alloc batch; do
	case $mode in
	try) row=pair-try ;;	# pp_alloc_page_try + pp_free_page
	alloc) row=pair ;;	# pp_alloc_page(0) + pp_free_page
	batch) row="batch" ;;	# per page: one allocation and one free
	esac
	a=$(count $n $mode) b=$(count $((2 * n)) $mode)
	v=$(awk -v a="$a" -v b="$b" -v n=$n 'BEGIN {printf "%.1f", (b - a) / n}')
	echo "| $row | $v |"
	[ -z "$csv" ] || echo "$row,$v" >>"$csv"
done
echo
echo "callgrind, $n vs $((2 * n)) operations; command: $0 $*"
