# cases/lifecycle.sh - the debug runtime's life inside the host: start-up,
# fork, exit, the last thread (issue 11). Sourced by run.sh; one function
# case_NAME per ctest case it_NAME.

case_lifecycle_placeholder() {
  run misuse ok; expect_rc 0; has '^ok$' out
}
