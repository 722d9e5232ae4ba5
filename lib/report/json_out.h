/*
 * json_out.h - a streaming JSON writer for handle-report's --format json
 * and sarif: objects, arrays, keys and values appended to a handle__sb,
 * with commas, colons and indentation placed by the writer and nesting
 * checked, so a caller cannot produce a malformed document by forgetting
 * a comma or a bracket.
 *
 * Strings are escaped by SQLite's json_quote() (an in-memory database
 * owned by the writer), after invalid UTF-8 has been replaced by U+FFFD:
 * file paths and tags are bytes, JSON text must be UTF-8. Numbers are
 * integers only; the reports have no fractions.
 *
 * Misuse (a value where a key is due, a close without an open, nesting
 * deeper than HANDLE__JSON_MAX_DEPTH) sets the error flag, asserts in
 * debug builds, and the writer stops writing. Not thread-safe.
 */
#ifndef HANDLE_REPORT_JSON_OUT_H
#define HANDLE_REPORT_JSON_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "text.h"

#ifndef HANDLE__HIDDEN
#define HANDLE__HIDDEN __attribute__((visibility("hidden")))
#endif

#define HANDLE__JSON_MAX_DEPTH 32

struct sqlite3;
struct sqlite3_stmt;

struct handle__json {
    struct handle__sb *out;
    struct sqlite3 *db;          /* :memory:, for json_quote */
    struct sqlite3_stmt *quote;  /* SELECT json_quote(?1) */
    int indent;                  /* spaces per level; 0: one line */
    int depth;
    char kind[HANDLE__JSON_MAX_DEPTH]; /* '{' or '[' per open level */
    bool empty[HANDLE__JSON_MAX_DEPTH]; /* nothing written at this level yet */
    bool want_value;             /* a key was written, its value is due */
    bool done;                   /* the top-level value is complete */
    bool error;
    char errmsg[128];
};

/* Starts a document written to out, indent spaces per level (0: compact).
 * False (with errmsg set) when SQLite cannot open its in-memory database. */
HANDLE__HIDDEN bool handle__json_init(struct handle__json *j, struct handle__sb *out, int indent);
/* Releases the writer (not out). */
HANDLE__HIDDEN void handle__json_fini(struct handle__json *j);

HANDLE__HIDDEN void handle__json_obj(struct handle__json *j);
HANDLE__HIDDEN void handle__json_obj_end(struct handle__json *j);
HANDLE__HIDDEN void handle__json_arr(struct handle__json *j);
HANDLE__HIDDEN void handle__json_arr_end(struct handle__json *j);
/* A member name; only inside an object, and before each value there. */
HANDLE__HIDDEN void handle__json_key(struct handle__json *j, const char *k);

/* Values: a string (NULL writes null), integers, a boolean, null, and
 * "0x..." (an address or a handle, as a string: JSON numbers lose
 * precision above 2^53 in many parsers). */
HANDLE__HIDDEN void handle__json_str(struct handle__json *j, const char *s);
HANDLE__HIDDEN void handle__json_int(struct handle__json *j, int64_t v);
HANDLE__HIDDEN void handle__json_uint(struct handle__json *j, uint64_t v);
HANDLE__HIDDEN void handle__json_bool(struct handle__json *j, bool v);
HANDLE__HIDDEN void handle__json_null(struct handle__json *j);
HANDLE__HIDDEN void handle__json_hex(struct handle__json *j, uint64_t v);

/* Shorthands for a key followed by a value. */
HANDLE__HIDDEN void handle__json_kstr(struct handle__json *j, const char *k, const char *s);
HANDLE__HIDDEN void handle__json_kint(struct handle__json *j, const char *k, int64_t v);
HANDLE__HIDDEN void handle__json_kuint(struct handle__json *j, const char *k, uint64_t v);
/* k: v when has, else null. */
HANDLE__HIDDEN void handle__json_kint_or_null(struct handle__json *j, const char *k, bool has,
                                              int64_t v);

/* True when one complete value was written without misuse or out of
 * memory (then a newline ends the text). */
HANDLE__HIDDEN bool handle__json_finish(struct handle__json *j);

#endif
