/*
 * plugin.c - a module test_unwind.c dlopens: frames inside a module loaded
 * after start-up (their cached rules carry an epoch), -O2 without frame
 * pointers.
 */
#include "fx.h"

__attribute__((visibility("default"))) void fx_plugin_call(int depth, fx_leaf leaf, void *arg);

static volatile int sink;

__attribute__((noinline)) void fx_plugin_call(int depth, fx_leaf leaf, void *arg)
{
    if (depth > 0)
        fx_plugin_call(depth - 1, leaf, arg);
    else
        leaf(arg);
    sink += depth;
}
