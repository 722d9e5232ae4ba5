/*
 * bench_life.c - the debug-build benchmark program: N lifetimes made from
 * a stack of a chosen depth, to be run under a recording tool. Built twice
 * from this one file:
 *
 *   bench_life_handle   each lifetime is handle_new + handle_delete
 *                       (linked against libhandle.so, run under
 *                       LD_PRELOAD=libhandle-debug.so)
 *   bench_life_malloc   each lifetime is malloc(32) + free, the twin that
 *                       heaptrack, gperftools' heap checker and valgrind
 *                       record
 *
 * Both are compiled -O1 -g with frame pointers; the recursion is noinline
 * and ends in a tail that the compiler cannot merge, so every level is a
 * real frame. Depth counts every frame an unwinder sees above the call
 * into the tool, libc's start frames included (_start,
 * __libc_start_main, __libc_start_call_main, main, then depth-4 levels).
 *
 * It measures nothing about the tool by itself beyond what it prints:
 * its own loop's time on the calling thread (the tool's helper threads and
 * processes run on; scripts/bench.sh times the whole process with
 * bench_run), the calling thread's CPU time, RSS samples, and the
 * first-call cost in new threads. It is not a test.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#ifndef LIFE_MALLOC
#include <handle/handle.h>
#endif

#include "bench_common.h"

#define MAX_LEVELS 1024

/* Options (see usage()). */
static uint64_t n_life = 1000000; /* -n */
static int depth = 20;            /* -d */
static uint64_t n_sites = 1;      /* -s */
static uint64_t n_live = 0;       /* -l */
static uint64_t rss_every = 0;    /* -r */
static int n_threads = 0;         /* -T */
static bool descend_each = false; /* -D */
static bool raw_unwind = false;   /* -U */
static bool wait_idle = false;    /* -w */

static void **live;      /* the -l objects (handles or blocks), kept to the end */
static volatile uintptr_t sink;
static long page_kb;

/* ---- the recorded operation ------------------------------------------ */

#ifdef LIFE_MALLOC
#define SUBJECT "malloc"
#define LIFE_MAKE_INLINE() malloc(32)
#define LIFE_END_INLINE(p) free(p)
#else
#define SUBJECT "handle"
static int value_obj;
#define LIFE_MAKE_INLINE() ((void *)handle_new(&value_obj))
#define LIFE_END_INLINE(p) handle_delete((handle_t)(p))
#endif

/* ---- RSS ---------------------------------------------------------------- */

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * page_kb;
}

static double cpu_ns(int who);
static uint64_t loop_t0;  /* set after the -l objects are made */
static double loop_cpu0, loop_all_cpu0;

/* -w: waits until the process's other threads (the tool's writer) have
 * used less than 0.4 ms of CPU in 20 ms, so that the timed loop does not
 * pay for the backlog of the live objects; at most 300 s. */
static void wait_for_idle(void)
{
    for (int i = 0; i < 15000; i++) {
        double others = cpu_ns(RUSAGE_SELF) - cpu_ns(RUSAGE_THREAD);
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
        if (cpu_ns(RUSAGE_SELF) - cpu_ns(RUSAGE_THREAD) - others < 4e5)
            return;
    }
}

/* ---- the leaf: everything happens here, depth frames deep ------------- */

/* Makes the -l live objects and then the lifetimes [from, to); every call
 * to the tool is made from this frame, so all of them share one stack
 * (per site path). */
__attribute__((noinline)) static void leaf(uint64_t from, uint64_t to, bool make_live)
{
    if (make_live) {
        for (uint64_t i = 0; i < n_live; i++)
            live[i] = LIFE_MAKE_INLINE();
        if (wait_idle)
            wait_for_idle();
        loop_t0 = bench_now_ns(); /* the loop alone is timed */
        loop_cpu0 = cpu_ns(RUSAGE_THREAD);
        loop_all_cpu0 = cpu_ns(RUSAGE_SELF);
    }
    uint64_t next_rss = rss_every ? (from / rss_every + 1) * rss_every : UINT64_MAX;
    for (uint64_t i = from; i < to; i++) {
        void *p = LIFE_MAKE_INLINE();
        bench_keep(p);
        LIFE_END_INLINE(p);
        if (i + 1 == next_rss) {
            printf("rss %llu %ld\n", (unsigned long long)(i + 1), rss_kb());
            next_rss += rss_every;
        }
    }
    bench_clobber();
}

/* Four functions per level, chosen by two bits of the site number, so
 * that site numbers give distinct stacks (distinct return addresses at
 * every level) with the same depth. */
