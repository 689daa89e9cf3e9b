# inputs.sh - the options and input files shared by bench/plot.sh and
# bench/report.sh; sourced by them after they define usage().  Sets results,
# latency, rcu, preload, fallback, threads, icount, meta (file names, by default in
# DIR) and prefix (--img-prefix), and dir.
# shellcheck shell=sh disable=SC2034 # the variables are the sourcing script's
results='' latency='' rcu='' preload='' fallback='' threads='' icount='' meta='' prefix=''
while [ $# -gt 0 ]; do
	case $1 in
	--results | --latency | --rcu | --preload | --fallback | --threads | --icount | --meta | \
	--img-prefix)
		if [ $# -lt 2 ]; then
			usage >&2
			exit 2
		fi
		case $1 in
		--results) results=$2 ;;
		--latency) latency=$2 ;;
		--rcu) rcu=$2 ;;
		--preload) preload=$2 ;;
		--fallback) fallback=$2 ;;
		--threads) threads=$2 ;;
		--icount) icount=$2 ;;
		--meta) meta=$2 ;;
		--img-prefix) prefix=$2 ;;
		esac
		shift 2
		;;
	-h | --help)
		usage
		exit 0
		;;
	--)
		shift
		break
		;;
	-*)
		usage >&2
		exit 2
		;;
	*) break ;;
	esac
done
if [ $# -gt 1 ]; then
	usage >&2
	exit 2
fi
dir=${1:-.}
: "${results:=$dir/bench-results.csv}"
: "${latency:=$dir/bench-latency.csv}"
: "${rcu:=$dir/bench-rcu.csv}"
: "${preload:=$dir/bench-preload.csv}"
: "${fallback:=$dir/bench-fallback.csv}"
: "${threads:=$dir/bench-threads.csv}"
: "${icount:=$dir/bench-icount.csv}"
: "${meta:=$dir/bench-meta.txt}"
