/* The worker threads' few needs from the C library, kept out of Cython so
   that the loop's code stays plain (docs/architecture.md, "Worker loops").

   - ot_thread_start: a thread that takes no signal. CPython runs its
     handlers in the main thread, which serves worker 0's loop; a signal
     delivered to a worker thread instead would not interrupt that loop's
     epoll_wait, so every signal is blocked in the workers (the new thread
     inherits the mask in force at pthread_create; the caller's is put back).
   - The acquire/release pair of the pause (world_pause in workers.pyx): the
     parked count and the pause word, so ThreadSanitizer and the CPU both
     order what Python changed before the workers read it again.
   - An eventfd per worker: Python's way to wake a worker out of epoll_wait. */
#ifndef OT_THREAD_H
#define OT_THREAD_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include "otlock.h"

typedef void *(*ot_thread_fn)(void *);

/* 0, or the error number of pthread_create. The thread is named (`top -H`,
   /proc/PID/task/TID/comm: what the benchmark caps and a router owner sees). */
static int ot_thread_start(ot_thread_fn fn, void *arg, const char *name, uint64_t *id) {
    pthread_t t;
    sigset_t all, old;
    int rc;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0) {
#if defined(__GLIBC__) || defined(__linux__)
        pthread_setname_np(t, name);
#endif
        *id = (uint64_t)t;
    }
    return rc;
}

static int ot_thread_join(uint64_t id) {
    return pthread_join((pthread_t)id, NULL);
}

static inline int ot_acquire_load(const int *p) {
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void ot_release_store(int *p, int v) {
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline int ot_release_add(int *p, int v) {
    return __atomic_add_fetch(p, v, __ATOMIC_ACQ_REL);
}

/* Sleep while *p == v (a futex wait; returns at once when it differs). */
static void ot_futex_wait(int *p, int v) {
    syscall(OT_SYS_FUTEX, p, OT_FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}

static void ot_futex_wake_all(int *p) {
    syscall(OT_SYS_FUTEX, p, OT_FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
}

static void ot_sleep_us(long us) {
    struct timespec ts;
    ts.tv_sec = us / 1000000;
    ts.tv_nsec = (us % 1000000) * 1000;
    nanosleep(&ts, NULL);
}

static int ot_eventfd(void) {
    return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

static void ot_eventfd_kick(int fd) {
    uint64_t one = 1;
    ssize_t r = write(fd, &one, 8);   /* a full counter already wakes it */
    (void)r;
}
#endif
