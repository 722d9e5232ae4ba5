/*
 * text.h - a growable string buffer, and the sanitizer-style frame lines
 * and SUMMARY locations of SPEC section 4. The exit report of the debug
 * runtime and handle-report's text output both print stacks through
 * handle__sb_frames, so the two cannot drift apart.
 *
 * The buffer allocates with malloc (reports are printed at panic or exit,
 * not from signal handlers; the async-signal-safe panic text of the core
 * is lib/core/fmt.h). Running out of memory sets oom and drops later
 * appends; the text so far stays valid and NUL-terminated.
 */
#ifndef HANDLE_REPORT_TEXT_H
#define HANDLE_REPORT_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "symbolize.h"

#ifndef HANDLE__HIDDEN
#define HANDLE__HIDDEN __attribute__((visibility("hidden")))
#endif

/* Zero-initialise ({0}) for an empty buffer. p is NULL until the first
 * append, then always NUL-terminated; len excludes the NUL. */
struct handle__sb {
    char *p;
    size_t len, cap;
    bool oom;
    bool borrowed; /* p is the caller's memory (handle__sb_init_in): never freed */
};

/* An empty buffer that starts in the caller's memory buf[0..cap) (static
 * storage, for a report that must be written when malloc fails) and moves
 * to malloc'd memory only when it outgrows it. cap > 0. */
HANDLE__HIDDEN void handle__sb_init_in(struct handle__sb *b, char *buf, size_t cap);

HANDLE__HIDDEN void handle__sb_printf(struct handle__sb *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
HANDLE__HIDDEN void handle__sb_puts(struct handle__sb *b, const char *s);
HANDLE__HIDDEN void handle__sb_mem(struct handle__sb *b, const char *s, size_t n);
HANDLE__HIDDEN void handle__sb_putc(struct handle__sb *b, char c);
/* The text so far; "" (never NULL) for an empty buffer. */
HANDLE__HIDDEN const char *handle__sb_str(const struct handle__sb *b);
/* Empties the buffer, keeping its memory (and clearing oom). */
HANDLE__HIDDEN void handle__sb_reset(struct handle__sb *b);
/* Frees the memory; the buffer is empty ({0}) again. */
HANDLE__HIDDEN void handle__sb_free(struct handle__sb *b);

/* Appends s with its control bytes escaped (SPEC section 6: text output
 * never prints raw control bytes from a program or a trace): "\n", "\r",
 * "\t", other C0 bytes and DEL as "\xNN". Other bytes (UTF-8 included)
 * are copied. For module paths, file and function names, tags, exe. */
HANDLE__HIDDEN void handle__sb_escaped(struct handle__sb *b, const char *s);

/* As handle__sb_escaped, but a newline stays a newline: for a stored
 * multi-line message. */
HANDLE__HIDDEN void handle__sb_escaped_lines(struct handle__sb *b, const char *s);

/* Appends s quoted as a POSIX shell (bash, zsh) needs it to read s back as
 * one word: as it is when it holds only [A-Za-z0-9_./+,:=@%-] (and is not
 * empty nor starts with '='); else in '...' with each ' written '\''; and when it holds
 * control bytes, as $'...' with \\, \', \n, \t, \r, \xNN. Used by the
 * "Trace: PATH (read it with: handle-report PATH)" line. */
HANDLE__HIDDEN void handle__sb_shell_quoted(struct handle__sb *b, const char *s);

/* Makes room for need elements of size elem in the array *pp (capacity
 * *cap, doubled from 16): false when out of memory or when the size would
 * overflow, with *pp and *cap unchanged. Shared by every growable array of
 * lib/report. */
HANDLE__HIDDEN bool handle__grow(void *pp, size_t *cap, size_t need, size_t elem);

/* Appends one line per frame, numbered from *num (incremented per line):
 *   "    #N 0xPC in FUNCTION FILE:LINE"       function and line known
 *   "    #N 0xPC in FUNCTION (MODULE+0xOFF)"  no line info
 *   "    #N 0xPC (MODULE+0xOFF)"              no symbol
 *   "    #N 0xPC FILE:LINE"                   a line but no function name
 * "Line info" is a file and a line > 0. An unknown module ("") prints as
 * "(<unknown module>)", as in LLVM's sanitizers. Inlined frames get their
 * own lines with the same pc. No column (SPEC section 4). */
HANDLE__HIDDEN void handle__sb_frames(struct handle__sb *b, const struct handle__sym_frame *f,
                                      size_t n, unsigned *num);

/* One frame's text after "#N 0xPC " (what handle__sb_frames prints after
 * the pc, without the newline): "in FUNCTION FILE:LINE" etc. */
HANDLE__HIDDEN void handle__sb_frame_text(struct handle__sb *b, const struct handle__sym_frame *f);

/* The SUMMARY location of a stack: "FILE:LINE in FUNCTION" of the first
 * frame with line info ("FILE:LINE" if it has no function name); without
 * any, "(MODULE+0xOFF)" of the first frame, followed by " in FUNCTION" if
 * that frame has a name (LLVM's summary does the same). n == 0 appends
 * "(<unknown module>)". */
HANDLE__HIDDEN void handle__sb_location(struct handle__sb *b, const struct handle__sym_frame *f,
                                        size_t n);

#endif
