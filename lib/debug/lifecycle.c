/*
 * lifecycle.c - the one owner of the debug runtime's life in the host
 * process: start-up, the lazily opened trace, the single pthread_atfork
 * that fans out to every part, and the end of the process.
 *
 * Start-up happens at the first call into the library (possibly from a
 * constructor, or from a thread while another forks). Its first act is to
 * register the fork handlers, so a fork at any later instant is handled: the
 * prepare handler waits (bounded) for a start-up in progress on another
 * thread, and a child in which start-up was cut short starts again. A
 * waiter that finds the starter gone (a fork before the handlers existed)
 * takes start-up over.
 *
 * The end (SPEC section 4): this library's destructor, which the loader may
 * run before the destructors of other shared libraries (a preloaded library
 * is finalized early), defers the leak check with on_exit to after
 * _dl_fini, i.e. after every atexit handler and every library's
 * destructors, so handles they delete are not leaks and they all still
 * run; that handler also learns the exit status. The check first waits
 * (bounded) for a trace another thread is still opening (every other
 * thread's first handle waits for it too), then freezes the trace, takes
 * the set of live handles once, prints the report from it and closes the
 * trace with the same set. When main() leaves with pthread_exit() the
 * process ends with its last program thread, as without the runtime: the
 * trace writer is not counted among glibc's threads (trace_writer.c). Beside
 * LeakSanitizer, its death callback runs the check and the trace gets the
 * status LeakSanitizer ends the process with.
 */
#include "lifecycle.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../core/coverage.h"
#include "../core/fmt.h"
#include "forward.h"
#include "futex.h"
#include "loader.h"
#include "model.h"
#include "rt.h"
#include "runtime.h"
#include "side.h"
#include "stack.h"
#include "trace.h"

enum { S_NONE, S_STARTING, S_READY };
static _Atomic int state;
static _Atomic pid_t starter_tid, starter_pid;
static bool once_per_image;        /* on_exit, atfork, death callback: set */

enum { T_UNTRIED, T_OPENING, T_OPEN, T_NONE };
static _Atomic uint32_t trace_state;
static _Atomic pid_t trace_opener;  /* tid of the thread opening it */
static bool is_fork_child;

static _Atomic int exit_status = -1;
static _Atomic int exit_checked;
static bool deferred;

static pthread_key_t main_key;
static pthread_once_t main_key_once = PTHREAD_ONCE_INIT;
static _Atomic bool main_gone;

static pid_t gettid_(void)
{
    return (pid_t)syscall(SYS_gettid);
}

static void options_warn(const char *line, size_t len, void *ctx)
{
    (void)ctx;
    handle__rt_write(line, len);
}

void handle__life_poll(void)
{
    char msg[1024];
    while (handle__trace_take_warning(msg, sizeof msg))
        handle__rt_warn(msg);
}

/* ---- fork ------------------------------------------------------------ */

static void fork_prepare(void)
{
    /* A start-up in progress on another thread finishes first (bounded:
     * a child that still sees it cut short starts again). */
    if (atomic_load(&state) == S_STARTING && atomic_load(&starter_tid) != gettid_()) {
        for (int i = 0; i < 2000 && atomic_load(&state) == S_STARTING; i++) {
            struct timespec ms = {0, 500000};
            nanosleep(&ms, NULL);
        }
    }
    handle__trace_fork(HANDLE__FORK_PREPARE);
    handle__loader_fork(HANDLE__FORK_PREPARE);
    handle__side_fork(HANDLE__FORK_PREPARE);
    handle__depot_fork(HANDLE__FORK_PREPARE);
    handle__modules_fork(HANDLE__FORK_PREPARE);
    handle__threads_fork(HANDLE__FORK_PREPARE);
}

static void fork_parent(void)
{
    handle__threads_fork(HANDLE__FORK_PARENT);
    handle__modules_fork(HANDLE__FORK_PARENT);
    handle__depot_fork(HANDLE__FORK_PARENT);
    handle__side_fork(HANDLE__FORK_PARENT);
    handle__loader_fork(HANDLE__FORK_PARENT);
    handle__trace_fork(HANDLE__FORK_PARENT);
}

