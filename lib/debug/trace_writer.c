/*
 * trace_writer.c - the trace's top layer: the writer thread (its life, the
 * drain loop, commits) and the lifecycle calls of trace.h (open, close,
 * forget, fork handling) with the calls that wait for the writer (error,
 * sync). It calls the store (trace_store.h) and the ring (trace_ring.h);
 * nothing calls it but the runtime through trace.h.
 *
 * One writer thread, started with every signal blocked, drains the ring
 * and commits everything it drained at least every 2/5 of flush_ms in one
 * transaction. Only the writer thread calls SQLite (the caller of
 * handle__trace_open() waits for it to create the file and the schema),
 * and it never calls handle_* functions. SQLite's global state is kept
 * consistent across fork() by a fork handler that waits until the writer is
 * between SQLite calls (db_enter/db_leave): a child then never inherits a
 * held SQLite mutex and can open its own trace.
 */
#include "trace.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "trace_ring.h"
#include "trace_store.h"

/* Events copied out of the ring at a time, and processed per db section. */
#define DRAIN_BATCH 256u
#define SECTION_MAX 4096u

/* The lifecycle's own events:
 *   FREEZE: NEW and DELETE events after it are dropped
 *   CLOSE:  a[0] = exit status, t1 = ended_at, t0 = the live set (struct
 *           handle__leak *, NULL: none), h = its length, a[1] = 1 when the
 *           set is a copy the writer frees */
enum { EV_FREEZE = 100, EV_CLOSE };

struct writer {
    struct handle__store s;
    uint64_t period_ns;

    /* start-up handshake with handle__trace_open() */
    sem_t init_sem;
    bool init_ok;
    char init_err[256];

    bool urgent, closing;
    int exit_status;
    uint64_t ended_at;
    struct handle__leak *live; /* the CLOSE event's set */
    size_t nlive;
    bool live_owned;
    /* the checkpointer thread (ckpt_start): it runs PASSIVE checkpoints
     * when ck_req moves, ends when ck_stop is set */
    pthread_t ck_thread;
    bool ck_running, ck_uncounted;
    _Atomic uint32_t ck_req;
    _Atomic bool ck_stop;
    uint32_t ck_asked; /* WAL frames when a checkpoint was last asked for */

    uint64_t head;      /* next ring position to read */
    uint64_t woke_at;   /* head when producers were last woken */
    uint64_t processed; /* positions < processed are processed */
};

