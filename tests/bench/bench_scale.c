/*
 * bench_scale.c - how the release library's costs grow with the number
 * of live handles and of threads (scripts/bench.sh --anchors, section
 * anchors_scaling).
 *
 *   bench_scale [-l LIVE] [-t THREADS] [--ms MS]
 *
 * Makes LIVE live handles first (kept to the end), then measures once,
 * each measurement calibrated to about MS milliseconds (default 150):
 *
 *   nvd_ns        new + value + delete on THREADS threads started together,
 *                 wall time over the operations of all (aggregate ns/op)
 *   value_rand_ns handle_value of a live handle picked at random (xorshift)
 *                 from the LIVE ones, 1 thread; with many live handles
 *                 this misses the caches
 *   pick_rand_ns  the same loop reading the handle from the array without
 *                 resolving it (the picking and the array's own misses)
 *   value_only_ns value_rand_ns - pick_rand_ns
 *   rss_per_live  resident-set growth while making the LIVE handles,
 *                 bytes per handle (the handle array itself excluded:
 *                 it is touched before the first reading)
 *
 * Prints "NAME VALUE" lines. It is not a test and pins nothing.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <handle/handle.h>

#include "bench_common.h"

static int object;
static handle_t *hs;
static uint64_t n_live = 1;

static void nvd(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        handle_t h = handle_new(&object);
        void *v = handle_value(h);
        bench_keep(v);
        handle_delete(h);
    }
}

struct worker {
    pthread_barrier_t *bar;
    uint64_t n;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    nvd(4096);
    pthread_barrier_wait(w->bar);
    nvd(w->n);
    return NULL;
}

static int n_threads = 1;

/* n operations in all, spread over n_threads threads. */
static uint64_t loop_nvd(uint64_t n)
{
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)n_threads + 1);
    struct worker w = {&bar, n / (uint64_t)n_threads};
    pthread_t *th = calloc((size_t)n_threads, sizeof *th);
    for (int i = 0; i < n_threads; i++)
        pthread_create(&th[i], NULL, worker_main, &w);
    pthread_barrier_wait(&bar);
    uint64_t t0 = bench_now_ns();
    for (int i = 0; i < n_threads; i++)
        pthread_join(th[i], NULL);
    uint64_t t = bench_now_ns() - t0;
    pthread_barrier_destroy(&bar);
    free(th);
    return t;
}

static inline uint64_t pick(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return (uint64_t)(((unsigned __int128)*x * n_live) >> 64);
}

__attribute__((noinline)) static uint64_t loop_value_rand(uint64_t n)
{
    uint64_t x = 88172645463325252ull;
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        void *v = handle_value(hs[pick(&x)]);
        bench_keep(v);
    }
    return bench_now_ns() - t0;
}

__attribute__((noinline)) static uint64_t loop_pick_rand(uint64_t n)
{
    uint64_t x = 88172645463325252ull;
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        handle_t h = hs[pick(&x)];
        bench_keep(h);
    }
    return bench_now_ns() - t0;
}

static double measure(uint64_t (*loop)(uint64_t), double ms)
{
    uint64_t n = 1024, t = loop(n);
    while ((double)t < ms * 1e6 / 4) {
        n *= 4;
        t = loop(n);
    }
    n = (uint64_t)((double)n * (ms * 1e6) / (double)(t ? t : 1));
    if (n < 2)
        n = 2;
    t = loop(n);
    return (double)t / (double)n;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

int main(int argc, char **argv)
{
    double ms = 150;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-l") == 0 && i + 1 < argc)
            n_live = strtoull(argv[++i], NULL, 0);
        else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
            n_threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--ms") == 0 && i + 1 < argc)
            ms = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_scale [-l LIVE] [-t THREADS] [--ms MS]\n");
            return 2;
        }
    }
    if (n_live < 1 || n_threads < 1) {
        fprintf(stderr, "bench_scale: LIVE and THREADS must be >= 1\n");
        return 2;
    }
    hs = malloc(n_live * sizeof *hs);
    if (hs == NULL) {
        perror("malloc");
        return 1;
    }
    /* Touch every page of the array now, through a volatile pointer: a
     * plain memset(0) after malloc is folded into calloc by the compiler,
     * and the array's pages would then be counted as the table's. */
    for (uint64_t i = 0; i < n_live; i++)
        ((volatile handle_t *)hs)[i] = 1;
    handle_delete(handle_new(&object)); /* bind the PLT, make the first chunk */
    long before = rss_kb();
    for (uint64_t i = 0; i < n_live; i++)
        hs[i] = handle_new(&object);
    long after = rss_kb();
    printf("live %llu\n", (unsigned long long)n_live);
    printf("threads %d\n", n_threads);
    printf("rss_per_live %.2f\n", (double)(after - before) * 1024.0 / (double)n_live);
    printf("nvd_ns %.3f\n", measure(loop_nvd, ms));
    if (n_threads == 1) {
        double v = measure(loop_value_rand, ms), p = measure(loop_pick_rand, ms);
        printf("value_rand_ns %.3f\n", v);
        printf("pick_rand_ns %.3f\n", p);
        printf("value_only_ns %.3f\n", v - p);
    }
    return 0;
}
