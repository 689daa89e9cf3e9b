/* SPDX-License-Identifier: MIT */
/*
 * os.c - every system call libpagepool makes, and nothing else.
 *
 * Owns: reserving the arena's virtual range, committing parts of it, writing
 * to stderr, aborting.  Keeping them here makes "the try path never enters
 * the kernel" checkable from the includes: no other file includes
 * <sys/mman.h> or <unistd.h>.  (Locks may reach the kernel through futex;
 * they live in buddy.c and the try and free paths do not take them.)
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <fcntl.h>
#include <linux/membarrier.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

size_t pp_os_page_size(void)
{
	long ps = sysconf(_SC_PAGESIZE);	/* from the auxv: no system call */

	return ps > 0 ? (size_t)ps : 4096;
}

/* CPUs this process may run on (its affinity mask); 1 if unknown. */
size_t pp_os_ncpus(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (size_t)CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (size_t)n : 1;
}

/*
 * Fault injection, for tests only (tests/test_faults.c): each system call
 * that can fail can be made to - the Nth call from now, then @count in a
 * row, and/or each call with a probability - and returns what the real
 * call returns on failure, with the errno asked for.  Off, it costs a load
 * and a branch per system call; the try path makes none.
 */
struct fault {
	unsigned skip;		/* calls to let through first */
	unsigned count;		/* then fail this many */
	uint64_t chance;	/* and fail each with chance / 2^32 (2^32: always) */
	int err;
	size_t calls;		/* calls made (counted with faults off too) */
};
static struct fault faults[PP_OS_NCALLS];
static uint64_t fault_rng = 0x9e3779b97f4a7c15u;

void pp_os_fault_set(enum pp_os_call call, unsigned skip, unsigned count,
		     unsigned per_million, int err)
{
	struct fault *f = &faults[call];

	store_relaxed(&f->err, err);
	store_relaxed(&f->skip, skip);
	if (per_million > 1000000)
		per_million = 1000000;
	store_relaxed(&f->chance, ((uint64_t)per_million << 32) / 1000000u);
	store_relaxed(&f->count, count);
}

void pp_os_fault_clear(void)
{
	for (unsigned c = 0; c < PP_OS_NCALLS; c++)
		pp_os_fault_set((enum pp_os_call)c, 0, 0, 0, 0);
}

size_t pp_os_fault_calls(enum pp_os_call call)
{
	return load_relaxed(&faults[call].calls);
}

/* Decrement *@n unless it is 0; whether it was not. */
static bool take_one(unsigned *n)
{
	unsigned v = load_relaxed(n);

	while (v && !__atomic_compare_exchange_n(n, &v, v - 1, true, __ATOMIC_RELAXED,
						 __ATOMIC_RELAXED))
		;
	return v != 0;
}

/* Should this call of @call fail?  Sets errno when it should. */
static bool fault(enum pp_os_call call)
{
	struct fault *f = &faults[call];
	bool fail = false;

	__atomic_fetch_add(&f->calls, 1, __ATOMIC_RELAXED);
	if (likely(!load_relaxed(&f->count) && !load_relaxed(&f->chance)))
		return false;
	if (load_relaxed(&f->count) && !take_one(&f->skip))
		fail = take_one(&f->count);
	if (!fail && load_relaxed(&f->chance)) {
		/* xorshift64, shared: a race only repeats a draw */
		uint64_t x = load_relaxed(&fault_rng);

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		store_relaxed(&fault_rng, x);
		fail = (uint64_t)(uint32_t)x < load_relaxed(&f->chance);
	}
	if (fail)
		errno = load_relaxed(&f->err) ? load_relaxed(&f->err) : ENOMEM;
	return fail;
}

/*
 * pp_os_reserve() - reserve @size bytes of address space aligned to @align
 * (a power of two), inaccessible and without commit charge.
 */