/* The writer's life, touched on slow paths only. */
static struct {
    _Atomic uint32_t fork_waiting; /* a fork handler wants dblock */
    pthread_mutex_t dblock;        /* held by the writer inside SQLite */
    pthread_mutex_t ckplock;       /* held by the checkpointer inside SQLite */
    pthread_mutex_t life;          /* guards state (held only to change it) */
    int state;                     /* LIFE_*, under life */
    _Atomic pid_t writer_tid;      /* its kernel thread id */
    _Atomic pid_t ckpt_tid;        /* the checkpointer's (0: none) */
    _Atomic bool watching;         /* a watcher thread runs (watch_orphan) */
    char path[4096 + 16];          /* the open trace's path */
    pthread_t thread;
    struct writer *w;
} g = {
    .dblock = PTHREAD_MUTEX_INITIALIZER,
    .ckplock = PTHREAD_MUTEX_INITIALIZER,
    .life = PTHREAD_MUTEX_INITIALIZER,
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

/* The trace's life. OPENING and CLOSING are held by one thread while it
 * creates or joins the writer, without holding the lock: another open or
 * close waits for the state to settle. */
enum { LIFE_CLOSED, LIFE_OPENING, LIFE_OPEN, LIFE_CLOSING };

/* Takes life once no open or close is under way; returns with it held. */
static void life_settled(void)
{
    for (;;) {
        pthread_mutex_lock(&g.life);
        if (g.state != LIFE_OPENING && g.state != LIFE_CLOSING)
            return;
        pthread_mutex_unlock(&g.life);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

/* ---- fork safety ----------------------------------------------------- */

/* Enters a section that calls SQLite: a fork() is held back until the
 * section ends, so a child never inherits SQLite mid-call. */
static void section_enter(pthread_mutex_t *lock)
{
    while (atomic_load(&g.fork_waiting)) {
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(lock);
}

static void db_enter(void)
{
    section_enter(&g.dblock);
}

/* Leaves a section entered with db_enter(). */
static void db_leave(void)
{
    pthread_mutex_unlock(&g.dblock);
}

/* The checkpointer's db_enter()/db_leave(), on a lock of its own so that
 * it and the writer are in SQLite at the same time (a checkpoint's fsync
 * never holds the writer back); a fork waits for both. */
static void ck_enter(void)
{
    section_enter(&g.ckplock);
}

static void ck_leave(void)
{
    pthread_mutex_unlock(&g.ckplock);
}

/* The fork phases (lifecycle.c's one pthread_atfork calls them). prepare
 * takes life (held only for moments; it also covers SQLite's one-time
 * set-up) and then waits for the writer to leave SQLite (dblock): a child
 * never inherits either lock held, nor SQLite mid-call. In the child (the
 * forking thread, which holds both locks) the parent's trace is forgotten,
 * also an open or close another thread had under way. */
void handle__trace_fork(int phase)
{
    switch (phase) {
    case HANDLE__FORK_PREPARE:
        pthread_mutex_lock(&g.life);
        atomic_store(&g.fork_waiting, 1);
        pthread_mutex_lock(&g.dblock);
        pthread_mutex_lock(&g.ckplock);
        break;
    case HANDLE__FORK_PARENT:
        pthread_mutex_unlock(&g.ckplock);
        pthread_mutex_unlock(&g.dblock);
        atomic_store(&g.fork_waiting, 0);
        pthread_mutex_unlock(&g.life);
        break;
    default:
        pthread_mutex_unlock(&g.ckplock);
        pthread_mutex_unlock(&g.dblock);
        atomic_store(&g.fork_waiting, 0);
        if (g.state != LIFE_CLOSED && atomic_load(&handle__tr.owner) != getpid())
            handle__trace_forget();
        pthread_mutex_unlock(&g.life);
        break;
    }
}

/* glibc's count of the process's threads (GLIBC_PRIVATE, for
 * libthread_db): when the last thread counted there exits, glibc calls
 * exit(0). The trace writer is taken out of it while it runs, so that a
 * process whose main() left with pthread_exit() ends when its last program
 * thread does, and exit() runs on that thread (with the program's
 * descriptors and signal mask). NULL on a libc without it: then the writer
 * watches for the last thread instead (handle__trace_watch_orphan). */
static unsigned int *nptl_nthreads;
static bool writer_uncounted;  /* under g.life */

/* One of our threads taken out of the count; false on a libc without it.
 * The thread that creates ours is counted, so this never reaches 0. */
static bool nptl_uncount_one(void)
{
    if (!nptl_nthreads)
        return false;
    __atomic_fetch_sub(nptl_nthreads, 1, __ATOMIC_SEQ_CST);
    return true;
}

static void writer_uncount(void)
{
    if (nptl_uncount_one())
        writer_uncounted = true;
}

/* One of our threads counted again before it ends, so that its own exit
 * does not take the count to 0 (glibc would call exit(0) on it, in the
 * middle of this exit). The count is already 0 when the last program
 * thread's exit brought us here: then it is set to 2. */
static void nptl_recount_one(void)
{
    unsigned int old = __atomic_load_n(nptl_nthreads, __ATOMIC_SEQ_CST), want;
    do
        want = (old == 0 ? 1 : old) + 1;
    while (!__atomic_compare_exchange_n(nptl_nthreads, &old, want, false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST));
}

/* Before the writer thread ends (the trace's close). */
static void writer_recount(void)
{
    if (!writer_uncounted)
        return;
    writer_uncounted = false;
    nptl_recount_one();
}

bool handle__trace_writer_uncounted(void)
{
    return writer_uncounted;
}


/* Process-wide set-up, once (under life, so a fork waits for it):
 * SQLite without its malloc statistics (a global mutex on every
 * allocation). */
static void global_init(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    sqlite3_initialize();
    nptl_nthreads = (unsigned int *)dlvsym(RTLD_DEFAULT, "__nptl_nthreads", "GLIBC_PRIVATE");
}

/* ---- the writer thread ----------------------------------------------- */

/* The writer's first step: a descriptor table of its own (unshare
 * CLONE_FILES), emptied of every descriptor it inherited, with /dev/null
 * at 0, 1 and 2. The program can then close, reopen or dup2 any number
 * without touching the trace's, and none of the program's files, pipes or
 * sockets is held open by the writer. False (reason in err) if the kernel
 * refuses: no trace then, since writing would not be safe. */
static bool private_fd_table(char *err, size_t errlen)
{
    if (unshare(CLONE_FILES) != 0) {
        char tmp[128];
        snprintf(err, errlen, "cannot give the writer its own descriptor table: %s",
                 strerror_r(errno, tmp, sizeof tmp));
        return false;
    }
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 0u, ~0u, 0u) != 0)
#endif
    {
        struct rlimit rl;
        unsigned max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 1u << 20
                           ? (unsigned)rl.rlim_cur
                           : 1u << 20;
        for (unsigned fd = 0; fd < max; fd++)
            close((int)fd);
    }
    for (int i = 0; i < 3; i++)
        if (open("/dev/null", O_RDWR) < 0)
            break; /* SQLite itself never uses 0..2 */
    return true;
}

/* Processes one event taken from the ring. */
static void process(struct writer *w, const struct handle__tr_ev *ev)
{
    if (ev->type == EV_CLOSE) {
        w->closing = true;
        w->exit_status = (int)ev->a[0];
        w->ended_at = ev->t1;
        w->live = (struct handle__leak *)(uintptr_t)ev->t0;
        w->nlive = (size_t)ev->h;
        w->live_owned = ev->a[1] != 0;
        return;
    }
    if (ev->type == EV_FREEZE) {
        w->s.frozen = true;
        return;
    }
    if (handle__store_event(&w->s, ev))
        w->urgent = true;
}

/* Commits and tells waiters. Needs dblock. */
static void commit(struct writer *w)
{
    handle__store_commit(&w->s);
    handle__tr_publish(w->processed);
}

/* Frees what events after the CLOSE event own. */
static void discard(const struct handle__tr_ev *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        handle__store_discard(&buf[i]);
}

/* ---- the checkpointer thread ------------------------------------------ */

/* Runs a PASSIVE checkpoint (handle__store_ckpt_run) each time the writer
 * asks (ck_req moves), until ck_stop. It shares the writer's descriptor
 * table (created from the writer thread) and its blocked signals. */
static void *ckpt_main(void *arg)
{
    struct writer *w = arg;
    pthread_setname_np(pthread_self(), "handle-ckpt");
    atomic_store(&g.ckpt_tid, (pid_t)syscall(SYS_gettid));
    uint32_t seen = 0;
    for (;;) {
        uint32_t v = atomic_load(&w->ck_req);
        if (atomic_load(&w->ck_stop))
            return NULL;
        if (v == seen) {
            handle__futex_wait(&w->ck_req, v, UINT64_C(1000000000));
            continue;
        }
        seen = v;
        ck_enter();
        handle__store_ckpt_run(&w->s);
        ck_leave();
    }
}

/* Starts the checkpointer (in the writer thread, after the store opened):
 * its connection, then the thread, taken out of glibc's count as the
 * writer is. Without it the writer checkpoints itself, as before. */
static void ckpt_start(struct writer *w)
{
    char err[256];
    db_enter();
    bool ok = handle__store_ckpt_open(&w->s, err, sizeof err);
    db_leave();
    if (!ok)
        return;
    if (pthread_create(&w->ck_thread, NULL, ckpt_main, w) != 0) {
        db_enter();
        handle__store_ckpt_close(&w->s);
        db_leave();
        return;
    }
    w->ck_running = true;
    w->ck_uncounted = nptl_uncount_one();
}

/* After a commit: asks for a checkpoint every HANDLE__CKPT_EVERY frames
 * of WAL (the count falls when the WAL starts over). */
static void ckpt_maybe(struct writer *w)
{
    if (!w->ck_running)
        return;
    uint32_t f = atomic_load_explicit(&w->s.wal_frames, memory_order_relaxed);
    if (f < w->ck_asked)
        w->ck_asked = 0;
    if (f >= w->ck_asked + HANDLE__CKPT_EVERY) {
        w->ck_asked = f;
        atomic_fetch_add(&w->ck_req, 1);
        handle__futex_wake(&w->ck_req, 1);
    }
}

/* Ends the checkpointer (the trace's close, in the writer thread, outside
 * db_enter): counted again, told, joined; its connection closed. */
static void ckpt_stop(struct writer *w)
{
    if (!w->ck_running)
        return;
    if (w->ck_uncounted) {
        w->ck_uncounted = false;
        nptl_recount_one();
    }
    atomic_store(&w->ck_stop, true);
    atomic_fetch_add(&w->ck_req, 1);
    handle__futex_wake(&w->ck_req, 1);
    pthread_join(w->ck_thread, NULL);
    atomic_store(&g.ckpt_tid, 0);
    w->ck_running = false;
    db_enter();
    handle__store_ckpt_close(&w->s);
    db_leave();
}

/* The writer thread: sets up the database (reporting to the opener), then
 * drains the ring in sections of at most SECTION_MAX events under dblock,
 * commits when the batch is due (period_ns after its first event) or an
 * event asks for it (SYNC, ERROR), sleeps on handle__tr.wake when the ring
 * is empty, and finishes at the CLOSE event. Once set up it never returns
 * before CLOSE: after a failure it keeps draining so that no producer waits
 * forever. If set-up fails it returns at once (the opener joins it). */
static void *writer_main(void *arg)
{
    struct writer *w = arg;
    pthread_setname_np(pthread_self(), "handle-trace");
    atomic_store(&g.writer_tid, (pid_t)syscall(SYS_gettid));
    db_enter();
    w->init_ok = private_fd_table(w->init_err, sizeof w->init_err) &&
                 handle__store_open(&w->s, w->init_err, sizeof w->init_err);
    db_leave();
    bool ok = w->init_ok;
    sem_post(&w->init_sem); /* w belongs to the opener from here if !ok */
    if (!ok)
        return NULL;
    ckpt_start(w);

    struct handle__tr_ev buf[DRAIN_BATCH];
    bool batch_open = false;
    uint64_t batch_start = 0;
    for (;;) {
        size_t total = 0;
        size_t n;
        while (total < SECTION_MAX &&
               (n = handle__tr_drain(&w->head, &w->woke_at, buf, DRAIN_BATCH)) > 0) {
            if (!batch_open) {
                batch_open = true;
                batch_start = handle__tr_mono_ns();
            }
            if (total == 0)
                db_enter();
            total += n;
            size_t i = 0;
            for (; i < n && !w->closing; i++) {
                process(w, &buf[i]);
                w->processed = w->head - n + i + 1;
            }
            if (w->closing) {
                discard(buf + i, n - i);
                break;
            }
        }
        if (total)
            db_leave();
        if (w->closing) {
            db_enter();
            handle__store_commit(&w->s);
            handle__store_finish(&w->s, w->exit_status, w->ended_at, w->live, w->nlive);
            db_leave();
            /* the closer may stop waiting now: the rest is a checkpoint */
            handle__tr_publish(w->processed);
            if (w->live_owned)
                free(w->live);
            w->live = NULL;
            ckpt_stop(w);
            db_enter();
            handle__store_checkpoint_close(&w->s);
            db_leave();
            break;
        }
        uint64_t now = handle__tr_mono_ns();
        if (batch_open && (w->urgent || now - batch_start >= w->period_ns)) {
            db_enter();
            commit(w);
            db_leave();
            ckpt_maybe(w);
            batch_open = false;
            w->urgent = false;
            continue;
        }
        if (total)
            continue;
        /* Nothing to read: sleep until the batch is due, or for one period
         * when it is empty; producers wake us on bursts and syncs. */
        uint64_t timeout = batch_open ? batch_start + w->period_ns - now : w->period_ns;
        atomic_store(&handle__tr.writer_idle, 1);
        uint32_t v = atomic_load(&handle__tr.wake);
        if (!handle__tr_ready(w->head))
            handle__futex_wait(&handle__tr.wake, v, timeout);
        atomic_store(&handle__tr.writer_idle, 0);
    }
    return NULL;
}

/* ---- the calls that wait for the writer ------------------------------ */

/* See trace.h. The strings are copied (the caller may longjmp away after
 * the bounded wait); without memory for the copy, the kind alone is kept. */
void handle__trace_error(const struct handle__trace_error *e)
{
    if (!atomic_load(&handle__tr.open) || !handle__tr_owned())
        return;
    int saved = errno;
    const char *kind = e->kind ? e->kind : "?";
    const char *msg = e->message ? e->message : "";
    size_t kl = strlen(kind) + 1, ml = strlen(msg) + 1;
    char *text = malloc(kl + ml);
    struct handle__tr_ev ev = {.h = e->handle, .t1 = e->at_ns};
    if (text) {
        memcpy(text, kind, kl);
        memcpy(text + kl, msg, ml);
        ev.t0 = (uint64_t)(uintptr_t)text;
        ev.type = HANDLE__EV_ERROR;
    } else {
        ev.t0 = (uint64_t)(uintptr_t)kind; /* kinds are static strings */
        ev.type = HANDLE__EV_ERROR_BARE;
    }
    ev.a[0] = e->tag;
    ev.a[1] = e->created_thread;
    ev.a[2] = e->created_stack;
    ev.a[3] = e->deleted_thread;
    ev.a[4] = e->deleted_stack;
    ev.a[5] = e->thread;
    ev.a[6] = e->stack;
    uint64_t pos;
    if (handle__tr_enqueue_ctl(&ev, &pos)) {
        handle__tr_wake_writer(true);
        handle__tr_wait_committed(pos);
    } else {
        free(text);
    }
    errno = saved;
}

/* See trace.h: the panic recorded its error with raw frames first, and
 * replaces the text once it is symbolized. */
void handle__trace_error_text(const char *message)
{
    if (!message || !atomic_load(&handle__tr.open) || !handle__tr_owned())
        return;
    int saved = errno;
    char *text = strdup(message);
    struct handle__tr_ev ev = {.t0 = (uint64_t)(uintptr_t)text, .type = HANDLE__EV_ERROR_TEXT};
    uint64_t pos;
    if (text && handle__tr_enqueue_ctl(&ev, &pos)) {
        handle__tr_wake_writer(true);
        handle__tr_wait_committed(pos);
    } else {
        free(text);
    }
    errno = saved;
}

/* See trace.h: a SYNC event makes the writer commit at once. */
void handle__trace_sync(void)
{
    if (!atomic_load(&handle__tr.open) || !handle__tr_owned())
        return;
    int saved = errno;
    struct handle__tr_ev ev = {.type = HANDLE__EV_SYNC};
    uint64_t pos;
    if (handle__tr_enqueue_ctl(&ev, &pos)) {
        handle__tr_wake_writer(true);
        handle__tr_wait_committed(pos);
    }
    errno = saved;
}

/* See trace.h: true between a successful open and close (or forget);
 * also after freeze. */
bool handle__trace_is_open(void)
{
    return atomic_load(&handle__tr.open);
}

/* See trace.h. The FREEZE event follows everything queued before this
 * call; producers that raced with it past the accepting check are dropped
 * by the writer. */
void handle__trace_freeze(void)
{
    if (!atomic_load(&handle__tr.open) || !handle__tr_owned())
        return;
    int saved = errno;
    struct handle__tr_ev ev = {.type = EV_FREEZE};
    handle__tr_enqueue_ctl(&ev, NULL);
    atomic_store(&handle__tr.accepting, false);
    errno = saved;
}

/* ---- open, close, fork ----------------------------------------------- */

/* Writes "what: strerror(e)" into err. */
static void set_err(char *err, size_t errlen, const char *what, int e)
{
    char tmp[128];
    snprintf(err, errlen, "%s: %s", what, strerror_r(e, tmp, sizeof tmp));
}

/* Frees the writer (after its thread ended, or when it never started). */
static void writer_free(struct writer *w)
{
    if (!w)
        return;
    handle__store_free(&w->s);
    free(w);
}

/* See trace.h. The writer creates the file and the schema while we wait
 * (so that their errors are the caller's to print). A second open while a
 * trace is open returns true and changes nothing. */
bool handle__trace_open(const struct handle__trace_config *cfg, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    if (!cfg || !cfg->path || !cfg->path[0]) {
        snprintf(err, errlen, "no trace path");
        return false;
    }
    int saved = errno;
    life_settled();
    pthread_once(&global_once, global_init);
    if (g.state == LIFE_OPEN) {
        pthread_mutex_unlock(&g.life);
        errno = saved;
        return true;
    }
    g.state = LIFE_OPENING;
    pthread_mutex_unlock(&g.life);
    bool ok = false;
    struct writer *w = calloc(1, sizeof *w);
    if (!w || !handle__store_config(&w->s, cfg->path, cfg->exe, cfg->cmdline, cfg->boot_id) ||
        sem_init(&w->init_sem, 0, 0) != 0) {
        snprintf(err, errlen, "out of memory");
        writer_free(w);
        goto out;
    }
    if (cfg->suppressions && !(w->s.suppressions = strdup(cfg->suppressions))) {
        snprintf(err, errlen, "out of memory");
        writer_free(w);
        goto out;
    }
    w->s.pid = cfg->pid;
    w->s.started_at = cfg->started_at;
    w->s.start_ticks = cfg->start_ticks;
    w->s.max_history = cfg->max_history;
    w->s.flush_ms = cfg->flush_ms ? cfg->flush_ms : 1;
    /* Commit every 2/5 flush_ms: an event waits at most one period in the
     * ring (the writer wakes at least that often) and one in the batch. */
    w->period_ns = (uint64_t)w->s.flush_ms * 400000u;
    handle__tr_reset();

    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t th;
    int rc = pthread_create(&th, NULL, writer_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        set_err(err, errlen, "cannot start the writer thread", rc);
        sem_destroy(&w->init_sem);
        writer_free(w);
        goto out;
    }
    while (sem_wait(&w->init_sem) != 0 && errno == EINTR)
        ;
    if (!w->init_ok) {
        pthread_join(th, NULL);
        snprintf(err, errlen, "%s", w->init_err[0] ? w->init_err : "cannot set up the database");
        sem_destroy(&w->init_sem);
        writer_free(w);
        goto out;
    }
    pthread_mutex_lock(&g.life);
    g.thread = th;
    g.w = w;
    atomic_store(&handle__tr.owner, getpid());
    snprintf(g.path, sizeof g.path, "%s", w->s.path);
    g.state = LIFE_OPEN;
    atomic_store(&handle__tr.open, true);
    atomic_store(&handle__tr.accepting, true);
    writer_uncount();
    pthread_mutex_unlock(&g.life);
    ok = true;
out:
    if (!ok) {
        pthread_mutex_lock(&g.life);
        g.state = LIFE_CLOSED;
        pthread_mutex_unlock(&g.life);
    }
    errno = saved;
    return ok;
}

/* Waits at most ns for thread th to end; true if it did (joined). */
static bool join_bounded(pthread_t th, uint64_t ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t t = (uint64_t)ts.tv_nsec + ns % 1000000000u;
    ts.tv_sec += (time_t)(ns / 1000000000u + t / 1000000000u);
    ts.tv_nsec = (long)(t % 1000000000u);
    int rc;
    while ((rc = pthread_timedjoin_np(th, NULL, &ts)) == EINTR)
        ;
    return rc == 0;
}

/* See trace.h. Only the process that opened the trace closes it (a fork
 * or clone child that was not told to forget must not join a thread it
 * lacks). The wait is bounded: the final commit within SYNC_WAIT_NS, the
 * checkpoint after it within as much again; a writer that takes longer is
 * left to finish alone (the process is ending). */
void handle__trace_close(int exit_status, uint64_t ended_at, const struct handle__leak *live,
                         size_t n)
{
    if (!handle__tr_owned())
        return; /* the writer is another process's: no join, no wait */
    int saved = errno;
    life_settled();
    if (g.state != LIFE_OPEN || atomic_load(&handle__tr.owner) != getpid()) {
        pthread_mutex_unlock(&g.life);
        errno = saved;
        return;
    }
    g.state = LIFE_CLOSING;
    pthread_t th = g.thread;
    struct writer *w = g.w;
    writer_recount(); /* before the writer can end */
    pthread_mutex_unlock(&g.life);
    /* The writer reads the set after we may have stopped waiting: a copy,
     * or (no memory for one) the caller's, with an unbounded wait. */
    struct handle__leak *copy = NULL;
    if (live && n) {
        copy = malloc(n * sizeof *copy);
        if (copy)
            memcpy(copy, live, n * sizeof *copy);
    }
    bool bounded = !live || !n || copy;
    struct handle__tr_ev ev = {.t1 = ended_at, .type = EV_CLOSE};
    ev.a[0] = (uint32_t)exit_status;
    ev.t0 = (uint64_t)(uintptr_t)(copy ? copy : live);
    ev.h = live ? n : 0;
    ev.a[1] = copy != NULL;
    /* The CLOSE event follows everything queued before this call; only then
     * do producers stop. A producer holding an earlier position fills it
     * (the writer frees its slot); later ones give up (stop_pos). */
    uint64_t pos = 0;
    bool queued = handle__tr_enqueue_ctl(&ev, &pos);
    if (queued)
        atomic_store(&handle__tr.stop_pos, pos);
    atomic_store(&handle__tr.accepting, false);
    atomic_store(&handle__tr.open, false);
    handle__tr_wake_writer(true);
    if (!queued) {
        free(copy);
        bounded = false; /* cannot happen while open; join anyway */
    }
    bool joined;
    if (bounded) {
        handle__tr_wait_committed(pos);
        joined = join_bounded(th, HANDLE__TR_SYNC_WAIT_NS);
    } else {
        joined = pthread_join(th, NULL) == 0;
    }
    if (joined) {
        sem_destroy(&w->init_sem);
        writer_free(w);
    } else {
        pthread_detach(th); /* it owns w now, and leaks it */
    }
    handle__tr_publish(UINT64_MAX); /* nobody waits for a trace that is gone */
    handle__tr_wake_producers();
    pthread_mutex_lock(&g.life);
    g.w = NULL;
    g.state = LIFE_CLOSED;
    pthread_mutex_unlock(&g.life);
    errno = saved;
}

/* See trace.h. */
void handle__trace_forget(void)
{
    /* In a fork child: the writer and its connection are in the parent.
     * Leak them; reset what a new trace needs (the ring is reset by the
     * next open). The locks are released by our own fork handler: the
     * forking thread took them in fork_prepare(). */
    g.state = LIFE_CLOSED;
    g.w = NULL;
    atomic_store(&g.writer_tid, 0);
    atomic_store(&g.ckpt_tid, 0);
    atomic_store(&g.watching, false); /* the watcher is the parent's */
    writer_uncounted = false; /* glibc counts the child's one thread afresh */
    handle__tr_forget();
}

/* ---- the last thread ------------------------------------------------- */

/* Whether tid's state in /proc is zombie or dead. */
static bool task_gone(const char *tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%s/stat", tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return true;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return true;
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the name may hold anything */
    return !p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X';
}

/* Whether every thread of the process but the watcher, the writer and
 * its checkpointer is gone (a zombie main thread counts as gone). */
static bool orphaned(pid_t self)
{
    int saved = errno;
    DIR *d = opendir("/proc/self/task");
    if (!d) {
        errno = saved;
        return false;
    }
    pid_t writer = atomic_load(&g.writer_tid), ckpt = atomic_load(&g.ckpt_tid);
    bool alone = true;
    struct dirent *e;
    while (alone && (e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        pid_t tid = (pid_t)atoi(e->d_name);
        if (tid == self || tid == writer || (ckpt && tid == ckpt))
            continue;
        if (!task_gone(e->d_name))
            alone = false;
    }
    closedir(d);
    errno = saved;
    return alone;
}

/* The watcher thread: a program thread of ours (it shares the program's
 * descriptor table, unlike the writer, so the exit sequence it runs writes
 * the program's stdio and the report where the program's would go, and
 * keeps that table alive after the other threads left). Checks at once and
 * then every WATCH_NS whether it is the last thread beside the writer;
 * then calls on_orphan(), which runs the exit sequence. */
#define WATCH_NS 20000000u
static void *watch_main(void *arg)
{
    void (*on_orphan)(void) = (void (*)(void))(uintptr_t)arg;
    pthread_setname_np(pthread_self(), "handle-orphan");
    pid_t self = (pid_t)syscall(SYS_gettid);
    while (!orphaned(self)) {
        struct timespec ts = {0, WATCH_NS};
        nanosleep(&ts, NULL);
    }
    on_orphan();
    return NULL;
}

/* See trace.h. on_orphan runs on a watcher thread of ours that shares the
 * program's descriptors, not on the writer (whose private table holds
 * only the trace's: a stdio flush at exit there could write into them). */
void handle__trace_watch_orphan(void (*on_orphan)(void))
{
    if (!on_orphan || atomic_exchange(&g.watching, true))
        return;
    int saved = errno;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_t th;
    int rc = pthread_attr_init(&attr);
    if (rc == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        rc = pthread_create(&th, &attr, watch_main, (void *)(uintptr_t)on_orphan);
        pthread_attr_destroy(&attr);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        atomic_store(&g.watching, false);
    errno = saved;
}

/* ---- the open trace's path ------------------------------------------ */

/* See trace.h: a copy made at open (the path may have gained ".<n>"). */
const char *handle__trace_path(void)
{
    return atomic_load(&handle__tr.open) ? g.path : "";
}


