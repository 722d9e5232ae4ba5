/*
 * test_clock.c - lib/debug/clock.c: handle__now_ns() must never step
 * backwards in a thread, must stay ordered across threads (a value read
 * after another thread's read, in happens-before order, is not smaller
 * beyond TSC skew), and must stay within a few microseconds of
 * CLOCK_MONOTONIC over several re-anchorings (one a second) and in a fork
 * child. Whether the TSC is in use is printed; the properties hold either
 * way.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "debug/runtime.h"

static uint64_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CLOCK_MONOTONIC at handle__now_ns() == 0. */
static uint64_t origin;

static void set_origin(void)
{
    /* now_ns() is taken between two clock_gettime reads; the origin is
     * their midpoint minus now_ns(), from the narrowest of many brackets
     * (a preempted one would put it milliseconds off). */
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 1000; i++) {
        uint64_t a = mono(), n = handle__now_ns(), b = mono();
        if (b - a < best) {
            best = b - a;
            origin = a + (b - a) / 2 - n;
        }
    }
}

/* |handle__now_ns() - CLOCK_MONOTONIC| in ns, bracketing the read: the
 * smallest of a few tries (preemption between the reads only widens the
 * bracket, but the origin's own error is half a bracket). */
static uint64_t deviation(void)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 100; i++) {
        uint64_t a = mono(), n = handle__now_ns() + origin, b = mono();
        uint64_t d = n < a ? a - n : n > b ? n - b : 0;
        if (d < best)
            best = d;
    }
    return best;
}

static void spin_until(uint64_t until, uint64_t *last, uint64_t *calls)
{
    while (mono() < until) {
        uint64_t n = handle__now_ns();
        if (n < *last)
            fail_msg("handle__now_ns stepped back from %llu to %llu", (unsigned long long)*last,
                     (unsigned long long)n);
        *last = n;
        ++*calls;
    }
}

static void test_monotonic_and_close_through_reanchorings(void **state)
{
    (void)state;
    uint64_t last = 0, calls = 0, worst = 0;
    /* Past the 10 ms calibration, then 3.2 s: three re-anchorings. */
    spin_until(mono() + 20000000u, &last, &calls);
    set_origin();
    printf("# clock: %s\n", handle__clock_uses_tsc() ? "TSC" : "clock_gettime");
    for (int i = 0; i < 32; i++) {
        spin_until(mono() + 100000000u, &last, &calls);
        uint64_t d = deviation();
        if (d > worst)
            worst = d;
    }
    printf("# clock: %llu calls, worst deviation from CLOCK_MONOTONIC %llu ns\n",
           (unsigned long long)calls, (unsigned long long)worst);
    /* The calibration's own error is ~2e-6 (20 ns over 10 ms): a few µs a
     * second at first, less after. 200 µs leaves room for preemption
     * between the bracketing reads on a busy machine. */
    assert_true(worst < 200000u);
    assert_true(calls > 1000u);
}

/* Threads pass a token around: each reads the clock after receiving the
 * token (acquire) and publishes its reading with it (release); no reading
 * may be smaller than the one published before it. */
static _Atomic uint64_t token_ns;
static _Atomic int token_owner;
static _Atomic uint64_t backwards;
#define HOPS 2000

static void *hopper(void *arg)
{
    int me = (int)(intptr_t)arg;
    for (int hop = 0; hop < HOPS; hop++) {
        /* Yield while waiting: on a busy machine (or under TSan) both
         * threads may share one core. */
        while (atomic_load_explicit(&token_owner, memory_order_acquire) != me)
            sched_yield();
        uint64_t seen = atomic_load_explicit(&token_ns, memory_order_relaxed);
        uint64_t n = handle__now_ns();
        if (n + 100 < seen) /* allow 100 ns of TSC skew between CPUs */
            atomic_fetch_add(&backwards, 1);
        atomic_store_explicit(&token_ns, n > seen ? n : seen, memory_order_relaxed);
        atomic_store_explicit(&token_owner, 1 - me, memory_order_release);
    }
    return NULL;
}

static void test_ordered_across_threads(void **state)
{
    (void)state;
    pthread_t t[2];
    atomic_store(&token_owner, 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hopper, (void *)(intptr_t)i), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&backwards), 0);
}

/* Many threads reading while the anchor is replaced under them. */
static void *reader(void *arg)
{
    uint64_t until = *(const uint64_t *)arg, last = 0, calls = 0;
    spin_until(until, &last, &calls);
    return NULL;
}

static void test_readers_during_reanchoring(void **state)
{
    (void)state;
    uint64_t until = mono() + 1300000000u; /* crosses a re-anchoring */
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, reader, &until), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    set_origin();
    assert_true(deviation() < 200000u);
}

static void test_fork_child(void **state)
{
    (void)state;
    uint64_t before = handle__now_ns();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        handle__clock_fork_child();
        uint64_t last = handle__now_ns(), calls = 0;
        int bad = last < before;
        spin_until(mono() + 1100000000u, &last, &calls);
        set_origin();
        bad |= deviation() >= 200000u;
        _exit(bad);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_monotonic_and_close_through_reanchorings),
        cmocka_unit_test(test_ordered_across_threads),
        cmocka_unit_test(test_readers_during_reanchoring),
        cmocka_unit_test(test_fork_child),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
