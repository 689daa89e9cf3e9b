/* SPDX-License-Identifier: MIT */
/*
 * test_docs.c - what users read names what the library has: every key of
 * the options table (lib/options.h) is documented in pagepool.h's
 * pp_configure() comment, in a table row of doc/configuration.md (the
 * configuration reference the README links), and in an entry of
 * the generated pp_configure(3) man page; and the library's defaults are
 * the table's.
 *
 * The sources are read from PP_TOP_SRCDIR, the generated page from
 * PP_TOP_BUILDDIR (both set by the Makefile), so the test also holds in a
 * distcheck build directory.
 */

#include "testutil.h"

static const char *const keys[] = {
#define KEY(name, kind, def, min, max, doc) #name,
	PP_OPTIONS(KEY)
#undef KEY
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* The table's defaults, in its order (some are expressions: made now). */
static void table_defaults(size_t *out)
{
	size_t i = 0;

#define DEF(name, kind, def, min, max, doc) out[i++] = (size_t)(def);
	PP_OPTIONS(DEF)
#undef DEF
}

/* The whole of @rel under the tree @top, NUL-terminated (caller frees). */
static char *slurp_in(const char *top, const char *rel)
{
	char path[4096];
	FILE *f;
	char *buf;
	long len;

	snprintf(path, sizeof(path), "%s/%s", top, rel);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s: %s", path, strerror(errno));
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	ck_assert_int_ge(len, 0);
	rewind(f);
	buf = malloc((size_t)len + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
	buf[len] = '\0';
	fclose(f);
	return buf;
}

static char *slurp(const char *rel)
{
	return slurp_in(PP_TOP_SRCDIR, rel);
}

/* Does @word occur in [@from, @to) as a whole word (letters, digits, _)? */
static bool names_word(const char *from, const char *to, const char *word)
{
	char *text = strndup(from, (size_t)(to - from));
	bool found;

	ck_assert_ptr_nonnull(text);
	found = has_word(text, word);	/* checkutil.h */
	free(text);
	return found;
}

START_TEST(test_keys_in_header)
{
	char *h = slurp("include/pagepool.h");
	const char *from = strstr(h, "pp_configure() - "), *to;

	ck_assert_msg(from != NULL, "pagepool.h: no kernel-doc for pp_configure()");
	to = strstr(from, "*/");
	ck_assert_ptr_nonnull(to);
	for (size_t i = 0; i < NKEYS; i++)
		ck_assert_msg(names_word(from, to, keys[i]),
			      "pagepool.h: pp_configure()'s comment does not name key %s",
			      keys[i]);
	free(h);
}
END_TEST

START_TEST(test_keys_in_reference)
{
	char *r = slurp("doc/configuration.md");

	for (size_t i = 0; i < NKEYS; i++) {
		char cell[128];
		bool found = false;

		/* A table row whose first cell names the key: "| `key`" ... "|". */
		snprintf(cell, sizeof(cell), "`%s`", keys[i]);
		for (const char *row = r; row && !found; row = strchr(row, '\n')) {
			const char *at;

			row += *row == '\n';
			if (row[0] != '|')
				continue;
			at = strstr(row, cell);
			found = at && at < strchr(row + 1, '|');
		}
		ck_assert_msg(found, "doc/configuration.md: no table row for key %s", keys[i]);
	}
	free(r);
}
END_TEST

/*
 * pp_configure(3), generated from the table by man/options2man.awk at
 * build time: an entry ".TP" / ".BI key= kind" per key.
 */
START_TEST(test_keys_in_man_page)
{
	char *m = slurp_in(PP_TOP_BUILDDIR, "man/man3/pp_configure.3");

	for (size_t i = 0; i < NKEYS; i++) {
		char entry[128];

		snprintf(entry, sizeof(entry), "\n.TP\n.BI %s= ", keys[i]);
		ck_assert_msg(strstr(m, entry) != NULL,
			      "man/man3/pp_configure.3: no entry for key %s", keys[i]);
	}
	free(m);
}
END_TEST

START_TEST(test_defaults_are_the_table)
{
	size_t def[NKEYS];

	ck_assert_int_eq(unsetenv("PAGEPOOL_CONF"), 0);
	table_defaults(def);
	for (size_t i = 0; i < NKEYS; i++) {
		size_t v = 0;

		ck_assert_msg(pp_option(keys[i], &v) == 0, "pp_option(\"%s\"): %s",
			      keys[i], strerror(errno));
		ck_assert_msg(v == def[i], "%s: pp_option says %zu, the table %zu",
			      keys[i], v, def[i]);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("docs");
	TCase *tc = new_tcase("keys");

	tcase_add_test(tc, test_keys_in_header);
	tcase_add_test(tc, test_keys_in_reference);
	tcase_add_test(tc, test_keys_in_man_page);
	tcase_add_test(tc, test_defaults_are_the_table);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
