# cases/pkg.sh - debuginfod is opt-in (issue 13 item 4, SPEC section 6):
# with DEBUGINFOD_URLS pointing at a server that accepts connections and
# never answers, neither the runtime's exit report nor handle-report
# without --debuginfod waits on it; with --debuginfod, handle-report says
# it is asking and stops within its time budget.

# A server on 127.0.0.1 that accepts and never answers; sets $hang_pid and
# $hang_url (the caller kills $hang_pid).
start_hanging_server() {
  python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
print(s.getsockname()[1], flush=True)
held = []
while True:
    c, _ = s.accept(); held.append(c)
' >port 2>/dev/null &
  hang_pid=$!
  for _ in $(seq 100); do [ -s port ] && break; sleep 0.1; done
  [ -s port ] || fail "hanging server did not start"
  hang_url="http://127.0.0.1:$(cat port)"
}

# A leaking program with a build-id and no debug information, so that its
# debug file is looked for (and, with debuginfod, asked for).
build_stripped_leaker() {
  cat >leaker.c <<'C'
#include <handle/handle.h>
#include <stdio.h>
static int x;
__attribute__((noinline)) static void leak_one(void) { handle_new(&x); }
int main(void) { leak_one(); puts("done"); return 0; }
C
  $CC -O1 -g -Wl,--build-id -I"$INCLUDE_DIR" leaker.c "$RELEASE_LIB" \
    -Wl,-rpath,"$(dirname "$RELEASE_LIB")" -o leaker || fail "cannot build leaker"
  objcopy --strip-debug leaker || fail "objcopy --strip-debug"
  readelf -n leaker | grep -q 'Build ID' || fail "leaker has no build-id"
}

# seconds_of CMD...: runs CMD (stdout->out, stderr->err, $rc) and sets
# $took to the whole seconds it took; a 60 s timeout stops a hang.
timed() {
  local t0=$SECONDS
  timeout 60 "$@" >out 2>err; rc=$?
  took=$((SECONDS - t0))
}

case_debuginfod_opt_in() {
  command -v python3 >/dev/null || fail "no python3"
  build_stripped_leaker
  start_hanging_server
  trap 'kill $hang_pid 2>/dev/null; rm -rf "$work"' EXIT

  # The runtime: its exit report never asks (a hang here would be the
  # host program hanging at exit).
  DEBUGINFOD_URLS=$hang_url HANDLE_OPTIONS=trace=t.db timed env LD_PRELOAD="$DEBUG_LIB" ./leaker
  expect_rc 23
  [ "$took" -le 10 ] || fail "the runtime's exit report took $took s with DEBUGINFOD_URLS set"
  has 'detected handle leaks'
  [ -f t.db ] || fail "no trace"

  # handle-report without --debuginfod: DEBUGINFOD_URLS is ignored.
  DEBUGINFOD_URLS=$hang_url timed "$HANDLE_REPORT" t.db
  expect_rc 1
  [ "$took" -le 10 ] || fail "handle-report took $took s with DEBUGINFOD_URLS set and no --debuginfod"
  hasnt 'debuginfod'
  has 'leaked' out

  # With --debuginfod: one line while it waits, and the budget ends it.
  DEBUGINFOD_URLS=$hang_url HANDLE_DEBUGINFOD_BUDGET=3 timed "$HANDLE_REPORT" --debuginfod t.db
  expect_rc 1
  has '^handle-report: asking debuginfod \(DEBUGINFOD_URLS\) for missing debug files, for at most 3 s in all'
  [ "$took" -ge 2 ] || fail "--debuginfod did not ask the server (took $took s)"
  [ "$took" -le 15 ] || fail "--debuginfod with a budget of 3 s took $took s"
  has 'leaked' out
  handle_help=$("$HANDLE_REPORT" --help)
  grep -q -- '--debuginfod' <<<"$handle_help" || fail "--help does not name --debuginfod"
}

# The debug runtime is versioned like the release library (SPEC section 7):
# soname libhandle-debug.so.1, with libhandle-debug.so beside it for
# LD_PRELOAD and -lhandle-debug, and a program linked with -lhandle-debug
# records the soname.
case_debug_lib_soname() {
  d=$(dirname "$DEBUG_LIB")
  soname=$(readelf -d "$DEBUG_LIB" | sed -nE 's/.*\(SONAME\).*\[(.*)\].*/\1/p')
  [ "$soname" = libhandle-debug.so.1 ] || fail "soname '$soname', want libhandle-debug.so.1"
  [ -e "$d/libhandle-debug.so.1" ] || fail "no $d/libhandle-debug.so.1"
  [ -e "$d/libhandle-debug.so" ] || fail "no $d/libhandle-debug.so"
  printf '#include <handle/handle.h>\nint main(void){handle_delete(handle_new(0));return (int)handle_live_count();}\n' >p.c
  $CC -I"$INCLUDE_DIR" p.c -L"$d" -lhandle-debug -Wl,-rpath,"$d" -o p || fail "cannot link -lhandle-debug"
  readelf -d p | grep -q 'NEEDED.*\[libhandle-debug.so.1\]' || fail "p does not need libhandle-debug.so.1"
  HANDLE_OPTIONS=trace= ./p >out 2>err; rc=$?
  expect_rc 0
}
