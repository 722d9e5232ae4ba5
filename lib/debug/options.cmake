# options.cmake - the debug build's option parser (options.inc, options.c) as
# an OBJECT library, handle_options, for libhandle-debug.so and the unit
# test to link with $<TARGET_OBJECTS:handle_options>. It depends on nothing
# but libc (the headers of lib/core for HANDLE__HIDDEN); it is compiled
# position-independent and with the project's hidden visibility, and it is
# not instrumented here: a sanitizer build that includes this file for the
# unit test instruments it there (tests/unit/options.cmake).
add_library(handle_options OBJECT ${PROJECT_SOURCE_DIR}/lib/debug/options.c)
target_include_directories(handle_options PUBLIC
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/lib>)
set_target_properties(handle_options PROPERTIES POSITION_INDEPENDENT_CODE ON)
