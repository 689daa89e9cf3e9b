#!/bin/sh
# report.sh - BENCHMARKS.md from the files that `make bench` writes: the
# issue's targets (listed, with their thresholds, in bench/targets.tsv next
# to this script), each marked met or not with its ratio, then every
# workload's table with its plot (bench/plot.sh draws them).
#
#   bench/report.sh [--results F] [--latency F] [--rcu F] [--preload F]
#                   [--fallback F] [--threads F] [--icount F] [--meta F]
#                   [--img-prefix P] [DIR] > BENCHMARKS.md
#
# Inputs, in DIR (default: the current directory) unless an option names a
# file (as given); any may be missing, and its section then says "not run":
#   bench-results.csv   bench/pagepool-bench --csv
#   bench-latency.csv   backend,op,calls,p50_ns,p99_ns,p999_ns,p9999_ns,
#                       max_ns,over_10us,runs
#   bench-rcu.csv       bench/pp-rcu-bench --csv
#   bench-preload.csv   bench/preload-bench --csv
#   bench-fallback.csv  bench/fallback-bench --csv
#   bench-threads.csv   bench/pagepool-bench --threads-csv
#   bench-icount.csv    workload,instructions_per_op (rows pair-try, pair,
#                       batch)
#   bench-meta.txt      "key: value" lines: command (the exact command run),
#                       machine, date, desc_bytes_per_page (descriptor bytes
#                       per page); any other keys are listed as they are
# The plots are linked as P + bench-*.png (P: --img-prefix, default empty)
# when DIR holds them.  Every target not met gets a line ending in
# "<!-- explain: ID -->" for the explanation (ID: the target's short name,
# e.g. pair-try-jemalloc, stable from run to run).  bench/lock.md, next to
# this script, is a section written by hand and copied in as it is.
set -eu

usage() {
	echo "usage: $0 [--results F] [--latency F] [--rcu F] [--preload F] [--fallback F]"
	echo "          [--threads F] [--icount F] [--meta F] [--img-prefix P] [DIR] > BENCHMARKS.md"
}

# shellcheck source=bench/inputs.sh
. "$(dirname "$0")/inputs.sh"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pp-report.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

# The value of KEY in bench-meta.txt (empty when absent).
meta_get() {
	[ -r "$meta" ] || return 0
	awk -v k="$1" 'index($0, k ":") == 1 {
		v = substr($0, length(k) + 2); sub(/^[ \t]+/, "", v); sub(/[ \t\r]+$/, "", v)
		print v; exit
	}' "$meta"
}

# Usable: a readable file with a header and at least one row.
usable() { [ -r "$1" ] && awk 'END { exit NR < 2 }' "$1"; }

notrun() { printf 'Not run (%s not found).\n\n' "${1#./}"; }

# The plot, when DIR holds it.
image() {
	if [ -r "$dir/$1" ]; then
		printf '![%s](%s%s)\n\n' "$2" "$prefix" "$1"
	else
		printf '(No plot: %s was not drawn; bench/plot.sh draws it.)\n\n' "$1"
	fi
}

# Shared awk code: fields by header name, number formats.
# shellcheck disable=SC2016 # awk code, not shell
AWK_LIB='
function header(   i) { for (i = 1; i <= NF; i++) { sub(/\r$/, "", $i); col[$i] = i } }
function f(name,   v) { v = (name in col) ? $col[name] : ""; sub(/\r$/, "", v); return v }
function ok(v) { return v != "" && v != "n/a" && v != "-" && v != "?" }
function fns(v) { return !ok(v) ? "n/a" : v + 0 >= 10000 ? grp(v) : v == int(v) ? sprintf("%.0f", v) : sprintf("%.1f", v) }
function fx(v) { return !ok(v) ? "n/a" : sprintf("%.2f", v) }
function grp(n,   s, neg, out) {
	if (!ok(n)) return "n/a"
	s = sprintf("%.0f", n); neg = ""; out = ""
	if (substr(s, 1, 1) == "-") { neg = "-"; s = substr(s, 2) }
	while (length(s) > 3) { out = "," substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) }
	return neg s out
}
'

# ---- header ------------------------------------------------------------
command=$(meta_get command)
machine=$(meta_get machine)
date=$(meta_get date)
desc=$(meta_get desc_bytes_per_page)

