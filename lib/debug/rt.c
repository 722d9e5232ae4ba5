/*
 * rt.c - the debug runtime's process-wide state (rt.h): options, the
 * per-thread block, the fork epoch and the diagnostics destination.
 *
 * Writes never kill the program: SIGXFSZ is blocked around each write (a
 * log file over RLIMIT_FSIZE then fails with EFBIG instead), a signal this
 * write raised is taken back, and what a log file cannot take (EFBIG,
 * ENOSPC, EBADF...) goes to stderr.
 */
#include "rt.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../core/fmt.h"

struct handle__options handle__opt;
_Atomic uint32_t handle__fork_epoch = 1;

static _Thread_local struct handle__tls tls_state __attribute__((tls_model("initial-exec")));

struct handle__tls *handle__tls_get(void)
{
    return &tls_state;
}

static int log_fd = -1;
static pid_t log_pid;

bool handle__rt_write_fd(int fd, const char *text, size_t len)
{
    int saved = errno;
    sigset_t xfsz, old, pending;
    sigemptyset(&xfsz);
    sigaddset(&xfsz, SIGXFSZ);
    bool was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGXFSZ);
    bool masked = pthread_sigmask(SIG_BLOCK, &xfsz, &old) == 0;
    bool ok = true;
    while (len > 0) {
        ssize_t n = write(fd, text, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            ok = false;
            break;
        }
        text += n;
        len -= (size_t)n;
    }
    if (masked) {
        /* Take back a SIGXFSZ that this write raised (thread-directed). */
        if (!was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGXFSZ)) {
            struct timespec zero = {0, 0};
            sigtimedwait(&xfsz, NULL, &zero);
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    errno = saved;
    return ok;
}

/* The log_path destination: -1 for stderr. */
static int log_dest(void)
{
    const char *lp = handle__opt.log_path;
    if (lp[0] == '\0' || strcmp(lp, "stderr") == 0)
        return -1;
    if (strcmp(lp, "stdout") == 0)
        return STDOUT_FILENO;
    pid_t pid = getpid();
    if (log_fd >= 0 && log_pid == pid)
        return log_fd;
    char path[PATH_MAX + 32];
    struct handle__fmt f = {path, 0, sizeof path - 1};
    /* %p is the pid and %% a '%' (SPEC 3), as in the trace option. */
    for (const char *c = lp; *c; c++) {
        if (c[0] == '%' && c[1] == 'p') {
            handle__fmt_dec(&f, (uint64_t)pid);
            c++;
        } else {
            handle__fmt_mem(&f, c, 1);
            c += c[0] == '%' && c[1] == '%';
        }
    }
    handle__fmt_str(&f, ".");
    handle__fmt_dec(&f, (uint64_t)pid);
    path[f.len] = '\0';
    int saved = errno;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
    errno = saved;
    if (fd < 0)
        return -1;
    log_fd = fd;
    log_pid = pid;
    return fd;
}

void handle__rt_write(const char *text, size_t len)
{
    int fd = log_dest();
    if (fd >= 0 && handle__rt_write_fd(fd, text, len))
        return;
    /* stderr, or what the log could not take (the whole text: a report is
     * read as one piece). */
    handle__rt_write_fd(STDERR_FILENO, text, len);
}

bool handle__rt_color(void)
{
    if (handle__opt.color != HANDLE__COLOR_AUTO)
        return handle__opt.color == HANDLE__COLOR_ALWAYS;
    const char *lp = handle__opt.log_path;
    int fd = STDERR_FILENO;
    if (strcmp(lp, "stdout") == 0)
        fd = STDOUT_FILENO;
    else if (lp[0] != '\0' && strcmp(lp, "stderr") != 0)
        return false; /* a log file: never in auto */
    /* The rule of lib/report/decorate.c's handle__deco_auto (this layer
     * calls no lib/report). */
    int saved = errno;
    const char *no = getenv("NO_COLOR");
    bool yes = (no == NULL || no[0] == '\0') && isatty(fd) == 1;
    errno = saved;
    return yes;
}

static void line(const char *label, const char *msg)
{
    char buf[4096];
    struct handle__fmt f = {buf, 0, sizeof buf};
    handle__fmt_str(&f, "==");
    handle__fmt_dec(&f, (uint64_t)getpid());
    handle__fmt_str(&f, label);
    /* One line whatever msg holds: control bytes (a trace path with a
     * newline, say) as \xNN, and a cut shown as "...". */
    static const char hex[] = "0123456789abcdef";
    size_t end = sizeof buf - 1 - 3; /* room for "..." and the newline */
    for (const char *c = msg; *c; c++) {
        unsigned char u = (unsigned char)*c;
        size_t need = u < 0x20 || u == 0x7f ? 4 : 1;
        if (f.len + need > end) {
            handle__fmt_str(&f, "...");
            break;
        }
        if (need == 4) {
            char e[4] = {'\\', 'x', hex[u >> 4], hex[u & 15]};
            handle__fmt_mem(&f, e, 4);
        } else {
            handle__fmt_mem(&f, c, 1);
        }
    }
    handle__fmt_str(&f, "\n");
    handle__rt_write(buf, f.len);
}

void handle__rt_warn(const char *msg)
{
    line("==WARNING: HandleSanitizer: ", msg);
}

void handle__rt_info(const char *msg)
{
    line("==HandleSanitizer: ", msg);
}

void handle__rt_fork_child(void)
{
    atomic_fetch_add(&handle__fork_epoch, 1);
    log_fd = -1; /* the parent's PATH.<ppid>: left open, not ours to close */
}
