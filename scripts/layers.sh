#!/bin/sh
# SPDX-License-Identifier: MIT
#
# layers.sh - libpagepool's files call down the layers, never up.
#
# Prints the file-to-file call graph of lib/*.c, read from the object files'
# symbols (nm): file A calls file B when A's object needs a function B's
# defines.  Taking a function's address (a hook, a callback) needs the
# symbol just as a call does, so calls through function pointers count as
# edges of the file that sets the pointer - in this library the same file
# that calls through it.  Then checks the graph against LAYERS, the
# intended order from the bottom up: an edge from a file to one above it
# fails unless ALLOW names it, and the edges left must form no cycle.
#
# Usage: layers.sh [BUILD_DIR]  (default: $top_builddir, else .)
# An automake test: exit 0 pass, 1 fail, 77 skip (no objects, no nm).
# NM names another nm.

# The order, bottom first.  A new file must be placed here.
LAYERS="os error options arena buddy lock reclaim trim tcache stats reserve-fork
fork init alloc bulk prefill exact track reserve query"

# Justified upward edges, "from:to", each with a comment at the call.
#   alloc:exact - a free whose descriptor carries a run's span (the preload
#   shim's malloc) is handed to exact.c, which alone knows how a run is cut
#   (alloc.c's run_slow()).
ALLOW="alloc:exact"

nm=${NM:-nm}
build=${1:-${top_builddir:-.}}
prefix=libpagepool_core_la-

objdir=
for d in "$build/lib/.libs" "$build/lib"; do
	if ls "$d/$prefix"*.o >/dev/null 2>&1; then
		objdir=$d
		break
	fi
done
if [ -z "$objdir" ] || ! command -v "$nm" >/dev/null 2>&1; then
	echo "layers.sh: no objects under $build/lib (build first) or no $nm: skipped"
	exit 77
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# defs: "symbol file" for every function a file defines; uses: "file symbol".
for o in "$objdir/$prefix"*.o; do
	f=${o##*/$prefix}
	f=${f%.o}
	"$nm" --defined-only "$o" | awk -v f="$f" '$2 ~ /^[TW]$/ { print $3, f }' >>"$tmp/defs"
	"$nm" --undefined-only "$o" | awk -v f="$f" '{ print f, $NF }' >>"$tmp/uses"
done

# edges: "from to symbol", sorted.
awk 'NR == FNR { def[$1] = $2; next }
     ($2 in def) && def[$2] != $1 { print $1, def[$2], $2 }' \
	"$tmp/defs" "$tmp/uses" | sort >"$tmp/edges"

status=0
rank() {
	i=0
	for l in $LAYERS; do
		[ "$l" = "$1" ] && { echo $i; return; }
		i=$((i + 1))
	done
	echo -1
}

for f in $(awk '{ print $2 }' "$tmp/defs" | sort -u); do
	if [ "$(rank "$f")" -lt 0 ]; then
		echo "layers.sh: lib/$f.c is not in LAYERS: place it in the order"
		status=1
	fi
done

echo "call graph of lib/*.c (from the object files; bottom of LAYERS first):"
: >"$tmp/pairs"
for from in $LAYERS; do
	for to in $(awk -v f="$from" '$1 == f { print $2 }' "$tmp/edges" | sort -u); do
		syms=$(awk -v f="$from" -v t="$to" '$1 == f && $2 == t { print $3 }' "$tmp/edges" |
		       tr '\n' ' ')
		mark=
		if [ "$(rank "$to")" -gt "$(rank "$from")" ]; then
			case " $ALLOW " in
			*" $from:$to "*)
				mark=" [up: allowed]" ;;
			*)
				mark=" [UP: not allowed]"
				status=1 ;;
			esac
		else
			echo "$from $to" >>"$tmp/pairs"
		fi
		echo "  $from -> $to$mark: $syms"
	done
done

# The edges that are not allowed exceptions must form no cycle.
if ! tsort "$tmp/pairs" >/dev/null 2>"$tmp/tsort"; then
	echo "layers.sh: a cycle among lib/*.c:"
	cat "$tmp/tsort"
	status=1
fi
[ $status -eq 0 ] && echo "layers.sh: every call points down, but the $(echo $ALLOW | wc -w) allowed"
exit $status
