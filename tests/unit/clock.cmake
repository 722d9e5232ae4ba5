# clock.cmake - test_clock: lib/debug/clock.c (the debug runtime's clock,
# rdtsc converted to CLOCK_MONOTONIC nanoseconds where the TSC is
# invariant and cheaper) against clock_gettime: monotonic per thread and
# across threads, close to CLOCK_MONOTONIC through several re-anchorings,
# and in a fork child. Runs in every build, sanitizers included (the file
# is compiled into the test itself).
handle_unit_test(test_clock
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_clock.c ${PROJECT_SOURCE_DIR}/lib/debug/clock.c
  LIBS Threads::Threads)
set_tests_properties(test_clock PROPERTIES TIMEOUT 120)
