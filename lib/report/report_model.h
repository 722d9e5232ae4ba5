/*
 * report_model.h - what handle-report reports, built from one or many
 * traces: the leak sites (merged across processes), the recorded errors,
 * per-site lifetime statistics, and notes on modules that could not be
 * symbolized; and the three renderings of it (text, JSON, SARIF).
 *
 * Sites are formed as the exit report forms them (live handles sharing a
 * creation stack and a tag), symbolized, suppressed and ordered by
 * lib/report/leaks.c, so that the text of one trace is the exit report's
 * text. Across traces a site is known by its key: its tag and, for every
 * frame, the function and source file (the module's name when both are
 * unknown) - never an address, a line or a stack id, so a rebuilt program
 * still matches (SPEC section 6); source files by their name, so that a
 * checkout elsewhere matches too. Two sites of one process with the same
 * key (two calls in one function) are told apart by their order in the
 * code (module offsets), so merging traces of one build never fuses them.
 * A baseline matches by the key alone: a site is dropped when the baseline
 * has any site with its key.
 *
 * Usage: handle__rm_new, handle__rm_add_baseline for each baseline,
 * handle__rm_add_trace for each trace, handle__rm_finish, then a
 * renderer, then handle__rm_free. Memory grows with the number of distinct
 * sites and errors (and with --stats, with the completed lifetimes), not
 * with the number of traces or handles. Not thread-safe.
 */
#ifndef HANDLE_REPORT_REPORT_MODEL_H
#define HANDLE_REPORT_REPORT_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "leaks.h"
#include "suppress.h"
#include "symbolize.h"
#include "text.h"
#include "trace_read.h"

#ifndef HANDLE__HIDDEN
#define HANDLE__HIDDEN __attribute__((visibility("hidden")))
#endif

/* A symbolized stack; frames' strings belong to the symbolizer. */
struct handle__rm_frames {
    struct handle__sym_frame *f;
    size_t n;
};

struct handle__rm_trace {
    const char *path;              /* as given on the command line */
    struct handle__tr_meta meta;   /* strings owned by the model */
    uint64_t leaked;               /* live handles, after suppressions */
    uint64_t leak_sites;           /* their sites in this trace */
    size_t errors;
    /* The process still runs (handle__tr_running): its live handles are
     * not leaks; they are counted in live (after suppressions) and listed
     * in the model's live sites, not in sites. */
    bool running;
    uint64_t live;
    int64_t commit_age_ns;         /* now - meta last_commit_ns; -1: unknown */
    /* Why the trace is not a full account of the run (meta incomplete, or
     * told from what is missing); NULL: it is. Never reported clean. */
    const char *incomplete;
};

/* A suppression text recorded in traces (meta suppressions), parsed once
 * for every trace that carries the same text. */
struct handle__rm_tsupp {
    const char *text;              /* interned */
    struct handle__supp *supp;
};

struct handle__rm_error {
    size_t trace;                  /* index into traces */
    const char *kind;
    const char *message;           /* as printed at the time; "" if none */
    const char *tag;               /* NULL: untagged or unknown */
    uint64_t handle;
    int64_t at_ns;
    int64_t thread, created_thread, deleted_thread; /* -1: unknown */
    struct handle__rm_frames stack;
    bool has_created, has_deleted;
    struct handle__rm_frames created, deleted;
};

/* Lifetime statistics of one creation site (--stats). */
struct handle__rm_stat {
    const char *tag;               /* NULL: untagged */
    struct handle__rm_frames frames;
    uint64_t created, deleted, live;
    uint64_t peak;                 /* most live at once (the largest of any one process) */
    uint64_t p50, p99, max;        /* completed lifetimes, ns; 0 when there are none */
    uint32_t processes;
    int64_t first_abs;             /* Unix ns of its first creation, for the order */
    uint64_t *life;                /* completed lifetimes (freed by handle__rm_finish) */
    size_t nlife, caplife;
    size_t serial;                 /* its index before handle__rm_finish sorted the stats */
    /* Only with handle__rm_want_detail: every creation and deletion time
     * (Unix ns; ns since the start for a trace without started_at), in no
     * particular order, and the completed lifetimes by floor(log2(ns))
     * (0 ns counts in bucket 0). */
    int64_t *born, *died;
    size_t nborn, capborn, ndied, capdied;
    uint64_t hist[64];
};

/* A module whose frames show module+offset, and why. */
struct handle__rm_note {
    const char *path;
    const char *reason;
    bool changed;                  /* the file has another build-id now */
    size_t trace;                  /* the module's trace (m->traces), SIZE_MAX: none or a baseline */
    const char *baseline;          /* the baseline trace it is of, else NULL */
};

