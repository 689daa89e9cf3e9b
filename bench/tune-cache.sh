#!/bin/sh
# tune-cache.sh - sweep the per-thread cache marks (high, batch) and print,
# per setting, pagepool's median ns per page for the pair, batch and remote
# workloads of pagepool-bench.  Usage: bench/tune-cache.sh [BENCH] [RUNS]
# (make bench-tune runs it from the build tree; SETTINGS="high:batch ..."
# overrides the list).
set -eu
bench=${1:-./bench/pagepool-bench}
runs=${2:-5}
settings=${SETTINGS:-"64:16 128:32 256:32 256:64 256:128 512:64 512:128 1024:256"}

median() { tr ' ' '\n' | grep . | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

echo "| high | batch | pair ns | batch ns/page | remote ns/page |"
echo "|--:|--:|--:|--:|--:|"
for hb in $settings; do
	h=${hb%:*} b=${hb#*:}
	row="| $h | $b"
	for w in pair batch remote; do
		vals=
		i=0
		while [ $i -lt "$runs" ]; do
			v=$(PAGEPOOL_CONF="high=$h,high_max=$h,batch=$b" "$bench" --quick --backend pagepool \
				--workload "$w" 2>/dev/null | awk '/^R/ {print $4}')
			vals="$vals $v"
			i=$((i + 1))
		done
		row="$row | $(echo "$vals" | median)"
	done
	echo "$row |"
done
echo
echo "median of $runs processes per cell; command: $0 $bench $runs"
