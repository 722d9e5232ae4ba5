/*
 * soak.c - the long-run program of scripts/soak.sh: makes TOTAL handle
 * lifetimes on THREADS threads, each thread holding LIVE handles live at any
 * time (a ring: delete the oldest, make a new one), from a few call sites
 * and tags, as a service would. Linked against libhandle.so and run with
 * LD_PRELOAD=libhandle-debug.so and max_history=N.
 *
 *   soak TOTAL EVERY TRACE [THREADS] [LIVE]
 *
 * Every EVERY lifetimes (over all threads) the main thread prints one
 * sample line to stdout:
 *   sample LIFETIMES SECONDS RSS_KIB TRACE_KIB WAL_KIB
 * RSS from /proc/self/statm; TRACE and WAL are the sizes of TRACE and
 * TRACE-wal on disk (st_blocks, so a sparse or truncated file counts what
 * it holds). At the end, the handles still live are deleted and it prints
 * "soak done lifetimes=N seconds=S".
 */
#include <handle/handle.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static uint64_t total, every;
static unsigned live_per_thread = 1000;
static _Atomic uint64_t done;
static int values[4];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Four call sites, so the trace has a few distinct creation stacks. */
__attribute__((noinline)) static handle_t site_a(void) { return handle_new_tagged(&values[0], "request"); }
__attribute__((noinline)) static handle_t site_b(void) { return handle_new_tagged(&values[1], "session"); }
__attribute__((noinline)) static handle_t site_c(void) { return handle_new(&values[2]); }
__attribute__((noinline)) static handle_t site_d(void) { return handle_new_tagged(&values[3], "timer"); }

static void *worker(void *arg)
{
    (void)arg;
    handle_t *ring = calloc(live_per_thread, sizeof *ring);
    if (!ring)
        abort();
    uint64_t i = 0;
    for (;;) {
        /* Claim lifetimes in blocks of 1024 to keep the counter cold. */
        uint64_t start = atomic_fetch_add_explicit(&done, 1024, memory_order_relaxed);
        if (start >= total)
            break;
        uint64_t n = total - start < 1024 ? total - start : 1024;
        for (uint64_t k = 0; k < n; k++, i++) {
            handle_t *slot = &ring[i % live_per_thread];
            if (*slot)
                handle_delete(*slot);
            switch (i & 3) {
            case 0: *slot = site_a(); break;
            case 1: *slot = site_b(); break;
            case 2: *slot = site_c(); break;
            default: *slot = site_d(); break;
            }
        }
    }
    for (unsigned k = 0; k < live_per_thread; k++)
        if (ring[k])
            handle_delete(ring[k]);
    free(ring);
    return NULL;
}

static long kib_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)(st.st_blocks / 2) : 0;
}

static long rss_kib(void)
{
    long size = 0, res = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: soak TOTAL EVERY TRACE [THREADS] [LIVE]\n");
        return 2;
    }
    total = strtoull(argv[1], NULL, 10);
    every = strtoull(argv[2], NULL, 10);
    const char *trace = argv[3];
    int threads = argc > 4 ? atoi(argv[4]) : 1;
    if (argc > 5)
        live_per_thread = (unsigned)atoi(argv[5]);
    char wal[4096];
    snprintf(wal, sizeof wal, "%s-wal", trace);
    setvbuf(stdout, NULL, _IOLBF, 0);

    double t0 = now_s();
    pthread_t t[64];
    if (threads < 1 || threads > 64)
        return 2;
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    uint64_t next = 0;
    for (;;) {
        uint64_t d = atomic_load_explicit(&done, memory_order_relaxed);
        if (d > total)
            d = total;
        if (d >= next) {
            printf("sample %llu %.2f %ld %ld %ld\n", (unsigned long long)d, now_s() - t0, rss_kib(),
                   kib_of(trace), kib_of(wal));
            next = d - d % every + every;
        }
        if (d >= total)
            break;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    printf("soak done lifetimes=%llu seconds=%.2f live=%zu\n", (unsigned long long)total,
           now_s() - t0, handle_live_count());
    return 0;
}
