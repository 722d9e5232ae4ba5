# trace.cmake - the trace writer's unit test (test_trace.c over the stub
# model trace_stubs.c). The trace is part of the debug library, which is
# never built with sanitizers, so the test exists in the normal build only.
if(HANDLE_SANITIZE STREQUAL "")
  include(${PROJECT_SOURCE_DIR}/lib/debug/trace.cmake)
  handle_unit_test(test_trace
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_trace.c ${CMAKE_CURRENT_LIST_DIR}/trace_stubs.c
    LIBS handle_trace handle_core ${HANDLE_SQLITE_STATIC} Threads::Threads)
  set_tests_properties(test_trace PROPERTIES TIMEOUT 300)
endif()
