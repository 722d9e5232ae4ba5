# pkgconfig.cmake - the prefix, libdir and includedir written into
# handle.pc and handle-debug.pc (HANDLE_PC_PREFIX, HANDLE_PC_LIBDIR,
# HANDLE_PC_INCLUDEDIR), right for any CMAKE_INSTALL_LIBDIR: lib, lib64,
# lib/x86_64-linux-gnu, or an absolute directory.
#
# HANDLE_PC_RELOCATABLE=ON (default): prefix is ${pcfiledir} followed by as
# many "/.." as LIBDIR/pkgconfig has components, so that `cmake --install
# --prefix P` to any P still gives P. OFF: the configured
# CMAKE_INSTALL_PREFIX, written as it is (the Debian packages use it:
# prefix=/usr). An absolute libdir or includedir is always written as it is.
option(HANDLE_PC_RELOCATABLE "pkg-config files find their prefix from their own location" ON)

if(HANDLE_PC_RELOCATABLE AND NOT IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  # Count the components of LIBDIR/pkgconfig (no "." or ".." expected).
  string(REGEX REPLACE "/+$" "" _handle_pc_dir "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
  string(REGEX REPLACE "/+" ";" _handle_pc_parts "${_handle_pc_dir}")
  set(HANDLE_PC_PREFIX "\${pcfiledir}")
  foreach(_p IN LISTS _handle_pc_parts)
    if(_p STREQUAL "." OR _p STREQUAL "..")
      message(FATAL_ERROR "CMAKE_INSTALL_LIBDIR '${CMAKE_INSTALL_LIBDIR}' has '.' or '..'")
    endif()
    string(APPEND HANDLE_PC_PREFIX "/..")
  endforeach()
else()
  set(HANDLE_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
endif()

foreach(_d LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_d}}")
    set(HANDLE_PC_${_d} "${CMAKE_INSTALL_${_d}}")
  else()
    set(HANDLE_PC_${_d} "\${prefix}/${CMAKE_INSTALL_${_d}}")
  endif()
endforeach()
