/*
 * leaks.h - leak sites and their text report, shared by the exit report of
 * libhandle-debug.so and by handle-report, so the two cannot disagree.
 *
 * A site is the handles still live that share a creation stack and a tag.
 * The caller (the runtime from its side table, handle-report from the
 * trace) fills the raw part of each site; this module symbolizes the
 * stacks, applies suppressions, orders the sites (most handles first; ties:
 * the site whose first handle was created first) and formats the report in
 * the layout of SPEC section 4.
 */
#ifndef HANDLE_REPORT_LEAKS_H
#define HANDLE_REPORT_LEAKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "suppress.h"
#include "symbolize.h"
#include "text.h"

struct handle__leak_site {
    /* filled by the caller */
    uint64_t count;            /* leaked handles */
    const char *tag;           /* NULL: untagged */
    uint64_t first_ns;         /* creation time of its first handle */
    uint64_t order;            /* secondary tie-break (e.g. trace index) */
    uint32_t depth;
    const uintptr_t *pcs;      /* return addresses, frame #0 first */
    const uint32_t *modules;   /* module id of each pc (symbolizer ids), may be NULL */
    uint32_t processes;        /* merged reports: processes it leaked in (0 or 1: one) */
    const char *example;       /* merged reports: one process that leaked it */
    /* filled by handle__leaks_resolve */
    struct handle__sym_frame *frames;
    size_t nframes;
    int suppressed_by;         /* index of the matching suppression, -1 none */
};

/* Symbolizes every site's stack (each distinct pc once, thanks to the
 * symbolizer's cache), applies supp (may be NULL) and counts hits, then
 * sorts the sites. Returns false when out of memory (sites unresolved are
 * then printed as raw pcs). */
HANDLE__HIDDEN bool handle__leaks_resolve(struct handle__symbolizer *sym, struct handle__supp *supp,
                                          struct handle__leak_site *sites, size_t n);

/* Totals over unsuppressed sites. */
HANDLE__HIDDEN uint64_t handle__leaks_total(const struct handle__leak_site *sites, size_t n,
                                            uint64_t *nsites);

/* The report as the exit check prints it: the ERROR line, one paragraph per
 * unsuppressed site (at most max_sites, 0: all, then "Omitting K more leak
 * site(s)."), the suppressions used, the SUMMARY line. Nothing is appended
 * when there is no unsuppressed leak. pid is printed as ==PID==. */
HANDLE__HIDDEN void handle__leaks_text(struct handle__sb *b, long pid,
                                       const struct handle__leak_site *sites, size_t n,
                                       uint64_t max_sites, const struct handle__supp *supp);

/* Frees what handle__leaks_resolve allocated. */
HANDLE__HIDDEN void handle__leaks_release(struct handle__leak_site *sites, size_t n);

#endif
