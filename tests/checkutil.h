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
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define TEST_TIMEOUT 60	/* seconds per test: sanitizer builds are slow */

/* Built with ThreadSanitizer (gcc's macro, or clang's feature test). */
#if defined(__SANITIZE_THREAD__)
#define PP_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PP_TEST_TSAN 1
#endif
#endif
#ifndef PP_TEST_TSAN
#define PP_TEST_TSAN 0
#endif

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

/*
 * ---- children that must (not) abort ------------------------------------
 *
 * A run_child() child does its setup, calls mark() with the address the
 * next (bad) call is about, then makes that call; the parent looks at what
 * follows the mark.
 */

/* In the child: announce the address the next (bad) call is about. */
static inline void mark(const void *p)
{
	dprintf(STDERR_FILENO, "@@ADDR %p\n", p);
}

/* Text after the @@ADDR marker; the address into @addr. */
static inline const char *after_mark(const struct child *c, char *addr, size_t len)
{
	const char *m = strstr(c->err, "@@ADDR ");
	const char *nl;
	size_t n;

	ck_assert_msg(m != NULL, "child did not reach the bad call; stderr: \"%.800s\"",
		      c->err);
	m += strlen("@@ADDR ");
	nl = strchr(m, '\n');
	ck_assert_ptr_nonnull(nl);
	n = (size_t)(nl - m);
	ck_assert_uint_lt(n, len);
	memcpy(addr, m, n);
	addr[n] = '\0';
	return nl + 1;
}

/*
 * @fn must die of SIGABRT after its mark, with a message naming @call (if
 * not NULL), containing @word (if not NULL) and, if @with_addr, the address.
 */
static inline void expect_abort(void (*fn)(void), const char *call, const char *word,
				bool with_addr)
{
	const char *name = call ? call : "the call";
	struct child c;
	char addr[64], how[128];
	const char *tail;

	run_child(fn, &c, "@@SURVIVED\n");
	describe(c.status, how, sizeof(how));
	ck_assert_msg(!(WIFSIGNALED(c.status) && WTERMSIG(c.status) == SIGALRM),
		      "%s: the child hung (killed by its alarm) instead of reporting "
		      "and aborting; stderr: \"%.800s\"", name, c.err);
	tail = after_mark(&c, addr, sizeof(addr));
	ck_assert_msg(WIFSIGNALED(c.status) && WTERMSIG(c.status) == SIGABRT,
		      "%s(%s): child %s, want SIGABRT; stderr: \"%.800s\"", name, addr, how,
		      c.err);
	if (call)
		ck_assert_msg(has_word(tail, call), "%s(%s) aborted without naming %s: "
			      "\"%.800s\"", name, addr, name, tail);
	if (word)
		ck_assert_msg(strstr(tail, word) != NULL,
			      "%s(%s) aborted without saying \"%s\": \"%.800s\"", name, addr,
			      word, tail);
	if (with_addr)
		ck_assert_msg(has_word(tail, addr), "%s(%s) aborted without printing the "
			      "address %s: \"%.800s\"", name, addr, addr, tail);
}

/* @fn must return normally, printing nothing after its mark. */
static inline void expect_survive(void (*fn)(void), const char *what)
{
	struct child c;
	char addr[64], how[128];
	const char *tail;

	run_child(fn, &c, "@@SURVIVED\n");
	describe(c.status, how, sizeof(how));
	tail = after_mark(&c, addr, sizeof(addr));
	ck_assert_msg(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0,
		      "%s (%s): child %s; stderr: \"%.800s\"", what, addr, how, c.err);
	ck_assert_msg(strcmp(tail, "@@SURVIVED\n") == 0, "%s (%s) printed: \"%.800s\"",
		      what, addr, tail);
}

/*
 * ---- a child under strict seccomp ---------------------------------------
 *
 * Strict seccomp allows read, write, exit and sigreturn only; any other
 * system call kills the process with SIGKILL.  Such a child reports with
 * write() (NS_FAIL returns 1 from the function it is in) and leaves with
 * SYS_exit (exit_group is forbidden).
 */
static inline void ns_say(const char *msg)
{
	ssize_t r = write(2, msg, strlen(msg));

	(void)r;
}

#define NS_FAIL(msg) do { ns_say("nosys child: " msg "\n"); return 1; } while (0)

/*
 * A macro, not a noreturn function: ASan instruments a call to one with
 * __asan_handle_no_return(), which calls sigaltstack() - a system call.
 */
#define sys_exit(code) do {			\
		syscall(SYS_exit, (code));	\
		for (;;)			\
			;			\
	} while (0)

/*
 * nosys_fork() - fork a child that runs @warm (before seccomp: commit
 * memory, bind lazily bound symbols; exit 2 if it returns non-zero), enters
 * strict seccomp (exit 3 if it cannot), makes a forbidden system call if
 * @violate (SIGKILL), then leaves with @run's result (0: every check held).
 * Returns in the parent only: fork()'s result.
 */
static inline pid_t nosys_fork(int (*warm)(void), int (*run)(void), bool violate)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		if (warm() != 0)
			sys_exit(2);
		if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0) != 0)
			sys_exit(3);
		if (violate)
			syscall(SYS_getpid);
		sys_exit(run());
	}
	return pid;
}

#endif /* PP_CHECKUTIL_H */
