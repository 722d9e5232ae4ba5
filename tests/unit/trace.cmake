# trace.cmake - the trace writer's unit test (test_trace.c over the stub
# model trace_stubs.c). The debug library itself is never built with a
# sanitizer, but the trace writer is compiled into this test in every build,
# so that ASan and TSan see the ring, the writer thread and the store.
include(${PROJECT_SOURCE_DIR}/lib/debug/trace.cmake)
handle_unit_test(test_trace
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_trace.c ${CMAKE_CURRENT_LIST_DIR}/trace_stubs.c
  LIBS handle_trace handle_core ${HANDLE_SQLITE_STATIC} ${CMAKE_DL_LIBS} Threads::Threads)
set_tests_properties(test_trace PROPERTIES TIMEOUT 600)
# A real full disk: a 256 KiB tmpfs in a private mount namespace (root
# only: 77, a skip, elsewhere).
add_test(NAME test_trace_tmpfs_full COMMAND test_trace --tmpfs-full)
set_tests_properties(test_trace_tmpfs_full PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77)
if(HANDLE_SANITIZE STREQUAL "thread")
  # The tests fork children that start their own writer thread (as a fork
  # child of a traced program does); TSan allows that only when told to.
  # The writer has a descriptor table of its own (unshare(CLONE_FILES)),
  # which TSan does not model: it takes the writer's fd 4 and the test's
  # fd 4 for one object and reports their uses as races. Accesses inside
  # interceptors (descriptors, and buffers read or written by libc calls)
  # are therefore not checked; every access of the ring, the writer and the
  # store in our code still is.
  # test_trace_measure only prints figures: a smaller run under sanitizers.
  set_tests_properties(test_trace test_trace_tmpfs_full PROPERTIES
    ENVIRONMENT "TSAN_OPTIONS=die_after_fork=0 ignore_interceptors_accesses=1;TRACE_BENCH_N=100000")
elseif(HANDLE_SANITIZE STREQUAL "address")
  set_tests_properties(test_trace PROPERTIES ENVIRONMENT "TRACE_BENCH_N=100000")
endif()
