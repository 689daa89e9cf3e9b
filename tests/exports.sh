#!/bin/sh
# SPDX-License-Identifier: MIT
#
# exports.sh - libpagepool.so and libpagepool-rcu.so export their pp_
# interface and nothing else; libpagepool-preload.so exports the pp_
# interface and, unversioned, the malloc family it interposes.
#
# An automake test: exit 0 pass, 1 fail, 77 skip.  Run from the build
# directory's top (top_builddir is set by the Makefile); PAGEPOOL_LIB and
# PAGEPOOL_RCU_LIB and PAGEPOOL_PRELOAD_LIB name other libraries to check,
# NM another nm.

lib=${PAGEPOOL_LIB:-"${top_builddir:-.}/lib/.libs/libpagepool.so"}
rcu_lib=${PAGEPOOL_RCU_LIB:-"${top_builddir:-.}/lib/.libs/libpagepool-rcu.so"}
preload_lib=${PAGEPOOL_PRELOAD_LIB:-"${top_builddir:-.}/preload/.libs/libpagepool-preload.so"}
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
pp_free_page pp_free_pages pp_free_pages_bulk pp_thread_drain pp_thread_prefill pp_configure
pp_stats pp_page_size pp_option pp_owns pp_block_order pp_trim
pp_reserve_create pp_reserve_alloc pp_reserve_free pp_reserve_resize pp_reserve_destroy"
rcu_api="pp_rcu_init pp_rcu_free pp_rcu_free_head pp_rcu_barrier pp_rcu_stats"

internal="pp_test_audit pp_test_lock pp_test_unlock pp_buddy_alloc_locked
pp_buddy_free_locked pp_lock pp_unlock pp_trylock pp_init pp_msg pp_g pp_tls
pp_bad_free_slow pp_os_abort pp_os_reserve pp_os_commit pp_arena_grow_locked
pp_tcache_refill_slow pp_stats_collect_locked pp_options_parse"

malloc_family="malloc free calloc realloc reallocarray posix_memalign aligned_alloc
memalign valloc pvalloc malloc_usable_size"
preload_internal="ppl_pool_min ppl_counting ppl_count_slow pp_exact_alloc pp_exact_free"

rcu_internal="ppr ppr_msg ppr_die ppr_self ppr_submit ppr_reclaim_block ppr_thread_slow
ppr_flush_all_locked ppr_monitor_kick ppr_empty_block"

if [ ! -e "$lib" ] || [ ! -e "$rcu_lib" ] || [ ! -e "$preload_lib" ]; then
	echo "SKIP: $lib, $rcu_lib or $preload_lib not found (shared libraries not built?)"
	exit 77
fi
if ! command -v "$nm" >/dev/null 2>&1; then
	echo "SKIP: $nm not found"
	exit 77
fi

# Every function declared in a private header is internal too.
# private_names HEADER: its pp_/ppr_ function names not in a public header.
private_names() {
	[ -n "$top_srcdir" ] && [ -f "$1" ] || return 0
	public=$(cat "$top_srcdir"/include/*.h "$top_srcdir"/include/pagepool/*.h |
		grep -o 'pp_[a-z0-9_]*' | sort -u)
	for n in $(grep -o 'ppr\{0,1\}_[a-z0-9_]*[ 	]*(' "$1" | sed 's/[ 	]*($//' | sort -u); do
		echo "$public" | grep -qx "$n" || echo "$n"
	done
}
internal="$internal $(private_names "$top_srcdir/lib/internal.h")"
rcu_internal="$rcu_internal $(private_names "$top_srcdir/lib/rcu/rcu-internal.h")"
preload_internal="$preload_internal $internal $(grep -o 'ppl_[a-z_]*' "$top_srcdir/preload/preload.h" 2>/dev/null | sort -u)"

tmp=${TMPDIR:-/tmp}/exports.$$
trap 'rm -f "$tmp"' EXIT INT TERM
status=0

# check LIB API INTERNAL [FOREIGN]: LIB exports every name of API, none of
# INTERNAL, only pp_ names, each declared in a public header - and every
# name of FOREIGN (the C library's names the shim interposes), unversioned.
check() {
lib=$1 api=$2 internal=$3 foreign=$(echo ${4:-})
if ! "$nm" -D --defined-only "$lib" >"$tmp"; then
	echo "FAIL: $nm -D --defined-only $lib failed"
	return 1
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
	case " $foreign " in
	*" $base "*)
		if [ "$name" != "$base" ]; then
			echo "FAIL: $base must be exported unversioned, like the C library's: $name"
			fail=1
		fi
		continue
		;;
	esac
	case $base in
	pp_*)	;;
	*)
		echo "FAIL: exported symbol without the pp_ prefix: $base ($type)"
		fail=1
		;;
	esac
done <"$tmp"
echo "  $nsym defined dynamic symbols:$exported"

for s in $api $foreign; do
	case " $exported " in
	*" $s "*) ;;
	*)
		echo "FAIL: API symbol $s is not exported"
		fail=1
		;;
	esac
done
echo "  checked the $(echo "$api $foreign" | wc -w) API symbols are exported"

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
		if ! cat "$top_srcdir"/include/*.h "$top_srcdir"/include/pagepool/*.h | grep -q "[^a-z0-9_]${s}[ 	]*("; then
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
	return 1
fi
echo "PASS: $lib exports exactly its pp_ interface"
}

core_api=$api
check "$lib" "$core_api" "$internal" || status=1
check "$rcu_lib" "$rcu_api" "$rcu_internal" || status=1
check "$preload_lib" "$core_api" "$preload_internal" "$malloc_family" || status=1
exit $status
