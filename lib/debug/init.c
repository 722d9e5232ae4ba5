/*
 * init.c - life of the debug runtime inside the host process: lazy,
 * once-only start-up (options, unwinder, modules, fork and exit hooks), the
 * lazily created trace, fork handling, the diagnostics destination, and
 * the exit leak check.
 *
 * Start-up happens at the first call into the library, which may come from
 * a constructor before ours ran; a recursive call during start-up (from
 * the unwinder's or SQLite's own initialization) sees the default options
 * and records nothing. The exit check runs as a destructor of this library,
 * after the program's atexit handlers and global destructors; the exit
 * status is learnt with on_exit, registered at start-up. fork: the child
 * drops the parent's trace writer without touching it and opens its own
 * trace lazily, so a child that only execs or _exits leaves no file.
 */
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
#include <sys/syscall.h>
#include <unistd.h>

#include "../core/coverage.h"
#include "../core/fmt.h"
#include "forward.h" /* forward (issue 11 case 12) */
#include "runtime.h"
#include "trace.h"

struct handle__options handle__opt;
_Atomic uint32_t handle__fork_epoch = 1;

HANDLE__HIDDEN void handle__quarantine_init(uint64_t cap);
HANDLE__HIDDEN void handle__debug_fork(int phase);

static _Atomic int state;          /* 0: not started, 1: starting, 2: ready */
static _Atomic pid_t starter;      /* the thread that is starting */
static pthread_mutex_t trace_lock = PTHREAD_MUTEX_INITIALIZER;
static int trace_state;            /* 0: not tried, 1: open, 2: none/failed; trace_lock */
static char trace_path[PATH_MAX];
static bool is_fork_child;
static int log_fd = -1;
static pid_t log_pid;
static _Atomic int exit_status = -1;
static _Atomic int exit_checked;

/* ---- output ---------------------------------------------------------- */

static int diag_fd(void)
{
    if (handle__opt.log_path[0] == '\0')
        return STDERR_FILENO;
    pid_t pid = getpid();
    if (log_fd >= 0 && log_pid == pid)
        return log_fd;
    char path[PATH_MAX + 32];
    struct handle__fmt f = {path, 0, sizeof path - 1};
    handle__fmt_str(&f, handle__opt.log_path);
    handle__fmt_str(&f, ".");
    handle__fmt_dec(&f, (uint64_t)pid);
    path[f.len] = '\0';
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return STDERR_FILENO;
    log_fd = fd;
    log_pid = pid;
    return fd;
}

void handle__rt_write(const char *text, size_t len)
{
    struct handle__fmt f = {(char *)text, len, len};
    handle__fmt_flush(&f, diag_fd());
}

void handle__rt_warn(const char *msg)
{
    char buf[1024];
    struct handle__fmt f = {buf, 0, sizeof buf - 1};
    handle__fmt_str(&f, "==");
    handle__fmt_dec(&f, (uint64_t)getpid());
    handle__fmt_str(&f, "==WARNING: HandleSanitizer: ");
    handle__fmt_str(&f, msg);
    handle__fmt_str(&f, "\n");
    handle__fmt_flush(&f, diag_fd());
}

static void options_warn(const char *line, size_t len, void *ctx)
{
    (void)ctx;
    struct handle__fmt f = {(char *)line, len, len};
    handle__fmt_flush(&f, STDERR_FILENO);
}

/* ---- fork ------------------------------------------------------------ */

static void fork_prepare(void)
{
    pthread_mutex_lock(&trace_lock);
    handle__debug_fork(HANDLE__FORK_PREPARE);
    handle__depot_fork(HANDLE__FORK_PREPARE);
    handle__modules_fork(HANDLE__FORK_PREPARE);
    handle__threads_fork(HANDLE__FORK_PREPARE);
}

static void fork_parent(void)
{
    handle__threads_fork(HANDLE__FORK_PARENT);
    handle__modules_fork(HANDLE__FORK_PARENT);
    handle__depot_fork(HANDLE__FORK_PARENT);
    handle__debug_fork(HANDLE__FORK_PARENT);
    pthread_mutex_unlock(&trace_lock);
}

static void fork_child(void)
{
    handle__clock_fork_child();
    handle__threads_fork(HANDLE__FORK_CHILD);
    handle__modules_fork(HANDLE__FORK_CHILD);
    handle__depot_fork(HANDLE__FORK_CHILD);
    handle__debug_fork(HANDLE__FORK_CHILD);
    atomic_fetch_add(&handle__fork_epoch, 1);
    handle__trace_forget();
    trace_state = 0;
    trace_path[0] = '\0';
    is_fork_child = true;
    log_fd = -1;
    atomic_store(&exit_status, -1);
    pthread_mutex_unlock(&trace_lock);
}

/* ---- exit ------------------------------------------------------------ */

static void record_status(int status, void *arg)
{
    (void)arg;
    atomic_store(&exit_status, status);
}

static void lsan_death_callback(void);

/* The exit leak check (SPEC section 4). lsan_dying: called from
 * LeakSanitizer's death callback, which exits by itself afterwards. */
