/*
 * handle-report - reads the traces that libhandle-debug.so writes (SPEC
 * section 5) and reports, after the fact, what the exit report reported
 * and more (SPEC section 6):
 *
 *     handle-report [--format text|json|sarif|html|folded] [--all] [--stats]
 *                   [--suppressions FILE] [--baseline OLD] [--output FILE]
 *                   [--source-root DIR] [--debuginfo-path PATH] [--debuginfod]
 *                   [--color WHEN] TRACE.db...
 *
 * Leak sites in the exit report's own text (lib/report/leaks.c prints
 * both), recorded errors, the trace's program, pid and times; symbolized
 * offline from the trace's module table. Several traces (one per process
 * of a test suite) give one merged report. Exit status: 0 nothing found,
 * 1 leaks or errors found, 2 bad usage or a file that is missing,
 * unreadable or not a handle trace (one line on stderr naming the file and
 * why). This file is the command line only: reading and merging are
 * lib/report/report_model.c, the formats report_text.c, report_json.c,
 * report_html.c (one self-contained page) and report_flame.c (collapsed
 * stacks for flame graph tools).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report/decorate.h"
#include "report/report_model.h"
#include "report/suppress.h"
#include "report/symbolize.h"
#include "report/text.h"
#include "report/trace_read.h"

#ifndef HANDLE_VERSION
#define HANDLE_VERSION "?"
#endif

enum { EXIT_CLEAN = 0, EXIT_FOUND = 1, EXIT_BAD = 2 };

/* The output formats. */
enum format { FMT_TEXT, FMT_JSON, FMT_SARIF, FMT_HTML, FMT_FOLDED };
static const struct {
    const char *name;
    int format; /* -1: planned, not available yet */
} formats[] = {
    {"text", FMT_TEXT}, {"json", FMT_JSON},     {"sarif", FMT_SARIF},
    {"html", FMT_HTML}, {"folded", FMT_FOLDED},
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: handle-report [OPTIONS] TRACE.db...\n"
            "Reports the leaked handles and the recorded errors of traces written by\n"
            "libhandle-debug.so, symbolized offline; several traces give one merged report.\n"
            "\n"
            "  -f, --format FORMAT      text (the exit report's format; default), json, sarif,\n"
            "                           html (one self-contained page: leak sites, a timeline\n"
            "                           of live handles, flame graphs of creation stacks),\n"
            "                           folded (collapsed stacks of the leaked handles, for\n"
            "                           flamegraph.pl, inferno or speedscope)\n"
            "      --all                with folded: the stacks of every creation, not only\n"
            "                           of the leaked handles\n"
            "      --stats              per creation site: handles created, deleted and live,\n"
            "                           lifetime p50/p99/max, the most live at once\n"
            "  -s, --suppressions FILE  leave out leaks matched by FILE (leak:PATTERN lines, as\n"
            "                           HANDLE_OPTIONS=suppressions)\n"
            "  -b, --baseline OLD       report only leak sites that OLD does not have; OLD is a\n"
            "                           trace or a report of --format json (repeatable)\n"
            "  -o, --output FILE        write the report to FILE instead of stdout\n"
            "      --source-root DIR    with sarif: results are placed at the first frame\n"
            "                           whose source file is under DIR, with URIs relative\n"
            "                           to %%SRCROOT%% = DIR (default: the current directory,\n"
            "                           as in a CI job run from the checkout)\n"
            "      --color WHEN         colours in the text report, as the exit report's\n"
            "                           (HANDLE_OPTIONS=color): auto (default: only when\n"
            "                           stdout is a terminal and NO_COLOR is unset or empty),\n"
            "                           always or never\n"
            "      --debuginfo-path P   where separate debug files are looked for, libdwfl's\n"
            "                           syntax (default \":.debug:/usr/lib/debug\")\n"
            "      --debuginfod         ask the DEBUGINFOD_URLS servers for missing debug\n"
            "                           files, at most HANDLE_DEBUGINFOD_BUDGET s in all\n"
            "                           (default 30); never without this option\n"
            "  -h, --help               this text\n"
            "  -V, --version            the version\n"
            "\n"
            "Exit status: 0 nothing found, 1 leaks or errors found, 2 bad usage or a file\n"
            "that is missing, unreadable or not a handle trace (the others are still\n"
            "reported), or nothing found in an incomplete trace. The handles of a process\n"
            "still running are listed as live, not as leaks. The suppressions recorded in\n"
            "a trace apply to it, as do --suppressions files.\n");
}

