#!/bin/sh
# SPDX-License-Identifier: MIT
#
# preload-programs.sh - real programs behave the same under the LD_PRELOAD
# shim as in a plain run: python3, the sqlite3 shell, git (many processes),
# perl, and the threaded C programs tests/preload-threads, tests/preload-fork
# and tests/preload-stdio-fork (fork() while threads hold stdio locks and
# allocate: getline() and flockfile() modes, the latter also with pi=1).  Each runs twice in its own directory, plainly and
# with LD_PRELOAD=$PP_PRELOAD_SO PAGEPOOL_CONF=stats=1; stdout, stderr
# (less the shim's "pagepool: " lines) and the exit status must match, and
# the shim's "pagepool: preload: pool N requests" lines, summed over every
# process of the program, must show N > 0: the shim was loaded and served
# pool pages.
#
# An automake test: exit 0 pass, 1 fail, 77 skip.  Make exports PP_PRELOAD_SO
# (the shim; unset or missing: skip), PP_SRCDIR and PP_BUILDDIR (absolute top
# source and build directories).  A program that is not installed is skipped
# with a message, or fails the test when CI=true; 77 only if none ran.
#   PP_PROGRAMS="git perl"          run only these (names as printed)
#   PP_PROGRAMS_NO_ROUTING_CHECK=1  drop the pool-request check, to compare
#                                   under another malloc, e.g. PP_PRELOAD_SO=
#                                   /usr/lib/x86_64-linux-gnu/libjemalloc.so.2
#   PP_PROGRAMS_KEEP=1              keep the work directory (its path is printed)
#   PP_ULIMIT_V=KB                  run every program (both runs) under
#                                   ulimit -v KB (tests/preload-limits.sh)

# shellcheck disable=SC2317 # the prog_* functions are called by name

all_programs="python3 sqlite3 git perl bash-locale preload-threads preload-fork
preload-stdio-fork-getline preload-stdio-fork-flockfile preload-stdio-fork-pi"
all_programs=$(echo $all_programs)	# one line
programs=${PP_PROGRAMS:-$all_programs}

if [ -z "${PP_PRELOAD_SO:-}" ]; then
	echo "SKIP: PP_PRELOAD_SO is not set (run by make check, or set it to the shim)"
	exit 77
fi
if [ ! -f "$PP_PRELOAD_SO" ]; then
	echo "SKIP: PP_PRELOAD_SO=$PP_PRELOAD_SO not found (shim not built?)"
	exit 77
