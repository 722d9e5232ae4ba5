# cases/forward.sh - one handle table per process (issue 11 case 12, SPEC
# section 1): a libhandle.so that an FFI host loads beside
# libhandle-debug.so (Python ctypes by soname or by path, dlopen+dlsym)
# forwards every call to it; a debug library that comes too late, or
# RTLD_LOCAL, forwards to the release table instead, with one warning.
# Sourced by run.sh; one function case_NAME per ctest case it_NAME.

# Python with ctypes, or skip (exit 77) where there is none.
fwd_need_python() {
  command -v python3 >/dev/null && python3 -c 'import ctypes' 2>/dev/null || {
    echo "SKIP: no python3 with ctypes" >&2; exit 77; }
}

# fwd_prelude: the Python lines every script starts with: bind(lib) gives a
# library's seven calls their C types (handles are uint64, values void *).
fwd_prelude() {
  cat <<'PY'
import ctypes, os, sys
from ctypes import CDLL, RTLD_GLOBAL, byref, c_bool, c_char_p, c_size_t, c_uint64, c_void_p, POINTER
def bind(lib):
    lib.handle_new.restype = c_uint64; lib.handle_new.argtypes = [c_void_p]
    lib.handle_new_tagged.restype = c_uint64; lib.handle_new_tagged.argtypes = [c_void_p, c_char_p]
    lib.handle_value.restype = c_void_p; lib.handle_value.argtypes = [c_uint64]
    lib.handle_value_tagged.restype = c_void_p; lib.handle_value_tagged.argtypes = [c_uint64, c_char_p]
    lib.handle_delete.restype = None; lib.handle_delete.argtypes = [c_uint64]
    lib.handle_lookup.restype = c_bool; lib.handle_lookup.argtypes = [c_uint64, POINTER(c_void_p)]
    lib.handle_live_count.restype = c_size_t; lib.handle_live_count.argtypes = []
    return lib
TAG = b"struct py"
def check(cond, what):
    if not cond:
        print("check failed:", what, flush=True)
        sys.exit(3)
PY
}

# by soname, under LD_PRELOAD: checks, trace and leak report, and handles
# passing between calls made through libhandle.so and through the debug
# library (the global scope, CDLL(None)).
case_forward_ctypes_soname() {
  fwd_need_python
  { fwd_prelude; cat <<'PY'
rel = bind(CDLL("libhandle.so.1"))        # the release library, by soname
dbg = bind(CDLL(None))                    # the global scope: the preloaded debug library
a = rel.handle_new(0x1234)                # made through libhandle.so
b = dbg.handle_new(0x5678)                # made through the debug library
check(dbg.handle_value(a) == 0x1234, "debug resolves a release-made handle")
check(rel.handle_value(b) == 0x5678, "release resolves a debug-made handle")
t = rel.handle_new_tagged(0x9, TAG)
check(dbg.handle_value_tagged(t, TAG) == 0x9, "tagged")
v = c_void_p()
check(rel.handle_lookup(b, byref(v)) and v.value == 0x5678, "lookup")
check(rel.handle_live_count() == 3 and dbg.handle_live_count() == 3, "one live count")
rel.handle_delete(b)
dbg.handle_delete(a)
check(not rel.handle_lookup(a, None) and not dbg.handle_lookup(b, None), "deleted")
check(rel.handle_live_count() == 1, "live count after deletes")
leak = rel.handle_new_tagged(0x77, b"struct leaky")   # never deleted
print("ok", flush=True)
PY
  } >t.py
  LD_LIBRARY_PATH=$(dirname "$RELEASE_LIB") LD_PRELOAD="$DEBUG_LIB" python3 t.py >out 2>err; rc=$?
  expect_rc 23
  has '^ok$' out
  has '^Leak of 1 handle\(s\) tagged "struct leaky" created from:'
  has '^Leak of 1 handle\(s\) tagged "struct py" created from:'
  hasnt 'WARNING'
  t=$(one_trace)
  [ "$(sql "$t" "select count(*) from handles")" = 4 ] || fail "handles rows: $(sql "$t" "select count(*) from handles")"
  [ "$(sql "$t" "select count(*) from leaks")" = 2 ] || fail "leaks rows"
}

# by path, under LD_PRELOAD: a double delete made through libhandle.so is
# the debug library's full diagnostic, and frame #0 is the caller
# (libffi's call into the library); no frame is libhandle.so's.
case_forward_ctypes_path() {
  fwd_need_python
  { fwd_prelude; cat <<PY
rel = bind(CDLL("$RELEASE_LIB"))
h = rel.handle_new(1)
rel.handle_delete(h)
print("deleting twice", flush=True)
rel.handle_delete(h)
print("not reached", flush=True)
PY
  } >t.py
  LD_PRELOAD="$DEBUG_LIB" python3 t.py >out 2>err; rc=$?
  expect_rc 134
  has '^deleting twice$' out
  hasnt 'not reached' out
  has '==ERROR: HandleSanitizer: double-delete on handle 0x[0-9a-f]+'
  # libffi's call (no symbol: "#0 0xPC (libffi.so.8+0xOFF)"), never libhandle.so
  hasnt '^    #[0-9]+ .*libhandle\.so'
  grep -E '^    #0 ' err | head -1 | grep -qE 'libffi|ffi_call' || fail "frame #0 is not the FFI's call: $(grep -E '^    #0 ' err | head -1)"
  has '^handle 0x[0-9a-f]+ was deleted by thread T0 here:'
  has '^previously created by thread T0 here:'
}