static void fork_child(void)
{
    handle__clock_fork_child();
    handle__clock_rebase_child();
    handle__threads_fork(HANDLE__FORK_CHILD);
    handle__modules_fork(HANDLE__FORK_CHILD);
    handle__depot_fork(HANDLE__FORK_CHILD);
    handle__side_fork(HANDLE__FORK_CHILD);
    handle__loader_fork(HANDLE__FORK_CHILD);
    handle__rt_fork_child();
    handle__trace_fork(HANDLE__FORK_CHILD);
    handle__trace_forget();
    atomic_store(&trace_state, T_UNTRIED);
    atomic_store(&trace_opener, 0);
    is_fork_child = true;
    atomic_store(&exit_status, -1);
    atomic_store(&exit_checked, 0);
    deferred = false;
    atomic_store(&main_gone, false);
    if (atomic_load(&state) == S_STARTING)
        atomic_store(&state, S_NONE); /* cut short by the fork: start again */
}

/* ---- the end --------------------------------------------------------- */

static void record_status(int status, void *arg)
{
    (void)arg;
    atomic_store(&exit_status, status);
}

/* The exitcode a sanitizer's option strings give, or -1. */
static int exitcode_in(const char *s, int code)
{
    for (const char *p = s; p && (p = strstr(p, "exitcode=")) != NULL; p += 9) {
        if (p != s && !strchr(" :,\t\n'\"", p[-1]))
            continue;
        char *end;
        long v = strtol(p + 9, &end, 10);
        if (end != p + 9)
            code = (int)v;
    }
    return code;
}

/* The status LeakSanitizer ends the process with (its exitcode flag): 1
 * inside ASan, 23 standalone, then the program's default options and the
 * environment, in the sanitizers' order. */
static int sanitizer_exitcode(void)
{
    typedef const char *opts_fn(void);
    bool asan = dlsym(RTLD_DEFAULT, "__asan_init") != NULL;
    int code = asan ? 1 : 23;
    if (asan) {
        opts_fn *f = (opts_fn *)(uintptr_t)dlsym(RTLD_DEFAULT, "__asan_default_options");
        code = exitcode_in(f ? f() : NULL, code);
    }
    opts_fn *l = (opts_fn *)(uintptr_t)dlsym(RTLD_DEFAULT, "__lsan_default_options");
    code = exitcode_in(l ? l() : NULL, code);
    if (asan)
        code = exitcode_in(getenv("ASAN_OPTIONS"), code);
    return exitcode_in(getenv("LSAN_OPTIONS"), code);
}

/* The live handles of this process (not those inherited from a fork
 * parent), in a mapping of their own (no malloc at exit); *n is their count
 * even when no memory could be had for them (then NULL). */
static struct handle__leak *collect(size_t *n, size_t *bytes)
{
    uint32_t epoch = atomic_load(&handle__fork_epoch);
    uint32_t hw = handle__core_high_water();
    struct handle__leak *v = NULL;
    size_t count = 0, cap = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t k = 0;
        for (uint32_t idx = 1; idx <= hw; idx++) {
            struct handle__side *s = handle__side_get(idx, false);
            if (s == NULL) {
                idx |= HANDLE__CHUNK_SLOTS - 1u; /* the whole chunk is unmapped */
                continue;
            }
            handle_t h = atomic_load_explicit(&s->h, memory_order_acquire);
            void *val;
            if (h == 0 || s->epoch != epoch || !handle__core_get(h, &val, NULL))
                continue;
            if (pass == 1 && k < cap)
                v[k] = (struct handle__leak){h, s->created_ns, s->tag, s->created_stack,
                                             s->created_thread};
            k++;
        }
        if (pass == 0) {
            count = k;
            if (count == 0)
                break;
            cap = count + 1024; /* room for a few made meanwhile */
            *bytes = cap * sizeof *v;
            void *p = mmap(NULL, *bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                           -1, 0);
            if (p == MAP_FAILED)
                break;
            v = p;
        } else {
            count = k < cap ? k : cap;
        }
    }
    *n = count;
    return v;
}

enum { END_EXIT, END_LSAN };

/* How long the exit check waits for a trace being opened on another
 * thread: longer than any opening seen under load, short enough that an
 * opening stuck on a lock the exiting thread holds (the program's malloc)
 * only delays the end. */
