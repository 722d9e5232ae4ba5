/*
 * bench_common.h - small helpers shared by the benchmark programs under
 * tests/bench: a monotonic clock, a compiler barrier that keeps a value
 * alive, medians, and the raw-results line format that scripts/bench.sh
 * collects into build/bench/results.txt.
 *
 * It does not time anything by itself, pin threads or touch the library.
 * Everything is static inline so that each program stays one file plus
 * this header.
 */
#ifndef HANDLE_BENCH_COMMON_H
#define HANDLE_BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_ALWAYS_INLINE inline __attribute__((always_inline))

/* Nanoseconds on CLOCK_MONOTONIC. */
static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Compiler barrier: v must be computed, in a register, at this point. It
 * emits no instruction, so it costs nothing at run time. */
#define bench_keep(v) __asm__ __volatile__("" : : "r"(v))

/* Compiler barrier on memory: everything stored so far is really stored
 * and everything read afterwards is really read. */
#define bench_clobber() __asm__ __volatile__("" : : : "memory")

static inline int bench__cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median of v[0..n) (the mean of the two middle values when n is even);
 * v is left unchanged. 0 for n == 0. */
static inline double bench_median(const double *v, size_t n)
{
    if (n == 0)
        return 0;
    double *t = malloc(n * sizeof *t);
    if (t == NULL)
        abort();
    memcpy(t, v, n * sizeof *t);
    qsort(t, n, sizeof *t, bench__cmp_double);
    double m = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
    free(t);
    return m;
}

static inline double bench_min(const double *v, size_t n)
{
    double m = n ? v[0] : 0;
    for (size_t i = 1; i < n; i++)
        m = v[i] < m ? v[i] : m;
    return m;
}

static inline double bench_max(const double *v, size_t n)
{
    double m = n ? v[0] : 0;
    for (size_t i = 1; i < n; i++)
        m = v[i] > m ? v[i] : m;
    return m;
}

/*
 * One raw result line: "SECTION METRIC SUBJECT RUN VALUE UNIT", fields
 * separated by one space, no spaces inside a field. Every benchmark program
 * writes its per-run figures in this format so that results.txt can be read
 * with awk whichever sections produced it. Does nothing when f is NULL.
 */
static inline void bench_raw(FILE *f, const char *section, const char *metric,
                             const char *subject, int run, double value, const char *unit)
{
    if (f)
        fprintf(f, "%s %s %s %d %.4f %s\n", section, metric, subject, run, value, unit);
}

#endif /* HANDLE_BENCH_COMMON_H */
