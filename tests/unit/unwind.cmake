# unwind.cmake - test_unwind: lib/debug/unwind.c cross-checked against
# libunwind's unw_backtrace on stack shapes from unwind_fixtures/ (frames
# without frame pointers, VLA/alloca frames, a dlopen'ed module, a module
# replaced at the same address, signal handlers, threads, frames with
# hand-written CFI in cfi.S). The unwinder is
# part of the debug library, which is never built with sanitizers, so the
# test exists in the normal build only.
if(HANDLE_SANITIZE STREQUAL "")
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(LIBUNWIND IMPORTED_TARGET libunwind)
  if(LIBUNWIND_FOUND)
    enable_language(ASM)
    set(HANDLE_UNWFX ${CMAKE_CURRENT_LIST_DIR}/unwind_fixtures)
    # The shapes need -O2 without frame pointers whatever the build type
    # (source options come after the project's -fno-omit-frame-pointer).
    set_source_files_properties(${HANDLE_UNWFX}/shapes.c ${HANDLE_UNWFX}/plugin.c
      PROPERTIES COMPILE_OPTIONS "-O2;-fomit-frame-pointer")

    add_library(handle_unwfx_plugin MODULE ${HANDLE_UNWFX}/plugin.c)
    add_library(handle_unwfx_a MODULE ${HANDLE_UNWFX}/swap.c)
    add_library(handle_unwfx_b MODULE ${HANDLE_UNWFX}/swap.c)
    target_compile_definitions(handle_unwfx_b PRIVATE FX_B)
    set_target_properties(handle_unwfx_plugin handle_unwfx_a handle_unwfx_b PROPERTIES
      LIBRARY_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/unwind_fixtures)

    handle_unit_test(test_unwind
      SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_unwind.c ${PROJECT_SOURCE_DIR}/lib/debug/unwind.c
              ${PROJECT_SOURCE_DIR}/lib/debug/loader.c
              ${HANDLE_UNWFX}/shapes.c ${HANDLE_UNWFX}/cfi.S
      LIBS PkgConfig::LIBUNWIND ${CMAKE_DL_LIBS} Threads::Threads)
    target_compile_definitions(test_unwind PRIVATE
      HANDLE_UNWFX_PLUGIN="$<TARGET_FILE:handle_unwfx_plugin>"
      HANDLE_UNWFX_A="$<TARGET_FILE:handle_unwfx_a>"
      HANDLE_UNWFX_B="$<TARGET_FILE:handle_unwfx_b>")
    add_dependencies(test_unwind handle_unwfx_plugin handle_unwfx_a handle_unwfx_b)
    set_tests_properties(test_unwind PROPERTIES TIMEOUT 300)

    # test_unwind_cfi: unwind.c included whole (its static parts called
    # directly) on hand-made CFI in a fake module, the rule cache and the
    # walk's refusals; the plugin only to make the unload counter move.
    handle_unit_test(test_unwind_cfi
      SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_unwind_cfi.c ${PROJECT_SOURCE_DIR}/lib/debug/loader.c
      LIBS PkgConfig::LIBUNWIND ${CMAKE_DL_LIBS} Threads::Threads)
    target_compile_definitions(test_unwind_cfi PRIVATE
      HANDLE_UNWFX_PLUGIN="$<TARGET_FILE:handle_unwfx_plugin>")
    add_dependencies(test_unwind_cfi handle_unwfx_plugin)
  endif()
endif()
