/*
 * panic.c - the debug build's misuse report (SPEC section 4): the finding
 * is built once, recorded in the trace first (with raw frames, made
 * without libdw), then symbolized and printed, the trace's copy replaced
 * by the full text and the trace closed, then abort() with the program's
 * own SIGABRT handler in place (Python's faulthandler, a host's crash
 * reporter).
 *
 * Everything after the finding runs on a private large stack
 * (bigstack.c): the thread that misused a handle may have a 32 KiB stack,
 * and libdw needs far more. Where that stack cannot be had (no memory),
 * the report is printed with raw "#N 0xPC (MODULE+0xOFF)" frames and a
 * Note saying why, from static storage. A fault inside libdw is caught by
 * the symbolizer's guard (frames from then on are module+offset, with a
 * Note).
 *
 * One panic at a time: a second thread that misuses a handle meanwhile
 * waits for the first to end the process; a misuse inside the panic on
 * its own thread (a host's malloc hook) ends the process at once.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../core/coverage.h"
#include "../core/fmt.h"
#include "bigstack.h"
#include "finding.h"
#include "runtime.h"
#include "trace.h"

/* The thread in the panic: its pid << 32 | its tid (0: none). A fork
 * child inherits a parent's value, which names another process. */
static _Atomic uint64_t panic_owner;

/* Raw frames and text, without malloc: one panic at a time uses them. */
static struct handle__sym_frame raw_frames[3][HANDLE__MAX_FRAMES];
static char raw_text[32768];

struct panic {
    struct handle__misuse m;
    int kind;
    handle_t h;
    const char *want_tag;
    const uintptr_t *pcs;
    uint32_t depth;
    const char *no_stack; /* why the report is not symbolized: no private stack */
};

/* The text with raw frames into b. */
static void raw_report(struct handle__sb *b, const struct handle__misuse *m, const char *note)
{
    struct handle__stack s[3];
    handle__misuse_stacks(m, s);
    struct handle__finding_stack st[3];
    for (int i = 0; i < 3; i++) {
        size_t n = handle__misuse_frames(&s[i], NULL, raw_frames[i], HANDLE__MAX_FRAMES);
        st[i] = (struct handle__finding_stack){raw_frames[i], n};
    }
    handle__misuse_text(b, m, st, note);
}

/* The text with symbolized frames into b; false (b untouched) when there
 * is no memory for it. */
static bool full_report(struct handle__sb *b, const struct handle__misuse *m)
{
    struct handle__symbolizer *sym = handle__report_symbolizer(HANDLE__SYM_NO_DEBUGINFOD);
    if (sym == NULL)
        return false;
    struct handle__stack s[3];
    handle__misuse_stacks(m, s);
    struct handle__sym_frame *f[3] = {NULL, NULL, NULL};
    struct handle__finding_stack st[3];
    bool ok = true;
    for (int i = 0; i < 3 && ok; i++) {
        size_t cap = handle__misuse_frames_max(&s[i], true);
        f[i] = malloc((cap ? cap : 1) * sizeof *f[i]);
        ok = f[i] != NULL;
        if (ok)
            st[i] = (struct handle__finding_stack){f[i], handle__misuse_frames(&s[i], sym, f[i], cap)};
    }
    struct handle__sb t = {0};
    if (ok) {
        /* No libdw, or libdw crashed (the frames from then on are
         * module+offset): say so. */
        char note[400];
        const char *why = handle__sym_error(sym);
        if (why && !handle__sym_faulted(sym))
            snprintf(note, sizeof note, "%s: frames show module+offset", why);
        else if (why)
            snprintf(note, sizeof note, "%s", why);
        handle__misuse_text(&t, m, st, why ? note : NULL);
        ok = !t.oom && t.p != NULL;
        /* The trace's symbols of the three stacks, written by the close
         * after the error's own commit (SPEC section 5). */
        for (int i = 0; i < 3; i++)
            handle__symbols_record(sym, s[i].pcs, s[i].modules, s[i].depth);
    }
    if (ok)
        handle__sb_mem(b, t.p, t.len);
    handle__sb_free(&t);
    for (int i = 0; i < 3; i++)
        free(f[i]);
    handle__sym_free(sym);
    return ok && !b->oom;
}

