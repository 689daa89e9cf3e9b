#!/bin/sh
# SPDX-License-Identifier: MIT
#
# track.sh - debugging tools see pool pages (lib/track.c): for each
# allocation path, a child program (tests/track-child.c) writes after a
# free, reads a byte never written and loses a block, each its own run,
# and the tool must report it; a clean run must pass.
#
# Usage: track.sh memcheck | asan   (from the build directory: make check-track)
#   memcheck  the default library under valgrind --error-exitcode=9 (exit 9:
#             an error; leaks counted with --leak-check=full)
#   asan      the --enable-sanitizer=address build: a write after free is
#             a use-after-poison; ASan sees neither uninitialised reads nor
#             pool leaks (memcheck's cases), so only clean and uaf run
# Cases run $(nproc) at a time.  Exit 0 pass, 1 fail, 77 skip.
tool=${1:-memcheck}
paths="try nowait flags0 order0 order3 order5 bulk reserve rcu run"
case $tool in
memcheck)
	command -v valgrind >/dev/null 2>&1 || { echo "track.sh: no valgrind: skipped"; exit 77; }
	cases="clean uaf uninit leak" ;;
asan)	cases="clean uaf" ;;
*)	echo "usage: track.sh memcheck|asan" >&2; exit 2 ;;
esac
jobs=$(nproc 2>/dev/null || echo 2)
out=$(mktemp -d) || exit 1
trap 'rm -rf "$out"' EXIT

one() {	# one PATH CASE: run it, write PASS/FAIL and why to $out/PATH-CASE
	bin=./tests/track-child
	[ "$1" = run ] && bin=./tests/track-run-child
	log=$out/log.$1.$2
	if [ "$tool" = memcheck ]; then
		valgrind -q --error-exitcode=9 --leak-check=full \
			--errors-for-leak-kinds=definite "$bin" "$1" "$2" >"$log" 2>&1
	else
		ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 "$bin" "$1" "$2" >"$log" 2>&1
	fi
	rc=$?
	case $tool-$2 in
	*-clean)	want=0 pat= ;;
	memcheck-uaf)	want=9 pat="Invalid write" ;;
	memcheck-uninit) want=9 pat="uninitialised value" ;;
	memcheck-leak)	want=9 pat="definitely lost" ;;
	asan-uaf)	want=1 pat="use-after-poison" ;;
	esac
	if [ "$rc" -eq "$want" ] && { [ -z "$pat" ] || grep -q "$pat" "$log"; }; then
		echo "PASS $tool $1 $2" >"$out/res.$1.$2"
	else
		{ echo "FAIL $tool $1 $2: exit $rc (want $want${pat:+, a report of '$pat'})"
		  sed 's/^/    /' "$log" | head -20; } >"$out/res.$1.$2"
	fi
}

n=0
for p in $paths; do
	for c in $cases; do
		one "$p" "$c" &
		n=$((n + 1))
		[ $((n % jobs)) -eq 0 ] && wait
	done
done
wait
grep -h '^PASS' "$out"/res.* 2>/dev/null | sort
if grep -l '^FAIL' "$out"/res.* >/dev/null 2>&1; then
	for f in $(grep -l '^FAIL' "$out"/res.*); do cat "$f"; done
	echo "track.sh: $tool: FAILED"
	exit 1
fi
echo "track.sh: $tool: every path reports each case; clean runs pass"
