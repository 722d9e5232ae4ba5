# cmake -DNM=nm -DLIB=libhandle_report_dl.a -P check_no_libdw.cmake
# Fails if the archive refers to any libdw/libelf symbol directly: the
# preloaded runtime must reach libdw only through dlopen+dlsym.
execute_process(COMMAND ${NM} -u ${LIB} OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} -u ${LIB} failed (${rc})")
endif()
string(REGEX MATCHALL "[ \t]U[ \t]+(dwfl_|dwarf_|dwelf_|elf_|elf32_|elf64_|gelf_)[A-Za-z0-9_]*" bad "${out}")
if(bad)
  message(FATAL_ERROR "${LIB} refers to libdw/libelf directly:\n${bad}")
endif()
string(FIND "${out}" "dlopen" has_dlopen)
if(has_dlopen EQUAL -1)
  message(FATAL_ERROR "${LIB} does not call dlopen:\n${out}")
endif()
message(STATUS "${LIB}: no direct libdw references")
