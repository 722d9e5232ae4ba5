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

# sym_app VARIANT: builds app (in place) from app.c; VARIANT 2 adds code
# before the leaking function, so every address and line moves.
sym_app() {
  {
    echo '#include <handle/handle.h>'
    echo '#include <stdio.h>'
    if [ "$1" = 2 ]; then
      for i in 1 2 3 4 5 6 7 8; do
        echo "__attribute__((noinline)) int pad$i(int x) { printf(\"%d\", x); return x * $i + 1; }"
      done
      echo 'int (*volatile pads[])(int) = {pad1, pad2, pad3, pad4, pad5, pad6, pad7, pad8};'
    fi
    echo 'static int x;'
    echo '__attribute__((noinline)) handle_t make_leak(int n) {'
    echo '  x = n;'
    echo '  return handle_new_tagged(&x, "conn"); /* LINE_LEAK */'
    echo '}'
    echo 'int main(void) { make_leak(1); return 0; }'
  } >app.c
  $CC -std=gnu11 -O1 -g -I"$INCLUDE_DIR" app.c "$RELEASE_LIB" \
    -Wl,-rpath,"$(dirname "$RELEASE_LIB")" -o app || fail "cannot build app"
}

# Item 12: the program is rebuilt in place with code that moves the leak,
# then the new trace is compared with the old one: the old trace's frames
# come from its own symbols table (its binary is gone), so the site is the
# same and nothing is new. A trace read after its binary is deleted still
# symbolizes.
case_baseline_after_rebuild() {
  sym_app 1
  local l1; l1=$(grep -n LINE_LEAK app.c | cut -d: -f1)
  sym_run env HANDLE_OPTIONS="trace=$PWD/old.db" ./app; expect_rc 23
  [ "$(sql old.db "select count(*) from symbols where function = 'make_leak' and line = $l1")" = 1 ] ||
    fail "old.db: no symbols row for make_leak:$l1: $(sql old.db 'select * from symbols')"
  sym_app 2
  local l2; l2=$(grep -n LINE_LEAK app.c | cut -d: -f1)
  [ "$l1" != "$l2" ] || fail "the rebuild did not move the leak"
  sym_run env HANDLE_OPTIONS="trace=$PWD/new.db" ./app; expect_rc 23
  [ "$(sql old.db "select offset from symbols where line = $l1")" != \
    "$(sql new.db "select offset from symbols where line = $l2")" ] || fail "the rebuild did not move the code"
  # old.db read now: its frames from its symbols table, with the old line
  "$HANDLE_REPORT" old.db >rep 2>&1; rc=$?; expect_rc 1
  has "^    #0 0x[0-9a-f]+ in make_leak .*app.c:$l1$" rep
  hasnt 'Note: ' rep
  "$HANDLE_REPORT" --baseline old.db new.db >rep 2>&1; rc=$?
  [ "$rc" = 0 ] || { cat rep >&2; fail "--baseline old.db new.db: exit $rc, the old leak reported as new"; }
  has 'No handle leaks found' rep
  has '^Baseline: 1 leak site' rep
  # a baseline that cannot be symbolized (no symbols table rows, its
  # binary rebuilt): the note names it, under the Baseline line, not
  # under new.db's header
  cp old.db old2.db; sql old2.db 'delete from symbols'
  "$HANDLE_REPORT" --baseline old2.db new.db >rep 2>&1; rc=$?; expect_rc 1
  has "^Note: baseline old2.db: .*app changed since the run" rep
  [ "$(sed -n 2p rep | cut -c1-5)" != "Note:" ] || fail "a note under new.db's header: $(sed -n 2p rep)"
  [ "$(grep -n '^Note: baseline' rep | cut -d: -f1)" -gt "$(grep -n '^Baseline:' rep | cut -d: -f1)" ] ||
    fail "the baseline's note is not under the Baseline line"
  # the binary deleted: new.db still reads right, in every format
  rm -f app
  "$HANDLE_REPORT" new.db >rep 2>&1; rc=$?; expect_rc 1
  has "^    #0 0x[0-9a-f]+ in make_leak .*app.c:$l2$" rep
  has "^    #1 0x[0-9a-f]+ in main .*app.c" rep
  hasnt 'Note: ' rep
  "$HANDLE_REPORT" --format json new.db >rep.json 2>&1
  has '"function": ?"make_leak"' rep.json
  # detect_leaks=0: the sites still get their symbols
  sym_app 1
  sym_run env HANDLE_OPTIONS="trace=$PWD/quiet.db:detect_leaks=0" ./app; expect_rc 0
  [ "$(sql quiet.db "select count(*) from symbols where function = 'make_leak' and line = $l1")" = 1 ] ||
    fail "detect_leaks=0: no symbols"
}

