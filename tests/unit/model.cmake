# model.cmake - test_model: the debug runtime's in-memory model and tables
# (lib/debug/depot.c, modules.c, threads.c, side.c, with rt.c and clock.c
# under them) hammered by threads, compiled straight from their sources so
# that the ASan+UBSan and TSan builds check them too (the debug library
# itself is built only in the normal build).
handle_unit_test(test_model
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_model.c
          ${PROJECT_SOURCE_DIR}/lib/debug/depot.c ${PROJECT_SOURCE_DIR}/lib/debug/modules.c
          ${PROJECT_SOURCE_DIR}/lib/debug/threads.c ${PROJECT_SOURCE_DIR}/lib/debug/side.c
          ${PROJECT_SOURCE_DIR}/lib/debug/rt.c ${PROJECT_SOURCE_DIR}/lib/debug/clock.c
          ${PROJECT_SOURCE_DIR}/lib/debug/loader.c ${PROJECT_SOURCE_DIR}/lib/debug/unwind.c
  LIBS handle_core ${CMAKE_DL_LIBS} Threads::Threads)
set_tests_properties(test_model PROPERTIES TIMEOUT 300)
