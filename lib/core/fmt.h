/*
 * fmt.h - a fixed-capacity text buffer for diagnostics written with
 * write(2): no malloc, no stdio, no locale, async-signal-safe. Text that
 * does not fit is cut, never overflowed. Used by both builds' panics and by
 * the debug build's reports.
 */
#ifndef HANDLE_FMT_H
#define HANDLE_FMT_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"

struct handle__fmt {
    char *buf;
    size_t len, cap;
};

HANDLE__HIDDEN void handle__fmt_str(struct handle__fmt *f, const char *s);
HANDLE__HIDDEN void handle__fmt_mem(struct handle__fmt *f, const char *s, size_t n);
HANDLE__HIDDEN void handle__fmt_dec(struct handle__fmt *f, uint64_t v);
HANDLE__HIDDEN void handle__fmt_sdec(struct handle__fmt *f, int64_t v);
/* "0x" followed by lowercase hex digits, no padding. */
HANDLE__HIDDEN void handle__fmt_hex(struct handle__fmt *f, uint64_t v);
/* "==PID==ERROR: HandleSanitizer: KIND on handle 0xH" (kind: its name,
 * handle__kind_name), the first line of a misuse report written with this
 * buffer (the release panic, the debug build's nested one), no newline. */
HANDLE__HIDDEN void handle__fmt_error_head(struct handle__fmt *f, const char *kind, handle_t h);
/* Writes all of f to fd, retrying on EINTR and partial writes; errno kept. */
HANDLE__HIDDEN void handle__fmt_flush(struct handle__fmt *f, int fd);

#endif
