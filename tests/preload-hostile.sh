#!/bin/sh
# SPDX-License-Identifier: MIT
#
# preload-hostile.sh - the LD_PRELOAD shim where programs are unkind to it:
#   1. under RLIMIT_AS every entry point of the malloc family fails a
#      request too large with errno ENOMEM (tests/preload-errno);
#   2. stats=1 reaches the user from a program that closes stderr before it
#      exits (ls does), and names the program and its pid;
#   3. a program that closes every descriptor but 0 and 1 and opens a data
#      file (which takes number 2) gets no stats line written into it.
# An automake test: exit 0 pass, 1 fail, 77 skip (PP_PRELOAD_SO unset).
if [ -z "${PP_PRELOAD_SO:-}" ] || [ ! -f "$PP_PRELOAD_SO" ]; then
	echo "SKIP: PP_PRELOAD_SO is not set or not built"
	exit 77
fi
builddir=${PP_BUILDDIR:-${top_builddir:-.}}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pp-hostile.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# 1. errno ENOMEM from every entry point.
if LD_PRELOAD="$PP_PRELOAD_SO" "$builddir/tests/preload-errno" >"$tmp/errno.out" 2>&1; then
	echo "PASS: errno ENOMEM from $(grep -c '^ok' "$tmp/errno.out") entry points under RLIMIT_AS"
else
	fail "errno under RLIMIT_AS:"
	cat "$tmp/errno.out"
fi

# 2. ls closes stderr at exit; the summary still comes, with its name and pid.
LD_PRELOAD="$PP_PRELOAD_SO" PAGEPOOL_CONF=stats=1 ls / >/dev/null 2>"$tmp/ls.err"
if grep -Eq '^pagepool: preload: pool [0-9]+ requests.*\(ls, pid [0-9]+\)$' "$tmp/ls.err"; then
	echo "PASS: stats=1 line from ls, which closes stderr: $(grep -o '(ls, pid [0-9]*)' "$tmp/ls.err")"
else
	fail "no stats line naming ls from ls (which closes stderr): '$(cat "$tmp/ls.err")'"
fi

# 3. The kept copy's number reused for a data file: nothing written into it.
python=$(command -v python3 2>/dev/null) &&
	python=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
if [ -n "$python" ] && [ -x "$python" ]; then
	(cd "$tmp" && LD_PRELOAD="$PP_PRELOAD_SO" PAGEPOOL_CONF=stats=1 "$python" -c '
import os
os.closerange(3, 1024)
os.close(2)
fd = os.open("data", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"data\n")
x = [bytearray(50000) for i in range(10)]
' 2>"$tmp/py.err")
	if [ "$(cat "$tmp/data")" = data ]; then
		echo "PASS: no stats line in a data file that took stderr's number"
	else
		fail "the data file holds more than its data: '$(cat "$tmp/data")'"
	fi
elif [ "${CI:-}" = true ]; then
	fail "python3 is not installed (needed when CI=true)"
else
	echo "SKIP: python3 is not installed: descriptor reuse not tested"
fi

if [ "$failures" -ne 0 ]; then
	echo "FAIL: $failures of the checks"
	exit 1
fi
echo "PASS: the shim copes with limits and closed descriptors"