/* Prints "handle-report: [WHAT: ]WHY" on stderr, as one line whatever
 * WHY holds (a file name with a newline included). */
static void complain(const char *what, const char *why)
{
    char line[2048];
    snprintf(line, sizeof line, "%s%s%s", what ? what : "", what ? ": " : "", why);
    handle__one_line(line, 0);
    fprintf(stderr, "handle-report: %s\n", line);
}

/* A failure while reporting on the traces argv[first..argc) (out of
 * memory): the line names them, the first and how many more. */
static void complain_traces(char **argv, int first, int argc, const char *why)
{
    char what[1400];
    if (argc - first > 1)
        snprintf(what, sizeof what, "%.1024s (and %d more trace(s))", argv[first], argc - first - 1);
    else
        snprintf(what, sizeof what, "%.1024s", argv[first]);
    complain(what, why);
}

/* Bad usage: one line, like every other failure. */
static int bad_usage(const char *why)
{
    fprintf(stderr, "handle-report: %s (see handle-report --help)\n", why);
    return EXIT_BAD;
}

/* Writes the report to path (NULL: stdout); false with a complaint. */
static bool write_out(const char *path, const struct handle__sb *b)
{
    FILE *f = stdout;
    if (path) {
        f = fopen(path, "w");
        if (f == NULL) {
            complain(path, strerror(errno));
            return false;
        }
    }
    bool ok = b->len == 0 || fwrite(b->p, 1, b->len, f) == b->len;
    ok = fflush(f) == 0 && ok;
    int e = errno;
    if (path)
        ok = fclose(f) == 0 && ok;
    if (!ok)
        complain(path ? path : "stdout", strerror(e));
    return ok;
}

/* debuginfod only when asked (SPEC section 6): without --debuginfod,
 * DEBUGINFOD_URLS (Debian sets it in login shells) is removed before libdw
 * is loaded, so no lookup can wait on the network; with it, all queries
 * share a budget of HANDLE_DEBUGINFOD_BUDGET seconds (default 30). */
static struct handle__symbolizer *debuginfod_setup(bool on)
{
    if (!on) {
        unsetenv("DEBUGINFOD_URLS");
        return handle__sym_new_ex(HANDLE__SYM_NO_DEBUGINFOD);
    }
    const char *b = getenv("HANDLE_DEBUGINFOD_BUDGET");
    char *end;
    unsigned long v = b && *b ? strtoul(b, &end, 10) : 30;
    if (b && *b && (*end || v == 0 || v > 86400))
        v = 30;
    handle__sym_debuginfod_budget("handle-report", (unsigned)v);
    return handle__sym_new_ex(HANDLE__SYM_DEBUGINFOD);
}

