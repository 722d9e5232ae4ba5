/*
 * suppress.h - leak suppressions in LeakSanitizer's syntax and matching
 * (SPEC section 3, option `suppressions`; handle-report --suppressions):
 *
 *   # a comment
 *   leak:libfoo.so          any frame's module path contains "libfoo.so"
 *   leak:^make_conn$        a function named exactly make_conn
 *   leak:vendor_*.c$        a source file (or other string) ending so
 *
 * One `leak:PATTERN` per line; blank lines and lines starting with `#`
 * (after leading white space) are ignored; white space around the line and
 * after the colon is dropped. Any other type (`race:`, `interceptor_via_fun:`
 * ...) or a line without a type is an error naming the line, as in LSan.
 *
 * A pattern matches anywhere in a string unless anchored with a leading
 * `^` or a trailing `$`; `*` matches any run of characters (also none);
 * there is no escape. An empty string never matches; an empty pattern
 * matches every other string (LSan's rules). LSan's own matcher is greedy
 * and misses some matches with `$` ("foo$" against "foo_foo"); this one
 * finds every match.
 *
 * Parsing and matching only; the report decides what suppression means
 * and prints the used suppressions (handle__supp_print_used).
 */
#ifndef HANDLE_REPORT_SUPPRESS_H
#define HANDLE_REPORT_SUPPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "symbolize.h"
#include "text.h"

#ifndef HANDLE__HIDDEN
#define HANDLE__HIDDEN __attribute__((visibility("hidden")))
#endif

struct handle__supp;

/* Parses text (NUL-terminated). origin names it in messages (a path;
 * NULL: "suppressions"). NULL on error, with one line in err:
 * "ORIGIN:LINE: unsupported suppression type 'race' (only 'leak' is
 * supported)"; NULL with "out of memory" when out of memory. */
HANDLE__HIDDEN struct handle__supp *handle__supp_parse(const char *text, const char *origin,
                                                       char *err, size_t errlen);
/* The most a suppression file may hold (SPEC section 3), and how long
 * reading one that is not a regular file (a FIFO, a pipe) may take. */
#define HANDLE__SUPP_MAX ((size_t)1 << 20)
#define HANDLE__SUPP_WAIT_MS 10000

/* Reads and parses the file at path; NULL with "PATH: reason" if it
 * cannot be read or parsed, or holds more than HANDLE__SUPP_MAX bytes
 * ("PATH: over 1 MiB ..."; /dev/zero too), or is a FIFO or pipe that
 * gives no end within HANDLE__SUPP_WAIT_MS ("PATH: nothing to read within
 * 10.0 s ..."). Never blocks in open. Preserves errno. */
HANDLE__HIDDEN struct handle__supp *handle__supp_load(const char *path, char *err,
                                                      size_t errlen);
/* The same with another limit for a FIFO or pipe (wait_ms >= 0). */
HANDLE__HIDDEN struct handle__supp *handle__supp_load_within(const char *path, int wait_ms,
                                                             char *err, size_t errlen);

/* Whether pattern matches s (the rules above). */
HANDLE__HIDDEN bool handle__supp_glob(const char *pattern, const char *s);

/* The index of the pattern that suppresses a stack, or -1: frames in
 * order, and for each frame its module path, then its function, then its
 * source file, each against the patterns in file order (LSan's order, so
 * the same pattern gets the hit). Does not count a hit. NULL sp: -1. */
HANDLE__HIDDEN int handle__supp_match(const struct handle__supp *sp,
                                      const struct handle__sym_frame *frames, size_t n);

HANDLE__HIDDEN size_t handle__supp_count(const struct handle__supp *sp);
HANDLE__HIDDEN const char *handle__supp_pattern(const struct handle__supp *sp, size_t i);
/* The 1-based line of pattern i in its text. */
HANDLE__HIDDEN unsigned handle__supp_line(const struct handle__supp *sp, size_t i);
HANDLE__HIDDEN uint64_t handle__supp_hits(const struct handle__supp *sp, size_t i);
/* Counts n suppressed handles against pattern i (i out of range: no-op). */
HANDLE__HIDDEN void handle__supp_add_hits(struct handle__supp *sp, size_t i, uint64_t n);

/* LSan's "Suppressions used:" block, for the patterns with hits (nothing
 * if none was hit):
 *   -----------------------------------------------------
 *   Suppressions used:
 *     count template
 *         2 make_conn
 *   -----------------------------------------------------
 * (count is handles, right-aligned in 7 columns; LSan's bytes column has
 * no meaning for handles.) */
HANDLE__HIDDEN void handle__supp_print_used(struct handle__sb *b, const struct handle__supp *sp);

HANDLE__HIDDEN void handle__supp_free(struct handle__supp *sp);

/* The text sp was parsed from ("" for NULL): what a trace records as the
 * suppressions in force (meta suppressions). */
HANDLE__HIDDEN const char *handle__supp_text(const struct handle__supp *sp);

#endif
