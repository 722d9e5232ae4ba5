/*
 * bench_vs_go.c - the C side of the comparison with Go's runtime/cgo.Handle
 * (tests/bench/go/handle_test.go): the same four loops, on libhandle.so
 * linked as users link it (calls through the PLT).
 *
 *   value        handle_value on 64 live handles in turn     (BenchmarkValue)
 *   new_delete   handle_delete(handle_new(p))                (BenchmarkNewDelete)
 *   nvd_1        new + value + delete, 1 thread              (BenchmarkNewValueDelete)
 *   nvd_2        the same on 2 threads; wall time divided by the operations
 *                of both (aggregate), as b.RunParallel's ns/op
 *                                                            (BenchmarkNewValueDeleteParallel)
 *
 * One measurement per loop per invocation, each calibrated to about --ms
 * milliseconds (default 300, as `-test.benchtime 300ms` on the Go side);
 * prints "NAME NS_PER_OP" lines. scripts/bench.sh --anchors runs it and
 * the Go test binary alternately and takes ratios run by run. It does not
 * pin threads and is not a test.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <handle/handle.h>

#include "bench_common.h"

static int object;

__attribute__((noinline)) static uint64_t loop_value(uint64_t n)
{
    handle_t hs[64];
    for (int i = 0; i < 64; i++)
        hs[i] = handle_new(&object + 0);
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        void *v = handle_value(hs[i & 63]);
        bench_keep(v);
    }
    uint64_t t1 = bench_now_ns();
    for (int i = 0; i < 64; i++)
        handle_delete(hs[i]);
    return t1 - t0;
}

__attribute__((noinline)) static uint64_t loop_new_delete(uint64_t n)
{
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++)
        handle_delete(handle_new(&object));
    return bench_now_ns() - t0;
}

static void nvd(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        handle_t h = handle_new(&object);
        void *v = handle_value(h);
        bench_keep(v);
        handle_delete(h);
    }
}

__attribute__((noinline)) static uint64_t loop_nvd_1(uint64_t n)
{
    uint64_t t0 = bench_now_ns();
    nvd(n);
    return bench_now_ns() - t0;
}

struct worker {
    pthread_barrier_t *bar;
    uint64_t n;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    nvd(4096); /* warm the thread's cache, untimed */
    pthread_barrier_wait(w->bar);
    nvd(w->n);
    return NULL;
}

/* n operations in all, half on each of 2 threads; wall time from the
 * barrier to the last join. */
__attribute__((noinline)) static uint64_t loop_nvd_2(uint64_t n)
{
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 3);
    struct worker w = {&bar, n / 2};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, worker_main, &w);
    pthread_barrier_wait(&bar);
    uint64_t t0 = bench_now_ns();
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    uint64_t t = bench_now_ns() - t0;
    pthread_barrier_destroy(&bar);
    return t;
}

/* Grows n until one measurement takes a quarter of the target, then
 * scales it to the target and measures once more (go test's way). */
static double measure(uint64_t (*loop)(uint64_t), double ms)
{
    uint64_t n = 1000, t = loop(n);
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

int main(int argc, char **argv)
{
    double ms = 300;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--ms") == 0 && i + 1 < argc)
            ms = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_vs_go [--ms MS]\n");
            return 2;
        }
    }
    printf("value %.3f\n", measure(loop_value, ms));
    printf("new_delete %.3f\n", measure(loop_new_delete, ms));
    printf("nvd_1 %.3f\n", measure(loop_nvd_1, ms));
    printf("nvd_2 %.3f\n", measure(loop_nvd_2, ms));
    return 0;
}
