/*
 * sort.h - sorting the large arrays of handle-report's statistics (one
 * entry per lifetime: a million in a 1M-lifetime trace) in linear time.
 */
#ifndef HANDLE_REPORT_SORT_H
#define HANDLE_REPORT_SORT_H

#include <stddef.h>
#include <stdint.h>

#ifndef HANDLE__HIDDEN
#define HANDLE__HIDDEN __attribute__((visibility("hidden")))
#endif

/* Sorts a[0..n) ascending: an LSD radix sort, 8 bits a pass, passes on
 * bytes that are the same in every key skipped, nothing done when a is
 * sorted already. Falls back to qsort when the scratch array cannot be
 * allocated. */
HANDLE__HIDDEN void handle__sort_u64(uint64_t *a, size_t n);
/* The same for signed keys. */
HANDLE__HIDDEN void handle__sort_i64(int64_t *a, size_t n);

#endif
