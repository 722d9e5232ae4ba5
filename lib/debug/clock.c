/*
 * clock.c - the debug runtime's clock: handle__now_ns(), nanoseconds since
 * the library started, on CLOCK_MONOTONIC's time base.
 *
 * Every handle lifetime reads the clock twice (created, deleted), so its
 * cost is on the hot path: clock_gettime costs 25-35 ns on the 2-core KVM
 * machine the benchmarks run on, rdtsc 11-16 ns. Where the CPU has an
 * invariant TSC (CPUID 0x80000007 EDX bit 8: constant rate, ticking in
 * every C-state, as the kernel's tsc clocksource itself requires) and a
 * short probe at start-up finds rdtsc cheaper than clock_gettime, the
 * clock reads the TSC and converts it:
 *
 *   ns = base.ns + (tsc - base.tsc) * base.mult / 2^32
 *
 * The first 10 ms after start-up use clock_gettime while the TSC's rate is
 * measured against it. After that, whichever thread first finds the anchor
 * older than about a second takes a fresh (TSC, CLOCK_MONOTONIC) pair and
 * publishes a new anchor (seqlock; readers never wait, and a thread that
 * finds another one re-anchoring uses the old anchor). The rate is measured
 * over the whole run so far, so it grows more exact the longer the
 * program runs; each anchor's rate is nudged so that the mapping meets
 * CLOCK_MONOTONIC again one period later, and the mapping never steps
 * backwards: a new anchor starts at the later of CLOCK_MONOTONIC and the
 * old mapping. The error against CLOCK_MONOTONIC stays within a few
 * microseconds (tests/unit/test_clock.c checks both properties).
 *
 * Elsewhere (no invariant TSC, not x86-64, rdtsc trapped by a hypervisor,
 * HANDLE__CLOCK_NO_TSC) it is clock_gettime(CLOCK_MONOTONIC).
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "model.h"

#if defined(__x86_64__) && !defined(HANDLE__CLOCK_NO_TSC)
#include <cpuid.h>
#include <x86intrin.h>
#define HAVE_TSC 1
#else
#define HAVE_TSC 0
#endif

static uint64_t mono_start, unix_start;

static uint64_t ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#if HAVE_TSC

#define CALIBRATE_NS 10000000u /* 10 ms of clock_gettime before the TSC */
#define PERIOD_NS 1000000000u  /* re-anchor about once a second */

enum { MODE_CLOCK, MODE_CALIBRATING, MODE_TSC };

static _Atomic int mode; /* MODE_CLOCK until clock_init decides */
static uint64_t cal_tsc, cal_ns; /* the calibration origin (CLOCK_MONOTONIC ns) */

/* The anchor, under a seqlock: even seq is stable. */
static _Atomic uint32_t seq;
static _Atomic uint64_t a_tsc, a_ns, a_mult, a_period;
static _Atomic bool anchoring; /* a thread is taking a new anchor */

/* A (TSC, CLOCK_MONOTONIC) pair taken as close together as possible: the
 * TSC halfway between two reads around clock_gettime (for the rate), and
 * the TSC read before it (*before, for an anchor: every CLOCK_MONOTONIC
 * value returned before the anchor is published is then at most what the
 * anchor maps any later TSC read to). */
static void sample(uint64_t *tsc, uint64_t *mono, uint64_t *before)
{
    uint64_t t0 = __rdtsc();
    *mono = ns(CLOCK_MONOTONIC);
    uint64_t t1 = __rdtsc();
    *tsc = t0 + (t1 - t0) / 2;
    if (before)
        *before = t0;
}

/* ns = a + (tsc - t) * mult / 2^32, for tsc on either side of t. */
static inline uint64_t map(uint64_t tsc, uint64_t t, uint64_t a, uint64_t mult)
{
    if (HANDLE__LIKELY(tsc >= t))
        return a + (uint64_t)(((unsigned __int128)(tsc - t) * mult) >> 32);
    uint64_t back = (uint64_t)(((unsigned __int128)(t - tsc) * mult) >> 32);
    return back < a ? a - back : 0;
}

/* Takes a new anchor (called by the one thread that won `anchoring`). */
static void reanchor(void)
{
    uint64_t mid, mono, t;
    sample(&mid, &mono, &t);
    if (mid <= cal_tsc || mono <= cal_ns)
        return; /* the TSC went backwards: keep the old anchor */
    /* The rate over the whole run: ns per tick, 32.32 fixed point. */
    unsigned __int128 rate = ((unsigned __int128)(mono - cal_ns) << 32) / (mid - cal_tsc);
    if (rate == 0 || rate > ((unsigned __int128)1 << 40))
        return;
    uint64_t base = mono;
    if (atomic_load_explicit(&mode, memory_order_relaxed) == MODE_TSC) {
        uint64_t old = map(t, atomic_load_explicit(&a_tsc, memory_order_relaxed),
                           atomic_load_explicit(&a_ns, memory_order_relaxed),
                           atomic_load_explicit(&a_mult, memory_order_relaxed));
        if (old > base)
            base = old; /* never step backwards */
    }
    /* Meet CLOCK_MONOTONIC again one period from now: slow the rate down
     * by what the mapping is ahead (a few microseconds at most), by no
     * more than 1/1000. */
    uint64_t period = (uint64_t)(((unsigned __int128)PERIOD_NS << 32) / rate);
    unsigned __int128 mult = rate;
    uint64_t ahead = base - mono;
    if (ahead > 0 && period > 0) {
        unsigned __int128 slow = ((unsigned __int128)ahead << 32) / period;
        mult = slow < rate / 1000 ? rate - slow : rate - rate / 1000;
    }
    uint32_t s = atomic_load_explicit(&seq, memory_order_relaxed);
    atomic_store_explicit(&seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&a_tsc, t, memory_order_relaxed);
    atomic_store_explicit(&a_ns, base, memory_order_relaxed);
    atomic_store_explicit(&a_mult, (uint64_t)mult, memory_order_relaxed);
    atomic_store_explicit(&a_period, period, memory_order_relaxed);
    atomic_store_explicit(&seq, s + 2, memory_order_release);
    atomic_store_explicit(&mode, MODE_TSC, memory_order_release);
}