void *pp_os_reserve(size_t size, size_t align)
{
	size_t len = size + align;
	char *raw, *p;

	if (fault(PP_OS_RESERVE))
		return NULL;
	if (len < size) {
		errno = ENOMEM;
		return NULL;
	}
	raw = mmap(NULL, len, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	p = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
	/* Give back the slack on both sides. */
	if (p > raw)
		munmap(raw, (size_t)(p - raw));
	if (raw + len > p + size)
		munmap(p + size, (size_t)(raw + len - (p + size)));
	return p;
}

/* Give back a reservation (a failed start-up's). */
void pp_os_unreserve(void *addr, size_t size)
{
	if (!fault(PP_OS_UNRESERVE))
		munmap(addr, size);	/* a failure leaves address space only */
}

/*
 * pp_os_as_headroom() - bytes of address space this process may still map
 * under RLIMIT_AS (ulimit -v), or SIZE_MAX with no limit: the limit less
 * what is mapped now (/proc/self/statm's first field; when it cannot be
 * read, nothing is taken as mapped).  A PROT_NONE reservation counts in
 * full against the limit.  System calls only: no stdio, no malloc.
 */
size_t pp_os_as_headroom(void)
{
	struct rlimit rl;
	char buf[64];
	size_t used = 0;
	ssize_t n;
	int fd;

	if (fault(PP_OS_HEADROOM) || getrlimit(RLIMIT_AS, &rl) || rl.rlim_cur == RLIM_INFINITY)
		return SIZE_MAX;
	fd = fault(PP_OS_HEADROOM) ? -1 : open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
			used = used * 10 + (size_t)(buf[i] - '0');
		used *= pp_os_page_size();
	}
	return rl.rlim_cur > used ? (size_t)(rl.rlim_cur - used) : 0;
}

/*
 * pp_os_commit() - make [@addr, @addr+@size) of a reservation readable and
 * writable, charged against the commit limit (so a strict-overcommit system
 * refuses here, with ENOMEM, rather than at first touch).
 */
int pp_os_commit(void *addr, size_t size)
{
	void *p;

	if (fault(PP_OS_COMMIT))
		return -1;
	p = mmap(addr, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

	return p == MAP_FAILED ? -1 : 0;
}

/* Commit @size bytes at @addr backed by huge pages (hugetlbfs); -1 if none. */
int pp_os_commit_huge(void *addr, size_t size)
{
	void *p;

	if (fault(PP_OS_COMMIT_HUGE))
		return -1;
	p = mmap(addr, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_HUGETLB, -1, 0);

	return p == MAP_FAILED ? -1 : 0;
}

/* Ask for transparent huge pages on a committed range; -1 with errno. */
int pp_os_advise_huge(void *addr, size_t size)
{
	return fault(PP_OS_ADVISE_HUGE) ? -1 : madvise(addr, size, MADV_HUGEPAGE);
}

/* Lock a committed range in memory (faulting it in); -1 with errno. */
int pp_os_lock(void *addr, size_t size)
{
	return fault(PP_OS_LOCK) ? -1 : mlock(addr, size);
}

/*
 * Fault a committed range in for writing, so that touching it later takes
 * no page fault: MADV_POPULATE_WRITE (Linux 5.14), else a write to each
 * page (of its own value: nothing is written that was not there).
 */
PP_TRACK_UNCHECKED void pp_os_populate(void *addr, size_t size)
{
#ifdef MADV_POPULATE_WRITE
	if (!fault(PP_OS_POPULATE) && madvise(addr, size, MADV_POPULATE_WRITE) == 0)
		return;
#endif
	pp_track_quiet(true);	/* free pages: no access for the user (track.h) */
	for (size_t off = 0; off < size; off += pp_g.page_size) {
		volatile char *c = (volatile char *)addr + off;

		*c = *c;
	}
	pp_track_quiet(false);
}

/*
 * Give a free range's memory back to the OS; it stays mapped and reads as
 * zero (MADV_DONTNEED) or as before until reclaimed (MADV_FREE, @lazy).
 * 0, or -1 with errno when the OS kept it.
 */
int pp_os_release(void *addr, size_t size, bool lazy)
{
	if (fault(PP_OS_RELEASE))
		return -1;
	return madvise(addr, size, lazy ? MADV_FREE : MADV_DONTNEED);
}

/*
 * Register for MEMBARRIER_CMD_PRIVATE_EXPEDITED (at start-up, and in a fork
 * child: the registration is the process's).  0, or -1 with errno: ENOSYS
 * (Linux < 4.14), EINVAL (not offered), EPERM (seccomp).
 */
int pp_os_membarrier_register(void)
{
	long cmds;

	if (fault(PP_OS_MEMBARRIER))
		return -1;
	cmds = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
	if (cmds < 0)
		return -1;
	if (!(cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED)) {
		errno = EINVAL;
		return -1;
	}
	return (int)syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0);
}

