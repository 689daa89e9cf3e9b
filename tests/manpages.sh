#!/bin/sh
# SPDX-License-Identifier: MIT
#
# manpages.sh - every exported function has a man page or a link to one,
# installed by make install: for each pp_ function the libraries export
# (nm -D) or the public headers declare (PP_API), man/man3/NAME.3 exists
# and is listed in Makefile.am, a link (.so) leads to a page, and that
# page's NAME and SYNOPSIS name the function.  Each page has the sections
# of the Linux man-pages form, and is lint-clean: mandoc -Tlint and groff
# -wall print nothing.  (Every key of the options table has its entry in
# the generated pp_configure(3): tests/test_docs.c checks that.)
#
# An automake test: exit 0 pass, 1 fail, 77 skip.  Run from the build
# directory's top; PP_SRCDIR and PP_BUILDDIR (set by the Makefile) name
# the trees, NM another nm.  Without mandoc and groff the lint is skipped,
# but fails under CI=true (scripts/install-deps installs mandoc).

src=${PP_SRCDIR:-${srcdir:-$(dirname "$0")/..}}
build=${PP_BUILDDIR:-${top_builddir:-.}}
nm=${NM:-nm}
fail=0

if [ ! -f "$src/include/pagepool.h" ] || [ ! -d "$src/man" ]; then
	echo "SKIP: sources not found ($src)"
	exit 77
fi

bad() {
	echo "FAIL: $*"
	fail=1
}

# The page file of NAME in SECTION: generated (build tree) or written.
page_of() {
	for d in "$build/man" "$src/man"; do
		if [ -f "$d/man$2/$1.$2" ]; then
			echo "$d/man$2/$1.$2"
			return 0
		fi
	done
	return 1
}

# The lines of FILE's section TITLE (.SH TITLE up to the next .SH).
section() {
	awk -v t="$2" '/^\.SH / { s = $0; sub(/^\.SH "?/, "", s); sub(/"$/, "", s); on = (s == t); next } on' "$1"
}

# ---- the exported functions ------------------------------------------
names=$(cat "$src"/include/*.h "$src"/include/pagepool/*.h |
	sed -n 's/^PP_API[^(]*[^a-z0-9_]\(pp_[a-z0-9_]*\)(.*/\1/p')
nlib=0
for lib in "$build/lib/.libs/libpagepool.so" "$build/lib/.libs/libpagepool-rcu.so"; do
	if [ -e "$lib" ] && command -v "$nm" >/dev/null 2>&1; then
		names="$names $("$nm" -D --defined-only "$lib" | awk '{ n = $NF; sub(/@.*/, "", n) }
			n ~ /^pp_/ { print n }')"
		nlib=$((nlib + 1))
	fi
done
names=$(echo $names | tr ' ' '\n' | sort -u)
[ -n "$names" ] || { bad "no exported function found"; exit 1; }
echo "manpages: $(echo $names | wc -w) functions (public headers, $nlib libraries' dynamic symbols)"

for n in $names; do
	f=$(page_of "$n" 3) || { bad "$n has no man page or link (man/man3/$n.3)"; continue; }
	grep -q "man/man3/$n\.3" "$src/Makefile.am" ||
		bad "man/man3/$n.3 is not listed in Makefile.am: make install would not install it"
	target=$f
	so=$(sed -n 's/^\.so[ 	]\{1,\}//p' "$f" | head -n 1)
	if [ -n "$so" ]; then
		t=$(basename "$so")
		target=$(page_of "${t%.*}" "${t##*.}") || { bad "$f: .so $so leads nowhere"; continue; }
	fi
	section "$target" NAME | grep -q "\(^\|[^a-z0-9_]\)$n\([^a-z0-9_]\|$\)" ||
		bad "$target: NAME does not name $n"
	section "$target" SYNOPSIS | grep -q "[^a-z0-9_]$n(" ||
		bad "$target: SYNOPSIS does not declare $n()"
done

# ---- every page: the man-pages sections, and lint -------------------------
pages=
for f in "$src"/man/man3/*.3 "$src"/man/man7/*.7 "$build"/man/man3/*.3; do
	[ -f "$f" ] && ! grep -q '^\.so ' "$f" || continue
	case " $pages " in *" $f "*) continue ;; esac
	pages="$pages $f"
done
for f in $pages; do
	case $f in
	*.3) want="NAME|SYNOPSIS|DESCRIPTION|RETURN VALUE|ERRORS|ATTRIBUTES|ENVIRONMENT|NOTES|EXAMPLES|SEE ALSO" ;;
	*) want="NAME|SYNOPSIS|DESCRIPTION|ENVIRONMENT|NOTES|EXAMPLES|SEE ALSO" ;;
	esac
	have=$(sed -n 's/^\.SH "\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$f" | tr '\n' '|' | sed 's/|$//')
	echo "$have" | grep -q "^$want$" || bad "$f: sections are '$have', want '$want' in that order"
done

linted=
if command -v mandoc >/dev/null 2>&1; then
	for f in $pages; do
		out=$(mandoc -Tlint -Wstyle "$f" 2>&1)
		[ -z "$out" ] || bad "mandoc -Tlint $f:
$out"
	done
	linted="mandoc -Tlint"
fi
if command -v groff >/dev/null 2>&1; then
	for f in $pages; do
		out=$(groff -wall -z -t -man "$f" 2>&1)
		[ -z "$out" ] || bad "groff -wall $f:
$out"
	done
	linted="$linted${linted:+, }groff -wall"
fi
if [ -z "$linted" ]; then
	echo "manpages: neither mandoc nor groff: the pages are not linted"
	[ "${CI:-}" != true ] || bad "CI=true and no linter (scripts/install-deps installs mandoc)"
else
	echo "manpages: $(echo $pages | wc -w) pages linted ($linted)"
fi

if [ $fail -ne 0 ]; then
	echo "FAIL: man pages"
	exit 1
fi
echo "PASS: every exported function has a man page or link; the pages are lint-clean"
