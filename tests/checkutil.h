/* SPDX-License-Identifier: MIT */
/*
 * checkutil.h - what every Check test program here needs, whatever it
 * links: suites with a timeout, word search in messages, stderr captured in
 * this process or in a forked child, and wait statuses in words.  No
 * pagepool header: test_preload, which reaches the pool only through the
 * LD_PRELOAD shim, uses it as the white-box suites do (via testutil.h).
 */
#ifndef PP_CHECKUTIL_H
#define PP_CHECKUTIL_H

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define TEST_TIMEOUT 60	/* seconds per test: sanitizer builds are slow */

static inline TCase *new_tcase(const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, TEST_TIMEOUT);
	return tc;
}

static inline int run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* ---- text checks ------------------------------------------------------ */

static inline bool ident_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '_';
}

/* @word occurs in @text as a whole identifier / number. */
static inline bool has_word(const char *text, const char *word)
{
	size_t n = strlen(word);

	for (const char *s = text; (s = strstr(s, word)) != NULL; s++)
		if ((s == text || !ident_char(s[-1])) && !ident_char(s[n]))
			return true;
	return false;
}

/* ---- stderr capture: in this process, or in a forked child ------------ */

struct capture {
	FILE *f;
	int saved;
};

/* Send this process's stderr to a temporary file until capture_end(). */
static inline void capture_begin(struct capture *c)
{
	fflush(stderr);
	c->f = tmpfile();
	ck_assert_ptr_nonnull(c->f);
	c->saved = dup(STDERR_FILENO);
	ck_assert_int_ge(c->saved, 0);
	ck_assert_int_ge(dup2(fileno(c->f), STDERR_FILENO), 0);
}

static inline void capture_end(struct capture *c, char *buf, size_t len)
{
	size_t n;

	fflush(stderr);
	ck_assert_int_ge(dup2(c->saved, STDERR_FILENO), 0);
	close(c->saved);
	rewind(c->f);
	n = fread(buf, 1, len - 1, c->f);
	buf[n] = '\0';
	fclose(c->f);
}

struct child {
	int status;		/* from waitpid() */
	size_t len;
	char err[32768];	/* what the child wrote on stderr */
};

/*
 * run_child() - run @fn in a forked child (no core dump) with its stderr
 * captured in @c; if @fn returns, the child writes @after (if not NULL) on
 * stderr and exits 0.
 */
static inline void run_child(void (*fn)(void), struct child *c, const char *after)
{
	int fds[2];
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core);
		close(fds[0]);
		if (dup2(fds[1], STDERR_FILENO) < 0)
			_exit(99);
		close(fds[1]);
		fn();
		if (after)
			dprintf(STDERR_FILENO, "%s", after);
		_exit(0);
	}
	close(fds[1]);
	c->len = 0;
	for (;;) {
		char sink[512];
		ssize_t k;

		if (c->len < sizeof(c->err) - 1)
			k = read(fds[0], c->err + c->len, sizeof(c->err) - 1 - c->len);
		else
			k = read(fds[0], sink, sizeof(sink));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		if (c->len < sizeof(c->err) - 1)
			c->len += (size_t)k;
	}
	c->err[c->len] = '\0';
	close(fds[0]);
	while (waitpid(pid, &c->status, 0) < 0)
		ck_assert_int_eq(errno, EINTR);
}

/* A wait status in words, for failure messages. */
static inline void describe(int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else
		snprintf(buf, len, "status %#x", status);
}

#endif /* PP_CHECKUTIL_H */
