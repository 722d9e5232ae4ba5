# trace.cmake - the trace writer as the OBJECT library `handle_trace`, for
# lib/debug/CMakeLists.txt (and the unit tests) to include. It does not
# build the debug library itself. Its files, each calling only those below
# it: trace_writer.c (the writer thread, open/close/fork: trace.h's
# lifecycle), trace_store.c (SQLite), ../format/lifetimes.c (the lifetime
# codec, shared with the reader), trace_ring.c (the event ring and the
# state shared with producers).
#
# SQLite is linked statically from Debian's libsqlite3.a (built PIC), so that
# libhandle-debug.so can hide its symbols with -Wl,--exclude-libs,ALL and a
# program's own SQLite is never interposed. HANDLE_SQLITE_STATIC holds what
# to link: the archive and the libraries it needs (libm; libdl/libpthread are
# part of glibc 2.34+ but named for older ones). It is also the interface of
# `handle_trace`, so linking the target brings it in.
#
# Safe to include more than once (the target is defined the first time; the
# variable is set in every including scope).

find_path(HANDLE_SQLITE_INCLUDE_DIR sqlite3.h)
find_library(HANDLE_SQLITE_ARCHIVE NAMES libsqlite3.a
  PATHS /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE} /usr/lib64 /usr/lib
  NO_CACHE)
if(NOT HANDLE_SQLITE_INCLUDE_DIR OR NOT HANDLE_SQLITE_ARCHIVE)
  message(FATAL_ERROR "the trace needs SQLite's header and static library "
                      "(Debian: apt-get install libsqlite3-dev)")
endif()
set(HANDLE_SQLITE_STATIC ${HANDLE_SQLITE_ARCHIVE} ${CMAKE_DL_LIBS} m)

if(NOT TARGET handle_trace)
  add_library(handle_trace OBJECT
    ${CMAKE_CURRENT_LIST_DIR}/trace_writer.c
    ${CMAKE_CURRENT_LIST_DIR}/trace_store.c
    ${CMAKE_CURRENT_LIST_DIR}/../format/lifetimes.c
    ${CMAKE_CURRENT_LIST_DIR}/trace_ring.c)
  set_target_properties(handle_trace PROPERTIES
    POSITION_INDEPENDENT_CODE ON
    C_VISIBILITY_PRESET hidden)
  target_include_directories(handle_trace PRIVATE
    ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/lib ${HANDLE_SQLITE_INCLUDE_DIR})
  target_link_libraries(handle_trace INTERFACE ${HANDLE_SQLITE_STATIC} Threads::Threads)
  # In a sanitizer build the only user is the unit test (the debug library
  # is not built): instrument it, so that TSan sees the ring and the writer.
  if(COMMAND handle_sanitize)
    handle_sanitize(handle_trace)
  endif()
endif()
