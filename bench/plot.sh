#!/bin/sh
# plot.sh - PNG plots of the benchmark CSVs that `make bench` writes, drawn
# with gnuplot (pngcairo when it has it, else png).
#
#   bench/plot.sh [--results F] [--latency F] [--rcu F] [--preload F]
#                 [--fallback F] [--threads F] [DIR]
#
# Reads DIR/bench-results.csv, bench-latency.csv, bench-rcu.csv,
# bench-preload.csv, bench-fallback.csv and bench-threads.csv (DIR defaults to the current
# directory; an option names a file instead, as given) and writes into DIR:
#   bench-throughput.png  ns per op per backend, grouped by workload (pair,
#                         batch, bulk, remote, orders), min-max error bars
#   bench-latency.png     p50, p99, p99.9, p99.99 and max per backend and op
#   bench-rcu.png         ns per object and peak RSS per method, heap and page
#   bench-preload.png     time and peak RSS per configuration
#   bench-fallback.png    fallback % and peak pages held against the cache
#                         size `high`: a panel per reclaim model and mode, a
#                         line per refill policy
#   bench-threads.png     resident memory of idle threads (at the decay
#                         point) and pages/s over the bursts against the
#                         thread count, a line per backend
# A missing CSV is skipped with a note; so is everything when gnuplot is not
# installed (exit 0).  GNUPLOT names the program (default gnuplot).
set -eu

usage() {
	echo "usage: $0 [--results F] [--latency F] [--rcu F] [--preload F] [--fallback F]"
	echo "          [--threads F] [DIR]"
}

# shellcheck source=bench/inputs.sh
. "$(dirname "$0")/inputs.sh"

gp=${GNUPLOT:-gnuplot}
if ! command -v "$gp" >/dev/null 2>&1; then
	echo "plot.sh: $gp not found: no plots (install gnuplot, e.g. gnuplot-nox)" >&2
	exit 0
fi
if "$gp" -e 'set terminal pngcairo' >/dev/null 2>&1; then
	term="pngcairo font 'DejaVu Sans,10'"
else
	term="png font ',9'"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pp-plot.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

# A string for inside gnuplot's single quotes.
q() { printf '%s' "$1" | sed "s/'/''/g"; }

# Usable: a readable file with a header and at least one row.
usable() {
	if [ ! -r "$1" ]; then
		echo "plot.sh: $1 not found: $2 skipped" >&2
		return 1
	fi
	if ! awk 'END { exit NR < 2 }' "$1"; then
		echo "plot.sh: $1 has no rows: $2 skipped" >&2
		return 1
	fi
	return 0
}

# Run gnuplot on stdin for one output file; report it.
draw() {
	out=$1
	"$gp" || {
		echo "plot.sh: gnuplot failed for $out" >&2
		exit 1
	}
	echo "plot.sh: wrote $out" >&2
}

# Shared awk code: column numbers by header name (col["name"]).
# shellcheck disable=SC2016 # awk code, not shell
AWK_HDR='
function header(   i) { for (i = 1; i <= NF; i++) { sub(/\r$/, "", $i); col[$i] = i } }
function f(name) { return (name in col) ? $col[name] : "" }
function floor(x) { return x == int(x) ? x : x < 0 ? int(x) - 1 : int(x) }
function num(v) { return (v == "" || v == "n/a" || v == "-") ? "?" : v + 0 }
'

