/* SPDX-License-Identifier: MIT */
/*
 * compiler.h - compiler attributes and atomics, for libpagepool and
 * libpagepool-rcu alike.
 *
 * Owns: branch hints, symbol visibility, and the spelling of every atomic
 * access the two libraries make.  Atomics are the compiler's __atomic
 * builtins, not liburcu's uatomic, because ThreadSanitizer instruments the
 * builtins and cannot see uatomic's inline assembly; the concurrent suites
 * run under TSan.
 */
#ifndef PP_COMPILER_H
#define PP_COMPILER_H

#include <stddef.h>
#include <stdint.h>

#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)

#define PP_HIDDEN	__attribute__((visibility("hidden")))
#define PP_NORETURN	__attribute__((noreturn))

/* Built with ThreadSanitizer (gcc's macro, or clang's feature test). */
#if defined(__SANITIZE_THREAD__)
#define PP_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PP_TSAN 1
#endif
#endif

#define load_relaxed(p)		__atomic_load_n((p), __ATOMIC_RELAXED)
#define store_relaxed(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define load_acquire(p)		__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define store_release(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define exchange_acq_rel(p, v)	__atomic_exchange_n((p), (v), __ATOMIC_ACQ_REL)

/*
 * Single-writer counter bump (a size_t), read by others with load_relaxed().
 * On x86-64 one add to memory, as the kernel's this_cpu_add(): an aligned
 * 8-byte store cannot tear, and a signal handler sees the count before or
 * after it; in asm, because the compiler emits three instructions for an
 * atomic load, add and store.  Elsewhere (x32's 4-byte size_t, other
 * architectures, ThreadSanitizer builds, which cannot see into asm and
 * check the C form) exactly that relaxed load/store.
 */
#if defined(__x86_64__) && __SIZEOF_SIZE_T__ == 8 && !defined(PP_TSAN)
#define bump(p, n) \
	__asm__ volatile("addq %1, %0" : "+m"(*(p)) : "er"((size_t)(n)))
#else
#define bump(p, n)		store_relaxed((p), load_relaxed(p) + (n))
#endif

/* Orders against a signal handler on this thread only: no fence instruction. */
#define signal_barrier()	__atomic_signal_fence(__ATOMIC_SEQ_CST)

static inline uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

#endif /* PP_COMPILER_H */
