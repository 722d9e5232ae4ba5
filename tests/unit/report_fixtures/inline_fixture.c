/*
 * inline_fixture.c - see inline_fixture.h. Compiled with -g -O2: the
 * always_inline helpers must be inlined and capture() must stay a real
 * call that is not a tail call (the empty asm after it uses its result).
 */
#include "inline_fixture.h"

#ifdef FX_SHARED
#define FX_API __attribute__((visibility("default"), noinline))
#else
#define FX_API __attribute__((noinline))
#endif

FX_API uintptr_t FX(capture)(int *line_out, int line)
{
    *line_out = line;
    return (uintptr_t)__builtin_return_address(0);
}

FX_API uintptr_t FX(plain)(struct fx_lines *l)
{
    uintptr_t r = FX(capture)(&l->capture, __LINE__);
    __asm__ volatile("" : "+r"(r));
    return r;
}

static inline __attribute__((always_inline)) uintptr_t inner_helper(struct fx_lines *l)
{
    uintptr_t r = FX(capture)(&l->capture, __LINE__);
    __asm__ volatile("" : "+r"(r));
    return r;
}

static inline __attribute__((always_inline)) uintptr_t outer_helper(struct fx_lines *l, int line)
{
    l->outer_call = line;
    l->inner_call = __LINE__ + 1;
    uintptr_t r = inner_helper(l);
    __asm__ volatile("" : "+r"(r));
    return r;
}

FX_API uintptr_t FX(outer)(struct fx_lines *l)
{
    uintptr_t r = outer_helper(l, __LINE__);
    __asm__ volatile("" : "+r"(r));
    return r;
}