/* A full memory barrier on every running thread of the process (an IPI). */
int pp_os_membarrier(void)
{
	if (fault(PP_OS_MEMBARRIER))
		return -1;
	return (int)syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
}

/* Monotonic milliseconds; clock_gettime() is a vDSO call, no system call. */
size_t pp_os_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (size_t)ts.tv_sec * 1000 + (size_t)ts.tv_nsec / 1000000;
}

/*
 * pp_os_coarse_ms() - monotonic milliseconds at the kernel tick's
 * resolution (1-4 ms): CLOCK_MONOTONIC_COARSE is read by the vDSO from its
 * data page, with neither a system call nor the TSC - so it works where
 * strict seccomp has disabled the TSC (test_tcache's child proves it on
 * the drain path).  For the idle clock of the caches (reclaim.c).
 */
size_t pp_os_coarse_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (size_t)ts.tv_sec * 1000 + (size_t)ts.tv_nsec / 1000000;
}

/*
 * pp_os_now_ns() - monotonic nanoseconds, for the global lock's hold times
 * (stats=1, lock.c); a vDSO call like pp_os_now_ms(), no system call where
 * the clock source has a vDSO reader.
 */
uint64_t pp_os_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CLOCK_REALTIME @ms from now, for pthread_mutex_timedlock() (buddy.c). */
void pp_os_deadline(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_nsec += (long)ms * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec += ts->tv_nsec / 1000000000L;
		ts->tv_nsec %= 1000000000L;
	}
}

/* The program's name (glibc's program_invocation_short_name: no call). */
const char *pp_os_progname(void)
{
	return program_invocation_short_name;
}

int pp_os_getpid(void)
{
	return (int)getpid();
}

/* Sleep about @ms milliseconds (EINTR ends it early). */
void pp_os_sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	if (!fault(PP_OS_SLEEP))	/* failing: as if a signal ended it at once */
		nanosleep(&ts, NULL);
}

/*
 * stats=1's stderr.  Programs close stderr before they exit (ls, sort) and
 * may reuse the number for a data file, so the file fd 2 was at start-up is
 * remembered, and the summary at exit goes to fd 2 while it is still that
 * file, else to a copy made at start-up (close-on-exec) while that is, else
 * nowhere.  The copy is made only of a terminal or a regular file: a copy
 * of a pipe or socket would hold it open in a daemon's children, and keep
 * the reader of $(prog 2>&1) waiting.
 */
static int err_fd = STDERR_FILENO;	/* where messages go now */
static int kept_fd = -1;
static bool kept_known;
static dev_t kept_dev;
static ino_t kept_ino;

void pp_os_keep_stderr(void)
{
	struct stat st;

	if (kept_known)
		return;		/* once: the stderr of the first start-up try */
	kept_known = true;
	if (fault(PP_OS_KEEP_STDERR) || fstat(STDERR_FILENO, &st))
		return;		/* closed at start-up: nothing matches it later */
	kept_dev = st.st_dev;
	kept_ino = st.st_ino;
	if (S_ISREG(st.st_mode) || S_ISCHR(st.st_mode))
		kept_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
}

static bool is_kept_file(int fd)
{
	struct stat st;

	return fd >= 0 && !fstat(fd, &st) && st.st_dev == kept_dev && st.st_ino == kept_ino;
}

/*
 * Send messages to stderr as it was at start-up (@on), or back to fd 2.
 * False, and nothing is written until switched back, when neither fd 2
 * nor the copy is that file now.  (Other threads' messages meanwhile go
 * the same way.)
 */
bool pp_os_to_kept_stderr(bool on)
{
	int fd = STDERR_FILENO;

	if (on && kept_known && !is_kept_file(STDERR_FILENO))
		fd = is_kept_file(kept_fd) ? kept_fd : -1;
	store_relaxed(&err_fd, fd);
	return fd >= 0;
}

/* Async-signal-safe; a short write is retried, an error dropped. */
void pp_os_write_err(const char *buf, size_t len)
{
	int saved = errno;
	int fd = load_relaxed(&err_fd);

	if (fd < 0)
		return;
	while (len > 0) {
		ssize_t n = fault(PP_OS_WRITE_ERR) ? -1 : write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		buf += n;
		len -= (size_t)n;
	}
	errno = saved;
}

void pp_os_abort(void)
{
	abort();
}
