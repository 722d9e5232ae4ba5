/*
 * report_text.c - handle-report's text output: a header per trace (its
 * program, pid, times, exit status; whether it exited cleanly), notes on
 * modules without symbols, then the leak report printed by
 * handle__leaks_text - the exit report's own code, so the two texts cannot
 * drift - then the recorded errors and, with --stats, the lifetime table.
 * Formatting only; the model is built by report_model.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "finding.h"
#include "report_model.h"

/* Traces with findings that a merged text report lists by name. */
#define MAX_LISTED_TRACES 20

void handle__rm_duration(struct handle__sb *b, uint64_t ns)
{
    if (ns < 1000)
        handle__sb_printf(b, "%" PRIu64 " ns", ns);
    else if (ns < 1000000)
        handle__sb_printf(b, "%.1f us", (double)ns / 1e3);
    else if (ns < 1000000000)
        handle__sb_printf(b, "%.2f ms", (double)ns / 1e6);
    else
        handle__sb_printf(b, "%.3f s", (double)ns / 1e9);
}

static void utc(struct handle__sb *b, int64_t unix_ns)
{
    time_t s = (time_t)(unix_ns / 1000000000);
    struct tm tm;
    char buf[64];
    if (gmtime_r(&s, &tm) && strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm))
        handle__sb_puts(b, buf);
    else
        handle__sb_printf(b, "%" PRId64 " ns after the epoch", unix_ns);
}

/* "Trace PATH: EXE (pid N), started T, ran D, exit status S" and, for a
 * process without a clean exit, the line that says so. */
static void trace_header(struct handle__sb *b, const struct handle__rm_trace *t)
{
    const struct handle__tr_meta *mt = &t->meta;
    handle__sb_printf(b, "Trace %s: %s", t->path, mt->exe[0] ? mt->exe : "(unknown program)");
    if (mt->has_pid)
        handle__sb_printf(b, " (pid %" PRId64 ")", mt->pid);
    if (mt->has_started) {
        handle__sb_puts(b, ", started ");
        utc(b, mt->started_at);
    }
    if (mt->has_ended && mt->has_started && mt->ended_at >= mt->started_at)
        handle__sb_printf(b, ", ran %.3f s",
                          (double)((uint64_t)mt->ended_at - (uint64_t)mt->started_at) / 1e9);
    if (mt->has_ended && mt->has_exit)
        handle__sb_printf(b, ", exit status %" PRId64, mt->exit_status);
    handle__sb_putc(b, '\n');
    if (!mt->has_ended)
        handle__sb_puts(b, "The process did not exit cleanly (crashed or killed): listing the "
                           "handles live at the last commit.\n");
}

static void frames(struct handle__sb *b, const struct handle__rm_frames *f)
{
    unsigned num = 0;
    if (f->n == 0)
        handle__sb_puts(b, "    <empty stack>\n");
    else
        handle__sb_frames(b, f->f, f->n, &num);
}

static struct handle__finding_stack fstack(const struct handle__rm_frames *f)
{
    return (struct handle__finding_stack){f->f, f->n};
}

/* An error without a stored message, printed from its stacks by the
 * panic's own formatter (lib/report/finding.c). */
static void error_rendition(struct handle__sb *b, const struct handle__rm_error *e, long pid)
{
    struct handle__finding f = handle__finding_init(pid, e->kind, e->handle);
    f.thread = e->thread;
    f.tag = e->tag;
    f.stack = fstack(&e->stack);
    f.has_created = e->has_created;
    f.created_thread = e->created_thread;
    f.created = fstack(&e->created);
    f.has_deleted = e->has_deleted;
    f.deleted_thread = e->deleted_thread;
    f.deleted = fstack(&e->deleted);
    handle__finding_text(b, &f);
}

static void errors(struct handle__sb *b, const struct handle__rm *m)
{
    if (m->nerrors == 0)
        return;
    handle__sb_printf(b, "\n%zu error(s) recorded:\n", m->nerrors);
    for (size_t i = 0; i < m->nerrors; i++) {
        const struct handle__rm_error *e = &m->errors[i];
        const struct handle__rm_trace *t = &m->traces[e->trace];
        handle__sb_putc(b, '\n');
        if (m->ntraces > 1)
            handle__sb_printf(b, "In %s (pid %" PRId64 "):\n", t->path, t->meta.pid);
        if (e->message[0]) {
            handle__sb_puts(b, e->message);
            if (e->message[strlen(e->message) - 1] != '\n')
                handle__sb_putc(b, '\n');
        } else {
            error_rendition(b, e, t->meta.has_pid ? (long)t->meta.pid : 0);
        }
    }
}

