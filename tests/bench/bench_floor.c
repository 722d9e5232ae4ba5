/*
 * bench_floor.c - libbench_floor.so: functions with the signatures of
 * handle_new, handle_value and handle_delete that do nothing, so that the
 * benchmark can measure the cost of the call itself (PLT jump, call, ret)
 * with exactly the loops it uses for libhandle. This is the floor below
 * which no shared-library implementation can go.
 */
#include "bench_yard.h"

uintptr_t bench_floor_new(void *value)
{
    return (uintptr_t)value;
}

void *bench_floor_value(uintptr_t h)
{
    return (void *)h;
}

void bench_floor_delete(uintptr_t h)
{
    (void)h;
}
