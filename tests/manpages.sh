#!/bin/sh
# SPDX-License-Identifier: MIT
#
# manpages.sh - every exported function has a man page or a link to one,
# installed by make install: for each pp_ function the libraries export
# (nm -D) or the public headers declare (PP_API), man/man3/NAME.3 exists
# and is listed in Makefile.am, a link (.so) leads to a page, that page's
# NAME and SYNOPSIS name the function, and its ATTRIBUTES table agrees with
# the Context: line of the function's comment in the header (AS-Safe or
# AS-Unsafe).  Each page has the sections
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

# ---- ATTRIBUTES against the headers' Context: lines ------------------------
# A function whose kernel-doc Context: says async-signal-safe (and never
# "not async-signal-safe") is AS-Safe in its page's ATTRIBUTES table; one
# that says only "not async-signal-safe" is AS-Unsafe and nowhere AS-Safe;
# every function is in a Thread safety row.  (A Context: that depends on
# the flags, or defers to another function's, is checked by hand.)
contexts=$(awk '
/^\/\*\*/ { doc = ""; inctx = 0 }
/^ \* Context:/ { inctx = 1 }
/^ \* Return:/ || /^ \*\// { inctx = 0 }
inctx { doc = doc " " $0 }
/^PP_API/ {
	line = $0; sub(/\(.*/, "", line); k = split(line, w, /[^a-z0-9_]+/)
	d = tolower(doc); gsub(/[ \t*]+/, " ", d)
	all = gsub(/async-signal-safe/, "&", d)
	neg = gsub(/not async-signal-safe/, "&", d)
	print w[k], (all == 0 ? "none" : neg == 0 ? "safe" : neg == all ? "unsafe" : "mixed")
	doc = ""
}' "$src"/include/pagepool.h "$src"/include/pagepool/*.h)

# attributes PAGE: "NAME VALUE" for each function a row of its ATTRIBUTES names.
attributes() {
	awk '
/^\.SH / { on = ($0 ~ /^\.SH "?ATTRIBUTES"?$/); next }
!on { next }
/^\.TS/ { intbl = 1; row = ""; next }
/^\.TE/ { intbl = 0; next }
!intbl { next }
{ row = row " " $0 }
/\t(Thread safety|Async-signal safety)\t/ {
	v = $0; sub(/.*\t/, "", v); t = row
	while (match(t, /\\fB[a-z0-9_]+\\fR\(/)) {
		print substr(t, RSTART + 3, RLENGTH - 7), v
		t = substr(t, RSTART + RLENGTH)
	}
	row = ""
}' "$1"
}

echo "$contexts" | while read -r n cls; do
	[ -n "$n" ] || continue
	f=$(page_of "$n" 3) || continue	# said above
	so=$(sed -n 's/^\.so[ 	]\{1,\}//p' "$f" | head -n 1)
	if [ -n "$so" ]; then
		t=$(basename "$so")
		f=$(page_of "${t%.*}" "${t##*.}") || continue
	fi
	attrs=$(attributes "$f")
	echo "$attrs" | grep -q "^$n MT-Safe$" ||
		echo "FAIL: $f: ATTRIBUTES has no Thread safety row for $n()"
	case $cls in
	safe)
		echo "$attrs" | grep -q "^$n AS-Safe$" ||
			echo "FAIL: $f: $n() is async-signal-safe (its Context: in the header), not AS-Safe in ATTRIBUTES" ;;
	unsafe)
		{ echo "$attrs" | grep -q "^$n AS-Unsafe$" && ! echo "$attrs" | grep -q "^$n AS-Safe$"; } ||
			echo "FAIL: $f: $n() is not async-signal-safe (its Context: in the header), but ATTRIBUTES does not say AS-Unsafe alone" ;;
	esac
done >"${TMPDIR:-/tmp}/manpages.$$"
if [ -s "${TMPDIR:-/tmp}/manpages.$$" ]; then
	cat "${TMPDIR:-/tmp}/manpages.$$"
	fail=1
fi
rm -f "${TMPDIR:-/tmp}/manpages.$$"
echo "manpages: ATTRIBUTES checked against the headers' Context: lines"

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