# ---- throughput: ns per op, workloads x backends --------------------------
plot_throughput() {
	usable "$results" bench-throughput.png || return 0
	out=$dir/bench-throughput.png
	awk -F, -v names="$tmp/tp.names" "$AWK_HDR"'
	BEGIN {
		nb = split("pagepool-try pagepool pagepool-bulk64 jemalloc glibc mimalloc tcmalloc", bl, " ")
		nw = split("pair batch bulk remote orders", wl, " ")
		for (i = 1; i <= nb; i++) kb[bl[i]] = 1
		for (i = 1; i <= nw; i++) kw[wl[i]] = 1
	}
	NR == 1 { header(); next }
	{
		w = f("workload"); b = f("backend"); v = num(f("ns_per_op"))
		if (w == "" || b == "" || v == "?") next
		lo = num(f("min_ns")); hi = num(f("max_ns"))
		ns[w, b] = v; mn[w, b] = lo == "?" ? v : lo; mx[w, b] = hi == "?" ? v : hi
		have_b[b] = 1; have_w[w] = 1
		if (!(b in kb)) { kb[b] = 1; bl[++nb] = b }
		if (!(w in kw)) { kw[w] = 1; wl[++nw] = w }
	}
	END {
		n = 0
		for (i = 1; i <= nb; i++) if (bl[i] in have_b) ub[++n] = bl[i]
		line = ""
		for (i = 1; i <= n; i++) line = line (i > 1 ? " " : "") ub[i]
		groups = 0; lo = ""; hi = ""
		for (j = 1; j <= nw; j++) {
			w = wl[j]
			if (!(w in have_w)) continue
			groups++
			line2 = w
			for (i = 1; i <= n; i++) {
				if (!((w, ub[i]) in ns)) { line2 = line2 " ? ? ?"; continue }
				line2 = line2 " " ns[w, ub[i]] " " mn[w, ub[i]] " " mx[w, ub[i]]
				v = mn[w, ub[i]] < ns[w, ub[i]] ? mn[w, ub[i]] : ns[w, ub[i]]
				if (v > 0 && (lo == "" || v < lo)) lo = v
				v = mx[w, ub[i]] > ns[w, ub[i]] ? mx[w, ub[i]] : ns[w, ub[i]]
				if (hi == "" || v > hi) hi = v
			}
			print line2
		}
		# y from a decade below half the fastest to 2.2x the slowest
		# (room for the labels): bars stay tall on the log scale
		if (lo == "") { lo = 1; hi = 10 }
		ylo = 10 ^ floor(log(lo / 2) / log(10))
		yhi = hi * 2.2
		# a colour per backend, the same in every run: pagepool in greens
		split("pagepool-try #1b7837 pagepool #5aae61 pagepool-bulk64 #a6dba0 jemalloc #e08214 " \
		    "glibc #8c8c8c mimalloc #2166ac tcmalloc #b2182b", cl, " ")
		for (i = 1; i in cl; i += 2) colour[cl[i]] = cl[i + 1]
		np = split("#762a83 #c2a5cf #fdb863 #92c5de #d6604d #4d4d4d", pal, " ")
		cols = ""; k = 0
		for (i = 1; i <= n; i++)
			cols = cols (i > 1 ? " " : "") (ub[i] in colour ? colour[ub[i]] : pal[k++ % np + 1])
		print n > names; print line > names; print groups, ylo, yhi > names; print cols > names
	}' "$results" >"$tmp/tp.dat"
	n=$(sed -n 1p "$tmp/tp.names")
	names=$(sed -n 2p "$tmp/tp.names")
	colours=$(sed -n 4p "$tmp/tp.names")
	read -r groups ylo yhi <<END
$(sed -n 3p "$tmp/tp.names")
END
	if [ "$n" -eq 0 ]; then
		echo "plot.sh: $results has no usable rows: bench-throughput.png skipped" >&2
		return 0
	fi
	draw "$out" <<EOF
set terminal $term size 1200,620
set termoption noenhanced
set output '$(q "$out")'
set title "ns per operation, median of the runs (bars: min-max); lower is better"
set ylabel "ns per op (log): pair = allocate + free; orders = free + allocate; others per page"
set style data histogram
set style histogram errorbars gap 1.5 lw 1
set style fill solid 0.85 border -1
set boxwidth 0.95
set logscale y
set yrange [$ylo:$yhi]
set xrange [-0.6:$groups - 0.4]
set grid ytics mytics
set key outside right top vertical
set datafile missing '?'
set xtics nomirror
n = $n
names = '$(q "$names")'
colours = '$colours'
g = 1.5
x(i) = \$0 + (i - 0.5 - n / 2.0) / (n + g)
plot for [i=1:n] '$(q "$tmp/tp.dat")' using 3*i-1:3*i:3*i+1:xtic(1) lc rgb word(colours, i) title word(names, i), \
     for [i=1:n] '' using (x(i)):(column(3*i+1) * 1.15):(sprintf('%.1f', column(3*i-1))) \
         with labels rotate by 90 left font ',7' notitle
EOF
}