fi
case $PP_PRELOAD_SO in
/*) so=$PP_PRELOAD_SO ;;
*) so=$(pwd)/$PP_PRELOAD_SO ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
srcdir=${PP_SRCDIR:-${srcdir:-$here/..}}
srcdir=$(cd "$srcdir" && pwd)
builddir=${PP_BUILDDIR:-${top_builddir:-.}}
builddir=$(cd "$builddir" && pwd)
data=$srcdir/tests/preload/programs
for f in workload.py workload.pl sqlite.sql; do
	if [ ! -f "$data/$f" ]; then
		echo "FAIL: $data/$f not found (PP_SRCDIR=$srcdir)"
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pp-programs.XXXXXX") || exit 1
if [ "${PP_PROGRAMS_KEEP:-}" = 1 ]; then
	echo "work directory: $tmp"
else
	trap 'rm -rf "$tmp"' EXIT
fi
trap 'exit 1' INT TERM HUP

# The same environment for both runs: fixed locale, time zone, hash seed,
# home (git and sqlite3 read files there), git identity and dates.
LC_ALL=C TZ=UTC HOME=$tmp/home
PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1
GIT_CONFIG_NOSYSTEM=1 GIT_CEILING_DIRECTORIES=$tmp
GIT_AUTHOR_NAME="Page Pool" GIT_AUTHOR_EMAIL=pp@example.invalid
GIT_COMMITTER_NAME="Page Pool" GIT_COMMITTER_EMAIL=pp@example.invalid
export LC_ALL TZ HOME PYTHONHASHSEED PYTHONDONTWRITEBYTECODE GIT_CONFIG_NOSYSTEM \
	GIT_CEILING_DIRECTORIES GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL GIT_COMMITTER_NAME \
	GIT_COMMITTER_EMAIL
unset LANGUAGE GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_OBJECT_DIRECTORY \
	GIT_ALTERNATE_OBJECT_DIRECTORIES GIT_CONFIG GIT_CONFIG_PARAMETERS PAGER
mkdir "$HOME" || exit 1
cat >"$HOME/.gitconfig" <<'EOF'
[init]
	defaultBranch = main
[gc]
	auto = 0
[maintenance]
	auto = false
[core]
	autocrlf = false
EOF
shim_conf="${PAGEPOOL_CONF:+$PAGEPOOL_CONF,}stats=1"

# A watchdog per command: a shim deadlock (after fork, say) fails the test.
timeout=
if timeout -k 5 1 true >/dev/null 2>&1; then
	timeout="timeout -k 5 120"
fi

# run CMD ARGS: as a program under test, preloaded in the shim run only
# (the shell and helpers like cp, awk and cksum are not).
run() {
	if [ -n "${PP_ULIMIT_V:-}" ]; then	# in a subshell: the limit is this command's
		(ulimit -v "$PP_ULIMIT_V" && run_limited "$@")
	else
		run_limited "$@"
	fi
}

run_limited() {
	if [ "$mode" = shim ]; then
		$timeout env LD_PRELOAD="$so" PAGEPOOL_CONF="$shim_conf" "$@"
	else
		$timeout "$@"
	fi
}

now_ms() {
	t=$(date +%s%N 2>/dev/null)
	case $t in
	'' | *[!0-9]*) echo $(($(date +%s) * 1000)) ;;
	*) echo $((t / 1000000)) ;;
	esac
}

# ---- the programs: prog_NAME runs in an empty directory of its own ---------

prog_python3() {
	run "$python" "$data/workload.py" </dev/null
}

prog_sqlite3() {
	run sqlite3 -batch "$PWD/test.db" <"$data/sqlite.sql"
}

# bash in a UTF-8 locale: setlocale() allocates holding the C library's
# locale lock, and the pool starts inside that allocation.
prog_bash_locale() {
	run env LC_ALL=C.UTF-8 LANG=C.UTF-8 bash -c '
		s=$(printf "%05000d" 7)
		for i in 1 2 3 4 5 6 7 8; do s="$s$s"; done
		echo "length ${#s}"
		printf "%s\n" "héllo wörld" | tr "[:lower:]" "[:upper:]"
		for i in $(seq 1 300); do a[$i]=$(printf "%0${i}0d" $i); done
		echo "array ${#a[@]} ${#a[300]}"'
}

prog_perl() {
	run perl "$data/workload.pl" </dev/null
}

prog_preload_threads() {
	run "$builddir/tests/preload-threads" </dev/null
}

prog_preload_fork() {
	run "$builddir/tests/preload-fork" </dev/null
}

prog_preload_stdio_fork_getline() {
	run "$builddir/tests/preload-stdio-fork" getline </dev/null
}

prog_preload_stdio_fork_flockfile() {
	run "$builddir/tests/preload-stdio-fork" flockfile </dev/null
}

# The same with the priority-inheriting lock (pi=1), whose waits give way too.
prog_preload_stdio_fork_pi() {
	conf=$shim_conf
	shim_conf="$shim_conf,pi=1"
	run "$builddir/tests/preload-stdio-fork" flockfile </dev/null
	rc=$?
	shim_conf=$conf
	return $rc
}

# git: two commits over a 3000-file tree, a rename, gc, fsck, log, archive.
# Each step's output goes to a file first so that its exit status counts.
prog_git() {
	cp -R "$tmp/tree" repo && cd repo || return 1
	run git init -q </dev/null
	run git add -A
	GIT_AUTHOR_DATE="2021-02-03T04:05:06+0000" GIT_COMMITTER_DATE="2021-02-03T04:05:06+0000"
	export GIT_AUTHOR_DATE GIT_COMMITTER_DATE
	run git commit -q -m "first: 3000 files"
	awk 'BEGIN {
		for (d = 0; d < 60; d++)
			for (f = 0; f < 50; f++) {
				n = d * 50 + f
				p = sprintf("src%02d/mod%d/file%02d.txt", int(d / 4), d % 4, f)
				if (n % 7 == 0) {
					printf("appended line %d\n", n) >>p
					close(p)
				}
			}
		for (i = 0; i < 100; i++) {
			p = sprintf("src%02d/mod%d/new%03d.txt", i % 15, i % 4, i)
			printf("new file %d\n", i) >p
			close(p)
		}
	}' && rm -f src03/mod1/file1*.txt src07/mod2/file3*.txt
	run git mv src14 renamed14
	run git add -A
	GIT_AUTHOR_DATE="2021-02-04T05:06:07+0000" GIT_COMMITTER_DATE="2021-02-04T05:06:07+0000"
	run git commit -q -m "second: edits, new files, a rename"
	run git gc -q
	run git fsck --full --strict --no-progress
	run git log --stat >../log.txt
	echo "log --stat: $(cksum <../log.txt)"
	run git rev-parse HEAD HEAD~1 HEAD:renamed14
	run git count-objects -v >../count.txt
	grep -E '^(count|in-pack|packs):' ../count.txt
	run git archive --format=tar HEAD >../head.tar
	echo "archive: $(cksum <../head.tar)"
	run git diff --stat HEAD~1 HEAD >../diff.txt
	tail -n 1 ../diff.txt
	run git ls-files >../files.txt
	echo "files: $(wc -l <../files.txt)"
}

# The tree the git runs start from: 3000 files of 1..120 lines in 60
# nested directories, from a fixed-seed generator.
make_tree() {
	mkdir "$tmp/tree" && cd "$tmp/tree" && awk 'BEGIN {
		x = 12345
		for (d = 0; d < 60; d++) {
			dir = sprintf("src%02d/mod%d", int(d / 4), d % 4)
			dirs = dirs " " dir
		}
		system("mkdir -p" dirs)
		for (d = 0; d < 60; d++) {
			for (f = 0; f < 50; f++) {
				p = sprintf("src%02d/mod%d/file%02d.txt", int(d / 4), d % 4, f)
				x = (x * 16807) % 2147483647
				lines = 1 + x % 120
				if (f == 49)
					lines *= 20
				for (l = 0; l < lines; l++) {
					x = (x * 16807) % 2147483647
					printf("%s:%d: value %d, %x, %s\n", p, l, x % 100000, x,
					       substr("abcdefghijklmnopqrstuvwxyz0123456789", 1 + x % 30)) >p
				}
				close(p)
			}
		}
	}'
}

# ---- one program: two runs, compared ---------------------------------------

# installed NAME: the program can run here (sets python for python3).
installed() {
	case $1 in
	bash-locale)
		command -v bash >/dev/null 2>&1
		;;
	python3)
		command -v python3 >/dev/null 2>&1 || return 1
		# The interpreter itself, not a wrapper script (pyenv's shims).
		python=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
		[ -n "$python" ] && [ -x "$python" ] || python=$(command -v python3)
		;;
	preload-threads | preload-fork)
		[ -x "$builddir/tests/$1" ]
		;;
	preload-stdio-fork-*)
		[ -x "$builddir/tests/preload-stdio-fork" ]
		;;
	*)
		command -v "$1" >/dev/null 2>&1
		;;
	esac
}

# run_mode NAME MODE: one run into $tmp/NAME.MODE/{out,err}; sets rc, ms.
run_mode() {
	mode=$2
	d=$tmp/$1.$2
	mkdir -p "$d/wd"
	fn=prog_$(echo "$1" | tr - _)
	t0=$(now_ms)
	(cd "$d/wd" && set -e && $fn) >"$d/out" 2>"$d/err"
	rc=$?
	ms=$(($(now_ms) - t0))
}

secs() {
	awk -v ms="$1" 'BEGIN { printf "%.2f s", ms / 1000 }'
}

failures=0
ran=0
check_program() {
	name=$1
	if ! installed "$name"; then
		missing="not installed"
		case $name in
		preload-stdio-fork-*) missing="not built ($builddir/tests/preload-stdio-fork)" ;;
		preload-*) missing="not built ($builddir/tests/$name)" ;;
		esac
		if [ "${CI:-}" = true ]; then
			echo "FAIL: $name: $missing (needed when CI=true)"
			failures=$((failures + 1))
		else
			echo "SKIP: $name: $missing"
		fi
		return
	fi
	if [ "$name" = git ] && [ ! -d "$tmp/tree" ]; then
		(make_tree) || { echo "FAIL: git: could not write the test tree"; failures=$((failures + 1)); return; }
	fi
	ran=$((ran + 1))

	run_mode "$name" plain
	rc_plain=$rc ms_plain=$ms
	run_mode "$name" shim
	rc_shim=$rc ms_shim=$ms

	p=$tmp/$name.plain s=$tmp/$name.shim
	sed '/^pagepool: /d' "$s/err" >"$s/err.cmp"
	grep '^pagepool: ' "$s/err" >"$s/err.shim"
	read -r requests processes <<EOF
$(awk '/^pagepool: preload: pool [0-9]+ requests/ { n += $4; p++ }
	END { printf "%d %d\n", n, p }' "$s/err")
EOF

	why=
	if [ "$rc_plain" -eq 124 ] || [ "$rc_plain" -eq 137 ] ||
	   [ "$rc_shim" -eq 124 ] || [ "$rc_shim" -eq 137 ]; then
		why="$why, a command timed out (exit status $rc_plain plain, $rc_shim shim)"
	fi
	[ "$rc_plain" -eq "$rc_shim" ] ||
		why="$why, exit status $rc_plain plain but $rc_shim under the shim"
	[ "$rc_plain" -eq 0 ] || why="$why, exit status $rc_plain in the plain run"
	cmp -s "$p/out" "$s/out" || why="$why, stdout differs"
	cmp -s "$p/err" "$s/err.cmp" || why="$why, stderr differs"
	if grep -q '^pagepool: [a-z_]*(' "$s/err.shim"; then
		why="$why, the shim reported a bad call"
	fi
	if [ "${PP_PROGRAMS_NO_ROUTING_CHECK:-}" = 1 ]; then
		pool="pool requests not checked"
	else
		pool="pool requests $requests ($processes processes)"
		if [ "$processes" -eq 0 ]; then
			why="$why, no 'pagepool: preload:' stats line: the shim did not run"
		elif [ "$requests" -eq 0 ]; then
			why="$why, the shim served no pool requests"
		fi
	fi

	line=$(printf '%-16s plain %s, shim %s, %s' "$name" "$(secs "$ms_plain")" \
		"$(secs "$ms_shim")" "$pool")
	if [ -z "$why" ]; then
		echo "PASS: $line"
		return
	fi
	failures=$((failures + 1))
	echo "FAIL: $line: ${why#, }"
	for f in out err; do
		other=$s/$f
		[ $f = err ] && other=$s/err.cmp
		cmp -s "$p/$f" "$other" && continue
		echo "--- std$f, plain run vs shim run (pagepool: lines removed):"
		diff -u "$p/$f" "$other" | head -n 60
	done
	if [ -s "$s/err.shim" ]; then
		echo "--- the shim's lines on stderr:"
		head -n 40 "$s/err.shim"
	fi
	if [ "$rc_plain" -ne 0 ] && [ -s "$p/err" ]; then
		echo "--- stderr of the plain run:"
		head -n 40 "$p/err"
	fi
}

echo "shim: $so${timeout:+ (each command limited to 120 s)}${PP_ULIMIT_V:+, ulimit -v $PP_ULIMIT_V}"
for name in $programs; do
	case " $all_programs " in
	*" $name "*) check_program "$name" ;;
	*) echo "FAIL: unknown program '$name' in PP_PROGRAMS (known: $all_programs)"
	   failures=$((failures + 1)) ;;
	esac
done

if [ "$failures" -ne 0 ]; then
	echo "FAIL: $failures of the programs differ under the shim or could not run"
	exit 1
fi
if [ "$ran" -eq 0 ]; then
	echo "SKIP: none of the programs is installed"
	exit 77
fi
echo "PASS: $ran programs run the same under the shim"
exit 0
