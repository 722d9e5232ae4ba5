# options.cmake - the unit test of lib/debug/options.c (test_options).
#
# lib/debug/CMakeLists.txt includes lib/debug/options.cmake when the debug
# library is built; in the other builds (sanitizer builds never build the
# debug library) the fragment is included here. Then nothing but this test
# uses the objects, so in a sanitizer build they are instrumented too, and
# ASan/UBSan/TSan see the parser itself, not only the test.
if(NOT TARGET handle_options)
  include(${PROJECT_SOURCE_DIR}/lib/debug/options.cmake)
  handle_sanitize(handle_options)
endif()

handle_unit_test(test_options
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_options.c $<TARGET_OBJECTS:handle_options>)
