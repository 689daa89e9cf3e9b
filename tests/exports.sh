#!/bin/sh
# SPDX-License-Identifier: MIT
#
# exports.sh - libpagepool.so exports the pp_ interface and nothing else.
#
# An automake test: exit 0 pass, 1 fail, 77 skip.  Run from the build
# directory's top (top_builddir is set by the Makefile); PAGEPOOL_LIB names
# another library to check, NM another nm.

lib=${PAGEPOOL_LIB:-"${top_builddir:-.}/lib/.libs/libpagepool.so"}
nm=${NM:-nm}

# Where the sources are: $srcdir (exported by automake's test harness) is
# the top source directory in this non-recursive build; else next to us.
here=$(dirname "$0")
top_srcdir=
for d in "${srcdir:-}" "$here/.."; do
	if [ -n "$d" ] && [ -f "$d/include/pagepool.h" ]; then
		top_srcdir=$d
		break
	fi
done

api="pp_alloc_page_try pp_alloc_page pp_alloc_pages pp_alloc_pages_bulk
pp_free_page pp_free_pages pp_free_pages_bulk pp_thread_drain pp_configure
pp_stats pp_page_size"

internal="pp_test_audit pp_test_lock pp_test_unlock pp_buddy_alloc_locked
pp_buddy_free_locked pp_lock pp_unlock pp_trylock pp_init pp_msg pp_g pp_tls
pp_bad_free_slow pp_os_abort pp_os_reserve pp_os_commit pp_arena_grow_locked
pp_tcache_refill_slow pp_stats_collect_locked pp_options_parse"

if [ ! -e "$lib" ]; then
	echo "SKIP: $lib not found (shared library not built?)"
	exit 77
fi
if ! command -v "$nm" >/dev/null 2>&1; then
	echo "SKIP: $nm not found"
	exit 77
fi

# Every name declared in the private header is internal too.
if [ -n "$top_srcdir" ] && [ -f "$top_srcdir/lib/internal.h" ]; then
	from_header=$(grep -o 'pp_[a-z0-9_]*[ 	]*(' "$top_srcdir/lib/internal.h" |
		sed 's/[ 	]*($//' | sort -u)
	public=$(grep -o 'pp_[a-z0-9_]*' "$top_srcdir/include/pagepool.h" | sort -u)
	for n in $from_header; do
		echo "$public" | grep -qx "$n" || internal="$internal $n"
	done
fi

tmp=${TMPDIR:-/tmp}/exports.$$
trap 'rm -f "$tmp"' EXIT INT TERM
if ! "$nm" -D --defined-only "$lib" >"$tmp"; then
	echo "FAIL: $nm -D --defined-only $lib failed"
	exit 1
fi

echo "checking $lib"
fail=0
nsym=0
exported=

# Lines are "address type name[@[@]version]".
while read -r addr type name rest; do
	[ -n "$name" ] || { name=$type; type=$addr; }
	base=${name%%@*}
	case $type in
	A)
		echo "  ignored version node $base"
		continue
		;;
	esac
	nsym=$((nsym + 1))
	exported="$exported $base"
	case $base in
	pp_*)	;;
	*)
		echo "FAIL: exported symbol without the pp_ prefix: $base ($type)"
		fail=1
		;;
	esac
done <"$tmp"
echo "  $nsym defined dynamic symbols:$exported"

for s in $api; do
	case " $exported " in
	*" $s "*) ;;
	*)
		echo "FAIL: API symbol $s is not exported"
		fail=1
		;;
	esac
done
echo "  checked the $(echo "$api" | wc -w) API symbols are exported"

internal=$(echo "$internal" | tr ' ' '\n' | sort -u)
nint=0
for s in $internal; do
	nint=$((nint + 1))
	case " $exported " in
	*" $s "*)
		echo "FAIL: internal symbol $s is exported"
		fail=1
		;;
	esac
done
echo "  checked $nint internal names are not exported"

# Every exported symbol is declared in a public header.
if [ -n "$top_srcdir" ]; then
	for s in $exported; do
		case $s in pp_*) ;; *) continue ;; esac
		if ! cat "$top_srcdir"/include/*.h | grep -q "[^a-z0-9_]${s}[ 	]*("; then
			echo "FAIL: exported $s is not declared in $top_srcdir/include/"
			fail=1
		fi
	done
	echo "  checked every exported symbol is declared in a public header"
else
	echo "  (sources not found: skipped the public-header check)"
fi

if [ $fail -ne 0 ]; then
	echo "FAIL: $lib exports the wrong set of symbols"
	exit 1
fi
echo "PASS: $lib exports exactly the pp_ interface"
exit 0