struct handle__rm_map; /* report_model.c's string-keyed hash table */

/* What merging needs to know of a merged site besides handle__leak_site. */
struct handle__rm_side {
    const char *base;              /* its base key (tag and frames), for baselines */
    size_t last;                   /* the last trace that added to it */
    bool live;                     /* handles of running processes, not leaks */
};

struct handle__rm {
    struct handle__symbolizer *sym;
    struct handle__supp *supp;     /* may be NULL */
    bool want_stats;
    bool want_detail;              /* handle__rm_want_detail */

    struct handle__rm_trace *traces;
    size_t ntraces, captraces;

    /* Merged leak sites; after handle__rm_finish: without the baseline's,
     * symbolized and sorted by handle__leaks_resolve, ready for
     * handle__leaks_text (suppressed sites are gone; their hits are in
     * supp). */
    struct handle__leak_site *sites;
    size_t nsites, capsites;

    /* After handle__rm_finish: the sites of processes still running
     * (their handles live at the last commit), as sites are. */
    struct handle__leak_site *live;
    size_t nlive, caplive;

    /* The suppressions recorded in the traces, applied to each trace's
     * own sites beside supp. */
    struct handle__rm_tsupp *tsupp;
    size_t ntsupp, captsupp;

    struct handle__rm_error *errors;
    size_t nerrors, caperrors;

    struct handle__rm_stat *stats; /* sorted by created (most first) after finish */
    size_t nstats, capstats;

    struct handle__rm_note *notes;
    size_t nnotes, capnotes;

    size_t nbaselines;
    uint64_t baseline_sites, baseline_handles; /* left out: the baseline has them */

    /* internal */
    uint32_t next_module;          /* global module ids handed to sym */
    const char **gmod_path;        /* by global module id */
    bool *gmod_used;
    size_t *gmod_trace;            /* its trace's index, SIZE_MAX: a baseline's */
    const char **gmod_tpath;       /* its trace's path */
    size_t capgmod;
    struct handle__rm_map *strings, *site_keys, *stat_keys, *baseline_keys;
    struct handle__rm_side *side;  /* per merged site, until handle__rm_finish sorts them */
    size_t capside;
    /* With detail: by a merged site's order, 1 + the serial of the stats
     * entry of its handles (0: none); after finish, stat_of_serial maps
     * serials to indices in stats. */
    size_t *site_stat, capsite_stat, nsite_stat;
    size_t *stat_of_serial;
    bool oom;
};

/* A new, empty model. sym (required) and supp (may be NULL) stay the
 * caller's; want_stats: also read every lifetime for --stats. NULL when
 * out of memory. */
HANDLE__HIDDEN struct handle__rm *handle__rm_new(struct handle__symbolizer *sym,
                                                 struct handle__supp *supp, bool want_stats);

/* Also keeps, for handle__rm_site_stat and the HTML page, every creation
 * and deletion time per creation site and lifetime histograms (16 bytes a
 * lifetime more); implies stats. Call before the first trace. */
HANDLE__HIDDEN void handle__rm_want_detail(struct handle__rm *m);

/* With detail, after finish: the statistics of the creation site whose
 * live handles make up leak site s (NULL if unknown). */
HANDLE__HIDDEN const struct handle__rm_stat *handle__rm_site_stat(const struct handle__rm *m,
                                                                  const struct handle__leak_site *s);

/* Reads the trace at path into the model. False with a one-line reason in
 * err (without the path) for a bad or unreadable trace; the model is then
 * unchanged except for strings and symbolizer modules. */
HANDLE__HIDDEN bool handle__rm_add_trace(struct handle__rm *m, const char *path, char *err,
                                         size_t errlen);

/* Adds the leak sites of a baseline: a trace, or a JSON report written by
 * handle-report --format json (whose frames are already symbolized, so it
 * stays usable after the program is rebuilt). Call before
 * handle__rm_finish. False with a reason in err. */
HANDLE__HIDDEN bool handle__rm_add_baseline(struct handle__rm *m, const char *path, char *err,
                                            size_t errlen);

/* Drops the sites the baselines have, symbolizes and orders the rest,
 * computes the statistics and the module notes. False when out of memory
 * (the report may then lack parts). */
HANDLE__HIDDEN bool handle__rm_finish(struct handle__rm *m);

/* Leaked handles and sites to report (after suppressions and baselines). */
HANDLE__HIDDEN uint64_t handle__rm_leaked(const struct handle__rm *m, uint64_t *nsites);