# ---- latency: percentiles per backend and op ------------------------------
plot_latency() {
	usable "$latency" bench-latency.png || return 0
	out=$dir/bench-latency.png
	awk -F, "$AWK_HDR"'
	NR == 1 { header(); next }
	{
		b = f("backend"); o = f("op")
		if (b == "") next
		lab = b (o != "" && o != b ? "\\n" o : "") "\\n>10us: " (f("over_10us") == "" ? "?" : f("over_10us"))
		printf "\"%s\" %s %s %s %s %s\n", lab, pos(f("p50_ns")), pos(f("p99_ns")),
		    pos(f("p999_ns")), pos(f("p9999_ns")), pos(f("max_ns"))
	}
	# 0 ns (below the timer resolution, after its cost is taken off): drawn
	# as 1 ns, the bottom of the log axis
	function pos(v) { v = num(v); return v == "?" ? v : v < 1 ? 1 : v }' "$latency" >"$tmp/lat.dat"
	rows=$(wc -l <"$tmp/lat.dat")
	w=$((300 + 110 * rows))
	[ "$w" -ge 900 ] || w=900
	draw "$out" <<EOF
set terminal $term size $w,620
set termoption noenhanced
set output '$(q "$out")'
set title "Latency per call: percentiles over every call (median of the processes); lower is better"
set ylabel "ns (log scale; 1 = at most 1 ns)"
set yrange [1:*]
set format y "%.0s%c"
set bmargin 5
set style data histogram
set style histogram clustered gap 1.5
set style fill solid 0.85 border -1
set logscale y
set grid ytics mytics
set key outside right top vertical
set datafile missing '?'
set xtics nomirror
plot '$(q "$tmp/lat.dat")' using 2:xtic(1) title 'p50', '' using 3 title 'p99', \
     '' using 4 title 'p99.9', '' using 5 title 'p99.99', '' using 6 title 'max'
EOF
}

# ---- rcu: ns per object and peak RSS per method, heap64 and page ----------
plot_rcu() {
	usable "$rcu" bench-rcu.png || return 0
	out=$dir/bench-rcu.png
	awk -F, "$AWK_HDR"'
	BEGIN {
		nm = split("pp_rcu_free call_rcu synchronize_rcu free", ml, " ")
		for (i = 1; i <= nm; i++) km[ml[i]] = 1
		lab["pp_rcu_free"] = "pp_rcu_free"; lab["call_rcu"] = "one call_rcu\\neach"
		lab["synchronize_rcu"] = "synchronize_rcu\\n+ free"; lab["free"] = "free at once\\n(the floor)"
	}
	NR == 1 { header(); next }
	{
		k = f("kind"); m = f("method")
		if (k == "" || m == "") next
		ns[k, m] = num(f("ns_per_object")); rss[k, m] = num(f("peak_rss_mib"))
		if (!(m in km)) { km[m] = 1; ml[++nm] = m; lab[m] = m }
		have[m] = 1
	}
	END {
		for (i = 1; i <= nm; i++) {
			m = ml[i]
			if (!(m in have)) continue
			h = ("heap64", m) in ns; p = ("page", m) in ns
			printf "\"%s\" %s %s %s %s\n", lab[m], h ? ns["heap64", m] : "?",
			    p ? ns["page", m] : "?", h ? rss["heap64", m] : "?", p ? rss["page", m] : "?"
		}
	}' "$rcu" >"$tmp/rcu.dat"
	draw "$out" <<EOF
set terminal $term size 1200,560
set termoption noenhanced
set output '$(q "$out")'
set style data histogram
set style histogram clustered gap 1.5
set style fill solid 0.85 border -1
set datafile missing '?'
set grid ytics
set key top right
set xtics nomirror
set bmargin 4
set offsets 0, 0, graph 0.12, 0
lab(v) = v >= 1000 ? sprintf('%.0f', v) : sprintf('%.1f', v)
set multiplot layout 1,2 title "Deferred free after a grace period (medians of the runs)"
set title "ns per object (log scale; lower is better)"
set logscale y
set grid ytics mytics
plot '$(q "$tmp/rcu.dat")' using 2:xtic(1) title '64-byte heap object', \
     '' using 3 title 'pool page', \
     '' using (\$0 - 0.2):(\$2 * 1.15):(lab(\$2)) with labels font ',8' notitle, \
     '' using (\$0 + 0.2):(\$3 * 1.15):(lab(\$3)) with labels font ',8' notitle
set title "peak RSS MiB (the process's ru_maxrss)"
unset logscale y
set yrange [0:*]
plot '$(q "$tmp/rcu.dat")' using 4:xtic(1) title '64-byte heap object', \
     '' using 5 title 'pool page', \
     '' using (\$0 - 0.2):4:(sprintf('%.1f', \$4)) with labels offset 0,0.6 font ',8' notitle, \
     '' using (\$0 + 0.2):5:(sprintf('%.1f', \$5)) with labels offset 0,0.6 font ',8' notitle
unset multiplot
EOF
}

