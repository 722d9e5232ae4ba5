/*
 * shapes.c - stack shapes for test_unwind.c, compiled with -O2
 * -fomit-frame-pointer (see unwind.cmake): RSP-based CFAs whose offset
 * changes along the function, RBP-based CFAs where a VLA or alloca needs
 * a frame pointer, callee-saved registers saved at CFA offsets.
 */
#include <alloca.h>
#include <signal.h>
#include <string.h>

#include "fx.h"

static volatile int sink;

__attribute__((noinline)) void fx_recurse(int depth, fx_leaf leaf, void *arg)
{
    if (depth > 0)
        fx_recurse(depth - 1, leaf, arg);
    else
        leaf(arg);
    sink += depth;
}

__attribute__((noinline)) void fx_vla(int depth, int bytes, fx_leaf leaf, void *arg)
{
    char buf[bytes > 0 ? bytes : 1];
    memset(buf, depth, sizeof buf);
    if (depth > 0)
        fx_vla(depth - 1, bytes + 8, leaf, arg);
    else
        leaf(arg);
    sink += buf[sizeof buf / 2];
}

__attribute__((noinline)) static void mixed_alloca(int depth, fx_leaf leaf, void *arg);
__attribute__((noinline)) static void mixed_plain(int depth, fx_leaf leaf, void *arg);

__attribute__((noinline)) void fx_mixed(int depth, fx_leaf leaf, void *arg)
{
    char buf[depth * 16 + 8];
    memset(buf, 1, sizeof buf);
    if (depth > 0)
        mixed_alloca(depth - 1, leaf, arg);
    else
        leaf(arg);
    sink += buf[depth];
}

__attribute__((noinline)) static void mixed_alloca(int depth, fx_leaf leaf, void *arg)
{
    char *p = alloca((size_t)(depth & 7) * 32 + 16);
    memset(p, 2, 16);
    if (depth > 0)
        mixed_plain(depth - 1, leaf, arg);
    else
        leaf(arg);
    sink += p[3];
}

__attribute__((noinline)) static void mixed_plain(int depth, fx_leaf leaf, void *arg)
{
    /* Enough live values across the call to need callee-saved registers. */
    int a = sink, b = a * 3, c = b ^ depth, d = c + 7, e = d * a;
    if (depth > 0)
        fx_mixed(depth - 1, leaf, arg);
    else
        leaf(arg);
    sink += a + b + c + d + e;
}

__attribute__((noinline)) void fx_raise(int depth, int sig)
{
    if (depth > 0)
        fx_raise(depth - 1, sig);
    else
        raise(sig);
    sink += depth;
}
