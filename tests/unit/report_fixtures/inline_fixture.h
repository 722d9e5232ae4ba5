/*
 * inline_fixture.h - code with a known shape for test_symbolize.c:
 * compiled with -g -O2 into the test itself and, renamed with FX_PREFIX,
 * into a shared library whose debug info is split off into a separate
 * file. Each function returns a return address captured in a real
 * (noinline) callee and records the source lines of its calls, so the
 * test can compare the symbolizer's answers with __LINE__ values.
 */
#ifndef HANDLE_TEST_INLINE_FIXTURE_H
#define HANDLE_TEST_INLINE_FIXTURE_H

#include <stdint.h>

/* The shared-library copy is built with FX_SHARED: its names start with
 * fxso_ and are exported. */
#ifdef FX_SHARED
#define FX(name) fxso_##name
#else
#define FX(name) fx_##name
#endif

/* The lines recorded by the last calls. */
struct fx_lines {
    int capture;      /* the call of capture() in the innermost function */
    int inner_call;   /* fx_outer's inlined helper calling the inner helper */
    int outer_call;   /* fx_outer calling its inlined helper */
};

/* Returns the address capture() returns to, plus the lines. noinline. */
uintptr_t FX(capture)(int *line_out, int line);
/* fx_plain: calls capture() itself. */
uintptr_t FX(plain)(struct fx_lines *l);
/* fx_outer: capture() is called from inner_helper, always_inline into
 * outer_helper, always_inline into fx_outer: frames
 * [inner_helper (inlined), outer_helper (inlined), fx_outer]. */
uintptr_t FX(outer)(struct fx_lines *l);

#endif
