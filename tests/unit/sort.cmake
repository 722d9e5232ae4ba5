# sort.cmake - test_sort: lib/report/sort.c (the radix sorts behind
# handle-report --stats) against qsort on random, sorted, reversed,
# constant, small and signed inputs.
handle_unit_test(test_sort
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sort.c ${PROJECT_SOURCE_DIR}/lib/report/sort.c)