# fwd_frame0_prog: a C host that dlopen()s libhandle.so.1 (LIB, RTLD_LOCAL)
# and deletes a handle twice through a dlsym()'d pointer.
fwd_frame0_prog() {
  cat >host.c <<'C'
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
typedef uintptr_t (*new_fn)(void *);
typedef void (*del_fn)(uintptr_t);
__attribute__((noinline)) static void drop_twice(del_fn del, uintptr_t h)
{
    del(h);
    printf("deleting twice\n");
    fflush(stdout);
    del(h); /* LINE_SECOND */
    __asm__ volatile("" ::: "memory");
}
int main(int argc, char **argv)
{
    void *lib = dlopen(argc > 1 ? argv[1] : "libhandle.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) { fprintf(stderr, "%s\n", dlerror()); return 2; }
    new_fn nw = (new_fn)(uintptr_t)dlsym(lib, "handle_new");
    del_fn del = (del_fn)(uintptr_t)dlsym(lib, "handle_delete");
    drop_twice(del, nw(&lib));
    return 0;
}
C
  $CC -O1 -g -o host host.c -ldl || fail "cannot build host"
}

# frame #0 of the debug library's stacks names the host's function when
# the call came through libhandle.so: with the library as built (tail
# calls) and with one built at -O0, whose forwarding frames are real frames
# that the debug library must drop.
case_forward_frame0() {
  fwd_frame0_prog
  line=$(grep -n LINE_SECOND host.c | cut -d: -f1)
  LD_PRELOAD="$DEBUG_LIB" HANDLE_OPTIONS=trace= ./host "$RELEASE_LIB" >out 2>err; rc=$?
  expect_rc 134
  has '==ERROR: HandleSanitizer: double-delete'
  has "^    #0 0x[0-9a-f]+ in drop_twice .*host\.c:$line\$"
  # The same with a libhandle.so built at -O0 (no tail calls).
  root=$SRC/../..
  mkdir o0
  $CC -O0 -g -std=c11 -fPIC -shared -fvisibility=hidden -fno-omit-frame-pointer -D_GNU_SOURCE \
    -DHANDLE_RELEASE_SHARED -I"$INCLUDE_DIR" "$root/lib/release/release.c" "$root/lib/core/core.c" \
    "$root/lib/core/fmt.c" "$root/lib/core/peer.c" -Wl,-soname,libhandle.so.1 -o o0/libhandle.so.1 \
    -lpthread || fail "cannot build libhandle.so at -O0"
  objdump -d o0/libhandle.so.1 | grep -qE 'call +\*' || fail "the -O0 build has no forwarding call"
  LD_PRELOAD="$DEBUG_LIB" HANDLE_OPTIONS=trace= ./host "$PWD/o0/libhandle.so.1" >out 2>err; rc=$?
  expect_rc 134
  has '==ERROR: HandleSanitizer: double-delete'
  has "^    #0 0x[0-9a-f]+ in drop_twice .*host\.c:$line\$"
}

# The debug library arrives (RTLD_GLOBAL) after libhandle.so issued
# handles: the release table stays in charge, one warning, and the debug
# library's calls forward to it (one table, the release build's checks).
case_forward_late_debug() {
  fwd_need_python
  { fwd_prelude; cat <<PY
rel = bind(CDLL("$RELEASE_LIB"))
a = rel.handle_new(5)
dbg = bind(CDLL("$DEBUG_LIB", mode=RTLD_GLOBAL))
check(dbg.handle_value(a) == 5, "debug resolves a handle of the release table")
b = dbg.handle_new_tagged(6, TAG)
check(rel.handle_value_tagged(b, TAG) == 6, "release resolves a handle made through the debug library")
check(dbg.handle_live_count() == 2 and rel.handle_live_count() == 2, "one live count")
v = c_void_p()
check(dbg.handle_lookup(a, byref(v)) and v.value == 5, "lookup")
dbg.handle_delete(a)
rel.handle_delete(b)
check(dbg.handle_live_count() == 0, "live count after deletes")
print("ok", flush=True)
if len(sys.argv) > 1:
    dbg.handle_delete(a)            # a double delete: the release table's panic
    print("not reached", flush=True)
PY
  } >t.py
  python3 t.py >out 2>err; rc=$?
  expect_rc 0
  has '^ok$' out
  [ "$(grep -c 'WARNING: HandleSanitizer' err)" = 1 ] || fail "expected one warning line"
  has '^==[0-9]+==WARNING: HandleSanitizer: libhandle.so \(.*libhandle\.so[.0-9]*\) served this process before libhandle-debug.so started'
  [ -z "$(ls handle-trace.* 2>/dev/null)" ] || fail "a trace was written: $(ls handle-trace.*)"
  python3 t.py twice >out 2>err; rc=$?
  expect_rc 134
  hasnt 'not reached' out
  has '==ERROR: HandleSanitizer: double-delete on handle'
  has 'HINT: run with LD_PRELOAD=libhandle-debug.so'
}

# A debug library loaded RTLD_LOCAL: libhandle.so cannot find it, so at
# its first call its own table takes charge and the debug library forwards
# to it (one warning). But once the debug library's table serves (it made
# the process's first call), a libhandle.so loaded after finds it and
# forwards to it: still one table.
case_forward_rtld_local() {
  fwd_need_python
  { fwd_prelude; cat <<PY
order = sys.argv[1]
dbg = bind(CDLL("$DEBUG_LIB"))            # RTLD_LOCAL, ctypes' default
if order == "release-first":
    rel = bind(CDLL("$RELEASE_LIB"))
    a = rel.handle_new(7)
    check(dbg.handle_value(a) == 7, "debug resolves a handle of the release table")
    b = dbg.handle_new(8)
    check(rel.handle_value(b) == 8, "release resolves a handle made through the debug library")
    dbg.handle_delete(a); rel.handle_delete(b)
    check(rel.handle_live_count() == 0 and dbg.handle_live_count() == 0, "one live count")
else:
    a = dbg.handle_new(7)                 # the process's first call: the debug table
    rel = bind(CDLL("$RELEASE_LIB"))
    check(rel.handle_value(a) == 7, "release resolves a handle of the debug table")
    leak = rel.handle_new_tagged(9, b"struct leaky")
    check(dbg.handle_live_count() == 2 and rel.handle_live_count() == 2, "one live count")
    dbg.handle_delete(a)
print("ok", flush=True)
PY
  } >t.py
  python3 t.py release-first >out 2>err; rc=$?
  expect_rc 0
  has '^ok$' out
  [ "$(grep -c 'WARNING: HandleSanitizer' err)" = 1 ] || fail "expected one warning line"
  has 'WARNING: HandleSanitizer: libhandle.so \(.*\) served this process before libhandle-debug.so started'
  python3 t.py debug-first >out 2>err; rc=$?
  expect_rc 23
  has '^ok$' out
  hasnt 'WARNING'
  has '^Leak of 1 handle\(s\) tagged "struct leaky" created from:'
  t=$(one_trace)
  [ "$(sql "$t" "select count(*) from handles")" = 2 ] || fail "handles rows"
}

# The first calls of two threads, one through libhandle.so and one through
# the debug library, at the same moment (both RTLD_LOCAL; then with the
# debug library preloaded): whichever table wins, it is the only one. Each
# library's decision is serialized by the loader's lock (lib/core/peer.c).
case_forward_first_call_race() {
  cat >race.c <<'C'
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
typedef uintptr_t (*new_fn)(void *);
typedef void *(*value_fn)(uintptr_t);
typedef size_t (*live_fn)(void);
static new_fn r_new, d_new;
static value_fn r_value, d_value;
static live_fn r_live, d_live;
static pthread_barrier_t go;
static int x, y;
static uintptr_t hr, hd;
static void *by_release(void *arg) { (void)arg; pthread_barrier_wait(&go); hr = r_new(&x); return NULL; }
static void *by_debug(void *arg) { (void)arg; pthread_barrier_wait(&go); hd = d_new(&y); return NULL; }
int main(int argc, char **argv)
{
    void *r = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL), *d = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
    if (!r || !d || argc < 3) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 2; }
    r_new = (new_fn)(uintptr_t)dlsym(r, "handle_new"); d_new = (new_fn)(uintptr_t)dlsym(d, "handle_new");
    r_value = (value_fn)(uintptr_t)dlsym(r, "handle_value"); d_value = (value_fn)(uintptr_t)dlsym(d, "handle_value");
    r_live = (live_fn)(uintptr_t)dlsym(r, "handle_live_count"); d_live = (live_fn)(uintptr_t)dlsym(d, "handle_live_count");
    pthread_barrier_init(&go, NULL, 2);
    pthread_t a, b;
    pthread_create(&a, NULL, by_release, NULL);
    pthread_create(&b, NULL, by_debug, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    if (r_value(hd) != &y || d_value(hr) != &x || r_live() != 2 || d_live() != 2) {
        printf("two tables\n");
        return 1;
    }
    printf("one table\n");
    return 0;
}
C
  $CC -O1 -g -pthread -o race race.c -ldl || fail "cannot build race"
  for i in $(seq 40); do
    HANDLE_OPTIONS=trace=:detect_leaks=0 ./race "$RELEASE_LIB" "$DEBUG_LIB" >out 2>err; rc=$?
    expect_rc 0; has '^one table$' out
    [ "$(grep -c WARNING err)" -le 1 ] || fail "more than one warning"
    HANDLE_OPTIONS=trace=:detect_leaks=0 LD_PRELOAD="$DEBUG_LIB" ./race "$RELEASE_LIB" "$DEBUG_LIB" >out 2>err; rc=$?
    expect_rc 0; has '^one table$' out; hasnt WARNING
  done
}
