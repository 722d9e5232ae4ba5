/*
 * bench_yard.h - the benchmark's yardstick: the simplest correct handle
 * table one would write by hand (one mutex around a growing array of
 * slots, each with a generation), and the empty functions that give the
 * cost of a call into a shared library.
 *
 * bench_yard.c is compiled twice: into the benchmark executable with
 * BENCH_YARD_PREFIX=yard_exe_, and into libbench_yard.so with
 * BENCH_YARD_PREFIX=yard_so_, so that the yardstick can also be called
 * through the PLT exactly as libhandle.so is. bench_floor.c is
 * libbench_floor.so. Nothing here is part of libhandle.
 */
#ifndef HANDLE_BENCH_YARD_H
#define HANDLE_BENCH_YARD_H

#include <stddef.h>
#include <stdint.h>

#define BENCH_EXPORT __attribute__((visibility("default")))

/* new: a non-zero handle for value; value: the value of a live handle
 * (aborts otherwise); delete: ends a live handle (aborts otherwise);
 * live_count: handles not yet deleted. Thread-safe: every call takes the
 * table's one mutex, value included, because the array moves when it
 * grows. */
#define BENCH_YARD_DECLARE(p)                      \
    BENCH_EXPORT uintptr_t p##new(void *value);    \
    BENCH_EXPORT void *p##value(uintptr_t h);      \
    BENCH_EXPORT void p##delete(uintptr_t h);      \
    BENCH_EXPORT size_t p##live_count(void);

BENCH_YARD_DECLARE(yard_exe_)
BENCH_YARD_DECLARE(yard_so_)

/* libbench_floor.so: functions with the signatures of handle_new,
 * handle_value and handle_delete that do nothing (new and value return
 * their argument), to measure what the call alone costs. */
BENCH_EXPORT uintptr_t bench_floor_new(void *value);
BENCH_EXPORT void *bench_floor_value(uintptr_t h);
BENCH_EXPORT void bench_floor_delete(uintptr_t h);

#endif /* HANDLE_BENCH_YARD_H */
