/*
 * faultprog.c - the programs that tests/faults/run.sh runs under
 * LD_PRELOAD=libhandle-debug.so while it hurts them. Linked against
 * libhandle.so like any user program. One binary, one mode per argv[1]:
 *
 *   churn SECONDS CKPT [THREADS] [PAUSE_US]
 *       THREADS (default 3) threads make and delete tagged handles ("t0",
 *       "t1", ...) in batches of 64, each keeping a few handles live for a
 *       while, and after every batch publish a checkpoint (CLOCK_MONOTONIC
 *       time, handles created and deleted so far) into the shared file CKPT
 *       (mmap'ed: it survives kill -9). The main thread holds 100 handles
 *       tagged "main" for the whole run. Every value read back is checked.
 *       Ends after SECONDS (0: never) with the kept handles deleted and the
 *       100 "main" handles leaked; prints "churn done created=N deleted=M".
 *   eintr SECONDS [misuse]
 *       churn with 3 threads while a timer sends SIGALRM every millisecond
 *       (no SA_RESTART) and a helper process sends SIGUSR1 to random threads
 *       as fast as it can; the handlers call handle_lookup/handle_value on a
 *       live handle (both are async-signal-safe) and check errno is kept.
 *       Prints "eintr done signals=N". With "misuse", ends with a double
 *       delete in the storm (the helper process is then left to notice).
 *   forkstorm N
 *       2 threads churn while the main thread forks N children, each of
 *       which (by i % 5) makes and leaks one handle and exits, makes and
 *       deletes handles and _exits, only _exits, execs /bin/true, or forks
 *       a grandchild that makes a handle and exits. Prints the number of
 *       processes that made handles: "forkstorm done traced=N".
 *   threadstorm SECONDS
 *       threads are created and exit constantly (up to 16 at once), each
 *       making handles, handing half of them to the next thread to delete,
 *       and exiting; the main thread checks handle_live_count at the end.
 *       Prints "threadstorm done threads=N created=M".
 *   misuse
 *       one handle, then a double delete (for the disk-full test: a panic
 *       must still print its diagnostic when the trace cannot be written).
 *   leaky
 *       one thread, always the same calls: 300 lifetimes from three sites,
 *       then 5 handles leaked (for the out-of-memory sweeps).
 *   sites [BITS]
 *       one leaked handle from each of 2^BITS (default 11) distinct
 *       creation stacks: an exit report with 2048 sites.
 *   history N K [misuse]
 *       K lifetimes in a row with 7 handles live; prints the last N deleted
 *       handles ("kept 0x..."), what max_history=N must keep; "misuse"
 *       ends with an invalid-handle panic, whose error must be kept too.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <handle/handle.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ckpt.h"

#define die(...)                                                                               \
    do {                                                                                       \
        fprintf(stderr, "faultprog: " __VA_ARGS__);                                            \
        fputc('\n', stderr);                                                                   \
        exit(90);                                                                              \
    } while (0)

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- churn ------------------------------------------------------------ */

static const char *const tags[CKPT_THREADS] = {"t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"};
static struct ckpt_file *ck;
static _Atomic bool stop;
static uint64_t deadline_ns;
static long pause_us = 1000;
static _Atomic uint64_t total_created, total_deleted;

struct churn_arg {
    int id;
    int values[64];
};

