# cases/symbols.sh - symbolization that stays right (issue 12 items 10-12):
# C++ names demangled and qualified as ASan prints them, a plugin unloaded
# and another loaded at its address, the trace's `symbols` table read after
# the program was rebuilt or deleted. Sourced by run.sh; one function
# case_NAME per ctest case it_NAME. Each builds its programs here.

# sym_cxx NAME ARGS...: NAME.cpp (in the work dir) linked to libhandle.so.
sym_cxx() {
  local n=$1; shift
  command -v c++ >/dev/null || fail "no C++ compiler"
  c++ -O0 -I"$INCLUDE_DIR" "$n.cpp" "$RELEASE_LIB" \
    -Wl,-rpath,"$(dirname "$RELEASE_LIB")" "$@" -o "$n" || fail "cannot build $n"
}
# sym_run [ENV=VAL...] PROG ARGS...: under the debug library, time-limited.
sym_run() { timeout -k 5 60 env LD_PRELOAD="$DEBUG_LIB" "$@" >out 2>err; rc=$?; }

# Item 11: a method of a class in a namespace leaks. Every output names it
# as ASan does (qualified, demangled, with its parameters), and an
# LSan-style suppression of the qualified name matches, in the exit report
# and in handle-report.
case_cxx_demangled_frames() {
  cat >session.cpp <<'C'
#include <handle/handle.h>
namespace app {
class Session {
public:
  __attribute__((noinline)) handle_t open_leaky(int n);
  int v = 0;
};
handle_t Session::open_leaky(int n) {
  v = n;
  return handle_new_tagged(this, "session"); /* LINE_LEAK */
}
}
int main() {
  static app::Session s;
  s.open_leaky(1);
  return 0;
}
C
  sym_cxx session -g
  local line; line=$(grep -n LINE_LEAK session.cpp | cut -d: -f1)
  sym_run ./session; expect_rc 23
  has "^    #0 0x[0-9a-f]+ in app::Session::open_leaky\(int\) .*session.cpp:$line$"
  has "^    #1 0x[0-9a-f]+ in main .*session.cpp"
  local t; t=$(one_trace)
  "$HANDLE_REPORT" "$t" >rep 2>&1
  has "^    #0 0x[0-9a-f]+ in app::Session::open_leaky\(int\) .*session.cpp:$line$" rep
  "$HANDLE_REPORT" --format json "$t" >rep.json 2>&1
  has '"function": ?"app::Session::open_leaky\(int\)"' rep.json
  "$HANDLE_REPORT" --format folded "$t" >rep.folded 2>&1
  has 'app::Session::open_leaky\(int\)' rep.folded
  "$HANDLE_REPORT" --format sarif "$t" >rep.sarif 2>&1
  has 'app::Session::open_leaky\(int\)' rep.sarif
  # the suppression of the qualified name, as LSan's users write it
  printf 'leak:Session::open_leaky\n' >supp.txt
  rm -f handle-trace.*
  sym_run env HANDLE_OPTIONS="suppressions=$PWD/supp.txt" ./session; expect_rc 0
  hasnt 'detected handle leaks'
  rm -f handle-trace.*
  sym_run ./session; expect_rc 23
  t=$(one_trace)
  "$HANDLE_REPORT" --suppressions supp.txt "$t" >rep 2>&1; rc=$?
  [ "$rc" = 0 ] || { cat rep >&2; fail "handle-report --suppressions: exit $rc"; }
}

# Item 11: a C++ method without debug info (only the ELF symbol table, as
# a JVM's libjvm.so) prints demangled, and leak:JavaCalls::call_helper
# suppresses it.
case_cxx_demangled_without_debuginfo() {
  cat >jvm.cpp <<'C'
#include <handle/handle.h>
struct JavaValue { int v; };
struct JavaThread { int t; };
class JavaCalls {
public:
  static handle_t call_helper(JavaValue *result, JavaThread *thread);
};
__attribute__((noinline)) handle_t JavaCalls::call_helper(JavaValue *result, JavaThread *thread) {
  result->v = thread->t;
  return handle_new(result);
}
int main() {
  static JavaValue r; static JavaThread t;
  JavaCalls::call_helper(&r, &t);
  return 0;
}
C
  sym_cxx jvm -g0 -rdynamic
  nm jvm | grep -q '_ZN9JavaCalls11call_helperEP9JavaValueP10JavaThread' || fail "no mangled symbol in jvm"
  readelf -S jvm | grep -q debug_info && fail "jvm has debug info"
  sym_run ./jvm; expect_rc 23
  has "^    #0 0x[0-9a-f]+ in JavaCalls::call_helper\(JavaValue\*, JavaThread\*\) "
  hasnt '_ZN9JavaCalls'
  local t; t=$(one_trace)
  "$HANDLE_REPORT" "$t" >rep 2>&1
  has "in JavaCalls::call_helper\(JavaValue\*, JavaThread\*\)" rep
  hasnt '_ZN9JavaCalls' rep
  printf 'leak:JavaCalls::call_helper\n' >supp.txt
  rm -f handle-trace.*
  sym_run env HANDLE_OPTIONS="suppressions=$PWD/supp.txt" ./jvm; expect_rc 0
}
