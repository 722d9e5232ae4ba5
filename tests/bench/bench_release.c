/*
 * bench_release.c - times the release library (libhandle.so, linked as
 * users link it) against a yardstick and the call-overhead floor, and
 * prints medians, run-by-run ratios and the targets.
 *
 * Subjects, each called through the same loops with direct calls:
 *   libhandle  handle_new / handle_value / handle_delete in libhandle.so
 *   yard.so    the mutex-protected slot table of bench_yard.c, built as
 *              libbench_yard.so (same PLT call overhead as libhandle)
 *   yard-exe   the same table compiled into this executable
 *   empty.so   empty functions in libbench_floor.so: the cost of the call
 *
 * One run measures every metric for every subject, in an order that
 * rotates from run to run; ratios (libhandle / yardstick) are taken within
 * a run and the medians of the runs are printed. All runs happen inside
 * this one process, except memory: each memory figure is one fresh process
 * (this executable re-run with --mem-child) that makes 1M live handles and
 * reports its RSS growth (/proc/self/smaps_rollup) divided by 1M.
 *
 * --lib-only and --metrics narrow a process down to libhandle and a few
 * metrics: scripts/bench.sh's baseline section runs it that way, once with
 * this tree's libhandle.so.1 and once with another revision's, each
 * switched in with LD_PRELOAD (the calls go through the GOT, so the
 * preloaded file is the one called).
 *
 * Iteration counts are calibrated once per metric and subject so that one
 * measurement takes about --ms milliseconds. Time is CLOCK_MONOTONIC; no
 * thread is pinned. This program only measures: it is built by the normal
 * build but never run by ctest (timings on a shared machine are not a
 * test); scripts/bench.sh runs it.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"
#include "bench_yard.h"
#include "handle/handle.h"

#define MAX_RUNS 101
#define NVAL 64       /* live handles the value loops cycle through (all in L1) */
#define BURST 256     /* handles made, then deleted, per burst */
#define QUANTUM 256u  /* iteration counts are multiples of this */
#define MEM_LIVE 1000000L

/* Issue's targets and the quoted figures of Go's runtime/cgo.Handle. */
#define TARGET_VALUE_NS 2.2
#define TARGET_NEW_DELETE_NS 10.0
#define TARGET_2T_NS 5.0
#define TARGET_SCALING 1.8
#define TARGET_BYTES 24.0
#define GO_VALUE_NS 15.0
#define GO_NEW_DELETE_NS 358.0
#define GO_2T_NS 631.0

typedef uintptr_t (*new_fn)(void *);
typedef void *(*value_fn)(uintptr_t);
typedef void (*delete_fn)(uintptr_t);

static char payload[BURST];

/* ---- the loops, instantiated per subject with direct calls ---------- */

/* Latency: handle i's value is handle i+1, so each call waits for the one
 * before it; a chain of NVAL calls, restarted from the first handle. */
static BENCH_ALWAYS_INLINE double value_chain(new_fn nw, value_fn val, delete_fn del,
                                              uint64_t iters)
{
    uintptr_t hs[NVAL];
    hs[NVAL - 1] = nw(NULL);
    for (int i = NVAL - 2; i >= 0; i--)
        hs[i] = nw((void *)hs[i + 1]);
    uintptr_t first = hs[0];
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i += NVAL) {
        uintptr_t h = first;
        for (int j = 0; j < NVAL; j++)
            h = (uintptr_t)val(h);
        bench_keep(h);
    }
    uint64_t t1 = bench_now_ns();
    for (int i = 0; i < NVAL; i++)
        del(hs[i]);
    return (double)(t1 - t0);
}

/* One resolve per iteration, cycling through NVAL live handles; the
 * calls do not depend on each other's results. */
static BENCH_ALWAYS_INLINE double value_loop(new_fn nw, value_fn val, delete_fn del,
                                             uint64_t iters)
{
    uintptr_t hs[NVAL];
    for (int i = 0; i < NVAL; i++)
        hs[i] = nw(payload + i);
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i++)
        bench_keep(val(hs[i % NVAL]));
    uint64_t t1 = bench_now_ns();
    for (int i = 0; i < NVAL; i++)
        del(hs[i]);
    return (double)(t1 - t0);
}

