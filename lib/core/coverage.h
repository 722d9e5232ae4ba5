/*
 * coverage.h - HANDLE__COVERAGE_DUMP(): in a coverage build (compiled with
 * --coverage -DHANDLE_COVERAGE, as scripts/coverage.sh does) it writes the
 * gcov counters with __gcov_dump() right before the process ends without
 * running its exit handlers (abort(), _exit()), which would otherwise lose
 * every count of the process, the panic paths first of all. In every other
 * build it is nothing.
 */
#ifndef HANDLE_CORE_COVERAGE_H
#define HANDLE_CORE_COVERAGE_H

#ifdef HANDLE_COVERAGE
/* Hidden: the libgcov copy linked into each library stays unexported. */
__attribute__((visibility("hidden"))) void __gcov_dump(void);
#define HANDLE__COVERAGE_DUMP() __gcov_dump()
#else
#define HANDLE__COVERAGE_DUMP() ((void)0)
#endif

#endif