typedef void (*down_fn)(int level, uint64_t site, uint64_t from, uint64_t to, bool mk);
static down_fn downs[4];

#define DOWN(k)                                                                        \
    __attribute__((noinline)) static void down##k(int level, uint64_t site, uint64_t from, \
                                                  uint64_t to, bool mk)                  \
    {                                                                                  \
        if (level <= 1)                                                                \
            leaf(from, to, mk);                                                        \
        else                                                                           \
            downs[site & 3](level - 1, site >> 2, from, to, mk);                       \
        bench_clobber(); /* no tail call: this frame stays on the stack */            \
        sink += (uintptr_t)k;                                                          \
    }
DOWN(0)
DOWN(1)
DOWN(2)
DOWN(3)
static down_fn downs[4] = {down0, down1, down2, down3};

/* levels frames of recursion below the caller, the last one calling leaf;
 * each level's function is chosen by the next two bits of site. */
static BENCH_ALWAYS_INLINE void descend(int levels, uint64_t site, uint64_t from, uint64_t to, bool mk)
{
    if (levels < 1) {
        leaf(from, to, mk);
        return;
    }
    downs[site & 3](levels, site >> 2, from, to, mk);
}

/* ---- first call in a new thread --------------------------------------- */

struct first_cost {
    double first_ns, steady_ns;
};

typedef int (*unw_backtrace_fn)(void **buf, int size);
static unw_backtrace_fn unw_bt;

#define STEADY_N 100

static void *first_thread(void *arg)
{
    struct first_cost *c = arg;
    uint64_t t0 = bench_now_ns();
    if (raw_unwind) {
        void *buf[64];
        bench_keep(unw_bt(buf, 64));
    } else {
        void *p = LIFE_MAKE_INLINE();
        bench_keep(p);
        LIFE_END_INLINE(p);
    }
    uint64_t t1 = bench_now_ns();
    for (int i = 0; i < STEADY_N; i++) {
        if (raw_unwind) {
            void *buf[64];
            bench_keep(unw_bt(buf, 64));
        } else {
            void *p = LIFE_MAKE_INLINE();
            bench_keep(p);
            LIFE_END_INLINE(p);
        }
    }
    uint64_t t2 = bench_now_ns();
    c->first_ns = (double)(t1 - t0);
    c->steady_ns = (double)(t2 - t1) / STEADY_N;
    return NULL;
}

/* Starts n_threads threads one after another (each joined before the
 * next starts, as a program that churns threads does); each times its
 * first call and then the mean of STEADY_N more. */
static int run_threads(void)
{
    if (raw_unwind) {
        void *lib = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
        unw_bt = lib ? (unw_backtrace_fn)(uintptr_t)dlsym(lib, "unw_backtrace") : NULL;
        if (unw_bt == NULL) {
            fprintf(stderr, "bench_life: libunwind.so.8: %s\n", dlerror());
            return 1;
        }
        void *buf[64];
        bench_keep(unw_bt(buf, 64)); /* the main thread's own first call */
    } else {
        void *p = LIFE_MAKE_INLINE(); /* start the tool in the main thread */
        LIFE_END_INLINE(p);
    }
    double *first = calloc((size_t)n_threads, sizeof *first);
    double *steady = calloc((size_t)n_threads, sizeof *steady);
    double *extra = calloc((size_t)n_threads, sizeof *extra);
    for (int i = 0; i < n_threads; i++) {
        struct first_cost c = {0, 0};
        pthread_t th;
        if (pthread_create(&th, NULL, first_thread, &c) != 0) {
            perror("pthread_create");
            return 1;
        }
        pthread_join(th, NULL);
        first[i] = c.first_ns;
        steady[i] = c.steady_ns;
        extra[i] = c.first_ns - c.steady_ns;
    }
    printf("threads %d\n", n_threads);
    printf("first_ns %.0f\n", bench_median(first, (size_t)n_threads));
    printf("steady_ns %.1f\n", bench_median(steady, (size_t)n_threads));
    printf("first_extra_ns %.0f\n", bench_median(extra, (size_t)n_threads));
    printf("first_min_max_ns %.0f %.0f\n", bench_min(first, (size_t)n_threads),
           bench_max(first, (size_t)n_threads));
    free(first);
    free(steady);
    free(extra);
    return 0;
}

/* ---- main --------------------------------------------------------------- */