# ---- preload: time and peak RSS per configuration -------------------------
plot_preload() {
	usable "$preload" bench-preload.png || return 0
	out=$dir/bench-preload.png
	awk -F, "$AWK_HDR"'
	NR == 1 { header(); next }
	{
		c = f("config")
		if (c == "") next
		t = num(f("time_ms_median")); lo = num(f("time_min")); hi = num(f("time_max"))
		printf "\"%s\" %s %s %s %s\n", c, t, lo == "?" ? t : lo, hi == "?" ? t : hi,
		    num(f("rss_mib_median"))
	}' "$preload" >"$tmp/pre.dat"
	rows=$(wc -l <"$tmp/pre.dat")
	draw "$out" <<EOF
set terminal $term size 1000,480
set termoption noenhanced
set output '$(q "$out")'
set style fill solid 0.85 border -1
set boxwidth 0.6
set datafile missing '?'
set grid ytics
set xtics nomirror
set xrange [-0.6:$rows - 0.4]
set yrange [0:*]
set offsets 0, 0, graph 0.12, 0
set multiplot layout 1,2 title "A page-heavy program under each allocator (median of the runs)"
set title "time, fork to exit, ms (bars: min-max; lower is better)"
plot '$(q "$tmp/pre.dat")' using 0:2:3:4:(0.6):(\$0 + 1):xtic(1) with boxerrorbars lc variable notitle, \
     '' using 0:4:(sprintf('%.0f', \$2)) with labels offset 0,0.7 notitle
set title "peak RSS MiB (lower is better)"
plot '$(q "$tmp/pre.dat")' using 0:5:(\$0 + 1):xtic(1) with boxes lc variable notitle, \
     '' using 0:5:(sprintf('%.1f', \$5)) with labels offset 0,0.7 notitle
unset multiplot
EOF
}

