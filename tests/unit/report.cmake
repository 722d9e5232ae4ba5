# Unit tests of lib/report (the libdw symbolizer, suppressions, frame
# formats). The symbolizer test runs twice, linked to each build of the
# library: handle_report (-ldw) and handle_report_dl (libdw dlopen'ed).
if(NOT HANDLE_BUILD_DEBUG)
  return()
endif()
if(NOT TARGET handle_report)
  add_subdirectory(${PROJECT_SOURCE_DIR}/lib/report ${CMAKE_BINARY_DIR}/lib/report)
endif()

set(HANDLE_REPORT_FX ${CMAKE_CURRENT_SOURCE_DIR}/report_fixtures)

# The fixture's shape (inlined helpers, real calls) needs -O2, and its
# lines need -g, whatever the build type.
set_source_files_properties(${HANDLE_REPORT_FX}/inline_fixture.c
  PROPERTIES COMPILE_OPTIONS "-O2;-g")

# A shared copy of the fixture whose DWARF is moved into a separate
# libhandle_symfx.so.debug (as a distribution's -dbg package would), so the
# test can find it by build-id ...
add_library(handle_symfx SHARED ${HANDLE_REPORT_FX}/inline_fixture.c)
target_compile_definitions(handle_symfx PRIVATE FX_SHARED)
target_link_options(handle_symfx PRIVATE -Wl,--build-id)
set_target_properties(handle_symfx PROPERTIES
  LIBRARY_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/report_fixtures)
add_custom_command(TARGET handle_symfx POST_BUILD
  COMMAND ${CMAKE_OBJCOPY} --only-keep-debug $<TARGET_FILE:handle_symfx>
          $<TARGET_FILE:handle_symfx>.debug
  COMMAND ${CMAKE_OBJCOPY} --strip-debug $<TARGET_FILE:handle_symfx>
  # ... and a copy without .debug_aranges, as clang makes them by default.
  COMMAND ${CMAKE_OBJCOPY} --remove-section=.debug_aranges $<TARGET_FILE:handle_symfx>.debug
          $<TARGET_FILE:handle_symfx>.noaranges.debug
  VERBATIM)

foreach(variant IN ITEMS "" "_dl")
  set(t test_symbolize${variant})
  handle_unit_test(${t}
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_symbolize.c ${HANDLE_REPORT_FX}/inline_fixture.c
    LIBS handle_report${variant} ${CMAKE_DL_LIBS})
  target_include_directories(${t} PRIVATE ${HANDLE_REPORT_FX})
  target_compile_definitions(${t} PRIVATE FIXTURE_SO="$<TARGET_FILE:handle_symfx>")
  if(variant STREQUAL "_dl")
    target_compile_definitions(${t} PRIVATE TEST_DW_DLOPEN)
  endif()
  target_link_options(${t} PRIVATE -Wl,--build-id)
  add_dependencies(${t} handle_symfx)
endforeach()

# handle_report_dl must not need libdw at link time: no undefined dwfl_*,
# dwarf_*, elf_* or gelf_* symbol in the archive.
add_test(NAME test_symbolize_dl_has_no_libdw_references
  COMMAND ${CMAKE_COMMAND} -DNM=${CMAKE_NM} -DLIB=$<TARGET_FILE:handle_report_dl>
          -P ${HANDLE_REPORT_FX}/check_no_libdw.cmake)

handle_unit_test(test_suppress
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_suppress.c LIBS handle_report_dl)
handle_unit_test(test_format
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_format.c LIBS handle_report_dl)
handle_unit_test(test_decorate
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_decorate.c LIBS handle_report_dl)
handle_unit_test(test_out_json
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_out_json.c LIBS handle_report)

# dw.c's failure paths: a libdw.so.1 that cannot be loaded and, for each
# function of the table, one without it (report_fixtures/fake_libdw.c),
# found first on LD_LIBRARY_PATH by test_symbolize_dl --dw-sweep.
foreach(kind ok broken)
  add_library(handle_fakedw_${kind} SHARED ${HANDLE_REPORT_FX}/fake_libdw.c)
  target_include_directories(handle_fakedw_${kind} PRIVATE ${PROJECT_SOURCE_DIR}/lib)
  target_link_libraries(handle_fakedw_${kind} PRIVATE Threads::Threads)
  set_target_properties(handle_fakedw_${kind} PROPERTIES OUTPUT_NAME dw SOVERSION 1
    LIBRARY_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/fakedw/${kind})
  add_dependencies(test_symbolize_dl handle_fakedw_${kind})
endforeach()
target_compile_definitions(handle_fakedw_broken PRIVATE FAKE_DW_BROKEN)
add_test(NAME test_symbolize_dl_without_libdw
  COMMAND test_symbolize_dl --dw-sweep ${CMAKE_CURRENT_BINARY_DIR}/fakedw/ok
          ${CMAKE_CURRENT_BINARY_DIR}/fakedw/broken)