int main(int argc, char **argv)
{
    /* libdw's own exit(1) on out of memory must not read as "leaks found". */
    handle__sym_libdw_exit_status("handle-report", 2);
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'f'},
        {"stats", no_argument, NULL, 'S'},
        {"suppressions", required_argument, NULL, 's'},
        {"baseline", required_argument, NULL, 'b'},
        {"output", required_argument, NULL, 'o'},
        {"debuginfo-path", required_argument, NULL, 'D'},
        {"debuginfod", no_argument, NULL, 'I'},
        {"source-root", required_argument, NULL, 'R'},
        {"all", no_argument, NULL, 'A'},
        {"color", required_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int format = FMT_TEXT;
    bool stats = false, all = false, debuginfod = false;
    enum { COLOR_AUTO, COLOR_ALWAYS, COLOR_NEVER } color = COLOR_AUTO;
    const char *supp_path = NULL, *out_path = NULL, *debuginfo_path = NULL;
    const char *source_root = NULL;
    const char **baselines = calloc((size_t)argc + 1, sizeof *baselines);
    size_t nbaselines = 0;
    if (baselines == NULL) {
        complain(NULL, "out of memory");
        return EXIT_BAD;
    }
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":f:s:b:o:hV", opts, NULL)) != -1) {
        char msg[256];
        switch (c) {
        case 'f': {
            format = -2;
            for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
                if (strcmp(optarg, formats[i].name) == 0)
                    format = formats[i].format;
            if (format == -1) {
                snprintf(msg, sizeof msg, "--format %s is not available in this version", optarg);
                free(baselines);
                return bad_usage(msg);
            }
            if (format == -2) {
                snprintf(msg, sizeof msg,
                         "unknown format '%s' (text, json, sarif, html or folded)", optarg);
                free(baselines);
                return bad_usage(msg);
            }
            break;
        }
        case 'S':
            stats = true;
            break;
        case 's':
            supp_path = optarg;
            break;
        case 'b':
            baselines[nbaselines++] = optarg;
            break;
        case 'o':
            out_path = optarg;
            break;
        case 'D':
            debuginfo_path = optarg;
            break;
        case 'I':
            debuginfod = true;
            break;
        case 'R':
            source_root = optarg;
            break;
        case 'A':
            all = true;
            break;
        case 'C':
            if (strcmp(optarg, "auto") == 0) {
                color = COLOR_AUTO;
            } else if (strcmp(optarg, "always") == 0) {
                color = COLOR_ALWAYS;
            } else if (strcmp(optarg, "never") == 0) {
                color = COLOR_NEVER;
            } else {
                snprintf(msg, sizeof msg, "unknown --color '%s' (auto, always or never)",
                         optarg);
                free(baselines);
                return bad_usage(msg);
            }
            break;
        case 'h':
            usage(stdout);
            free(baselines);
            return EXIT_CLEAN;
        case 'V':
            printf("handle-report %s\n", HANDLE_VERSION);
            free(baselines);
            return EXIT_CLEAN;
        case ':':
            snprintf(msg, sizeof msg, "option '%s' needs an argument", argv[optind - 1]);
            free(baselines);
            return bad_usage(msg);
        default:
            if (optopt)
                snprintf(msg, sizeof msg, "unknown option '-%c'", optopt);
            else
                snprintf(msg, sizeof msg, "unknown option '%s'", argv[optind - 1]);
            free(baselines);
            return bad_usage(msg);
        }
    }
    if (all && format != FMT_FOLDED) {
        free(baselines);
        return bad_usage(format == FMT_HTML ? "--all applies to --format folded only (the html "
                                              "page always has both flame graphs)"
                                            : "--all applies to --format folded only");
    }
    if (optind >= argc) {
        free(baselines);
        return bad_usage("no trace given");
    }
    if (source_root) {
        /* The root must be a directory: a typo would place every result
         * outside it without a word. */
        struct stat st;
        const char *why = NULL;
        if (source_root[0] == '\0')
            why = "--source-root needs a directory";
        else if (stat(source_root, &st) != 0)
            why = strerror(errno);
        else if (!S_ISDIR(st.st_mode))
            why = "not a directory";
        if (why) {
            complain(source_root[0] ? source_root : NULL, why);
            free(baselines);
            return EXIT_BAD;
        }
    }

    handle__tr_global_init(); /* one thread: SQLite needs no mutexes */
    int status = EXIT_BAD;
    char err[1024];
    struct handle__supp *supp = NULL;
    struct handle__symbolizer *sym = NULL;
    struct handle__rm *m = NULL;
    struct handle__sb out = {0};
    if (supp_path) {
        supp = handle__supp_load(supp_path, err, sizeof err);
        if (supp == NULL) {
            /* handle__supp_load names the file itself. */
            complain(NULL, err);
            goto done;
        }
    }
    sym = debuginfod_setup(debuginfod);
    if (sym && debuginfo_path)
        handle__sym_set_debuginfo_path(sym, debuginfo_path);
    /* html shows the statistics and a timeline; folded --all the stacks
     * of every creation: both read every lifetime. */
    m = sym ? handle__rm_new(sym, supp, stats || (format == FMT_FOLDED && all)) : NULL;
    if (m == NULL) {
        complain(NULL, "out of memory");
        goto done;
    }
    if (format == FMT_HTML)
        handle__rm_want_detail(m);
    for (size_t i = 0; i < nbaselines; i++) {
        if (!handle__rm_add_baseline(m, baselines[i], err, sizeof err)) {
            complain(baselines[i], err);
            goto done;
        }
    }
    /* Every bad trace gets its line; the good ones still get their
     * report, and the exit status (2) says it is not the whole (SPEC
     * section 6). */
    bool bad = false;
    size_t good = 0;
    /* The same file given twice (t.db t.db, t.db ./t.db, a hard link)
     * is one process: counted once (SPEC section 6). */
    struct stat *seen = calloc((size_t)(argc - optind), sizeof *seen);
    size_t nseen = 0;
    for (int i = optind; i < argc; i++) {
        struct stat st;
        if (seen && stat(argv[i], &st) == 0) {
            bool dup = false;
            for (size_t k = 0; k < nseen && !dup; k++)
                dup = seen[k].st_dev == st.st_dev && seen[k].st_ino == st.st_ino;
            if (dup)
                continue;
            seen[nseen++] = st;
        }
        if (!handle__rm_add_trace(m, argv[i], err, sizeof err)) {
            complain(argv[i], err);
            bad = true;
        } else {
            good++;
        }
    }
    free(seen);
    if (good == 0)
        goto done;
    if (!handle__rm_finish(m)) {
        complain_traces(argv, optind, argc, "out of memory");
        goto done;
    }
    bool ok = true;
    switch (format) {
    case FMT_JSON:
        ok = handle__rm_json(&out, m, stats, err, sizeof err);
        break;
    case FMT_SARIF:
        ok = handle__rm_sarif(&out, m, HANDLE_VERSION, source_root, err, sizeof err);
        break;
    case FMT_HTML:
        ok = handle__rm_html(&out, m, HANDLE_VERSION, err, sizeof err);
        break;
    case FMT_FOLDED:
        ok = handle__rm_folded(&out, m, all);
        if (!ok)
            snprintf(err, sizeof err, "out of memory");
        break;
    default:
        handle__rm_text(&out, m, stats);
        /* Colours as the exit report's (lib/report/decorate.h); auto:
         * stdout on a terminal, never a file of -o. */
        if (!out.oom && (color == COLOR_ALWAYS ||
                         (color == COLOR_AUTO && !out_path && handle__deco_auto(STDOUT_FILENO)))) {
            struct handle__sb dec = {0};
            handle__decorate(&dec, handle__sb_str(&out), out.len);
            handle__sb_free(&out);
            out = dec;
        }
        if (out.oom) {
            ok = false;
            snprintf(err, sizeof err, "out of memory");
        }
        break;
    }
    if (!ok) {
        complain_traces(argv, optind, argc, err);
        goto done;
    }
    if (!write_out(out_path, &out))
        goto done;
    /* An incomplete trace is never clean: with nothing found, 2. */
    status = bad                                          ? EXIT_BAD
             : handle__rm_leaked(m, NULL) || m->nerrors ? EXIT_FOUND
             : handle__rm_incomplete(m)                   ? EXIT_BAD
                                                          : EXIT_CLEAN;
done:
    handle__sb_free(&out);
    handle__rm_free(m);
    handle__sym_free(sym);
    handle__supp_free(supp);
    free(baselines);
    return status;
}
