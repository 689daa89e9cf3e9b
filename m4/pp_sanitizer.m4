# pp_sanitizer.m4 - PP_ARG_SANITIZER: --enable-sanitizer=address|thread
#
# Sets SAN_CFLAGS (used for compiling and linking everything) and the
# automake conditionals PP_SANITIZER and PP_TSAN.  address means
# AddressSanitizer + UndefinedBehaviorSanitizer with no recovery, so any
# report fails the test that triggered it.
AC_DEFUN([PP_ARG_SANITIZER], [
AC_ARG_ENABLE([sanitizer],
  [AS_HELP_STRING([--enable-sanitizer=KIND],
    [build with sanitizers: address (AddressSanitizer + UndefinedBehaviorSanitizer) or thread (ThreadSanitizer)])],
  [], [enable_sanitizer=no])
SAN_CFLAGS=
AS_CASE([$enable_sanitizer],
  [no], [],
  [address|asan], [enable_sanitizer=address
    SAN_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"],
  [thread|tsan], [enable_sanitizer=thread
    SAN_CFLAGS="-fsanitize=thread -fno-omit-frame-pointer"],
  [AC_MSG_ERROR([--enable-sanitizer takes address or thread, not '$enable_sanitizer'])])
AC_SUBST([SAN_CFLAGS])
AM_CONDITIONAL([PP_SANITIZER], [test "x$enable_sanitizer" != xno])
AM_CONDITIONAL([PP_TSAN], [test "x$enable_sanitizer" = xthread])
])