static void *churn_thread(void *p)
{
    struct churn_arg *a = p;
    const char *tag = tags[a->id];
    struct ckpt_thread *ct = ck ? &ck->th[a->id] : NULL;
    uint64_t created = 0, deleted = 0;
    handle_t kept[16] = {0};
    unsigned round = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        handle_t h[64];
        for (int i = 0; i < 64; i++) {
            h[i] = handle_new_tagged(&a->values[i], tag);
            created++;
        }
        for (int i = 0; i < 64; i++) {
            int saved = errno = 1000 + i;
            if (handle_value_tagged(h[i], tag) != &a->values[i] || errno != saved)
                die("thread %d: wrong value or errno", a->id);
            void *v;
            if (!handle_lookup(h[i], &v) || v != &a->values[i])
                die("thread %d: lookup failed", a->id);
        }
        /* Keep one handle of each batch live for 16 rounds. */
        unsigned slot = round++ % 16;
        if (kept[slot]) {
            handle_delete(kept[slot]);
            deleted++;
        }
        kept[slot] = h[0];
        for (int i = 1; i < 64; i++) {
            handle_delete(h[i]);
            deleted++;
        }
        if (ct) {
            uint64_t n = atomic_load_explicit(&ct->n, memory_order_relaxed);
            struct ckpt_entry *e = &ct->e[n % CKPT_RING];
            e->t_ns = now_ns();
            e->created = created;
            e->deleted = deleted;
            atomic_store_explicit(&ct->n, n + 1, memory_order_release);
        }
        if (deadline_ns && now_ns() >= deadline_ns)
            break;
        if (pause_us)
            sleep_us(pause_us);
    }
    for (int i = 0; i < 16; i++)
        if (kept[i]) {
            handle_delete(kept[i]);
            deleted++;
        }
    atomic_fetch_add(&total_created, created);
    atomic_fetch_add(&total_deleted, deleted);
    return NULL;
}

static struct ckpt_file *ckpt_map(const char *path, int threads)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, sizeof(struct ckpt_file)) != 0)
        die("cannot create %s: %s", path, strerror(errno));
    struct ckpt_file *f =
        mmap(NULL, sizeof *f, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (f == MAP_FAILED)
        die("cannot map %s", path);
    f->magic = CKPT_MAGIC;
    f->threads = (uint32_t)threads;
    f->start_ns = now_ns();
    return f;
}

static pthread_t churners[CKPT_THREADS];
static struct churn_arg churn_args[CKPT_THREADS];

static void churn_start(int threads)
{
    for (int i = 0; i < threads; i++) {
        churn_args[i].id = i;
        if (pthread_create(&churners[i], NULL, churn_thread, &churn_args[i]) != 0)
            die("pthread_create");
    }
}

static void churn_join(int threads)
{
    atomic_store(&stop, true);
    for (int i = 0; i < threads; i++)
        pthread_join(churners[i], NULL);
}

static int main_values[100];

static int churn_main(int argc, char **argv)
{
    double secs = argc > 2 ? atof(argv[2]) : 1;
    int threads = argc > 4 ? atoi(argv[4]) : 3;
    if (argc > 5)
        pause_us = atol(argv[5]);
    if (threads < 1 || threads > CKPT_THREADS)
        die("1..%d threads", CKPT_THREADS);
    if (argc > 3 && strcmp(argv[3], "-") != 0)
        ck = ckpt_map(argv[3], threads);
    for (int i = 0; i < 100; i++)
        handle_new_tagged(&main_values[i], "main");
    if (secs > 0)
        deadline_ns = now_ns() + (uint64_t)(secs * 1e9);
    churn_start(threads);
    for (int i = 0; i < threads; i++)
        pthread_join(churners[i], NULL);
    printf("churn done created=%llu deleted=%llu\n",
           (unsigned long long)atomic_load(&total_created) + 100,
           (unsigned long long)atomic_load(&total_deleted));
    return 0;
}

/* ---- eintr -------------------------------------------------------------- */

static handle_t sig_handle;
static int sig_value;
static _Atomic uint64_t signals_seen;
static _Atomic int sig_bad;

static void on_signal(int sig)
{
    (void)sig;
    int saved = errno;
    errno = 4242;
    void *v = NULL;
    if (!handle_lookup(sig_handle, &v) || v != &sig_value || handle_value(sig_handle) != &sig_value)
        atomic_store(&sig_bad, 1);
    /* A handle that is not live: lookup must say so, never panic. */
    if (handle_lookup(sig_handle + 1, NULL))
        atomic_store(&sig_bad, 2);
    if (errno != 4242)
        atomic_store(&sig_bad, 3);
    atomic_fetch_add_explicit(&signals_seen, 1, memory_order_relaxed);
    errno = saved;
}