echo "# pagepool benchmarks"
echo
echo "The latest full results of \`make bench\`, on one machine in one run: every"
echo "ratio below compares numbers from the same run (the machine is shared and"
echo "noisy: compare ratios, not absolute numbers)."
echo
echo "- Command: \`${command:-make bench}\`$([ -n "$command" ] || echo ' (bench-meta.txt: no command recorded)')"
echo "- Machine: ${machine:-not recorded}"
echo "- Date: ${date:-not recorded}"
if [ -r "$meta" ]; then
	awk '/^[A-Za-z0-9_.-]+:/ {
		k = $0; sub(/:.*/, "", k)
		if (k == "command" || k == "machine" || k == "date" || k == "desc_bytes_per_page") next
		v = substr($0, length(k) + 2); sub(/^[ \t]+/, "", v); sub(/[ \t\r]+$/, "", v)
		print "- " k ": " v
	}' "$meta"
fi
echo
echo "To reproduce: \`make bench\` in a build tree runs every workload and writes"
echo "the CSVs, the plots (\`bench/plot.sh\`) and this file (\`bench/report.sh\`);"
echo "the copy in the source tree keeps them in \`bench/results/\`."
echo

# ---- targets -------------------------------------------------------------
# One awk over the targets and every input: kind=NAME before each file tells
# which it is.  bench/targets.tsv lists the targets (id, workload, comparison,
# threshold) in the order of the table; the functions below read each kind of
# comparison from the measured numbers.
targets=$(dirname "$0")/targets.tsv
if [ ! -r "$targets" ]; then
	echo "$0: $targets: not readable" >&2
	exit 1