/* Traces whose report cannot be called complete (an incomplete trace). */
HANDLE__HIDDEN size_t handle__rm_incomplete(const struct handle__rm *m);

/* Handles of running processes live at their last commit, and their sites. */
HANDLE__HIDDEN uint64_t handle__rm_live(const struct handle__rm *m, uint64_t *nsites);

/* The suppressions whose "Suppressions used:" block the text report
 * prints: supp if it had hits, else the first recorded one with hits
 * (NULL: none). */
HANDLE__HIDDEN const struct handle__supp *handle__rm_used_supp(const struct handle__rm *m);

/* The pid for the report's ==PID== lines: the trace's, or for several the
 * first one's. */
HANDLE__HIDDEN long handle__rm_pid(const struct handle__rm *m);

HANDLE__HIDDEN void handle__rm_free(struct handle__rm *m);

/* Appends the key of a site (SPEC section 6: its tag and, over the frames
 * that have both, each frame's function without its parameter list and
 * its source file's name): what sites match by across traces and against
 * a baseline. File names without their
 * directories, so that a checkout in another place (CI workspaces) still
 * matches. Text with control characters as separators; not for display. */
HANDLE__HIDDEN void handle__rm_key(struct handle__sb *b, const char *tag,
                                   const struct handle__sym_frame *f, size_t n);

/* A string-keyed hash table (keys are bytes, copied), for the renderers'
 * tables of strings, frames and stacks. NULL when out of memory. */
HANDLE__HIDDEN struct handle__rm_map *handle__rm_map_new(void);
HANDLE__HIDDEN void handle__rm_map_free(struct handle__rm_map *mp);
/* The value stored under k[0..len) in *val; if absent, val_if_new is
 * stored and *added set. False when out of memory. */
HANDLE__HIDDEN bool handle__rm_map_get(struct handle__rm_map *mp, const void *k, size_t len,
                                       size_t val_if_new, size_t *val, bool *added);

/* ---- renderings (report_text.c, report_json.c, report_flame.c, report_html.c) */

/* The text report: a header per trace, module notes, the leak report of
 * handle__leaks_text, the recorded errors, and with stats the lifetime
 * table. */
HANDLE__HIDDEN void handle__rm_text(struct handle__sb *b, const struct handle__rm *m, bool stats);

/* SPEC section 6's JSON document (plus "stats" with stats). False (with a
 * reason in err) if the writer failed. */
HANDLE__HIDDEN bool handle__rm_json(struct handle__sb *b, const struct handle__rm *m, bool stats,
                                    char *err, size_t errlen);

/* A SARIF 2.1.0 log: one result per leak site (rule handle-leak) and one
 * per recorded error (rule = its kind), placed relative to source_root
 * (%SRCROOT%; NULL: the current directory; a relative one is taken from
 * the current directory). False (with a reason in err) if the writer
 * failed. */
HANDLE__HIDDEN bool handle__rm_sarif(struct handle__sb *b, const struct handle__rm *m,
                                     const char *tool_version, const char *source_root,
                                     char *err, size_t errlen);

/* The name of frame f in a flame graph or a collapsed stack: its
 * function, else "MODULE+0xOFF" (the module's file name), else "0xPC";
 * with mark_inline, an inlined frame ends in "_[i]" (flamegraph.pl's and
 * inferno's annotation). ';' becomes ':' and control characters spaces,
 * which collapsed stacks cannot hold. */
HANDLE__HIDDEN void handle__rm_frame_name(struct handle__sb *b, const struct handle__sym_frame *f,
                                          bool mark_inline);

/* --format folded: collapsed stacks for flamegraph.pl, inferno or
 * speedscope, one line per distinct stack, "OUTER;...;INNER COUNT"
 * (outermost frame first), sorted; of the leaked handles (as reported:
 * after suppressions and baselines), or with all of every creation (the
 * statistics: the model needs want_stats). Nothing for no stacks. */
HANDLE__HIDDEN bool handle__rm_folded(struct handle__sb *b, const struct handle__rm *m, bool all);

/* --format html: one self-contained page (report_html.c). The model needs
 * handle__rm_want_detail. False with a reason in err. */
HANDLE__HIDDEN bool handle__rm_html(struct handle__sb *b, const struct handle__rm *m,
                                    const char *tool_version, char *err, size_t errlen);

/* Durations for people: "850 ns", "12.3 us", "4.56 ms", "1.234 s". */
HANDLE__HIDDEN void handle__rm_duration(struct handle__sb *b, uint64_t ns);

#endif