/* As value_loop, unrolled: eight independent resolves per iteration, so
 * the loop's own overhead is amortised and throughput is measured. */
static BENCH_ALWAYS_INLINE double value_x8(new_fn nw, value_fn val, delete_fn del,
                                           uint64_t iters)
{
    uintptr_t hs[NVAL];
    for (int i = 0; i < NVAL; i++)
        hs[i] = nw(payload + i);
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i += 8) {
        const uintptr_t *p = hs + i % NVAL;
        bench_keep(val(p[0]));
        bench_keep(val(p[1]));
        bench_keep(val(p[2]));
        bench_keep(val(p[3]));
        bench_keep(val(p[4]));
        bench_keep(val(p[5]));
        bench_keep(val(p[6]));
        bench_keep(val(p[7]));
    }
    uint64_t t1 = bench_now_ns();
    for (int i = 0; i < NVAL; i++)
        del(hs[i]);
    return (double)(t1 - t0);
}

/* A handle made and deleted at once: Go's BenchmarkHandle/non-concurrent. */
static BENCH_ALWAYS_INLINE double new_delete(new_fn nw, value_fn val, delete_fn del,
                                             uint64_t iters)
{
    (void)val;
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i++)
        del(nw(payload));
    uint64_t t1 = bench_now_ns();
    return (double)(t1 - t0);
}

/* BURST handles made, then deleted in the same order: more than a thread
 * cache holds, so the shared free list is used too. */
static BENCH_ALWAYS_INLINE double burst(new_fn nw, value_fn val, delete_fn del, uint64_t iters)
{
    (void)val;
    uintptr_t hs[BURST];
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i += BURST) {
        for (int j = 0; j < BURST; j++)
            hs[j] = nw(payload + j);
        bench_clobber();
        for (int j = 0; j < BURST; j++)
            del(hs[j]);
    }
    uint64_t t1 = bench_now_ns();
    return (double)(t1 - t0);
}

/* One per cache line, so that the workers share nothing but the library. */
struct worker {
    _Alignas(64) pthread_barrier_t *go;
    uint64_t iters;
    uint64_t t0, t1;
};

/* new+value+delete in a loop on its own thread; the first few thousand
 * (untimed) give the thread its cache before all workers start at once. */
static BENCH_ALWAYS_INLINE void *nvd(struct worker *w, new_fn nw, value_fn val, delete_fn del)
{
    for (int i = 0; i < 4096; i++) {
        uintptr_t h = nw(payload);
        bench_keep(val(h));
        del(h);
    }
    uint64_t iters = w->iters;
    pthread_barrier_wait(w->go);
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < iters; i++) {
        uintptr_t h = nw(payload);
        bench_keep(val(h));
        del(h);
    }
    w->t1 = bench_now_ns();
    w->t0 = t0;
    return NULL;
}

enum timed { T_CHAIN, T_LOOP, T_X8, T_ND, T_BURST, T_COUNT };

#define SUBJECTS(X)                                                               \
    X(lib, "libhandle", handle_new, handle_value, handle_delete)                  \
    X(yso, "yard.so", yard_so_new, yard_so_value, yard_so_delete)                 \
    X(yexe, "yard-exe", yard_exe_new, yard_exe_value, yard_exe_delete)            \
    X(empty, "empty.so", bench_floor_new, bench_floor_value, bench_floor_delete)

#define INSTANTIATE(id, name, N, V, D)                                                       \
    static double id##_chain(uint64_t n) { return value_chain(N, V, D, n); }                 \
    static double id##_loop(uint64_t n) { return value_loop(N, V, D, n); }                   \
    static double id##_x8(uint64_t n) { return value_x8(N, V, D, n); }                       \
    static double id##_nd(uint64_t n) { return new_delete(N, V, D, n); }                     \
    static double id##_burst(uint64_t n) { return burst(N, V, D, n); }                       \
    static void *id##_nvd(void *w) { return nvd(w, N, V, D); }
