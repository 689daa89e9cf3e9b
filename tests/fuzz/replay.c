/* SPDX-License-Identifier: MIT */
/*
 * replay.c - runs tests/fuzz/fuzz-config.c's target on files, without
 * libFuzzer: the corpus under make check (tests/fuzz-config-replay), and
 * a crash file a fuzzing run saved, under gcc and a debugger.
 *
 * Owns: main().  Each argument is a file, or a directory whose files are
 * run in name order; with none, $PP_SRCDIR/tests/fuzz/corpus (make check
 * sets PP_SRCDIR), and then also checks that tests/fuzz/config.dict names
 * every key of the table.  The target abort()s on an oracle failure, after
 * printing the input; each file's name is printed before it runs.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "options.h"
#include "fuzz-target.h"

static size_t ran;

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t size = 0, cap = 0, n;

	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	do {
		if (size == cap) {
			unsigned char *more = realloc(buf, cap = cap ? 2 * cap : 4096);

			if (!more) {
				fprintf(stderr, "replay: %s: out of memory\n", path);
				fclose(f);
				free(buf);
				return -1;
			}
			buf = more;
		}
		n = fread(buf + size, 1, cap - size, f);
		size += n;
	} while (n);
	if (ferror(f)) {
		fprintf(stderr, "replay: %s: read error\n", path);
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	fprintf(stderr, "replay: %s (%zu bytes)\n", path, size);
	LLVMFuzzerTestOneInput(buf, size);
	free(buf);
	ran++;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir)
{
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int ret = 0;
	DIR *d = opendir(dir);

	if (!d) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **more = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof(*names));

			if (!more)
				abort();
			names = more;
		}
		if (!(names[n] = malloc(strlen(dir) + strlen(e->d_name) + 2)))
			abort();
		sprintf(names[n++], "%s/%s", dir, e->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		if (run_file(names[i]))
			ret = -1;
		free(names[i]);
	}
	free(names);
	return ret;
}

static int run_path(const char *path)
{
	struct stat st;

	if (stat(path, &st)) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return S_ISDIR(st.st_mode) ? run_dir(path) : run_file(path);
}

/* config.dict names every key of the table: "key=". */
static int check_dict(const char *path)
{
	static const char *const keys[] = {
#define KEY_NAME(name, kind, def, min, max, doc) #name,
		PP_OPTIONS(KEY_NAME)
#undef KEY_NAME
	};
	char text[16384], want[64];
	FILE *f = fopen(path, "r");
	size_t n;
	int ret = 0;

	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(want, sizeof(want), "\"%s=\"", keys[i]);
		if (!strstr(text, want)) {
			fprintf(stderr, "replay: %s lacks the key %s (add: key_%s=%s)\n", path,
				keys[i], keys[i], want);
			ret = -1;
		}
	}
	return ret;
}

int main(int argc, char **argv)
{
	char dflt[4096];
	int ret = 0;

	if (argc < 2) {		/* make check: the corpus, and the dictionary */
		const char *src = getenv("PP_SRCDIR");

		snprintf(dflt, sizeof(dflt), "%s/tests/fuzz/config.dict", src ? src : ".");
		ret = check_dict(dflt);
		snprintf(dflt, sizeof(dflt), "%s/tests/fuzz/corpus", src ? src : ".");
		if (run_path(dflt))
			ret = -1;
	}
	for (int i = 1; i < argc; i++)
		if (run_path(argv[i]))
			ret = -1;
	if (ret)
		return 1;
	if (!ran) {
		fprintf(stderr, "replay: no input files\n");
		return 1;
	}
	printf("replay: %zu inputs, the library and the model agree on each\n", ran);
	return 0;
}