# ---- fallback: fallback % against the cache size, per mode and policy ----
# A panel per reclaim model (rows) and mode (columns); in each, a line per
# refill policy: fallback % (solid, left axis) and peak pages held (dashed,
# right axis) against high.  Files without policy or reclaim columns give
# one row, and one line per mode's panel.
plot_fallback() {
	usable "$fallback" bench-fallback.png || return 0
	out=$dir/bench-fallback.png
	awk -F, -v data="$tmp/fb.dat" -v out="$(q "$out")" -v term="$term" "$AWK_HDR"'
	function add(list, n, v,   i) { for (i = 1; i <= n; i++) if (list[i] == v) return n; list[n + 1] = v; return n + 1 }
	function pos(list, n, v,   i) { for (i = 1; i <= n; i++) if (list[i] == v) return i; return 0 }
	NR == 1 { header(); next }
	{
		m = f("mode"); h = f("high")
		if (m == "" || h == "") next
		r = f("reclaim"); p = f("policy")
		n++; M[n] = m; H[n] = h + 0; R[n] = r; P[n] = p
		Y[n] = num(f("fallback_pct")); HELD[n] = num(f("peak_held_pages"))
		if (HELD[n] != "?" && HELD[n] > maxheld) maxheld = HELD[n]
		nr = add(rl, nr, r); nm = add(ml, nm, m); np = add(pl, np, p); nh = add(hl, nh, h + 0)
		if (lo == "" || h + 0 < lo) lo = h + 0
		if (h + 0 > hi) hi = h + 0
	}
	END {
		if (!n) exit 1
		split("small #1b9e77 large #d95f02 prefill #7570b3", cl, " ")
		for (i = 1; i in cl; i += 2) colour[cl[i]] = cl[i + 1]
		npal = split("#e7298a #66a61e #e6ab02 #a6761d #666666", pal, " ")
		for (i = 1; i <= np; i++) pc[i] = pl[i] in colour ? colour[pl[i]] : pal[(i - 1) % npal + 1]
		# data: one block per (reclaim, mode, policy), rows sorted by high
		blocks = 0
		for (ri = 1; ri <= nr; ri++) for (mi = 1; mi <= nm; mi++) for (pi = 1; pi <= np; pi++) {
			k = 0
			for (i = 1; i <= n; i++)
				if (R[i] == rl[ri] && M[i] == ml[mi] && P[i] == pl[pi]) sel[++k] = i
			if (!k) continue
			for (a = 2; a <= k; a++) {
				v = sel[a]
				for (b = a - 1; b >= 1 && H[sel[b]] > H[v]; b--) sel[b + 1] = sel[b]
				sel[b + 1] = v
			}
			if (blocks) printf "\n\n" > data
			for (a = 1; a <= k; a++) print H[sel[a]], Y[sel[a]], HELD[sel[a]] > data
			blk[ri, mi, pi] = blocks++
		}
		W = 120 + 430 * nm; HT = 110 + 330 * nr
		printf "set terminal %s size %d,%d\n", term, W, HT
		print "set termoption noenhanced"
		printf "set output \047%s\047\n", out
		print "set datafile missing \047?\047"
		print "set grid"
		print "set style data linespoints"
		if (lo > 0 && hi / lo >= 8) print "set logscale x 2"
		line = ""
		for (i = 1; i <= nh; i++) line = line (i > 1 ? ", " : "") hl[i]
		printf "set xtics (%s)\n", line
		print "set offsets graph 0.04, graph 0.04, 0, 0"
		print "set xlabel \"cache size: high (pages)\""
		print "set yrange [0:105]"
		printf "set y2range [0:%d]\n", (maxheld > 0 ? maxheld * 1.1 : 1)
		print "set ytics nomirror"
		print "set y2tics"
		# panels placed by hand (screen fractions), a row on top for the key
		L = 70 / W; RR = 1 - 70 / W; GX = 90 / W; PW = (RR - L - (nm - 1) * GX) / nm
		T = 1 - 105 / HT; B = 60 / HT; GY = 95 / HT; PH = (T - B - (nr - 1) * GY) / nr
		print "set multiplot title \"Fallbacks against the cache size: a panel per reclaim model and mode, a line per refill policy\""
		print "unset key"
		for (ri = 1; ri <= nr; ri++) for (mi = 1; mi <= nm; mi++) {
			x0 = L + (mi - 1) * (PW + GX); y1 = T - (ri - 1) * (PH + GY)
			printf "set lmargin at screen %.4f; set rmargin at screen %.4f\n", x0, x0 + PW
			printf "set tmargin at screen %.4f; set bmargin at screen %.4f\n", y1, y1 - PH
			printf "set title \"%s%s\"\n", rl[ri] == "" ? "" : rl[ri] " reclaim, mode ", ml[mi]
			print (mi == 1 ? "set ylabel \"fallback % (solid)\"" : "unset ylabel")
			print (mi == nm ? "set y2label \"peak pages held (dashed)\"" : "unset y2label")
			line = ""
			for (pi = 1; pi <= np; pi++) {
				if (!((ri, mi, pi) in blk)) continue
				line = line (line == "" ? "plot " : ", ") sprintf("\047%s\047 index %d using 1:2 lw 2 pt 7 lc rgb \"%s\", \047\047 index %d using 1:3 axes x1y2 lw 1 dt 2 pt 6 lc rgb \"%s\"",
				    data, blk[ri, mi, pi], pc[pi], blk[ri, mi, pi], pc[pi])
			}
			print line
		}
		# the key: lines drawn outside an empty full-width plot
		printf "set lmargin at screen 0.02; set rmargin at screen 0.98\n"
		printf "set tmargin at screen %.4f; set bmargin at screen %.4f\n", 1 - 30 / HT, 1 - 60 / HT
		print "unset title; unset xlabel; unset ylabel; unset y2label; unset border; unset tics; unset grid"
		print "unset logscale x; set xrange [0:1]; set yrange [0:1]"
		print "set key center center horizontal maxrows 1 width 1"
		line = ""
		for (pi = 1; pi <= np; pi++) {
			t = pl[pi] == "" ? "" : pl[pi] ": "
			line = line (line == "" ? "plot " : ", ") sprintf("2 with linespoints lw 2 pt 7 lc rgb \"%s\" title \"%sfallback %%\", 2 with linespoints lw 1 dt 2 pt 6 lc rgb \"%s\" title \"%sheld pages\"",
			    pc[pi], t, pc[pi], t)
		}
		print line
		print "unset multiplot"
	}' "$fallback" >"$tmp/fb.gp" || {
		echo "plot.sh: $fallback has no usable rows: bench-fallback.png skipped" >&2
		return 0
	}
	draw "$out" <"$tmp/fb.gp"
}