static void panic_body(void *arg)
{
    struct panic *p = arg;
    struct handle__misuse *m = &p->m;
    handle__misuse_build(m, p->kind, p->h, p->want_tag, p->pcs, p->depth);

    /* 1. The trace first, with raw frames: if anything below takes the
     * process down, the error is there. */
    struct handle__sb raw;
    handle__sb_init_in(&raw, raw_text, sizeof raw_text);
    raw_report(&raw, m, p->no_stack ? p->no_stack
                                    : "the process ended while this report was being "
                                      "symbolized: frames show module+offset");
    struct handle__trace_error e = handle__misuse_trace(m, handle__sb_str(&raw));
    handle__trace_error(&e);

    /* 2. Symbolize and print. */
    struct handle__sb full = {0};
    if (p->no_stack) {
        /* What the trace has is the report. */
    } else if (!full_report(&full, m)) {
        handle__sb_free(&full);
        handle__sb_reset(&raw);
        raw_report(&raw, m, "out of memory while symbolizing: frames show module+offset");
    }
    const struct handle__sb *out = full.p ? &full : &raw;
    handle__report_write(handle__sb_str(out), out->len);

    /* 3. The trace gets the text as printed, and is closed. */
    handle__trace_error_text(handle__sb_str(out));
    handle__trace_close(128 + SIGABRT, handle__start_unix_ns() + handle__now_ns(), NULL, 0);
    handle__sb_free(&full);
    handle__sb_free(&raw);
}

/* Ends the process as abort() does, with the program's SIGABRT handler
 * (if any) in place: it runs, and if it returns, abort() ends the process
 * with SIGABRT anyway. */
__attribute__((noreturn)) static void die(void)
{
    char tail[64];
    struct handle__fmt f = {tail, 0, sizeof tail - 1};
    handle__fmt_str(&f, "==");
    handle__fmt_dec(&f, (uint64_t)getpid());
    handle__fmt_str(&f, "==ABORTING\n");
    handle__rt_write(tail, f.len);
    HANDLE__COVERAGE_DUMP();
    abort();
}

static void reentered(int kind, handle_t h)
{
    char line[160];
    struct handle__fmt f = {line, 0, sizeof line - 1};
    handle__fmt_error_head(&f, handle__kind_name(kind), h);
    handle__fmt_str(&f, " while reporting an earlier error\n");
    handle__rt_write(line, f.len);
}

void handle__diag_panic(int kind, handle_t h, const char *want_tag, const uintptr_t *pcs,
                        uint32_t depth)
{
    struct handle__tls *t = handle__tls_get();
    t->busy = 1;
    uint64_t pid = (uint64_t)getpid();
    uint64_t self = pid << 32 | (uint32_t)syscall(SYS_gettid);
    uint64_t owner = 0;
    while (!atomic_compare_exchange_strong(&panic_owner, &owner, self)) {
        if (owner == self) {
            /* A misuse inside our own panic (the host's code ran under
             * it, a malloc hook): the report under way is in the trace
             * already; this one gets its first line. */
            reentered(kind, h);
            die();
        }
        if (owner >> 32 != pid)
            continue; /* a parent's panic (fork meanwhile): not ours to wait for */
        /* Another thread's panic ends the process. */
        for (;;)
            pause();
    }
    /* The caller (debug.c) started the runtime and the trace. */

    struct panic p = {.kind = kind, .h = h, .want_tag = want_tag, .pcs = pcs, .depth = depth};
    char why[256], note[320];
    if (!handle__bigstack_run(panic_body, &p, why, sizeof why)) {
        snprintf(note, sizeof note, "%s: frames show module+offset", why);
        p.no_stack = note;
        panic_body(&p);
    }
    die();
}
