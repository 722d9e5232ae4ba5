# Unit tests of handle-report's trace reader and model (lib/report:
# trace_read.c, report_model.c, leaks.c) on small traces written and then
# damaged with SQL (reader_fixtures/tracegen.h). Both are linked with
# --wrap for malloc, calloc, realloc and strdup: lib/report's allocations
# (a static archive) can be made to fail one at a time.
if(NOT HANDLE_BUILD_DEBUG)
  return()
endif()
if(NOT TARGET handle_report)
  add_subdirectory(${PROJECT_SOURCE_DIR}/lib/report ${CMAKE_BINARY_DIR}/lib/report)
endif()

foreach(t test_trace_read test_report_model)
  handle_unit_test(${t}
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/${t}.c LIBS handle_report ${CMAKE_DL_LIBS})
  target_include_directories(${t} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/reader_fixtures)
  target_link_options(${t} PRIVATE
    -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc -Wl,--wrap=strdup)
endforeach()