static void stats(struct handle__sb *b, const struct handle__rm *m)
{
    uint64_t created = 0, deleted = 0, live = 0;
    for (size_t i = 0; i < m->nstats; i++) {
        created += m->stats[i].created;
        deleted += m->stats[i].deleted;
        live += m->stats[i].live;
    }
    handle__sb_printf(b,
                      "\nHandle lifetimes by creation site: %zu site(s), %" PRIu64
                      " handle(s) created, %" PRIu64 " deleted, %" PRIu64 " live\n",
                      m->nstats, created, deleted, live);
    for (size_t i = 0; i < m->nstats; i++) {
        const struct handle__rm_stat *s = &m->stats[i];
        handle__sb_printf(b, "\nSite %zu", i + 1);
        if (s->tag)
            handle__sb_printf(b, " tagged \"%s\"", s->tag);
        if (m->ntraces > 1)
            handle__sb_printf(b, " in %u process(es)", s->processes);
        handle__sb_printf(b,
                          ": %" PRIu64 " created, %" PRIu64 " deleted, %" PRIu64
                          " live; at most %" PRIu64 " live at once\n",
                          s->created, s->deleted, s->live, s->peak);
        if (s->deleted) {
            handle__sb_puts(b, "  lifetime p50 ");
            handle__rm_duration(b, s->p50);
            handle__sb_puts(b, ", p99 ");
            handle__rm_duration(b, s->p99);
            handle__sb_puts(b, ", max ");
            handle__rm_duration(b, s->max);
            handle__sb_putc(b, '\n');
        } else {
            handle__sb_puts(b, "  lifetime: none deleted\n");
        }
        frames(b, &s->frames);
    }
}

static void note_text(struct handle__sb *b, const struct handle__rm_note *n)
{
    if (n->baseline)
        handle__sb_printf(b, "Note: baseline %s: ", n->baseline);
    else
        handle__sb_puts(b, "Note: ");
    if (n->changed)
        handle__sb_printf(b, "%s changed since the run (%s): its frames show module+offset.\n",
                          n->path, n->reason);
    else if (n->path[0])
        handle__sb_printf(b, "no symbols for %s (%s): its frames show module+offset.\n", n->path,
                          n->reason);
    else
        handle__sb_printf(b, "no symbols (%s): frames show module+offset.\n", n->reason);
}

/* Trace i's header and, under it, the notes on its modules (SPEC 6: the
 * note of a trace under its own header). */
static void header_notes(struct handle__sb *b, const struct handle__rm *m, size_t i, bool *shown)
{
    trace_header(b, &m->traces[i]);
    for (size_t k = 0; k < m->nnotes; k++)
        if (m->notes[k].trace == i && m->notes[k].baseline == NULL)
            note_text(b, &m->notes[k]);
    if (shown)
        shown[i] = true;
}

void handle__rm_text(struct handle__sb *b, const struct handle__rm *m, bool want_stats)
{
    bool *shown = calloc(m->ntraces ? m->ntraces : 1, sizeof *shown);
    if (m->ntraces == 1) {
        header_notes(b, m, 0, shown);
    } else {
        size_t unclean = 0, leaking = 0, erring = 0;
        for (size_t i = 0; i < m->ntraces; i++) {
            unclean += !m->traces[i].meta.has_ended;
            leaking += m->traces[i].leaked != 0;
            erring += m->traces[i].errors != 0;
        }
        handle__sb_printf(b,
                          "Merged report of %zu traces: %zu with leaks, %zu with errors, %zu "
                          "that did not exit cleanly\n",
                          m->ntraces, leaking, erring, unclean);
        /* The traces with something to say, up to a screenful: a CI run
         * of a thousand processes leaking at one common site should not
         * bury the report under a thousand header lines. */
        size_t listed = 0, more = 0;
        for (size_t i = 0; i < m->ntraces; i++) {
            const struct handle__rm_trace *t = &m->traces[i];
            if (!t->leaked && !t->errors && t->meta.has_ended)
                continue;
            if (listed == MAX_LISTED_TRACES) {
                more++;
                continue;
            }
            header_notes(b, m, i, shown);
            listed++;
        }
        if (more)
            handle__sb_printf(b,
                              "... and %zu more trace(s) with leaks, errors or no clean exit "
                              "(--format json lists every trace).\n",
                              more);
    }
    /* Notes of the traces whose header was not printed, and those of no
     * trace in particular (no libdw). */
    for (size_t i = 0; i < m->nnotes; i++) {
        size_t tr = m->notes[i].trace;
        if (m->notes[i].baseline == NULL && (tr >= m->ntraces || (shown && !shown[tr])))
            note_text(b, &m->notes[i]);
    }
    free(shown);
    handle__sb_putc(b, '\n');
    uint64_t nsites = 0;
    if (handle__rm_leaked(m, &nsites)) {
        handle__leaks_text(b, handle__rm_pid(m), m->sites, m->nsites, 0, m->supp);
    } else {
        handle__sb_puts(b, "No handle leaks found.\n");
        if (m->supp)
            handle__supp_print_used(b, m->supp);
    }
    if (m->nbaselines)
        handle__sb_printf(b,
                          "Baseline: %" PRIu64 " leak site(s) with %" PRIu64
                          " handle(s) are also in the baseline and not listed.\n",
                          m->baseline_sites, m->baseline_handles);
    for (size_t i = 0; i < m->nnotes; i++) /* a baseline's notes under the Baseline line */
        if (m->notes[i].baseline)
            note_text(b, &m->notes[i]);
    errors(b, m);
    if (want_stats)
        stats(b, m);
}