static double cpu_ns(int who)
{
    struct rusage ru;
    getrusage(who, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_life_" SUBJECT " [-n N] [-d DEPTH] [-s SITES] [-l LIVE] [-r EVERY] [-D]\n"
            "       bench_life_" SUBJECT " -T THREADS [-U]\n"
            "  -n N       lifetimes (" SUBJECT " and release) made, default 1000000\n"
            "  -d DEPTH   frames above each call, libc's start frames included (>= 5), default 20\n"
            "  -s SITES   distinct creation stacks, lifetime i from site i %% SITES (implies -D)\n"
            "  -l LIVE    objects made first from the same stack and never released (leaks)\n"
            "  -r EVERY   print 'rss LIFETIMES KB' every EVERY lifetimes\n"
            "  -D         descend the DEPTH frames again for every lifetime\n"
            "  -w         after making the -l objects, wait until the other threads are idle;\n"
            "             after the loop, wait again and print 'drain_ns_per_life' and\n"
            "             'drain_cpu_ns_per_life' (all threads, loop start to idle)\n"
            "  -T THREADS start THREADS threads one at a time; print the median cost of each\n"
            "             thread's first lifetime and of its next ones\n"
            "  -U         with -T: time libunwind's unw_backtrace instead (no tool needed)\n"
            "Prints 'loop_ns', 'loop_ns_per_life' and 'caller_cpu_ns': the calling thread's\n"
            "lifetimes loop (after the -l objects are made) alone.\n");
}

int main(int argc, char **argv)
{
    int c;
    while ((c = getopt(argc, argv, "n:d:s:l:r:T:DUwh")) != -1) {
        switch (c) {
        case 'n': n_life = strtoull(optarg, NULL, 0); break;
        case 'd': depth = atoi(optarg); break;
        case 's': n_sites = strtoull(optarg, NULL, 0); descend_each = true; break;
        case 'l': n_live = strtoull(optarg, NULL, 0); break;
        case 'r': rss_every = strtoull(optarg, NULL, 0); break;
        case 'T': n_threads = atoi(optarg); break;
        case 'D': descend_each = true; break;
        case 'U': raw_unwind = true; break;
        case 'w': wait_idle = true; break;
        default: usage(); return 2;
        }
    }
    if (depth < 5 || depth - 4 > MAX_LEVELS || n_sites < 1) {
        usage();
        return 2;
    }
    page_kb = sysconf(_SC_PAGESIZE) / 1024;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (n_threads > 0)
        return run_threads();
    if (n_live) {
        live = malloc(n_live * sizeof *live);
        if (live == NULL) {
            perror("malloc");
            return 1;
        }
    }
    /* _start, __libc_start_main, __libc_start_call_main and main are 4
     * frames; leaf is the last one; depth-5 levels of recursion between. */
    int levels = depth - 5;
    double cpu0 = cpu_ns(RUSAGE_THREAD);
    uint64_t t0 = bench_now_ns();
    if (!descend_each) {
        descend(levels, 0, 0, n_life, true);
    } else {
        if (n_live)
            descend(levels, 0, 0, 0, true);
        for (uint64_t i = 0; i < n_life; i++)
            descend(levels, i % n_sites, i, i + 1, false);
    }
    uint64_t t1 = bench_now_ns();
    double cpu1 = cpu_ns(RUSAGE_THREAD);
    if (loop_t0) {
        t0 = loop_t0;
        cpu0 = loop_cpu0;
    }
    if (wait_idle && n_life) {
        /* From the loop's start until the tool's threads are idle again:
         * everything the lifetimes cost, in this process, less the final
         * idle window. */
        double all0 = loop_all_cpu0;
        wait_for_idle();
        uint64_t t2 = bench_now_ns() - 20000000u;
        printf("drain_ns_per_life %.1f\n", (double)(t2 - t0) / (double)n_life);
        printf("drain_cpu_ns_per_life %.1f\n", (cpu_ns(RUSAGE_SELF) - all0) / (double)n_life);
    }
    printf("subject %s\n", SUBJECT);
    printf("lifetimes %llu\n", (unsigned long long)n_life);
    printf("live %llu\n", (unsigned long long)n_live);
    printf("loop_ns %llu\n", (unsigned long long)(t1 - t0));
    printf("loop_ns_per_life %.1f\n", n_life ? (double)(t1 - t0) / (double)n_life : 0.0);
    printf("caller_cpu_ns %.0f\n", cpu1 - cpu0);
    printf("process_cpu_ns_at_loop_end %.0f\n", cpu_ns(RUSAGE_SELF));
    printf("rss_end_kb %ld\n", rss_kb());
    /* Lose the -l objects: a leak checker that scans memory for pointers
     * (gperftools, valgrind) reports unreachable blocks only. */
    if (live) {
        memset(live, 0, n_live * sizeof *live);
        bench_clobber();
        free(live);
        live = NULL;
    }
    return 0;
}
