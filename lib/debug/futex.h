/*
 * futex.h - waiting on a 32-bit word without a lock (Linux futexes,
 * process-private), for the trace's ring and writer and for the
 * lifecycle's one-time trace opening. A leaf; both calls keep errno.
 */
#ifndef HANDLE_DEBUG_FUTEX_H
#define HANDLE_DEBUG_FUTEX_H

#include <errno.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Sleeps on *addr while it equals val, at most timeout_ns. */
static inline void handle__futex_wait(_Atomic uint32_t *addr, uint32_t val, uint64_t timeout_ns)
{
    int saved = errno;
    struct timespec ts = {(time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u)};
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
    errno = saved;
}

/* Wakes up to n threads sleeping on addr. */
static inline void handle__futex_wake(_Atomic uint32_t *addr, int n)
{
    int saved = errno;
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
    errno = saved;
}

#endif