# ---- threads: RSS and pages/s against the thread count, per backend ------
plot_threads() {
	usable "$threads" bench-threads.png || return 0
	out=$dir/bench-threads.png
	awk -F, -v data="$tmp/th.dat" -v out="$(q "$out")" -v term="$term" "$AWK_HDR"'
	NR == 1 { header(); next }
	{
		b = f("backend"); t = f("threads")
		if (b == "" || t == "") next
		if (!(b in seen)) { seen[b] = 1; bl[++nb] = b }
		n[b]++; T[b, n[b]] = t + 0; R[b, n[b]] = num(f("rss_decay_mib")); I[b, n[b]] = num(f("rss_idle_mib"))
		P[b, n[b]] = num(f("pages_per_s")); P[b, n[b]] = P[b, n[b]] == "?" ? "?" : P[b, n[b]] / 1e6
		if (!(t in st)) { st[t] = 1; tl[++nt] = t + 0 }
	}
	# One line per backend of column @col of the data against the threads.
	function plot_column(col,   i, line) {
		line = ""
		for (i = 1; i <= nb; i++)
			line = line (i > 1 ? ", " : "plot ") sprintf("\047%s\047 index %d using 1:%d with linespoints lw 2 pt 7 lc rgb \"%s\" title \"%s\"", data, i - 1, col, c[i], bl[i])
		print line
	}
	END {
		if (!nb) exit 1
		split("pagepool #5aae61 jemalloc #e08214 glibc #8c8c8c mimalloc #2166ac tcmalloc #b2182b", cl, " ")
		for (i = 1; i in cl; i += 2) colour[cl[i]] = cl[i + 1]
		npal = split("#762a83 #c2a5cf #fdb863 #92c5de #d6604d #4d4d4d", pal, " ")
		for (i = 1; i <= nb; i++) {
			b = bl[i]
			if (i > 1) printf "\n\n" > data
			for (k = 1; k <= n[b]; k++) print T[b, k], R[b, k], I[b, k], P[b, k] > data
			c[i] = b in colour ? colour[b] : pal[(i - 1) % npal + 1]
		}
		line = ""
		for (i = 1; i <= nt; i++) line = line (i > 1 ? ", " : "") tl[i]
		printf "set terminal %s size 1200,520\n", term
		print "set termoption noenhanced"
		printf "set output \047%s\047\n", out
		print "set datafile missing \047?\047"
		print "set grid"
		print "set logscale x 2"
		printf "set xtics (%s)\n", line
		print "set offsets graph 0.05, graph 0.05, 0, 0"
		print "set xlabel \"threads (idle after their bursts)\""
		print "set key below horizontal maxrows 1"
		print "set multiplot layout 1,2 title \"Idle threads: a process per backend and thread count (median of the runs)\""
		print "set title \"resident memory after sleeping past reclaim_ms + one allocation (MiB; lower is better)\""
		print "set logscale y"
		print "set ylabel \"VmRSS MiB (log)\""
		plot_column(2)
		print "set title \"pages per second over the bursts (M; higher is better)\""
		print "unset logscale y"
		print "set yrange [0:*]"
		print "set ylabel \"M pages/s\""
		plot_column(4)
		print "unset multiplot"
	}' "$threads" >"$tmp/th.gp" || {
		echo "plot.sh: $threads has no usable rows: bench-threads.png skipped" >&2
		return 0
	}
	draw "$out" <"$tmp/th.gp"
}

plot_throughput
plot_latency
plot_rcu
plot_preload
plot_fallback
plot_threads
