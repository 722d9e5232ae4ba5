# release.cmake - the unit tests of the core table and of the release
# library (libhandle.a), included by tests/unit/CMakeLists.txt. Each links
# handle_static, which also gives access to the core's hidden internals
# (handle__core_*, the test-only handle__panic_hook).
handle_unit_test(test_core SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_core.c LIBS handle_static)
handle_unit_test(test_release SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_release.c LIBS handle_static)
handle_unit_test(test_go_port SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_go_port.c LIBS handle_static)
handle_unit_test(test_stress SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_stress.c LIBS handle_static)

# test_release forks children that must abort; under TSan a fork from a
# process that ever had threads must not kill the child.
set_tests_properties(test_release PROPERTIES ENVIRONMENT "TSAN_OPTIONS=die_after_fork=0")
set_tests_properties(test_core test_go_port PROPERTIES TIMEOUT 120)
set_tests_properties(test_stress PROPERTIES TIMEOUT 180 LABELS stress)