SUBJECTS(INSTANTIATE)
#undef INSTANTIATE

struct subject {
    const char *id, *name;
    double (*timed[T_COUNT])(uint64_t);
    void *(*nvd)(void *);
    new_fn nw;
    delete_fn del;
};

enum { S_LIB, S_YSO, S_YEXE, S_EMPTY, S_COUNT };

#define ENTRY(id, name, N, V, D) \
    {#id, name, {id##_chain, id##_loop, id##_x8, id##_nd, id##_burst}, id##_nvd, N, D},
static const struct subject subjects[S_COUNT] = {SUBJECTS(ENTRY)};
#undef ENTRY

/* ---- measurement ---------------------------------------------------- */

/* Wall time of nthreads workers each doing iters new+value+delete: from
 * the first worker's start to the last worker's end. */
static double run_threads(const struct subject *s, int nthreads, uint64_t iters)
{
    pthread_barrier_t go;
    pthread_t tid[2];
    struct worker w[2];
    if (pthread_barrier_init(&go, NULL, (unsigned)nthreads) != 0)
        abort();
    for (int i = 0; i < nthreads; i++) {
        w[i] = (struct worker){&go, iters, 0, 0};
        if (pthread_create(&tid[i], NULL, s->nvd, &w[i]) != 0)
            abort();
    }
    uint64_t t0 = UINT64_MAX, t1 = 0;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(tid[i], NULL);
        t0 = w[i].t0 < t0 ? w[i].t0 : t0;
        t1 = w[i].t1 > t1 ? w[i].t1 : t1;
    }
    pthread_barrier_destroy(&go);
    return (double)(t1 - t0);
}

/* Iterations (a multiple of QUANTUM) for about target_ns; f(n, arg)
 * returns the time of n iterations. */
static uint64_t calibrate(double (*f)(uint64_t, const void *), const void *arg, double target_ns)
{
    uint64_t n = QUANTUM;
    for (;;) {
        double t = f(n, arg);
        if (t >= target_ns / 16 || n >= (UINT64_C(1) << 40)) {
            double k = target_ns / (t > 1 ? t : 1);
            uint64_t m = (uint64_t)((double)n * k) / QUANTUM * QUANTUM;
            return m < QUANTUM ? QUANTUM : m;
        }
        n *= 4;
    }
}

static double timed_adapter(uint64_t n, const void *arg)
{
    double (*const *f)(uint64_t) = arg;
    return (*f)(n);
}

static double threads1_adapter(uint64_t n, const void *arg)
{
    return run_threads(arg, 1, n);
}

