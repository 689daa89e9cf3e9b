# options2man.awk - pp_configure(3) from its template and the options table.
#
#   awk -v tmpl=man/man3/pp_configure.3.in -f man/options2man.awk \
#       lib/options.h lib/rcu/rcu-options.h preload/preload-options.h
#
# The table is the X(name, kind, default, min, max, doc) rows of
# PP_CORE_OPTIONS (lib/options.h), PPR_OPTIONS (libpagepool-rcu) and
# PPL_OPTIONS (the LD_PRELOAD shim).  Each row becomes an entry of the
# page where the template has the line @PP_CORE_OPTIONS@ (and so on): the
# key, its kind, its doc line, its default and its range.  Nothing about a
# key is written by hand here: a new row is documented by the next build,
# and make check (tests/test_docs.c) fails if a key has no entry.

function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }

# The value of an expression of the table, or "" when it is not a constant
# (the page size, ...).
function value(e,    t, a) {
	e = trim(e)
	if (e in defs)
		return value(defs[e])
	t = e
	gsub(/\(size_t\)/, "", t)
	gsub(/[()]/, "", t)
	t = trim(t)
	if (t ~ /^[0-9]+$/)
		return t + 0
	if (t ~ /^[0-9]+[ \t]*<<[ \t]*[0-9]+$/) {
		split(t, a, /[ \t]*<<[ \t]*/)
		return a[1] * 2 ^ a[2]
	}
	return ""
}

function bytes(n,    u, s, i) {
	split("T G M K", u, " ")
	for (i = 1; i <= 4; i++) {
		s = 2 ^ (10 * (5 - i))
		if (n >= s && n % s == 0)
			return sprintf("%.0f%s", n / s, u[i])
	}
	return sprintf("%.0f", n)
}

function show(e, kind,    v) {
	if (trim(e) ~ /pp_os_page_size/ && trim(e) !~ /<</)
		return "one page"
	v = value(e)
	if (v == "")
		return ""
	if (kind == "BYTES")
		return bytes(v)
	return sprintf("%.0f", v)
}

function roff(s) {
	gsub(/\\/, "\\e", s)
	gsub(/-/, "\\-", s)
	return s
}

# @s as lines of at most 72 bytes (roff fills them again).
function wrap(s,    w, n, i, out, len) {
	n = split(s, w, " ")
	out = ""; len = 0
	for (i = 1; i <= n; i++) {
		if (len && len + 1 + length(w[i]) > 72) { out = out "\n"; len = 0 }
		else if (len) { out = out " "; len++ }
		out = out w[i]; len += length(w[i])
	}
	return out
}

# Split the X( ... ) rows of one macro's body into entries of group g.
function rows(g, body,    i, n, c, depth, instr, arg, args, nargs, out) {
	n = length(body)
	for (i = 1; i <= n; i++) {
		if (substr(body, i, 2) != "X(" || (i > 1 && substr(body, i - 1, 1) ~ /[A-Za-z0-9_]/))
			continue
		depth = 0; instr = 0; arg = ""; nargs = 0
		for (i += 2; i <= n; i++) {
			c = substr(body, i, 1)
			if (instr) {
				arg = arg c
				if (c == "\\") { i++; arg = arg substr(body, i, 1) }
				else if (c == "\"") instr = 0
				continue
			}
			if (c == "\"") { instr = 1; arg = arg c; continue }
			if (c == "(") depth++
			if (c == ")" && depth-- == 0) break
			if (c == "," && depth == 0) { args[++nargs] = trim(arg); arg = ""; continue }
			arg = arg c
		}
		args[++nargs] = trim(arg)
		if (nargs != 6) {
			printf("options2man.awk: a row of %s has %d columns, not 6: %s\n",
			       g, nargs, args[1]) >"/dev/stderr"
			failed = 1
			exit 1
		}
		entry(g, args[1], args[2], args[3], args[4], args[5], args[6])
	}
}

function entry(g, name, kind, def, min, max, doc,    arg, d, lo, hi, e) {
	arg = kind == "BOOL" ? "0|1" : kind == "BYTES" ? "bytes" : "number"
	gsub(/"[ \t]*"/, "", doc)
	sub(/^"/, "", doc); sub(/"$/, "", doc)
	d = show(def, kind)
	e = ".TP\n.BI " name "= " arg "\n" wrap(roff(doc) ".") "\n"
	if (kind == "BOOL")
		e = e "Default: " (d == "1" ? "1 (on)" : "0 (off)") ".\n"
	else {
		lo = show(min, kind); hi = trim(max) == "SIZE_MAX" ? "" : show(max, kind)
		e = e "Default: " (d == "" ? "set at start\\-up" : d)
		if (lo != "" && hi != "")
			e = e "; " lo " to " hi
		else if (lo != "" && lo != "0" && trim(max) == "SIZE_MAX")
			e = e "; at least " lo
		e = e ".\n"
	}
	text[g] = text[g] e
	nkeys++
}

{
	line = $0
	if (line ~ /\\$/) {
		sub(/\\$/, "", line)
		logical = logical line " "
		next
	}
	logical = logical line
	# C comments inside a macro's body
	while ((i = index(logical, "/*")) > 0) {
		j = index(substr(logical, i + 2), "*/")
		if (j == 0)
			break
		logical = substr(logical, 1, i - 1) " " substr(logical, i + 2 + j + 1)
	}
	if (logical ~ /^#define[ \t]+(PP_CORE_OPTIONS|PPR_OPTIONS|PPL_OPTIONS)\(X\)/) {
		g = logical
		sub(/^#define[ \t]+/, "", g)
		sub(/\(X\).*/, "", g)
		body = logical
		sub(/^#define[ \t]+[A-Z_]+\(X\)/, "", body)
		rows(g, body)
	} else if (logical ~ /^#define[ \t]+[A-Za-z_][A-Za-z0-9_]*[ \t]/) {
		n = logical
		sub(/^#define[ \t]+/, "", n)
		v = n
		sub(/[ \t].*/, "", n)
		sub(/^[A-Za-z0-9_]+[ \t]+/, "", v)
		defs[n] = trim(v)
	}
	logical = ""
}

END {
	if (failed)
		exit 1
	if (nkeys == 0 || !("PP_CORE_OPTIONS" in text)) {
		print "options2man.awk: no rows found in the options table" >"/dev/stderr"
		exit 1
	}
	while ((r = getline t < tmpl) > 0) {
		if (t ~ /^@[A-Z_]+@$/) {
			g = substr(t, 2, length(t) - 2)
			if (!(g in text)) {
				print "options2man.awk: " tmpl ": no rows for " t >"/dev/stderr"
				exit 1
			}
			printf("%s", text[g])
			used[g] = 1
		} else
			print t
	}
	if (r < 0) {
		print "options2man.awk: cannot read " tmpl >"/dev/stderr"
		exit 1
	}
	for (g in text)
		if (!(g in used)) {
			print "options2man.awk: " tmpl " has no place for " g >"/dev/stderr"
			exit 1
		}
}