fi
set -- kind=targets "FS=	" "$targets"
for pair in results:"$results" latency:"$latency" rcu:"$rcu" icount:"$icount" threads:"$threads"; do
	k=${pair%%:*} file=${pair#*:}
	if usable "$file"; then
		set -- "$@" "kind=$k" "FS=," "$file"
	fi
done
awk -v desc="$desc" -v notmet="$tmp/notmet" -v counts="$tmp/counts" \
	"$AWK_LIB"'
# g(NAME): the field under header NAME in the current file (kind)
function g(name,   v) { v = ((kind, name) in C) ? $(C[kind, name]) : ""; sub(/\r$/, "", v); return v }
kind == "targets" {
	if (/^#/ || $1 == "target" || NF < 4) next
	split($4, th, " ")
	nt++; TID[nt] = $1; TW[nt] = $2; TC[nt] = $3; TOP[nt] = th[1]; TN[nt] = th[2] + 0
	next
}
FNR == 1 { for (i = 1; i <= NF; i++) { sub(/\r$/, "", $i); C[kind, $i] = i }; seen[kind] = 1; next }
kind == "results" {
	w = g("workload"); b = g("backend"); v = g("ns_per_op")
	if (w == "" || b == "" || !ok(v)) next
	NS[w, b] = v + 0; WB[w] = WB[w] " " b
}
kind == "latency" {
	b = g("backend"); o = g("op"); v = g("p9999_ns")
	if (b == "" || !ok(v)) next
	L9[b, o] = v + 0; LO[b, o] = g("over_10us"); LC[b, o] = g("calls"); LR[b, o] = g("runs")
	if (!(b in LB)) { LB[b] = 1; LBL[++nlb] = b }
	if (b == "none" && !("none" in NONE)) NONE["none"] = o
}
kind == "rcu" {
	k = g("kind"); m = g("method"); v = g("mobj_per_s")
	if (k == "" || !ok(v)) next
	ROPS[k, m] = v + 0; RNS[k, m] = g("ns_per_object"); RRSS[k, m] = g("peak_rss_mib")
}
kind == "icount" { if (ok(g("instructions_per_op"))) IC[g("workload")] = g("instructions_per_op") }
kind == "threads" {
	b = g("backend"); t = g("threads")
	if (b == "" || !ok(t)) next
	t += 0; if (t > THMAX) THMAX = t
	THR[b, t] = g("rss_decay_mib"); THP[b, t] = g("pages_per_s")
}

function row(id, name, measured, ratio, good) {
	ntarget++
	if (good) { nmet++; verdict = "yes" }
	else {
		verdict = "**no**"
		printf "- **%s** (`%s`): %s; %s. <!-- explain: %s -->\n", name, id, measured, ratio, id > notmet
	}
	printf "| %s | %s | %s | %s |\n", name, measured, ratio, verdict
}
function norun(id, name, why) {
	ntarget++; nnotrun++
	printf "| %s | not run (%s) | | not run |\n", name, why
}
function label(v) { return v == "pagepool-try" ? "pagepool-try (`pp_alloc_page_try`)" : v == "pagepool" ? "pagepool (`pp_alloc_page(0)`)" : v }

# w: at least need x jemalloc
function vs_jemalloc(id, w, v, need,   name, r) {
	name = w ": " label(v) " at least " need "x " (w == "remote" ? "jemalloc pages per second" : "faster than jemalloc")
	if (!seen["results"]) return norun(id, name, "no bench-results.csv")
	if (!((w, v) in NS)) return norun(id, name, "no " w " " v " row")
	if (!((w, "jemalloc") in NS)) return norun(id, name, "no " w " jemalloc row")
	r = NS[w, v] > 0 ? NS[w, "jemalloc"] / NS[w, v] : 0
	row(id, name, fns(NS[w, v]) " ns; jemalloc " fns(NS[w, "jemalloc"]) " ns",
	    fx(r) "x (need ≥ " need "x)", r >= need)
}
# w: faster than (strict) or no slower than every backend not pagepool, by t
function vs_others(id, w, v, strict, t,   name, n, i, bl, best, bb, r) {
	name = w ": " label(v) (strict ? " faster than every other backend" : " no slower than the best other backend")
	if (!seen["results"]) return norun(id, name, "no bench-results.csv")
	if (!((w, v) in NS)) return norun(id, name, "no " w " " v " row")
	n = split(WB[w], bl, " "); bb = ""
	for (i = 1; i <= n; i++)
		if (substr(bl[i], 1, 8) != "pagepool" && (bb == "" || NS[w, bl[i]] < best)) { bb = bl[i]; best = NS[w, bl[i]] }
	if (bb == "") return norun(id, name, "no other backend in " w)
	r = NS[w, v] > 0 ? best / NS[w, v] : 0
	row(id, name, fns(NS[w, v]) " ns; best other: " bb " " fns(best) " ns",
	    fx(r) "x (need " (strict ? ">" : "≥") " " t "x)", strict ? NS[w, v] * t < best : NS[w, v] * t <= best)
}
# bulk: the bulk calls at least need x the single-call loop, per page
function vs_single(id, v, ref, need,   name, r) {
	name = "bulk: " v " per page at most " (need == 2 ? "half" : "1/" need) " of the " ref " single-call loop"
	if (!seen["results"]) return norun(id, name, "no bench-results.csv")
	if (!(("bulk", v) in NS) || !(("bulk", ref) in NS)) return norun(id, name, "no bulk pagepool rows")
	r = NS["bulk", v] > 0 ? NS["bulk", ref] / NS["bulk", v] : 0
	row(id, name, fns(NS["bulk", v]) " ns/page; single calls " fns(NS["bulk", ref]) " ns/page",
	    fx(r) "x (need ≥ " need "x)", NS["bulk", v] <= NS["bulk", ref] / need)
}
# at most limit
function at_most(id, name, v, limit, unit) {
	row(id, name, v " " unit, sprintf("%s / %s = %.2f (need ≤ 1)", v, limit, v / limit), v + 0 <= limit + 0)
}
function icount(id, what, limit,   name) {
	name = "pair: at most " limit " instructions per " (what == "pair-try" ? "`pp_alloc_page_try` + `pp_free_page`" : what) " (callgrind)"
	if (!seen["icount"]) norun(id, name, "no bench-icount.csv")
	else if (!(what in IC)) norun(id, name, "no " what " row")
	else at_most(id, name, IC[what], limit, "instructions")
}
function runs_note(b1, o1, b2, o2) {
	return (LR[b1, o1] != "" && LR[b1, o1] + 0 < 3) || (LR[b2, o2] != "" && LR[b2, o2] + 0 < 3)
}
function opname(op) { return op == "try" ? "`pp_alloc_page_try`" : op == "nowait" ? "`PP_NOWAIT` allocation" : op == "free" ? "`pp_free_page`" : op }
function lat_ref(op) { return op == "free" ? "free" : "alloc" }
# (reading L9[k] would create k: test with "in" first)
function lat_p(op) { return (("pagepool", op) in L9) ? L9["pagepool", op] : 0 }
function lat_jemalloc(id, op, need,   name, ref, p, few, r) {
	ref = lat_ref(op); p = lat_p(op)
	name = "latency: p99.99 of " opname(op) " at most 1/" need " of jemalloc " ref
	if (!seen["latency"]) return norun(id, name, "no bench-latency.csv")
	if (!(("pagepool", op) in L9)) return norun(id, name, "no pagepool " op " row")
	if (!(("jemalloc", ref) in L9)) return norun(id, name, "no jemalloc " ref " row")
	few = runs_note("pagepool", op, "jemalloc", ref)
	r = p > 0 ? L9["jemalloc", ref] / p : 0
	row(id, name, fns(p) " ns; jemalloc " fns(L9["jemalloc", ref]) " ns" (few ? " (fewer than 3 runs)" : ""),
	    fx(r) "x lower (need ≥ " need "x)", r >= need && !few)
}
function lat_others(id, op, t,   name, ref, p, i, bb, best, few, r) {
	ref = lat_ref(op); p = lat_p(op)
	name = "latency: p99.99 of " opname(op) " no higher than the best other backend"
	if (!seen["latency"]) return norun(id, name, "no bench-latency.csv")
	if (!(("pagepool", op) in L9)) return norun(id, name, "no pagepool " op " row")
	bb = ""
	for (i = 1; i <= nlb; i++)
		if (LBL[i] != "pagepool" && LBL[i] != "none" && (LBL[i], ref) in L9 &&
		    (bb == "" || L9[LBL[i], ref] < best)) { bb = LBL[i]; best = L9[bb, ref] }
	if (bb == "") return norun(id, name, "no other backend " ref " row")
	few = runs_note("pagepool", op, bb, ref)
	r = p > 0 ? best / p : 0
	row(id, name, fns(p) " ns; best other: " bb " " fns(best) " ns" (few ? " (fewer than 3 runs)" : ""),
	    fx(r) "x (need ≥ " t "x)", p * t <= best && !few)
}
function lat_10us(id, op, limit,   name, no, few, n, nn, pc, nc, sc, good) {
	name = "latency: " opname(op) " calls over 10 us no more than the no-allocator row"
	if (!seen["latency"]) return norun(id, name, "no bench-latency.csv")
	if (!(("pagepool", op) in L9)) return norun(id, name, "no pagepool " op " row")
	if (!("none" in NONE)) return norun(id, name, "no none row")
	no = NONE["none"]
	few = runs_note("pagepool", op, "none", no)
	n = LO["pagepool", op] + 0; nn = LO["none", no] + 0
	pc = LC["pagepool", op] + 0; nc = LC["none", no] + 0
	# the same number of calls as the none row (normally equal already)
	sc = (pc > 0 && nc > 0 && pc != nc) ? n * nc / pc : n
	good = sc <= nn * limit && !few
	row(id, name, grp(n) " of " grp(pc) " calls; none " grp(nn) " of " grp(nc) (few ? " (fewer than 3 runs)" : ""),
	    (nn > 0 ? sprintf("%.2f", sc / nn) : sc == 0 ? "0" : "more than 0") " (need ≤ " limit ")" (pc != nc ? ", per as many calls" : ""), good)
}
function rcu_speed(id, k, need,   name, r) {
	name = "rcu: pp_rcu_free at least " need "x faster per " (k == "heap64" ? "64-byte heap object" : k == "page" ? "pool page" : k) " than one call_rcu each"
	if (!seen["rcu"]) return norun(id, name, "no bench-rcu.csv")
	if (!((k, "pp_rcu_free") in ROPS) || !((k, "call_rcu") in ROPS)) return norun(id, name, "no " k " rows")
	r = ROPS[k, "call_rcu"] > 0 ? ROPS[k, "pp_rcu_free"] / ROPS[k, "call_rcu"] : 0
	row(id, name, fns(RNS[k, "pp_rcu_free"]) " ns/object; call_rcu " fns(RNS[k, "call_rcu"]),
	    fx(r) "x (need ≥ " need "x)", r >= need)
}
function rcu_rss(id, k, limit,   name, r) {
	name = "rcu: pp_rcu_free peak RSS at most " limit "x of call_rcu, " (k == "heap64" ? "64-byte heap objects" : k == "page" ? "pool pages" : k)
	if (!seen["rcu"]) return norun(id, name, "no bench-rcu.csv")
	if (!((k, "pp_rcu_free") in ROPS) || !((k, "call_rcu") in ROPS) || !ok(RRSS[k, "call_rcu"]) ||
	    !ok(RRSS[k, "pp_rcu_free"])) return norun(id, name, "no " k " rows")
	r = RRSS[k, "call_rcu"] > 0 ? RRSS[k, "pp_rcu_free"] / RRSS[k, "call_rcu"] : 0
	row(id, name, sprintf("%.1f MiB; call_rcu %.1f MiB", RRSS[k, "pp_rcu_free"], RRSS[k, "call_rcu"]),
	    fx(r) "x (need ≤ " limit "x)", r <= limit)
}
# threads, at the largest T: pagepool against jemalloc, RSS at the decay
# point (at most limit x) or pages per second over the bursts (at least)
function threads_vs(id, v, what, op, t,   name, T, a, r, good) {
	T = THMAX
	name = "threads: " label(v) (what == "rss" ? " resident memory of idle threads (after the decay-interval allocation) at most " t "x jemalloc" : " pages per second over the bursts at least " t "x jemalloc") (T ? ", " T " threads" : "")
	if (!seen["threads"]) return norun(id, name, "no bench-threads.csv")
	if (!((v, T) in THR) || !ok(what == "rss" ? THR[v, T] : THP[v, T])) return norun(id, name, "no threads " v " row")
	if (!(("jemalloc", T) in THR) || !ok(what == "rss" ? THR["jemalloc", T] : THP["jemalloc", T])) return norun(id, name, "no threads jemalloc row")
	if (what == "rss") {
		r = THR["jemalloc", T] > 0 ? THR[v, T] / THR["jemalloc", T] : 0
		good = op == "<=" ? r <= t : r < t
		row(id, name, sprintf("%.1f MiB; jemalloc %.1f MiB", THR[v, T], THR["jemalloc", T]),
		    fx(r) "x (need " (op == "<=" ? "≤" : "<") " " t "x)", THR["jemalloc", T] > 0 && good)
	} else {
		r = THP["jemalloc", T] > 0 ? THP[v, T] / THP["jemalloc", T] : 0
		good = op == ">=" ? r >= t : r > t
		row(id, name, sprintf("%.2f M pages/s; jemalloc %.2f M", THP[v, T] / 1e6, THP["jemalloc", T] / 1e6),
		    fx(r) "x (need " (op == ">=" ? "≥" : ">") " " t "x)", good)
	}
}
function metadata(id, limit,   name) {
	name = "metadata: at most " limit " bytes per page"
	if (!ok(desc)) norun(id, name, "no desc_bytes_per_page in bench-meta.txt")
	else at_most(id, name, desc + 0, limit, "bytes per page")
}
# One target: its comparison read as SUBJECT [WHAT] vs REFERENCE.
function target(id, w, cmp, op, t,   c, n) {
	n = split(cmp, c, " ")
	if (w == "icount") icount(id, c[1], t)
	else if (w == "meta") metadata(id, t)
	else if (w == "threads" && c[n] == "jemalloc") threads_vs(id, c[1], c[2], op, t)
	else if (w == "bulk") vs_single(id, c[1], c[3], t)
	else if (w == "latency" && c[n] == "jemalloc") lat_jemalloc(id, c[1], t)
	else if (w == "latency" && c[n] == "best-other") lat_others(id, c[1], t)
	else if (w == "latency" && c[n] == "none") lat_10us(id, c[1], t)
	else if (w == "rcu" && c[2] == "speed") rcu_speed(id, c[1], t)
	else if (w == "rcu" && c[2] == "rss") rcu_rss(id, c[1], t)
	else if (c[n] == "jemalloc") vs_jemalloc(id, w, c[1], t)
	else if (c[n] == "best-other") vs_others(id, w, c[1], op == ">", t)
	else norun(id, id ": " cmp, "bench/targets.tsv: comparison not known")
}
END {
	print "| target | measured | ratio | met? |"
	print "|---|---|---|---|"
	for (i = 1; i <= nt; i++)
		target(TID[i], TW[i], TC[i], TOP[i], TN[i])
	printf "%d %d %d\n", ntarget, nmet, nnotrun > counts
}' "$@" >"$tmp/targets" </dev/null

read -r ntarget nmet nnotrun <"$tmp/counts"
echo "## Targets"
echo
echo "The issue's targets, each from this run's numbers (2-core machine):"
echo "**$nmet of $ntarget met**, $((ntarget - nmet - nnotrun)) not met, $nnotrun not run."
echo "pagepool-try is \`pp_alloc_page_try\` (falling back to \`pp_alloc_page(0)\`"
echo "when the thread's cache is empty); pagepool is \`pp_alloc_page(0)\`."
echo
cat "$tmp/targets"
echo
if [ -s "$tmp/notmet" ]; then
	echo "### Not met"
	echo
	cat "$tmp/notmet"
	echo
fi

# ---- throughput ----------------------------------------------------------
echo "## Throughput: pair, batch, bulk, remote, orders"
echo
echo "\`bench/pagepool-bench\`: every backend in processes of its own (allocators"
echo "that replace malloc are \`LD_PRELOAD\`ed), the median over the runs; every"
echo "allocated page gets one byte written.  Backends: pagepool-try"
echo "(\`pp_alloc_page_try\`, falling back to \`pp_alloc_page(0)\`), pagepool"
echo "(\`pp_alloc_page(0)\`), pagepool-bulk64 (\`pp_alloc_pages_bulk\` of 64),"
echo "jemalloc (\`mallocx\` with \`MALLOCX_ALIGN(4096)\`), glibc (\`posix_memalign\`),"
echo "mimalloc (\`mi_malloc_aligned\`) and tcmalloc (\`posix_memalign\`), the last two"
echo "when installed."
echo
echo "- pair: allocate one page and free it; ns per pair."
echo "- batch: allocate 1,000 pages, then free them all; ns per page."
echo "- bulk: 64 pages per \`pp_alloc_pages_bulk\` + \`pp_free_pages_bulk\` call"
echo "  (pagepool-bulk64) against a loop of 64 single allocations then 64 frees;"
echo "  ns per page."
echo "- remote: one thread allocates and hands each page through a ring to"
echo "  another thread, which frees it; wall ns per page."
echo "- orders: 64 live blocks of 1, 2, 4 or 8 pages (weights 8:4:2:1), each"
echo "  aligned to its size; each step frees a random one and allocates one of"
echo "  a random order in its place; ns per step (one free + one allocation)."
echo
if usable "$results"; then
	echo "| workload | backend | ns/op (median) | x jemalloc | runs | min ns | max ns |"
	echo "|---|---|--:|--:|--:|--:|--:|"
	awk -F, "$AWK_LIB"'
	NR == 1 { header(); next }
	f("workload") != "" {
		printf "| %s | %s | %s | %s | %s | %s | %s |\n", f("workload"), f("backend"),
		    fns(f("ns_per_op")), ok(f("x_jemalloc")) ? f("x_jemalloc") : "n/a", f("runs"),
		    fns(f("min_ns")), fns(f("max_ns"))
	}' "$results"
	echo
	echo "x jemalloc: jemalloc's ns / the row's ns, same workload (above 1: faster"
	echo "than jemalloc).  min and max: the fastest and slowest of the runs."
	echo
	image bench-throughput.png "ns per operation per backend and workload"
else
	notrun "$results"
fi

echo "### Instructions per operation"
echo
echo "Counted by callgrind through the shared library (\`make bench-icount\`),"
echo "including a few instructions of the benchmark's loop."
echo
if usable "$icount"; then
	echo "| workload | instructions per op |"
	echo "|---|--:|"
	awk -F, "$AWK_LIB"'
	NR == 1 { header(); next }
	f("workload") != "" {
		w = f("workload")
		d = w == "pair-try" ? "pair-try: `pp_alloc_page_try` + `pp_free_page`" : \
		    w == "pair" ? "pair: `pp_alloc_page(0)` + `pp_free_page`" : \
		    w == "batch" ? "batch: per page, 1,000 allocated then freed" : w
		printf "| %s | %s |\n", d, ok(f("instructions_per_op")) ? sprintf("%.1f", f("instructions_per_op")) : "n/a"
	}' "$icount"
	echo
else
	notrun "$icount"
fi

# ---- latency -------------------------------------------------------------
echo "## Latency"
echo
echo "Every call timed on its own; the percentiles are over all of a process's"
echo "calls, the median over the processes (at least 3 per backend).  The"
echo "\`none\` row times the empty loop: the floor set by the clock, interrupts and"
echo "preemption.  Ops: try = \`pp_alloc_page_try\`, nowait ="
echo "\`pp_alloc_page(PP_NOWAIT)\`, alloc0 = \`pp_alloc_page(0)\`, free ="
echo "\`pp_free_page\`; alloc and free: the other allocators' page allocation and"
echo "free."
echo
if usable "$latency"; then
	echo "| backend | op | calls | p50 ns | p99 ns | p99.9 ns | p99.99 ns | max ns | over 10 us | runs |"
	echo "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"
	awk -F, "$AWK_LIB"'
	NR == 1 { header(); next }
	f("backend") != "" {
		printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", f("backend"), f("op"),
		    grp(f("calls")), fns(f("p50_ns")), fns(f("p99_ns")), fns(f("p999_ns")),
		    fns(f("p9999_ns")), fns(f("max_ns")), grp(f("over_10us")), f("runs")
	}' "$latency"
	echo
	image bench-latency.png "latency percentiles per backend and op"
else
	notrun "$latency"
fi

# ---- threads -------------------------------------------------------------
echo "## Threads: memory held by idle threads"
echo
echo "\`bench/pagepool-bench --workload threads\` (issue 17): for T = 4, 64 and 256"
echo "threads (more than the CPUs on purpose), a process per backend and T; the"
echo "threads start together at a barrier, each runs bursts of 1,024 pages"
echo "allocated one call at a time (every page written) and freed, then blocks"
echo "on a condition variable: idle, not exited.  Throughput: pages per second"
echo "over the burst phase (barrier to the last thread's last free).  Resident"
echo "memory (VmRSS, the threads alive) at three points, the same for every"
echo "backend: *idle*, when every thread has finished; *decay*, after sleeping"
echo "reclaim_ms + 100 ms (pagepool's default reclaim_ms is 1,000) and one page"
echo "allocated and freed on the main thread - for pagepool \`pp_alloc_page(0)\`"
echo "from an empty cache, the slow path that takes back caches idle for"
echo "reclaim_ms, then \`pp_thread_drain()\` so the main thread's own cache is not"
echo "counted; *decay2*, the same once more.  base: VmRSS before the threads are"
echo "created (their stacks come on top of it for every backend alike)."
echo "pagepool's committed, cached (in thread caches) and free (on the global"
echo "lists, still resident: only a trim gives them back, and \`retain=0\`, the"
echo "default, means no automatic trim) come from \`pp_stats()\`.  jemalloc's"
echo "own decay (\`dirty_decay_ms\`, 10 s by default, no background thread) is"
echo "not waited for: every backend is read at the same points, about 1.1 and"
echo "2.2 s after its bursts.  The processes of one run run at once, a baton"
echo "letting one at a time create its threads and run its bursts (no two"
echo "bursts overlap); their sleeps overlap."
echo
if usable "$threads"; then
	echo "| backend | T | M pages/s | x jemalloc | RSS MiB base | idle | decay | decay2 | RSS x jemalloc (decay) | committed MiB (idle / decay / decay2) | cached MiB | free MiB | runs |"
	echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
	awk -F, "$AWK_LIB"'
	NR == 1 { header(); next }
	function three(a, b, c) { return !ok(f(a "_mib")) ? "-" : f(a "_mib") " / " f(b "_mib") " / " f(c "_mib") }
	f("backend") != "" {
		printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", f("backend"), f("threads"),
		    ok(f("pages_per_s")) ? sprintf("%.2f", f("pages_per_s") / 1e6) : "n/a", fx(f("x_jemalloc")),
		    f("base_mib"), f("rss_idle_mib"), f("rss_decay_mib"), f("rss_decay2_mib"), fx(f("rss_x_jemalloc")),
		    three("committed_idle", "committed_decay", "committed_decay2"),
		    three("cached_idle", "cached_decay", "cached_decay2"),
		    three("free_idle", "free_decay", "free_decay2"), f("runs")
		if (f("rounds") != "") rounds = f("rounds")
	}
	END { if (rounds != "") printf "\n%s bursts per thread.  x jemalloc: the row'"'"'s pages/s over jemalloc'"'"'s at the same T (above 1: faster); RSS x jemalloc: the row'"'"'s RSS at the decay point over jemalloc'"'"'s (below 1: smaller).\n", rounds }' "$threads"
	echo
	image bench-threads.png "resident memory of idle threads against the thread count, per backend"
else
	notrun "$threads"
fi

# ---- rcu -----------------------------------------------------------------
echo "## Deferred free: pp_rcu_free against call_rcu"
echo
echo "\`bench/pp-rcu-bench\`: 64-byte heap objects and pool pages, allocated,"
echo "written (64 bytes) and freed through each method, the barrier inside the"
echo "timed region, with one urcu-memb reader thread looping meanwhile; each"
echo "case in processes of its own (peak RSS: the process's \`ru_maxrss\`)."
echo "synchronize_rcu waits one grace period per object (fewer objects);"
echo "free frees at once without RCU: the floor."
echo
if usable "$rcu"; then
	echo "| object | method | objects | ns/object | Mobj/s | peak RSS MiB | speed x call_rcu | RSS x call_rcu | runs |"
	echo "|---|---|--:|--:|--:|--:|--:|--:|--:|"
	awk -F, "$AWK_LIB"'
	NR == 1 { header(); next }
	f("kind") != "" {
		k = f("kind"); k = k == "heap64" ? "64-byte heap" : k == "page" ? "pool page" : k
		printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", k, f("method"), grp(f("objects")),
		    fns(f("ns_per_object")), ok(f("mobj_per_s")) ? sprintf("%.2f", f("mobj_per_s")) : "n/a",
		    ok(f("peak_rss_mib")) ? sprintf("%.1f", f("peak_rss_mib")) : "n/a",
		    fx(f("speed_x_call_rcu")), fx(f("rss_x_call_rcu")), f("runs")
	}' "$rcu"
	echo
	image bench-rcu.png "ns per object and peak RSS per method, heap objects and pool pages"
else
	notrun "$rcu"
fi

# ---- preload -------------------------------------------------------------
echo "## The LD_PRELOAD shim on a page-heavy program"
echo
echo "\`bench/preload-bench\`: threads replacing live buffers of 4-64 KiB (malloc,"
echo "some calloc, posix_memalign and realloc growth), touching every page, a"
echo "quarter freed by the next thread; under the shim, jemalloc's preload and"
echo "plain glibc, interleaved.  Time: fork to exit; RSS: the child's peak."
echo
if usable "$preload"; then
	echo "| configuration | time ms (median) | min | max | x glibc | x jemalloc | peak RSS MiB | RSS x jemalloc | runs |"
	echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|"
	awk -F, "$AWK_LIB"'
	NR == 1 { header(); next }
	f("config") != "" {
		n++; C[n] = f("config"); T[n] = f("time_ms_median"); LO[n] = f("time_min"); HI[n] = f("time_max")
		R[n] = f("rss_mib_median"); RU[n] = f("runs"); TH = f("threads"); OPS = f("ops")
		if (ok(T[n])) time[C[n]] = T[n] + 0
		if (ok(R[n])) rss[C[n]] = R[n] + 0
	}
	function ratio(a, b) { return ok(a) && b > 0 ? sprintf("%.2f", a / b) : "n/a" }
	END {
		for (i = 1; i <= n; i++)
			printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", C[i], fns(T[i]), fns(LO[i]), fns(HI[i]),
			    ratio(T[i], time["glibc"]), ratio(T[i], time["jemalloc"]),
			    ok(R[i]) ? sprintf("%.1f", R[i]) : "n/a", ratio(R[i], rss["jemalloc"]), RU[i]
		if (TH != "" || OPS != "")
			printf "\n%s threads, %s steps per thread.  x glibc, x jemalloc: ratios of the medians (below 1: faster or smaller).\n", TH, grp(OPS)
	}' "$preload"
	echo
	image bench-preload.png "time and peak RSS per configuration"
else
	notrun "$preload"
fi

# ---- fallback ------------------------------------------------------------
echo "## Fallbacks against the cache size"
echo
echo "\`bench/fallback-bench\`: a kfree_rcu-like flood whose page-sized pointer"
echo "blocks are allocated without blocking (mode try: \`pp_alloc_page_try\`;"
echo "nowait: \`pp_alloc_page(PP_NOWAIT)\`; try+nowait: the one, then the other);"
echo "when that fails, the object takes the fallback path.  Full blocks are"
echo "freed a grace period later, by a reclaimer thread (remote) or by the"
echo "flooder itself (local).  Swept: the per-thread cache size \`high\` and the"
echo "refill policy (small: batch = high/8; large: batch = high/2; prefill:"
echo "large, with the cache filled before the flood).  Peak pages: in flight"
echo "(handed to RCU, not yet freed) and held by the pool (in use + cached)."
echo
if usable "$fallback"; then
	echo "| reclaim | mode | policy | high | batch | fallbacks | fallback % | peak in flight | peak held | peak RSS MiB | ns/object | runs |"
	echo "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
	awk -F, "$AWK_LIB"'
	NR == 1 { header(); next }
	function pct(v) { return !ok(v) ? "n/a" : (v + 0 > 0 && v + 0 < 0.01) ? "< 0.01" : sprintf("%.2f", v) }
	f("mode") != "" {
		printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", f("reclaim"), f("mode"),
		    f("policy"), f("high"), f("batch"), grp(f("fallbacks")),
		    pct(f("fallback_pct")),
		    grp(f("peak_inflight_pages")), grp(f("peak_held_pages")),
		    ok(f("peak_rss_mib")) ? sprintf("%.1f", f("peak_rss_mib")) : "n/a", fns(f("ns_per_object")), f("runs")
		if (!seen++) desc = f("threads") " flooder threads, " grp(f("objects")) " objects in all per configuration" \
		    (ok(f("rate_per_thread")) ? ", paced at " grp(f("rate_per_thread")) " objects/s per thread" : "") \
		    ", grace period " f("delay_ms") " ms"
	}
	END { if (desc != "") printf "\n%s.\n", desc }' "$fallback"
	echo
	image bench-fallback.png "fallback percentage and peak pages held against the cache size, per reclaim model, mode and policy"
else
	notrun "$fallback"
fi

# ---- by hand ---------------------------------------------------------------
# bench/lock.md ("How far one lock goes") is written by hand: its numbers
# come from the commands it names, not from this run; copied as it is.
if [ -r "$(dirname "$0")/lock.md" ]; then
	cat "$(dirname "$0")/lock.md"
	echo
fi

# ---- metadata --------------------------------------------------------------
echo "## Metadata"
echo
if [ -n "$desc" ]; then
	echo "Descriptor memory: **$desc bytes per page** (target: at most 16)."
else
	echo "Descriptor memory per page: not recorded (bench-meta.txt: desc_bytes_per_page)."
fi