static int eintr_main(int argc, char **argv)
{
    double secs = argc > 2 ? atof(argv[2]) : 2;
    sig_handle = handle_new_tagged(&sig_value, "signal");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: every blocking call sees EINTR */
    sigaction(SIGALRM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    pause_us = 200;
    deadline_ns = now_ns() + (uint64_t)(secs * 1e9);
    churn_start(3);
    struct itimerval it = {{0, 1000}, {0, 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
    /* A helper process that sends SIGUSR1 to the threads of this process
     * (tgkill to each tid in /proc/PID/task) as fast as it can. */
    pid_t me = getpid();
    pid_t helper = fork();
    if (helper == 0) {
        char dir[64];
        snprintf(dir, sizeof dir, "/proc/%d/task", (int)me);
        for (;;) {
            DIR *d = opendir(dir);
            if (d == NULL)
                _exit(0);
            struct dirent *de;
            while ((de = readdir(d)) != NULL)
                if (de->d_name[0] != '.')
                    syscall(SYS_tgkill, me, atoi(de->d_name), SIGUSR1);
            closedir(d);
            sleep_us(100);
        }
    }
    for (int i = 0; i < 3; i++)
        pthread_join(churners[i], NULL);
    if (argc > 3 && strcmp(argv[3], "misuse") == 0) {
        /* A panic in the storm: its diagnostic and its errors row must
         * still be written (the commit wait sees EINTR). */
        handle_t h = handle_new_tagged(&sig_value, "doomed");
        handle_delete(h);
        handle_delete(h);
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    kill(helper, SIGKILL);
    waitpid(helper, NULL, 0);
    if (atomic_load(&sig_bad))
        die("a signal handler saw a wrong value or errno (%d)", atomic_load(&sig_bad));
    handle_delete(sig_handle);
    printf("eintr done signals=%llu created=%llu deleted=%llu\n",
           (unsigned long long)atomic_load(&signals_seen),
           (unsigned long long)atomic_load(&total_created) + 1,
           (unsigned long long)atomic_load(&total_deleted) + 1);
    return 0;
}

/* ---- forkstorm ----------------------------------------------------------- */

static int fork_value;

static void child_work(int i, handle_t inherited)
{
    if (handle_value(inherited) != &fork_value)
        _exit(97);
    switch (i % 5) {
    case 0: /* one handle leaked: a trace and a leak report (exitcode 0 here) */
        handle_new_tagged(&fork_value, "child leak");
        exit(0);
    case 1: { /* handles made and deleted, then _exit */
        for (int k = 0; k < 100; k++)
            handle_delete(handle_new(&fork_value));
        _exit(0);
    }
    case 2:
        _exit(0);
    case 3:
        execl("/bin/true", "true", (char *)NULL);
        _exit(98);
    default: { /* a grandchild with a handle of its own */
        pid_t g = fork();
        if (g == 0) {
            handle_delete(handle_new(&fork_value));
            exit(0);
        }
        int st;
        waitpid(g, &st, 0);
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 96);
    }
    }
}

static int forkstorm_main(int argc, char **argv)
{
    int n = argc > 2 ? atoi(argv[2]) : 100;
    handle_t inherited = handle_new_tagged(&fork_value, "parent");
    pause_us = 100;
    churn_start(2);
    int traced = 0, bad = 0;
    for (int i = 0; i < n; i++) {
        fflush(stdout);
        pid_t c = fork();
        if (c < 0)
            die("fork: %s", strerror(errno));
        if (c == 0)
            child_work(i, inherited);
        int st;
        if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "faultprog: child %d (mode %d) ended with status 0x%x\n", i, i % 5, st);
            bad++;
        }
        traced += (i % 5 == 0 || i % 5 == 1) + (i % 5 == 4);
    }
    churn_join(2);
    handle_delete(inherited);
    printf("forkstorm done traced=%d bad=%d\n", traced, bad);
    return bad ? 1 : 0;
}

/* ---- threadstorm --------------------------------------------------------- */

static pthread_mutex_t hand_mu = PTHREAD_MUTEX_INITIALIZER;
static handle_t handoff[4096];
static size_t nhandoff;
static int storm_values[64];
static _Atomic uint64_t storm_created, storm_threads;

static void *storm_thread(void *p)
{
    (void)p;
    handle_t mine[64];
    for (int i = 0; i < 64; i++) {
        mine[i] = handle_new_tagged(&storm_values[i], "storm");
        if (handle_value(mine[i]) != &storm_values[i])
            die("threadstorm: wrong value");
    }
    atomic_fetch_add(&storm_created, 64);
    /* Delete what an earlier thread handed over, hand over half of ours. */
    pthread_mutex_lock(&hand_mu);
    while (nhandoff > 0 && nhandoff > 2048 - 32)
        handle_delete(handoff[--nhandoff]);
    size_t take = nhandoff < 32 ? nhandoff : 32;
    for (size_t i = 0; i < take; i++)
        handle_delete(handoff[--nhandoff]);
    for (int i = 0; i < 32; i++)
        handoff[nhandoff++] = mine[i];
    pthread_mutex_unlock(&hand_mu);
    for (int i = 32; i < 64; i++)
        handle_delete(mine[i]);
    atomic_fetch_add(&storm_threads, 1);
    return NULL;
}

static int threadstorm_main(int argc, char **argv)
{
    double secs = argc > 2 ? atof(argv[2]) : 2;
    uint64_t end = now_ns() + (uint64_t)(secs * 1e9);
    pthread_t t[16];
    int n = 0;
    while (now_ns() < end) {
        if (n == 16) {
            for (int i = 0; i < 16; i++)
                pthread_join(t[i], NULL);
            n = 0;
        }
        if (pthread_create(&t[n], NULL, storm_thread, NULL) != 0)
            die("pthread_create: %s", strerror(errno));
        n++;
        /* Some threads are detached and never joined. */
        if (n % 5 == 4) {
            pthread_t d;
            if (pthread_create(&d, NULL, storm_thread, NULL) == 0)
                pthread_detach(d);
        }
    }
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    sleep_us(100000); /* the detached ones */
    pthread_mutex_lock(&hand_mu);
    size_t left = nhandoff;
    pthread_mutex_unlock(&hand_mu);
    size_t live = handle_live_count();
    if (live != left)
        die("threadstorm: live count %zu, %zu handles handed over and not deleted", live, left);
    pthread_mutex_lock(&hand_mu);
    while (nhandoff > 0)
        handle_delete(handoff[--nhandoff]);
    pthread_mutex_unlock(&hand_mu);
    if (handle_live_count() != 0)
        die("threadstorm: %zu live at the end", handle_live_count());
    printf("threadstorm done threads=%llu created=%llu\n",
           (unsigned long long)atomic_load(&storm_threads),
           (unsigned long long)atomic_load(&storm_created));
    return 0;
}

/* ---- leaky ---------------------------------------------------------------- */

static int leaky_values[3];
__attribute__((noinline)) static handle_t leaky_a(void) { return handle_new_tagged(&leaky_values[0], "a"); }
__attribute__((noinline)) static handle_t leaky_b(void) { return handle_new_tagged(&leaky_values[1], "b"); }
__attribute__((noinline)) static handle_t leaky_c(void) { return handle_new(&leaky_values[2]); }

/* One thread, always the same calls: 300 lifetimes from three sites, then
 * 5 handles leaked (an exit report with three sites). */
static int leaky_main(void)
{
    for (int i = 0; i < 100; i++) {
        handle_delete(leaky_a());
        handle_delete(leaky_b());
        handle_delete(leaky_c());
    }
    leaky_a();
    leaky_a();
    leaky_b();
    leaky_c();
    leaky_c();
    printf("leaky done\n");
    return 0;
}

/* ---- sites ----------------------------------------------------------------- */

/* 2^BITS distinct creation stacks: a path of BITS calls through two
 * functions, chosen by the bits of i, then one leaked handle. */
static int site_value;
__attribute__((noinline)) static void path0(unsigned bits, int n);
__attribute__((noinline)) static void path1(unsigned bits, int n);
static void site_step(unsigned bits, int n)
{
    if (n == 0) {
        handle_new_tagged(&site_value, "site");
        return;
    }
    if (bits & 1)
        path1(bits >> 1, n - 1);
    else
        path0(bits >> 1, n - 1);
}
__attribute__((noinline)) static void path0(unsigned bits, int n)
{
    site_step(bits, n);
    __asm__ volatile("" ::: "memory"); /* not a tail call: a frame of its own */
}
__attribute__((noinline)) static void path1(unsigned bits, int n)
{
    site_step(bits, n);
    __asm__ volatile("" ::: "memory");
}

static int sites_main(int argc, char **argv)
{
    int bits = argc > 2 ? atoi(argv[2]) : 11;
    for (unsigned i = 0; i < (1u << bits); i++)
        site_step(i, bits);
    printf("sites done %u\n", 1u << bits);
    return 0;
}

/* ---- history --------------------------------------------------------------- */

/* K lifetimes one after another on one thread, 7 handles kept live, the
 * numbers of the last N deleted handles printed ("kept 0x..."): what a
 * trace with max_history=N must hold. With "misuse", ends with a double
 * delete (the error must be kept too). */
static int history_main(int argc, char **argv)
{
    long n = argc > 2 ? atol(argv[2]) : 100, k = argc > 3 ? atol(argv[3]) : 10000;
    bool misuse = argc > 4 && strcmp(argv[4], "misuse") == 0;
    static int v;
    handle_t live[7];
    for (int i = 0; i < 7; i++)
        live[i] = handle_new_tagged(&v, "live");
    for (long i = 0; i < k; i++) {
        handle_t h = handle_new_tagged(&v, i % 2 ? "odd" : "even");
        handle_delete(h);
        if (i >= k - n)
            printf("kept 0x%lx\n", (unsigned long)h);
    }
    fflush(stdout);
    if (misuse)
        handle_delete(live[0] + ((handle_t)1 << 32)); /* never issued: invalid-handle */
    return 0;
}

/* ---- misuse -------------------------------------------------------------- */

static int misuse_main(void)
{
    static int x;
    for (int i = 0; i < 1000; i++)
        handle_delete(handle_new(&x));
    handle_t h = handle_new_tagged(&x, "doomed");
    handle_delete(h);
    handle_delete(h);
    printf("not reached\n");
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "churn") == 0)
        return churn_main(argc, argv);
    if (strcmp(mode, "eintr") == 0)
        return eintr_main(argc, argv);
    if (strcmp(mode, "forkstorm") == 0)
        return forkstorm_main(argc, argv);
    if (strcmp(mode, "threadstorm") == 0)
        return threadstorm_main(argc, argv);
    if (strcmp(mode, "misuse") == 0)
        return misuse_main();
    if (strcmp(mode, "leaky") == 0)
        return leaky_main();
    if (strcmp(mode, "history") == 0)
        return history_main(argc, argv);
    if (strcmp(mode, "sites") == 0)
        return sites_main(argc, argv);
    fprintf(stderr, "usage: faultprog churn|eintr|forkstorm|threadstorm|misuse|leaky|history|sites ...\n");
    return 2;
}