#define OPEN_WAIT_NS UINT64_C(10000000000)

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The trace's state once an opening under way on another thread has
 * settled. The process's first handle call opens the trace (the writer
 * creates the file and the schema) while every other thread's first call
 * waits for it before making its handle; an exit() in that window must not
 * take the trace for absent: the check would see no handle, print nothing,
 * keep the program's status, and the process would end with the trace
 * half made. Bounded (OPEN_WAIT_NS); an exit from inside the opening
 * itself (the program's malloc) does not wait for itself. */
static uint32_t trace_settled(void)
{
    uint32_t s = atomic_load_explicit(&trace_state, memory_order_acquire);
    if (s != T_OPENING || atomic_load(&trace_opener) == gettid_())
        return s;
    uint64_t start = mono_ns(), waited = 0;
    while (s == T_OPENING && waited < OPEN_WAIT_NS) {
        uint64_t left = OPEN_WAIT_NS - waited;
        handle__futex_wait(&trace_state, T_OPENING, left < 100000000u ? left : 100000000u);
        s = atomic_load_explicit(&trace_state, memory_order_acquire);
        waited = mono_ns() - start;
    }
    if (s == T_OPENING)
        handle__rt_warn("the trace was still being opened at exit after 10 s; the leak "
                        "check goes on without it, and the trace is incomplete");
    return s;
}

static void exit_check(int how)
{
    if (atomic_load(&state) != S_READY || atomic_exchange(&exit_checked, 1))
        return;
    struct handle__tls *t = handle__tls_get();
    t->busy = 1;
    /* The program's buffered output first, then the report, as a terminal
     * would show them (stdout to a pipe is not flushed before exit). */
    fflush(NULL);
    int status = atomic_load(&exit_status);
    if (status < 0)
        status = 0;
    uint32_t ts = trace_settled();
    bool traced = ts == T_OPEN;
    if (traced)
        handle__trace_freeze();
    size_t n = 0, bytes = 0;
    struct handle__leak *v = ts != T_UNTRIED ? collect(&n, &bytes) : NULL;
    uint64_t leaked = 0, sites = 0;
    if (handle__opt.detect_leaks && n) {
        if (v) {
            leaked = handle__leak_report(v, n, &sites, true);
        } else {
            char msg[160];
            snprintf(msg, sizeof msg,
                     "out of memory in the leak check: %zu handle(s) leaked, not listed", n);
            handle__rt_warn(msg);
            leaked = n;
        }
    } else if (traced && v && n) {
        handle__leak_report(v, n, &sites, false); /* the trace's symbols only */
    }
    int final = status;
    if (how == END_LSAN)
        final = sanitizer_exitcode();
    else if (leaked && handle__opt.abort_on_error)
        final = 128 + SIGABRT;
    else if (leaked && handle__opt.exitcode != 0)
        final = handle__opt.exitcode;
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s", handle__trace_path());
    if (traced)
        handle__trace_close(final, handle__start_unix_ns() + handle__now_ns(), v, n);
    if (v)
        munmap(v, bytes);
    handle__life_poll();
    if (handle__opt.verbosity >= 1 && path[0]) {
        char msg[PATH_MAX + 64];
        snprintf(msg, sizeof msg, "exiting with status %d; trace %s", final, path);
        handle__rt_info(msg);
    }
    if (leaked == 0 || how == END_LSAN)
        return;
    if (!handle__opt.abort_on_error && handle__opt.exitcode == 0)
        return;
    /* Let LeakSanitizer, if it is in the process, print its report too. */
    void (*lsan_check)(void) =
        (void (*)(void))(uintptr_t)dlsym(RTLD_DEFAULT, "__lsan_do_recoverable_leak_check");
    if (lsan_check)
        lsan_check();
    fflush(NULL);
    HANDLE__COVERAGE_DUMP();
    if (handle__opt.abort_on_error)
        abort(); /* with the program's own SIGABRT handler, if any */
    _exit(final);
}

static void lsan_death_callback(void)
{
    exit_check(END_LSAN);
}

/* Registered while exit() runs: called after _dl_fini, with the status. */
static void final_check(int status, void *arg)
{
    (void)arg;
    atomic_store(&exit_status, status);
    exit_check(END_EXIT);
}

/* The library is linked -z nodelete: this runs only when the process
 * ends with exit() (the loader's _dl_fini), possibly before the
 * destructors of other shared libraries (a preloaded library is finalized
 * first). The check is moved to after _dl_fini: glibc runs the exit
 * handlers registered while exit handlers run, and passes them the status.
 * If it refuses, now. */
__attribute__((destructor)) static void at_unload(void)
{
    if (atomic_load(&state) != S_READY)
        return;
    if (!deferred) {
        deferred = true;
        if (on_exit(final_check, NULL) == 0)
            return;
    }
    exit_check(END_EXIT);
}

/* On the writer thread, once every program thread is gone (main() left
 * with pthread_exit): end the process as glibc would have. */
static void on_orphan(void)
{
    exit(0);
}

static void main_thread_exit(void *arg)
{
    (void)arg;
    atomic_store(&main_gone, true);
    if (atomic_load(&trace_state) == T_OPEN && !handle__trace_writer_uncounted())
        handle__trace_watch_orphan(on_orphan);
}

static void main_key_create(void)
{
    if (pthread_key_create(&main_key, main_thread_exit) != 0)
        main_key = (pthread_key_t)-1;
}

/* Marks the main thread (only it), so that its pthread_exit() is seen. */
static void mark_main_thread(void)
{
    if (gettid_() != getpid())
        return;
    pthread_once(&main_key_once, main_key_create);
    if (main_key != (pthread_key_t)-1)
        pthread_setspecific(main_key, (void *)1);
}

__attribute__((constructor)) static void at_load(void)
{
    mark_main_thread();
}

/* ---- start-up -------------------------------------------------------- */

static void start(void)
{
    handle__stack_self_init();
    if (!once_per_image) {
        once_per_image = true;
        pthread_atfork(fork_prepare, fork_parent, fork_child);
        on_exit(record_status, NULL);
        void (*set_death)(void (*)(void)) = (void (*)(void (*)(void)))(uintptr_t)dlsym(
            RTLD_DEFAULT, "__sanitizer_set_death_callback");
        if (set_death)
            set_death(lsan_death_callback);
    }
    handle__options_init(&handle__opt, options_warn, NULL);
    /* Another library's table serves the process (SPEC section 1): every
     * call is forwarded to it, nothing else starts. */
    if (handle__forward_check(handle__rt_warn) != NULL)
        return;
    if (handle__opt.help) {
        static char help[16384];
        size_t n = handle__options_help_values(&handle__opt, help, sizeof help);
        handle__rt_write(help, n < sizeof help ? n : sizeof help - 1);
    }
    /* SPEC section 3: a suppressions file that cannot be used ends the
     * process here, as in LeakSanitizer. */
    handle__leak_suppressions_init();
    handle__quarantine_init(handle__opt.quarantine);
    if (!handle__stack_init() && !handle__opt.fast_unwind)
        handle__rt_warn("cannot load libunwind.so.8; where the built-in unwinder gives up, "
                        "stacks are taken from frame pointers");
    handle__modules_refresh();
    mark_main_thread();
}

void handle__life_init(void)
{
    if (HANDLE__LIKELY(atomic_load_explicit(&state, memory_order_acquire) == S_READY))
        return;
    pid_t self = gettid_();
    for (;;) {
        int expect = S_NONE;
        if (atomic_compare_exchange_strong(&state, &expect, S_STARTING)) {
            atomic_store(&starter_tid, self);
            atomic_store(&starter_pid, getpid());
            handle__options_defaults(&handle__opt);
            struct handle__tls *t = handle__tls_get();
            int busy = t->busy;
            t->busy = 1;
            start();
            t->busy = busy;
            atomic_store_explicit(&state, S_READY, memory_order_release);
            return;
        }
        if (expect == S_READY)
            return;
        if (atomic_load(&starter_tid) == self && atomic_load(&starter_pid) == getpid())
            return; /* nested call during start-up: defaults, no recording */
        while (atomic_load_explicit(&state, memory_order_acquire) == S_STARTING) {
            if (atomic_load(&starter_pid) != getpid()) {
                /* Forked before the handlers existed: the starter is in
                 * the parent. Take over. */
                int s = S_STARTING;
                atomic_compare_exchange_strong(&state, &s, S_NONE);
                break;
            }
            sched_yield();
        }
    }
}

/* ---- the trace ------------------------------------------------------- */

static void read_file(const char *path, char *buf, size_t cap, bool nul_to_space)
{
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    size_t len = 0;
    ssize_t n;
    while (len + 1 < cap && (n = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    while (len > 0 && buf[len - 1] == '\0')
        len--;
    for (size_t i = 0; nul_to_space && i < len; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    buf[len] = '\0';
}

/* Expands %p (pid) and %% in the trace option; a fork child without %p
 * appends .<pid> so that it does not replace its parent's trace. False
 * when the result does not fit (never cut short). */
static bool expand_path(char *out, size_t cap)
{
    struct handle__fmt f = {out, 0, cap};
    const char *p = handle__opt.trace;
    bool had_pid = false;
    for (; *p; p++) {
        if (p[0] == '%' && p[1] == 'p') {
            handle__fmt_dec(&f, (uint64_t)getpid());
            had_pid = true;
            p++;
        } else if (p[0] == '%' && p[1] == '%') {
            handle__fmt_mem(&f, "%", 1);
            p++;
        } else {
            handle__fmt_mem(&f, p, 1);
        }
    }
    if (is_fork_child && !had_pid) {
        handle__fmt_str(&f, ".");
        handle__fmt_dec(&f, (uint64_t)getpid());
    }
    if (f.len >= cap)
        return false;
    out[f.len] = '\0';
    return true;
}

static bool open_trace(void)
{
    if (handle__opt.trace[0] == '\0')
        return false;
    static char path[PATH_MAX];
    if (!expand_path(path, sizeof path)) {
        handle__rt_warn("cannot create the trace: its path is longer than PATH_MAX after "
                        "expanding %p; checks go on without a trace");
        return false;
    }
    static char exe[PATH_MAX], cmdline[8192];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    read_file("/proc/self/cmdline", cmdline, sizeof cmdline, true);
    struct handle__trace_config cfg = {
        .path = path,
        .flush_ms = (uint32_t)handle__opt.flush_ms,
        .max_history = handle__opt.max_history,
        .pid = getpid(),
        .exe = exe,
        .cmdline = cmdline,
        .started_at = handle__start_unix_ns(),
        /* start_ticks and boot_id: the store reads them (trace.h) */
        .suppressions = handle__leak_suppressions_text(),
    };
    char err[512];
    if (!handle__trace_open(&cfg, err, sizeof err)) {
        char msg[PATH_MAX + 600];
        snprintf(msg, sizeof msg, "cannot create trace %s: %s; checks go on without a trace",
                 path, err);
        handle__rt_warn(msg);
        return false;
    }
    if (handle__opt.verbosity >= 1) {
        char msg[PATH_MAX + 32];
        snprintf(msg, sizeof msg, "tracing to %s", handle__trace_path());
        handle__rt_info(msg);
    }
    if (atomic_load(&main_gone) && !handle__trace_writer_uncounted())
        handle__trace_watch_orphan(on_orphan);
    return true;
}

bool handle__life_trace_start(void)
{
    uint32_t s = atomic_load_explicit(&trace_state, memory_order_acquire);
    if (HANDLE__LIKELY(s == T_OPEN))
        return true;
    for (;;) {
        if (s == T_NONE)
            return false;
        if (s == T_OPEN)
            return true;
        if (s == T_UNTRIED) {
            if (atomic_compare_exchange_strong(&trace_state, &s, T_OPENING)) {
                atomic_store(&trace_opener, gettid_());
                bool ok = open_trace();
                atomic_store_explicit(&trace_state, ok ? T_OPEN : T_NONE, memory_order_release);
                handle__futex_wake(&trace_state, INT_MAX);
                return ok;
            }
            continue; /* s holds the new state */
        }
        if (atomic_load(&trace_opener) == gettid_())
            return false; /* a misuse inside the opening itself (the program's malloc) */
        handle__futex_wait(&trace_state, T_OPENING, 10 * 1000000u);
        s = atomic_load_explicit(&trace_state, memory_order_acquire);
    }
}