/* The number after "key" in text, in kB, or -1. */
static long kb_field(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

/*
 * Resident bytes of this process, all and anonymous only (the heap and
 * mmap'ed memory, not the libraries' code), read without allocating.
 * /proc/self/smaps_rollup walks the page tables and is exact;
 * /proc/self/statm (the fallback, for kernels before 4.14) reads counters
 * that recent kernels keep per CPU and sum only approximately (here, off
 * by a few hundred kB). false on failure.
 */
static bool rss_bytes(long *resident, long *anon)
{
    char buf[4096];
    int fd = open("/proc/self/smaps_rollup", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
            return false;
        buf[n] = 0;
        long rss = kb_field(buf, "\nRss:"), an = kb_field(buf, "\nAnonymous:");
        if (rss < 0 || an < 0)
            return false;
        *resident = rss * 1024;
        *anon = an * 1024;
        return true;
    }
    fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = 0;
    long size, res, shared;
    if (sscanf(buf, "%ld %ld %ld", &size, &res, &shared) != 3)
        return false;
    long page = sysconf(_SC_PAGESIZE);
    *resident = res * page;
    *anon = (res - shared) * page;
    return true;
}

/*
 * --mem-child ID: in this fresh process, make MEM_LIVE live handles with
 * subject ID and print the RSS growth per handle, all and anonymous. The
 * array that holds the handles is touched before the first reading, so it
 * is not counted; one handle is made and deleted before it too, so that
 * one-time costs (binding the PLT entries, the thread's cache) are not
 * spread over the handles. Everything the table allocates for 1M handles,
 * from its first slot on, is counted.
 */
static int mem_child(const char *id)
{
    const struct subject *s = NULL;
    for (int i = 0; i < S_COUNT; i++)
        if (strcmp(subjects[i].id, id) == 0)
            s = &subjects[i];
    if (s == NULL || s == &subjects[S_EMPTY])
        return 2;
    uintptr_t *hs = malloc(MEM_LIVE * sizeof *hs);
    if (hs == NULL)
        return 1;
    memset(hs, 0xff, MEM_LIVE * sizeof *hs);
    s->del(s->nw(payload));
    long res0, anon0, res1, anon1;
    /* Twice: the first call faults in the code that parses the reading
     * (after the kernel took it), the second one reads a settled state. */
    if (!rss_bytes(&res0, &anon0) || !rss_bytes(&res0, &anon0))
        return 1;
    for (long i = 0; i < MEM_LIVE; i++)
        hs[i] = s->nw(payload);
    bench_clobber();
    if (!rss_bytes(&res1, &anon1))
        return 1;
    if (s == &subjects[S_LIB] && handle_live_count() != (size_t)MEM_LIVE)
        return 1;
    printf("%.4f %.4f\n", (double)(res1 - res0) / MEM_LIVE, (double)(anon1 - anon0) / MEM_LIVE);
    return 0;
}

/* Runs this executable with --mem-child id: false on failure, else the
 * bytes per handle of all and of anonymous RSS growth. */
static bool mem_run(const char *id, double *all, double *anon)
{
    int fd[2];
    if (pipe(fd) != 0)
        return false;
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        dup2(fd[1], STDOUT_FILENO);
        close(fd[0]);
        close(fd[1]);
        execl("/proc/self/exe", "bench_release", "--mem-child", id, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    char buf[64];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof buf - 1 &&
           ((n = read(fd[0], buf + len, sizeof buf - 1 - len)) > 0 || (n < 0 && errno == EINTR)))
        if (n > 0)
            len += (size_t)n;
    buf[len] = 0;
    close(fd[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 && sscanf(buf, "%lf %lf", all, anon) == 2;
}

/* ---- results -------------------------------------------------------- */

enum metric {
    M_CHAIN, M_LOOP, M_X8, M_ND, M_BURST, M_NVD1, M_NVD2, M_SCALING, M_MEM, M_MEM_ANON, M_COUNT
};

/* The single-threaded metrics are the timed loops, in the same order. */
_Static_assert((int)M_CHAIN == (int)T_CHAIN && (int)M_BURST == (int)T_BURST &&
                   (int)M_NVD1 == (int)T_COUNT,
               "metric and timed-loop numbering");

static const struct {
    const char *id, *label, *unit;
} metrics[M_COUNT] = {
    {"value_chain", "handle_value, dependent chain (latency)", "ns/op"},
    {"value_loop", "handle_value, simple loop", "ns/op"},
    {"value_x8", "handle_value, unrolled x8 (throughput)", "ns/op"},
    {"new_delete", "handle_new+handle_delete", "ns/pair"},
    {"burst256", "new x256, then delete x256", "ns/pair"},
    {"nvd_1thread", "new+value+delete, 1 thread", "ns/op"},
    {"nvd_2threads", "new+value+delete, 2 threads, aggregate", "ns/op"},
    {"scaling", "2-thread throughput / 1-thread", "x"},
    {"bytes_per_handle", "memory per live handle, 1M live: RSS", "bytes"},
    {"anon_bytes_per_handle", "memory per live handle, 1M live: anon RSS", "bytes"},
};

static double res[M_COUNT][S_COUNT][MAX_RUNS];
static int runs = 11;
static const char *section = "release";
static bool value_only;   /* --value-only: M_CHAIN, M_LOOP, M_X8 */
static unsigned chosen;   /* --metrics: bit m set for metric m; 0: all */
static bool lib_only;     /* --lib-only: the libhandle subject alone */

static bool enabled(int m)
{
    if (value_only && m > M_X8)
        return false;
    return chosen == 0 || (chosen >> m & 1u);
}

static bool subject_on(int s)
{
    return !lib_only || s == S_LIB;
}

/* --metrics LIST: comma-separated metric ids; false on an unknown one.
 * scaling needs both new+value+delete figures, and the anonymous-RSS
 * figure comes with the RSS one. */
static bool choose_metrics(const char *list)
{
    char buf[512];
    if (strlen(list) >= sizeof buf)
        return false;
    strcpy(buf, list);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int m = 0;
        while (m < M_COUNT && strcmp(metrics[m].id, t) != 0)
            m++;
        if (m == M_COUNT || m == M_MEM_ANON)
            return false;
        chosen |= 1u << m;
        if (m == M_SCALING)
            chosen |= 1u << M_NVD1 | 1u << M_NVD2;
        if (m == M_MEM)
            chosen |= 1u << M_MEM_ANON;
    }
    return chosen != 0;
}

/* Median over the runs of f(run), skipping NaN. */
static double median_of(double (*f)(int metric, int run, int a, int b), int m, int a, int b)
{
    double v[MAX_RUNS];
    size_t n = 0;
    for (int r = 0; r < runs; r++) {
        double x = f(m, r, a, b);
        if (!isnan(x))
            v[n++] = x;
    }
    return n ? bench_median(v, n) : NAN;
}

static double get_abs(int m, int r, int a, int b)
{
    (void)b;
    return res[m][a][r];
}

static double get_diff(int m, int r, int a, int b)
{
    return res[m][a][r] - res[m][b][r];
}

static double get_ratio(int m, int r, int a, int b)
{
    return res[m][a][r] / res[m][b][r];
}

static void cell(double v, const char *fmt)
{
    if (isnan(v))
        printf(" %10s", "-");
    else
        printf(fmt, v);
}

/* One row of the ratios-and-targets table. lower: the target is a maximum. */
static void target_row(const char *label, int m, int base_for_diff, double target, bool lower,
                       double go)
{
    if (!enabled(m) || (base_for_diff >= 0 && !subject_on(base_for_diff)))
        return;
    double lib = base_for_diff >= 0 ? median_of(get_diff, m, S_LIB, base_for_diff)
                                    : median_of(get_abs, m, S_LIB, 0);
    bool ratio = base_for_diff < 0;
    printf("%-44s", label);
    cell(ratio ? median_of(get_ratio, m, S_LIB, S_YSO) : NAN, " %10.3f");
    cell(ratio ? median_of(get_ratio, m, S_LIB, S_YEXE) : NAN, " %10.3f");
    cell(lib, " %10.2f");
    printf("  %2s %6.2f", lower ? "<=" : ">=", target);
    bool met = lower ? lib <= target : lib >= target;
    double by = lower ? lib - target : target - lib;
    if (isnan(lib))
        printf("  %-28s", "no figure");
    else if (met)
        printf("  met (margin %.2f, %.0f%%)   ", -by, -by / target * 100);
    else
        printf("  MISSED by %.2f (%.0f%%)      ", by, by / target * 100);
    if (go > 0 && !isnan(lib))
        printf(" Go %.0f ns: %.0fx", go, go / lib);
    printf("\n");
}

static void print_tables(int ms)
{
    if (value_only || chosen || lib_only)
        printf("%s: %s%s; median of %d runs in one process; ~%d ms per measurement\n\n",
               section, value_only ? "handle_value only" : chosen ? "chosen metrics" : "",
               lib_only ? (value_only || chosen ? ", libhandle only" : "libhandle only") : "",
               runs, ms);
    else
        printf("%s: median of %d runs in one process (memory: %d fresh processes per "
               "subject); ~%d ms per measurement\n\n",
               section, runs, runs, ms);
    printf("%-44s %-7s", "metric", "unit");
    for (int s = 0; s < S_COUNT; s++)
        printf(" %10s", subjects[s].name);
    printf(" %10s  %s\n", "lib-empty", "libhandle min..max");
    for (int m = 0; m < M_COUNT; m++) {
        if (!enabled(m))
            continue;
        printf("%-44s %-7s", metrics[m].label, metrics[m].unit);
        for (int s = 0; s < S_COUNT; s++)
            cell(median_of(get_abs, m, s, 0), " %10.2f");
        cell(m < M_SCALING ? median_of(get_diff, m, S_LIB, S_EMPTY) : NAN, " %10.2f");
        double v[MAX_RUNS] = {0};
        for (int r = 0; r < runs; r++)
            v[r] = res[m][S_LIB][r];
        printf("  %.2f..%.2f\n", bench_min(v, (size_t)runs), bench_max(v, (size_t)runs));
    }
    printf("\nlib-empty: libhandle minus the empty call, run by run. Ratios libhandle/yardstick "
           "are medians of per-run ratios\n(for ns and bytes lower is better, for scaling "
           "higher is better).\n\n");
    printf("%-44s %10s %10s %10s  %9s  %-28s %s\n", "target", "lib/yard.so", "lib/yexe",
           "libhandle", "target", "verdict", "vs Go cgo.Handle (quoted)");
    target_row("handle_value, unrolled x8 (ns)", M_X8, -1, TARGET_VALUE_NS, true, GO_VALUE_NS);
    target_row("handle_value, simple loop (ns)", M_LOOP, -1, TARGET_VALUE_NS, true, GO_VALUE_NS);
    target_row("handle_value, unrolled x8, minus empty call", M_X8, S_EMPTY, TARGET_VALUE_NS, true,
               0);
    target_row("handle_new+handle_delete (ns)", M_ND, -1, TARGET_NEW_DELETE_NS, true,
               GO_NEW_DELETE_NS);
    target_row("new+value+delete, 2 threads, aggregate (ns)", M_NVD2, -1, TARGET_2T_NS, true,
               GO_2T_NS);
    target_row("scaling 2 threads vs 1 (x)", M_SCALING, -1, TARGET_SCALING, false, 0);
    target_row("bytes per live handle at 1M live (RSS)", M_MEM, -1, TARGET_BYTES, true, 0);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_release [--quick] [--runs N] [--ms MS] [--raw FILE] [--value-only]\n"
            "                     [--metrics LIST] [--lib-only] [--section NAME]\n"
            "  --quick         5 runs of ~10 ms per measurement (default: 11 runs of ~40 ms)\n"
            "  --runs N        runs (1..%d); each figure is the median of the runs\n"
            "  --ms MS         target milliseconds per measurement\n"
            "  --raw FILE      append every per-run figure to FILE as\n"
            "                  'SECTION METRIC SUBJECT RUN VALUE UNIT'\n"
            "  --value-only    only the handle_value metrics\n"
            "  --metrics LIST  only these metrics (comma-separated ids as in the raw lines,\n"
            "                  e.g. value_x8,new_delete)\n"
            "  --lib-only      only the libhandle subject (no yardstick, no empty call)\n"
            "  --section NAME  the SECTION of the raw lines and the title (default: release)\n",
            MAX_RUNS);
}

/* One measurement of metric m for subject s in run r, into res. */
static void measure(int m, int s, int r, uint64_t iters[T_COUNT + 1][S_COUNT])
{
    const struct subject *su = &subjects[s];
    double v;
    switch (m) {
    case M_NVD1:
        v = run_threads(su, 1, iters[T_COUNT][s]) / (double)iters[T_COUNT][s];
        break;
    case M_NVD2:
        v = run_threads(su, 2, iters[T_COUNT][s]) / (2.0 * (double)iters[T_COUNT][s]);
        break;
    case M_SCALING:
        v = res[M_NVD1][s][r] / res[M_NVD2][s][r];
        break;
    case M_MEM:
        v = NAN;
        res[M_MEM_ANON][s][r] = NAN;
        if (s != S_EMPTY && !mem_run(su->id, &v, &res[M_MEM_ANON][s][r]))
            v = NAN;
        break;
    case M_MEM_ANON:
        return; /* measured with M_MEM */
    default:
        v = su->timed[m](iters[m][s]) / (double)iters[m][s];
        break;
    }
    res[m][s][r] = v;
}

int main(int argc, char **argv)
{
    int ms = 40;
    const char *raw_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--mem-child") == 0 && i + 1 < argc)
            return mem_child(argv[i + 1]);
        if (strcmp(argv[i], "--quick") == 0) {
            runs = 5;
            ms = 10;
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            runs = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--ms") == 0 && i + 1 < argc) {
            ms = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--raw") == 0 && i + 1 < argc) {
            raw_path = argv[++i];
        } else if (strcmp(argv[i], "--section") == 0 && i + 1 < argc) {
            section = argv[++i];
        } else if (strcmp(argv[i], "--value-only") == 0) {
            value_only = true;
        } else if (strcmp(argv[i], "--metrics") == 0 && i + 1 < argc) {
            if (!choose_metrics(argv[++i])) {
                fprintf(stderr, "bench_release: bad --metrics '%s'\n", argv[i]);
                usage(stderr);
                return 2;
            }
        } else if (strcmp(argv[i], "--lib-only") == 0) {
            lib_only = true;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (runs < 1 || runs > MAX_RUNS || ms < 1 || strchr(section, ' ') != NULL) {
        usage(stderr);
        return 2;
    }
    FILE *raw = NULL;
    if (raw_path && (raw = fopen(raw_path, "a")) == NULL) {
        perror(raw_path);
        return 1;
    }
    bool progress = isatty(STDERR_FILENO);
    double target = ms * 1e6;

    /* Calibrate (this also warms up every path). */
    uint64_t iters[T_COUNT + 1][S_COUNT] = {{0}};
    for (int s = 0; s < S_COUNT; s++) {
        if (!subject_on(s))
            continue;
        for (int t = 0; t < T_COUNT; t++)
            if (enabled(t))
                iters[t][s] = calibrate(timed_adapter, &subjects[s].timed[t], target);
        if (enabled(M_NVD1) || enabled(M_NVD2))
            iters[T_COUNT][s] = calibrate(threads1_adapter, &subjects[s], target);
    }

    /* Every metric for every subject in each run; the subjects' order
     * rotates so that none is always measured first or last. What is not
     * measured stays NaN (no figure). */
    for (int m = 0; m < M_COUNT; m++)
        for (int s = 0; s < S_COUNT; s++)
            for (int r = 0; r < runs; r++)
                res[m][s][r] = NAN;
    for (int r = 0; r < runs; r++) {
        if (progress)
            fprintf(stderr, "\r%s: run %d/%d ", section, r + 1, runs);
        for (int m = 0; m < M_COUNT; m++)
            for (int k = 0; k < S_COUNT; k++)
                if (enabled(m) && subject_on((r + k) % S_COUNT))
                    measure(m, (r + k) % S_COUNT, r, iters);
    }
    if (progress)
        fprintf(stderr, "\r%60s\r", "");

    for (int m = 0; m < M_COUNT; m++)
        for (int s = 0; s < S_COUNT; s++)
            for (int r = 0; r < runs; r++)
                if (enabled(m) && !isnan(res[m][s][r]))
                    bench_raw(raw, section, metrics[m].id, subjects[s].id, r, res[m][s][r],
                              metrics[m].unit);
    for (int m = 0; m < M_COUNT; m++)
        for (int r = 0; r < runs; r++)
            if (enabled(m) && !lib_only) {
                bench_raw(raw, section, metrics[m].id, "ratio_lib_yso", r,
                          get_ratio(m, r, S_LIB, S_YSO), "ratio");
                bench_raw(raw, section, metrics[m].id, "ratio_lib_yexe", r,
                          get_ratio(m, r, S_LIB, S_YEXE), "ratio");
            }
    if (raw)
        fclose(raw);

    print_tables(ms);
    for (int m = 0; m < M_COUNT; m++)
        for (int s = 0; s < S_COUNT; s++)
            for (int r = 0; r < runs; r++)
                if (enabled(m) && subject_on(s) &&
                    (s != S_EMPTY || (m != M_MEM && m != M_MEM_ANON)) && isnan(res[m][s][r])) {
                    fprintf(stderr, "bench_release: %s/%s run %d failed\n", metrics[m].id,
                            subjects[s].id, r);
                    return 1;
                }
    return 0;
}
