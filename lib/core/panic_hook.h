/*
 * panic_hook.h - a test-only hook called by both builds' panics before they
 * write and abort(): unit tests and the model-based fuzzer set it (through
 * the static library or the core objects, never through the exported ABI)
 * to observe a panic without losing the process, typically by longjmp().
 * NULL in production. text/len is the diagnostic that would be written.
 */
#ifndef HANDLE_PANIC_HOOK_H
#define HANDLE_PANIC_HOOK_H

#include <stddef.h>

#include "core.h"

HANDLE__HIDDEN extern void (*handle__panic_hook)(int kind, handle_t h, const char *text,
                                                 size_t len);

#endif
