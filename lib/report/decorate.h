/*
 * decorate.h - colours in reports, as LLVM's sanitizers colour theirs
 * (SPEC section 3, option `color`; handle-report --color). One place for
 * the whole scheme: the reports are formatted without colour (the trace
 * stores them so), and a finished text is decorated line by line on its
 * way to a terminal.
 *
 * The codes are those of compiler-rt's SanitizerCommonDecorator
 * (sanitizer_report_decorator.h), and the lines are those its users
 * colour:
 *   "==PID==ERROR: ..."            Error(): bold red (ASan, LSan)
 *   "Leak of N handle(s) ..."      LSan's Leak(): bold blue ("Direct leak of")
 *   "... by thread TN here:"       ASan's Allocation(): bold magenta ("freed by
 *                                  thread T0 here:", "previously allocated by")
 * each ended by Default() before its newline. Frames, notes, the
 * "Suppressions used:" table and the SUMMARY line stay plain, as in ASan.
 */
#ifndef HANDLE_REPORT_DECORATE_H
#define HANDLE_REPORT_DECORATE_H

#include <stdbool.h>
#include <stddef.h>

#include "text.h"

#define HANDLE__DECO_DEFAULT "\033[1m\033[0m"
#define HANDLE__DECO_ERROR "\033[1m\033[31m"
#define HANDLE__DECO_LEAK "\033[1m\033[34m"
#define HANDLE__DECO_ALLOCATION "\033[1m\033[35m"

/* The colour of one line (without its newline) of a report, or NULL for
 * a plain line. */
HANDLE__HIDDEN const char *handle__deco_line(const char *line, size_t len);

/* Appends text[0..len) to b with the lines above coloured. A last line
 * without a newline is decorated too. */
HANDLE__HIDDEN void handle__decorate(struct handle__sb *b, const char *text, size_t len);

/* Whether `auto` colours output to fd: fd is a terminal and NO_COLOR is
 * unset or empty (https://no-color.org). Preserves errno. */
HANDLE__HIDDEN bool handle__deco_auto(int fd);

#endif