static void exit_check(bool lsan_dying)
{
    if (atomic_load(&state) != 2 || atomic_exchange(&exit_checked, 1))
        return;
    struct handle__tls *t = handle__tls_get();
    t->busy = 1;
    /* The program's buffered output first, then the report, as a terminal
     * would show them (stdout to a pipe is not flushed before exit). */
    fflush(NULL);
    int status = atomic_load(&exit_status);
    if (status < 0)
        status = 0;
    uint64_t sites = 0, leaked = 0;
    pthread_mutex_lock(&trace_lock);
    bool made_handles = trace_state != 0;
    pthread_mutex_unlock(&trace_lock);
    if (handle__opt.detect_leaks && made_handles)
        leaked = handle__leak_report(&sites);
    int final = status;
    if (leaked && handle__opt.abort_on_error)
        final = 128 + SIGABRT;
    else if (leaked && handle__opt.exitcode != 0)
        final = handle__opt.exitcode;
    if (handle__trace_is_open())
        handle__trace_close(final, handle__start_unix_ns() + handle__now_ns(), NULL, 0);
    if (handle__opt.verbosity >= 1 && trace_path[0]) {
        char msg[PATH_MAX + 64];
        snprintf(msg, sizeof msg, "exiting with status %d; trace %s", final, trace_path);
        handle__rt_warn(msg);
    }
    if (leaked == 0 || lsan_dying)
        return;
    if (!handle__opt.abort_on_error && handle__opt.exitcode == 0)
        return;
    /* Let LeakSanitizer, if it is in the process, print its report too. */
    void (*lsan_check)(void) = (void (*)(void))(uintptr_t)dlsym(RTLD_DEFAULT,
                                                               "__lsan_do_recoverable_leak_check");
    if (lsan_check)
        lsan_check();
    fflush(NULL);
    HANDLE__COVERAGE_DUMP();
    if (handle__opt.abort_on_error) {
        signal(SIGABRT, SIG_DFL);
        abort();
    }
    _exit(final);
}

static void lsan_death_callback(void)
{
    exit_check(true);
}

__attribute__((destructor)) static void at_unload(void)
{
    exit_check(false);
}

/* ---- start-up -------------------------------------------------------- */

static void start(void)
{
    handle__options_init(&handle__opt, options_warn, NULL);
    /* >>> forward (issue 11 case 12): another library's table serves the
     * process; every call is forwarded to it, nothing else starts. */
    if (handle__forward_check(handle__rt_warn) != NULL)
        return;
    /* <<< forward */
    if (handle__opt.help) {
        static char help[16384];
        size_t n = handle__options_help_values(&handle__opt, help, sizeof help);
        handle__rt_write(help, n < sizeof help ? n : sizeof help - 1);
    }
    handle__quarantine_init(handle__opt.quarantine);
    if (!handle__stack_init() && !handle__opt.fast_unwind)
        handle__rt_warn("cannot load libunwind.so.8; where the built-in unwinder gives up, "
                        "stacks are taken from frame pointers");
    handle__modules_refresh();
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    on_exit(record_status, NULL);
    void (*set_death)(void (*)(void)) = (void (*)(void (*)(void)))(uintptr_t)dlsym(
        RTLD_DEFAULT, "__sanitizer_set_death_callback");
    if (set_death)
        set_death(lsan_death_callback);
}

void handle__rt_init(void)
{
    if (HANDLE__LIKELY(atomic_load_explicit(&state, memory_order_acquire) == 2))
        return;
    pid_t self = (pid_t)syscall(SYS_gettid);
    int expect = 0;
    if (atomic_compare_exchange_strong(&state, &expect, 1)) {
        atomic_store(&starter, self);
        handle__options_defaults(&handle__opt);
        struct handle__tls *t = handle__tls_get();
        int busy = t->busy;
        t->busy = 1;
        start();
        t->busy = busy;
        atomic_store_explicit(&state, 2, memory_order_release);
        return;
    }
    if (atomic_load(&starter) == self)
        return; /* recursive call during start-up: defaults, no recording */
    while (atomic_load_explicit(&state, memory_order_acquire) != 2)
        sched_yield();
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
 * appends .<pid> so that it does not replace its parent's trace. */
static void expand_path(char *out, size_t cap)
{
    struct handle__fmt f = {out, 0, cap - 1};
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
    out[f.len] = '\0';
}

bool handle__rt_trace_start(void)
{
    pthread_mutex_lock(&trace_lock);
    if (trace_state != 0) {
        bool open = trace_state == 1;
        pthread_mutex_unlock(&trace_lock);
        return open;
    }
    trace_state = 2;
    if (handle__opt.trace[0] != '\0') {
        expand_path(trace_path, sizeof trace_path);
        static char exe[PATH_MAX], cmdline[8192];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = '\0';
        read_file("/proc/self/cmdline", cmdline, sizeof cmdline, true);
        struct handle__trace_config cfg = {
            .path = trace_path,
            .flush_ms = (uint32_t)handle__opt.flush_ms,
            .max_history = handle__opt.max_history,
            .pid = getpid(),
            .exe = exe,
            .cmdline = cmdline,
            .started_at = handle__start_unix_ns(),
        };
        char err[512];
        if (handle__trace_open(&cfg, err, sizeof err)) {
            trace_state = 1;
            if (handle__opt.verbosity >= 1) {
                char msg[PATH_MAX + 32];
                snprintf(msg, sizeof msg, "tracing to %s", trace_path);
                handle__rt_warn(msg);
            }
        } else {
            char msg[PATH_MAX + 600];
            snprintf(msg, sizeof msg, "cannot create trace %s: %s; checks go on without a trace",
                     trace_path, err);
            handle__rt_warn(msg);
            trace_path[0] = '\0';
        }
    }
    bool open = trace_state == 1;
    pthread_mutex_unlock(&trace_lock);
    return open;
}

const char *handle__rt_trace_path(void)
{
    return trace_path;
}
