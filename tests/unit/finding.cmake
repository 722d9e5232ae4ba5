# The one finding formatter (lib/report/finding.c) of the panic and of
# handle-report's recorded errors.
handle_unit_test(test_finding
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_finding.c LIBS handle_report_dl)
