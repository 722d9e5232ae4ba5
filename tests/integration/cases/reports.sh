# cases/reports.sh - the debug runtime's reports when libdw fails inside
# the host (issue 11: a report is never lost). Uses the fake libdw.so.1 of
# the unit tests (tests/unit/report_fixtures/fake_libdw.c), found first on
# LD_LIBRARY_PATH by the runtime's dlopen.

# libdw's out-of-memory handler calls exit(1) (error(EXIT_FAILURE)) from
# inside a libdw call: the exit report and the panic go on with
# module+offset frames and a Note, and end as they would have (23, 134),
# instead of the process ending with libdw's status 1 and no report.
case_libdw_exit_inside_report() {
  [ -f "$FAKEDW_DIR/ok/libdw.so.1" ] || fail "no fake libdw at $FAKEDW_DIR/ok"
  LD_LIBRARY_PATH="$FAKEDW_DIR/ok" FAKE_DW_EXIT=dwfl_begin HANDLE_OPTIONS=trace= run leak
  expect_rc 23
  has "^==[0-9]+==ERROR: HandleSanitizer: detected handle leaks"
  has "^    #0 0x[0-9a-f]+ \(.*/leak\+0x[0-9a-f]+\)$"
  has "^Note: libdw tried to end the process while reading debug information"
  has "^SUMMARY: HandleSanitizer: 3 handle\(s\) leaked in 2 site\(s\)\.$"
  LD_LIBRARY_PATH="$FAKEDW_DIR/ok" FAKE_DW_EXIT=dwfl_begin run misuse double-delete
  expect_rc 134
  has "ERROR: HandleSanitizer: double-delete on handle"
  has "^==[0-9]+==ABORTING"
  t=$(one_trace)
  [ "$(sql "$t" "select count(*) from errors where kind='double-delete'")" = 1 ] || fail "error not in the trace"
}