# Item 12: after a panic the error's stacks are in the symbols table (a
# second commit after the error's), and read after the binary is gone.
case_symbols_after_panic() {
  cat >pan.c <<'C'
#include <handle/handle.h>
static int x;
__attribute__((noinline)) handle_t make_it(void) { return handle_new(&x); }
__attribute__((noinline)) void drop_it(handle_t h) { handle_delete(h); }
int main(void) { handle_t h = make_it(); drop_it(h); drop_it(h); return 0; }
C
  $CC -std=gnu11 -O1 -g -I"$INCLUDE_DIR" pan.c "$RELEASE_LIB" \
    -Wl,-rpath,"$(dirname "$RELEASE_LIB")" -o pan || fail "cannot build pan"
  sym_run env HANDLE_OPTIONS="trace=$PWD/p.db" ./pan; expect_rc 134
  has 'double-delete'
  [ "$(sql p.db "select count(*) from symbols where function in ('make_it', 'drop_it')")" -ge 2 ] ||
    fail "no symbols for the error's stacks: $(sql p.db 'select * from symbols')"
  rm -f pan
  "$HANDLE_REPORT" p.db >rep 2>&1
  has 'in drop_it .*pan.c:4' rep
  has 'in make_it .*pan.c:3' rep
}

# Item 10: plugin A is dlclose'd and plugin B dlopen'ed at the same address
# (same layout: the loader reuses the freed range); both leak from the same
# offsets through the same call site. Each leak is reported under its own
# plugin's file, the modules table has a row for each, and handle-report
# agrees.
case_plugin_same_address() {
  for p in a b; do
    cat >plug_$p.c <<C
#include <handle/handle.h>
static int x;
__attribute__((noinline)) handle_t plugin_leak(void) {
  return handle_new_tagged(&x, "plug"); /* LINE_PLUGIN */
}
C
    $CC -std=gnu11 -O1 -g -fPIC -shared -I"$INCLUDE_DIR" plug_$p.c "$RELEASE_LIB" \
      -Wl,-rpath,"$(dirname "$RELEASE_LIB")" -o "$PWD/libplug_$p.so" || fail "cannot build plug_$p"
  done
  [ "$(stat -c %s libplug_a.so)" = "$(stat -c %s libplug_b.so)" ] || fail "the plugins differ in size"
  cat >host.c <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <handle/handle.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
typedef handle_t (*leak_fn)(void);
__attribute__((noinline)) static void call(leak_fn f) { f(); }
static void *load(const char *path) {
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) { fprintf(stderr, "dlopen: %s\n", dlerror()); exit(3); }
  leak_fn f = (leak_fn)dlsym(h, "plugin_leak");
  Dl_info di;
  if (!f || !dladdr((void *)f, &di)) exit(4);
  printf("base %p\n", di.dli_fbase);
  call(f);
  return h;
}
int main(int argc, char **argv) {
  (void)argc;
  /* the trace and its writer thread first, so that nothing of theirs is
   * mapped into the range plugin a leaves */
  static int w;
  handle_delete(handle_new(&w));
  usleep(200000);
  /* one call site: both leaks have the very same return addresses */
  for (int i = 1; i <= 2; i++) {
    void *h = load(argv[i]);
    if (i == 1)
      dlclose(h);
  }
  return 0;
}
C
  $CC -std=gnu11 -O1 -g -I"$INCLUDE_DIR" host.c "$RELEASE_LIB" \
    -Wl,-rpath,"$(dirname "$RELEASE_LIB")" -ldl -o host || fail "cannot build host"
  local line; line=$(grep -n LINE_PLUGIN plug_a.c | cut -d: -f1)
  sym_run ./host "$PWD/libplug_a.so" "$PWD/libplug_b.so"; expect_rc 23
  [ "$(grep -c '^base ' out)" = 2 ] || fail "host did not load both plugins"
  [ "$(sed -n 1p out)" = "$(sed -n 2p out)" ] || fail "the plugins did not land at one address: $(cat out)"
  has "^    #0 0x[0-9a-f]+ in plugin_leak .*plug_a.c:$line$"
  has "^    #0 0x[0-9a-f]+ in plugin_leak .*plug_b.c:$line$"
  has '^SUMMARY: HandleSanitizer: 2 handle\(s\) leaked in 2 site\(s\)\.$'
  local t; t=$(one_trace)
  [ "$(sql "$t" "select count(*) from modules where path like '%/libplug_a.so'")" -ge 1 ] || fail "no modules row for plugin a"
  [ "$(sql "$t" "select count(*) from modules where path like '%/libplug_b.so'")" -ge 1 ] || fail "no modules row for plugin b"
  [ "$(sql "$t" "select count(*) from modules where path like '%/libplug_a.so' and unloaded_ns is not null")" -ge 1 ] ||
    fail "plugin a not marked unloaded"
  # handle-report, from the binaries and, once they are gone, from the trace's symbols
  "$HANDLE_REPORT" "$t" >rep 2>&1
  has "in plugin_leak .*plug_a.c:$line$" rep
  has "in plugin_leak .*plug_b.c:$line$" rep
  rm -f libplug_a.so libplug_b.so
  "$HANDLE_REPORT" "$t" >rep 2>&1
  has "in plugin_leak .*plug_a.c:$line$" rep
  has "in plugin_leak .*plug_b.c:$line$" rep
}