static void try_reanchor(void)
{
    if (!atomic_exchange_explicit(&anchoring, true, memory_order_acquire)) {
        reanchor();
        atomic_store_explicit(&anchoring, false, memory_order_release);
    }
}

/* Whether rdtsc is worth it here: an invariant TSC, and cheaper than
 * clock_gettime over a short probe (a hypervisor may trap rdtsc). */
static bool tsc_usable(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000007u)
        return false;
    if (!__get_cpuid(0x80000007u, &a, &b, &c, &d) || !(d & (1u << 8)))
        return false;
    uint64_t best_tsc = UINT64_MAX, best_clock = UINT64_MAX;
    for (int round = 0; round < 3; round++) {
        volatile uint64_t sink = 0;
        uint64_t t0 = ns(CLOCK_MONOTONIC);
        for (int i = 0; i < 64; i++)
            sink += __rdtsc();
        uint64_t t1 = ns(CLOCK_MONOTONIC);
        for (int i = 0; i < 64; i++)
            sink += ns(CLOCK_MONOTONIC);
        uint64_t t2 = ns(CLOCK_MONOTONIC);
        (void)sink;
        if (t1 - t0 < best_tsc)
            best_tsc = t1 - t0;
        if (t2 - t1 < best_clock)
            best_clock = t2 - t1;
    }
    return best_tsc < best_clock;
}

#endif /* HAVE_TSC */

__attribute__((constructor(101))) static void clock_init(void)
{
    if (mono_start != 0)
        return;
    unix_start = ns(CLOCK_REALTIME);
    mono_start = ns(CLOCK_MONOTONIC);
#if HAVE_TSC
    if (tsc_usable()) {
        sample(&cal_tsc, &cal_ns, NULL);
        atomic_store_explicit(&mode, MODE_CALIBRATING, memory_order_release);
    }
#endif
}

uint64_t handle__now_ns(void)
{
    if (HANDLE__UNLIKELY(mono_start == 0))
        clock_init();
#if HAVE_TSC
    int m = atomic_load_explicit(&mode, memory_order_acquire);
    if (HANDLE__LIKELY(m == MODE_TSC)) {
        uint64_t tsc = __rdtsc();
        uint32_t s = atomic_load_explicit(&seq, memory_order_acquire);
        uint64_t t = atomic_load_explicit(&a_tsc, memory_order_relaxed);
        uint64_t a = atomic_load_explicit(&a_ns, memory_order_relaxed);
        uint64_t mult = atomic_load_explicit(&a_mult, memory_order_relaxed);
        uint64_t period = atomic_load_explicit(&a_period, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (HANDLE__LIKELY(!(s & 1) && atomic_load_explicit(&seq, memory_order_relaxed) == s)) {
            if (HANDLE__UNLIKELY(tsc > t && tsc - t > period))
                try_reanchor();
            uint64_t now = map(tsc, t, a, mult);
            return now > mono_start ? now - mono_start : 0;
        }
        /* Another thread is writing the anchor (it may have been preempted
         * there): do not wait for it. */
    }
    if (m == MODE_CALIBRATING) {
        uint64_t now = ns(CLOCK_MONOTONIC);
        if (now - cal_ns >= CALIBRATE_NS)
            try_reanchor();
        return now - mono_start;
    }
#endif
    return ns(CLOCK_MONOTONIC) - mono_start;
}

uint64_t handle__start_unix_ns(void)
{
    if (mono_start == 0)
        clock_init();
    return unix_start;
}

void handle__clock_fork_child(void)
{
#if HAVE_TSC
    /* Only the forking thread exists now. A re-anchoring that another
     * thread had under way is done again from the start. */
    if (atomic_load_explicit(&anchoring, memory_order_relaxed)) {
        uint32_t s = atomic_load_explicit(&seq, memory_order_relaxed);
        if (s & 1)
            atomic_store_explicit(&seq, s + 1, memory_order_relaxed);
        if (atomic_load_explicit(&mode, memory_order_relaxed) == MODE_TSC)
            atomic_store_explicit(&mode, MODE_CALIBRATING, memory_order_relaxed);
        atomic_store_explicit(&anchoring, false, memory_order_relaxed);
    }
#endif
}

void handle__clock_rebase_child(void)
{
    /* The same mapping (TSC or not), shifted: the clock goes on at the
     * same rate, from 0. */
    uint64_t elapsed = handle__now_ns();
    mono_start += elapsed;
    unix_start += elapsed;
}

/* For tests/unit/test_clock.c: whether the TSC is in use. */
bool handle__clock_uses_tsc(void)
{
#if HAVE_TSC
    return atomic_load_explicit(&mode, memory_order_acquire) == MODE_TSC;
#else
    return false;
#endif
}
