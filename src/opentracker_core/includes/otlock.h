/* The store's locks and the few relaxed atomics its shared fields need, for
   workers that share one store (docs/architecture.md, "The store with
   several workers").

   ot_lock is a futex lock (U. Drepper, "Futexes Are Tricky", mutex 2, with
   a short spin first): one int, 0 free, 1 held, 2 held and a taker may be
   asleep on it. Why not pthread_mutex_t: taking a free lock here is one
   inline compare-and-swap and giving it back one exchange, where glibc's
   pthread_mutex_lock/unlock pair is two calls through the type dispatch
   and the owner bookkeeping (about 70 instructions more per request,
   measured in bench/README.md); and it is 4 bytes, not 24-40, so a
   lock group with its counters fits one cache line. Why not a plain
   spinlock: a holder that lost its CPU (more workers than cores, a router
   under load) would make every taker spin away its time slice; here a
   taker spins about a microsecond (a group is held for a few hundred
   nanoseconds) and then sleeps in the kernel until the holder wakes it.

   Only 32-bit atomics on an int and the futex system call: MIPS32 (ll/sc),
   ARMv7 (ldrex/strex) and every other OpenWrt target have both, with musl
   and without libatomic. Linux only, as the rest of the core (epoll).
   ThreadSanitizer sees the acquire and release of the atomics, so it knows
   what a lock orders without knowing the futex. */
#ifndef OT_LOCK_H
#define OT_LOCK_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* syscall(); Python.h, included first in the core, defines it too */
#endif
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/syscall.h>

#if defined(SYS_futex)
#define OT_SYS_FUTEX SYS_futex
#elif defined(SYS_futex_time64)
/* 32-bit targets whose libc knows only the time64 call; no timeout is
   passed, so either call does. */
#define OT_SYS_FUTEX SYS_futex_time64
#else
#error "otlock.h needs the futex system call"
#endif
#define OT_FUTEX_WAIT_PRIVATE 128   /* FUTEX_WAIT | FUTEX_PRIVATE_FLAG */
#define OT_FUTEX_WAKE_PRIVATE 129   /* FUTEX_WAKE | FUTEX_PRIVATE_FLAG */
/* Looks at a held lock before sleeping: about a microsecond, longer than a
   group is held for an announce. */
#define OT_LOCK_SPINS 100

typedef struct {
    int v;
} ot_lock;

static inline void ot_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

/* The slow path, out of line so the fast path stays a few instructions. */
static __attribute__((noinline)) void ot_lock_wait(ot_lock *l) {
    int i, c;
    for (i = 0; i < OT_LOCK_SPINS; i++) {
        ot_cpu_relax();
        c = 0;
        if (__atomic_load_n(&l->v, __ATOMIC_RELAXED) == 0
            && __atomic_compare_exchange_n(&l->v, &c, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return;
    }
    /* Marked 2, the holder's give wakes a sleeper; whoever takes it this way
       keeps the mark, since others may sleep still (one spare wake at most). */
    while (__atomic_exchange_n(&l->v, 2, __ATOMIC_ACQUIRE) != 0)
        syscall(OT_SYS_FUTEX, &l->v, OT_FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
}

static __attribute__((noinline)) void ot_lock_wake(ot_lock *l) {
    syscall(OT_SYS_FUTEX, &l->v, OT_FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Take the lock; 1 when it was held by another (a wait), else 0, so the
   caller can count contention under the lock it now holds. */
static inline __attribute__((always_inline)) int ot_lock_take(ot_lock *l) {
    int c = 0;
    if (__builtin_expect(__atomic_compare_exchange_n(&l->v, &c, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED), 1))
        return 0;
    ot_lock_wait(l);
    return 1;
}

static inline __attribute__((always_inline)) void ot_lock_give(ot_lock *l) {
    if (__builtin_expect(__atomic_exchange_n(&l->v, 0, __ATOMIC_RELEASE) == 2, 0))
        ot_lock_wake(l);
}

/* A 32-bit field written by one and read by many without a lock (the
   store's clock in minutes): a plain load or store on every target, but
   one that neither the compiler nor ThreadSanitizer takes for a race. */
static inline uint32_t ot_relaxed_load32(const uint32_t *p) {
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void ot_relaxed_store32(uint32_t *p, uint32_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}
#endif
