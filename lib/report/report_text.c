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
    handle__sb_puts(b, "Trace ");
    handle__sb_escaped(b, t->path);
    handle__sb_puts(b, ": ");
    handle__sb_escaped(b, mt->exe[0] ? mt->exe : "(unknown program)");
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
    if (t->incomplete)
        handle__sb_printf(b, "The trace is incomplete (%s): not a full account of the run; "
                             "listing what it recorded, the handles live at its last commit.\n",
                          t->incomplete);
    if (t->running) {
        handle__sb_puts(b, "The process is still running; handles live at the last commit");
        if (t->commit_age_ns >= 0)
            handle__sb_printf(b, ", %" PRId64 " ms ago", t->commit_age_ns / 1000000);
        handle__sb_puts(b, " (not leaks).\n");
    } else if (!mt->has_ended && !t->incomplete) {
        handle__sb_puts(b, "The process did not exit cleanly (crashed or killed): listing the "
                           "handles live at the last commit.\n");
    }
}

/* The handles of processes still running, live at their last commit:
 * listed as the leak report lists sites, but not as leaks. */
static void live_sites(struct handle__sb *b, const struct handle__rm *m)
{
    uint64_t nsites = 0, total = handle__rm_live(m, &nsites);
    if (total == 0)
        return;
    for (size_t i = 0; i < m->nlive; i++) {
        const struct handle__leak_site *s = &m->live[i];
        if (s->suppressed_by >= 0 || s->count == 0)
            continue;
        handle__sb_printf(b, "Live: %" PRIu64 " handle(s)", s->count);
        if (s->tag)
            handle__sb_printf(b, " tagged \"%s\"", s->tag);
        if (s->processes > 1)
            handle__sb_printf(b, " in %u processes (e.g. %s)", s->processes,
                              s->example ? s->example : "?");
        else if (s->example)
            handle__sb_printf(b, " in 1 process (%s)", s->example);
        handle__sb_puts(b, " created from:\n");
        if (s->nframes) {
            unsigned num = 0;
            handle__sb_frames(b, s->frames, s->nframes, &num);
        } else {
            handle__sb_puts(b, "    <empty stack>\n");
        }
        handle__sb_putc(b, '\n');
    }
    handle__sb_printf(b, "%" PRIu64 " handle(s) live in %" PRIu64
                         " site(s) in running process(es): not leaks.\n\n",
                      total, nsites);
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
        if (m->ntraces > 1) {
            handle__sb_puts(b, "In ");
            handle__sb_escaped(b, t->path);
            handle__sb_printf(b, " (pid %" PRId64 "):\n", t->meta.pid);
        }
        if (e->message[0]) {
            handle__sb_escaped_lines(b, e->message);
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
        if (s->tag) {
            handle__sb_puts(b, " tagged \"");
            handle__sb_escaped(b, s->tag);
            handle__sb_putc(b, '"');
        }
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
    handle__sb_puts(b, "Note: ");
    if (n->baseline) {
        handle__sb_puts(b, "baseline ");
        handle__sb_escaped(b, n->baseline);
        handle__sb_puts(b, ": ");
    }
    if (n->changed || n->path[0]) {
        if (!n->changed)
            handle__sb_puts(b, "no symbols for ");
        handle__sb_escaped(b, n->path);
        handle__sb_puts(b, n->changed ? " changed since the run (" : " (");
        handle__sb_escaped(b, n->reason);
        handle__sb_puts(b, "): its frames show module+offset.\n");
    } else {
        handle__sb_puts(b, "no symbols (");
        handle__sb_escaped(b, n->reason);
        handle__sb_puts(b, "): frames show module+offset.\n");
    }
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
            unclean += !m->traces[i].meta.has_ended && !m->traces[i].running;
            leaking += m->traces[i].leaked != 0;
            erring += m->traces[i].errors != 0;
        }
        handle__sb_printf(b,
                          "Merged report of %zu traces: %zu with leaks, %zu with errors, %zu "
                          "that did not exit cleanly\n",
                          m->ntraces, leaking, erring, unclean);
        size_t running = 0, incomplete = handle__rm_incomplete(m);
        for (size_t i = 0; i < m->ntraces; i++)
            running += m->traces[i].running;
        if (running || incomplete)
            handle__sb_printf(b, "%zu still running, %zu incomplete\n", running, incomplete);
        /* The traces with something to say, up to a screenful: a CI run
         * of a thousand processes leaking at one common site should not
         * bury the report under a thousand header lines. */
        size_t listed = 0, more = 0;
        for (size_t i = 0; i < m->ntraces; i++) {
            const struct handle__rm_trace *t = &m->traces[i];
            if (!t->leaked && !t->errors && t->meta.has_ended && !t->incomplete)
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
    live_sites(b, m);
    uint64_t nsites = 0;
    const struct handle__supp *used = handle__rm_used_supp(m);
    if (handle__rm_leaked(m, &nsites)) {
        handle__leaks_text(b, handle__rm_pid(m), m->sites, m->nsites, 0, used);
    } else {
        handle__sb_puts(b, handle__rm_incomplete(m)
                               ? "No handle leaks found in what the trace recorded; it is "
                                 "incomplete.\n"
                               : "No handle leaks found.\n");
        if (used)
            handle__supp_print_used(b, used);
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
