# cases/handlerun.sh - handle-run (issue 12 items 1 and 9, issue 13 item 12):
# --trace names exactly the path given whatever it holds, the exit report's
# "Trace:" line quotes it as a shell needs it, text output escapes control
# bytes from the program, a program built with -fsanitize=address runs,
# and the shell's exit statuses and one usage-error form. Sourced by run.sh.

# hr_leaker: a program that leaks one handle tagged "t" (built once per case).
hr_leaker() {
  cat >leaker.c <<'C'
#include <handle/handle.h>
int main(void) { static int x; handle_new_tagged(&x, "t"); return 0; }
C
  $CC -O1 -g -I"$INCLUDE_DIR" leaker.c -o leaker "$RELEASE_LIB" \
    -Wl,-rpath,"$(dirname "$RELEASE_LIB")" || fail "cannot build leaker"
}

# hr_run ARGS...: handle-run with the build's debug library; sets $rc.
hr_run() { HANDLE_DEBUG_LIBRARY="$DEBUG_LIB" "$HANDLE_RUN" "$@" >out 2>err; rc=$?; }

# Every file under DIR, one per line, sorted (names with newlines escaped).
hr_tree() { (cd "$1" && find . -mindepth 1 -print0 | sort -z | tr '\0\n' '\n?'); }

# Issue 12 item 1: each awkward path is written exactly, nothing else is
# created or replaced (not /tmp/x/my for "my dir/t.db", not a/ for "a,b"),
# and the Trace: line gives a path that a shell reads back as that file.
case_handlerun_trace_awkward_paths() {
  [ -n "${HANDLE_RUN:-}" ] || fail "handle-run not built (HANDLE_RUN unset)"
  hr_leaker
  nl='
'
  local names=("my dir/t.db" "a,b.db" "a:b.db" "it's.db" 'say "hi".db' "both'\".db"
    'back\slash.db' "new${nl}line.db" "tab	t.db" "100%.db" "50%%.db" "x=1 y=2.db"
    " lead.db" 'trail\' '$HOME.db' 'a;b&c|d.db')
  local expect=("my dir/t.db" "a,b.db" "a:b.db" "it's.db" 'say "hi".db' "both'\".db"
    'back\slash.db' "new${nl}line.db" "tab	t.db" "100%.db" "50%.db" "x=1 y=2.db"
    " lead.db" 'trail\' '$HOME.db' 'a;b&c|d.db')
  for i in "${!names[@]}"; do
    rm -rf d && mkdir -p d/my d/a && echo keep >d/my/keep && echo keep >d/a.keep
    mkdir -p "$(dirname "d/${expect[$i]}")"
    before=$(hr_tree d)
    HANDLE_OPTIONS="exitcode=23" hr_run --trace "d/${names[$i]}" ./leaker
    expect_rc 23
    has "detected handle leaks"
    [ -f "d/${expect[$i]}" ] || fail "no file [d/${expect[$i]}] for [${names[$i]}]: $(hr_tree d)"
    after=$(hr_tree d | grep -vxF "./${expect[$i]//$nl/?}")
    [ "$before" = "$after" ] || fail "[${names[$i]}]: other files changed: [$before] -> [$after]"
    [ "$(cat d/my/keep)" = keep ] || fail "d/my replaced"
    [ "$(sqlite3 "d/${expect[$i]}" "select count(*) from leaks")" = 1 ] || fail "trace rows"
    # The Trace: line, read by a shell, names the file.
    line=$(grep -a '^Trace: ' err) || fail "no Trace: line"
    word=${line#Trace: }
    word=${word%% (read it with: *}
    [ "$(bash -c "printf %s $word")" = "d/${expect[$i]}" ] || fail "Trace: line [$line] is not the path"
    [ "$(printf '%s\n' "$line" | sed -n 's/.*(read it with: handle-report \(.*\))$/\1/p')" = "$word" ] ||
      fail "the command in [$line] does not name the path"
  done
  # A plain path stays unquoted; %p is the pid.
  hr_run --trace "d/t.%p.db" ./leaker; expect_rc 23
  has '^Trace: d/t\.[0-9]+\.db \(read it with: handle-report d/t\.[0-9]+\.db\)$'
  # An existing HANDLE_OPTIONS is kept, --trace is appended to it.
  HANDLE_OPTIONS="exitcode=9 max_frames=4" hr_run --trace "d/o p.db" ./leaker; expect_rc 9
  [ -f "d/o p.db" ] || fail "no trace with existing options"
  hasnt "WARNING"
}

# Issue 12 item 9: text output (handle-report's and the exit report) prints
# control bytes from the program escaped: a tag and an exe path holding ESC,
# BEL, CR, LF, other C0 and DEL.
case_handlerun_text_escapes_control_bytes() {
  [ -n "${HANDLE_REPORT:-}" ] || fail "handle-report not built (HANDLE_REPORT unset)"
  cat >ctl.c <<'C'
#include <handle/handle.h>
int main(void) { static int x; handle_new_tagged(&x, "\033[31mred\a\r\nfake\001\177"); return 0; }
C
  d=$(printf 'dir\033]0;title\a\r\nx\001\177')
  mkdir "$d" || fail "mkdir"
  $CC -O1 -g -I"$INCLUDE_DIR" ctl.c -o "$d/ctl" "$RELEASE_LIB" \
    -Wl,-rpath,"$(dirname "$RELEASE_LIB")" || fail "cannot build"
  HANDLE_OPTIONS="trace=t.db" LD_PRELOAD="$DEBUG_LIB" "./$d/ctl" >out 2>err; rc=$?
  expect_rc 23
  "$HANDLE_REPORT" t.db >rep 2>rep.err; rc=$?
  expect_rc 1
  for f in err rep; do
    # No control byte but the line ends (and tabs) in either text.
    if LC_ALL=C grep -q "$(printf '[\001-\010\013-\037\177]')" "$f"; then
      fail "raw control bytes in $f: $(od -c "$f" | head -20)"
    fi
    has 'tagged "\\x1b\[31mred\\x07\\r\\nfake\\x01\\x7f"' "$f"
  done
  # The exe path in handle-report's header and the module of a frame.
  has 'Trace t\.db: .*dir\\x1b\]0;title\\x07\\r\\nx\\x01\\x7f/ctl' rep
  has 'dir\\x1b\]0;title\\x07\\r\\nx\\x01\\x7f/ctl\+0x' err
  # The runtime's warning and information lines stay one line each.
  HANDLE_OPTIONS="verbosity=1 trace='nodir/a
b.db'" LD_PRELOAD="$DEBUG_LIB" "./$d/ctl" >out 2>err; rc=$?
  expect_rc 23
  has '^==[0-9]+==WARNING: HandleSanitizer: cannot create trace nodir/a\\x0ab\.db: '
  HANDLE_OPTIONS="verbosity=1 trace='a
b.db'" LD_PRELOAD="$DEBUG_LIB" "./$d/ctl" >out 2>err; rc=$?
  expect_rc 23
  [ -f "a
b.db" ] || fail "no trace a\\nb.db"
  has "^Trace: \\$'a\\\\nb\\.db' \\(read it with: handle-report \\$'a\\\\nb\\.db'\\)$"
  if LC_ALL=C grep -q "$(printf '[\001-\010\013-\037\177]')" err; then
    fail "raw control bytes in err"
  fi
  [ "$(grep -c '^' err)" = "$(grep -cE '^(==|    #|Leak|SUMMARY|Trace|$)' err)" ] || fail "a line was split"
}

# Issue 13 item 12: a program built with -fsanitize=address runs under
# handle-run (its ASan runtime first in LD_PRELOAD), with both reports.
case_handlerun_asan_program() {
  [ -n "${HANDLE_RUN:-}" ] || fail "handle-run not built (HANDLE_RUN unset)"
  command -v gcc >/dev/null || fail "no gcc (scripts/deps.sh installs it)"
  asan=$(gcc -print-file-name=libasan.so)
  [ -f "$asan" ] || fail "no libasan.so beside gcc"
  cat >both.c <<'C'
#include <handle/handle.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
void *keep;
int main(void)
{
    static int x;
    printf("LD_PRELOAD=%s\n", getenv("LD_PRELOAD"));
    handle_new(&x);
    char *p = malloc(77);
    memset(p, 1, 77);
    keep = p;
    keep = 0;
    return 0;
}
C
  gcc -g -O0 -fsanitize=address -I"$INCLUDE_DIR" both.c "$RELEASE_LIB" \
    -Wl,-rpath,"$(dirname "$RELEASE_LIB")" -o both || fail "cannot build"
  soname=$(readelf -d both | sed -n 's/.*(NEEDED).*\[\(libasan[^]]*\)\].*/\1/p')
  [ -n "$soname" ] || exit 77 # a static ASan runtime needs no preload
  unset LD_PRELOAD
  hr_run --trace t.db ./both
  hasnt "does not come first"
  has "ERROR: HandleSanitizer: detected handle leaks"
  has "ERROR: LeakSanitizer: detected memory leaks"
  has "77 byte"
  [ "$rc" != 0 ] || fail "exit status 0"
  has "^LD_PRELOAD=$soname:$DEBUG_LIB\$" out
  [ -f t.db ] || fail "no trace"
  # Found through PATH too; an ASan runtime already preloaded stays as it is.
  PATH="$PWD:$PATH" hr_run both
  hasnt "does not come first"; has "^LD_PRELOAD=$soname:" out
  LD_PRELOAD="$asan" hr_run ./both
  has "^LD_PRELOAD=$asan:$DEBUG_LIB\$" out
}

# Issue 13 item 12: handle-run's own failures are the shell's: a directory
# or a file that is not executable 126, not found 127 (PROGRAM without '/'
# looked for in PATH); the program's own status otherwise.
case_handlerun_exit_statuses() {
  [ -n "${HANDLE_RUN:-}" ] || fail "handle-run not built (HANDLE_RUN unset)"
  hr_run /tmp; expect_rc 126; has "^handle-run: cannot run /tmp: is a directory$"
  hr_run ./; expect_rc 126; has "is a directory"
  echo 'echo hi' >noexec; chmod 644 noexec
  hr_run ./noexec; expect_rc 126; has "^handle-run: cannot run \./noexec: Permission denied$"
  hr_run ./missing; expect_rc 127; has "^handle-run: cannot run \./missing: No such file or directory$"
  hr_run no-such-command-anywhere; expect_rc 127; has "no-such-command-anywhere: command not found$"
  # A directory in PATH named as the program is skipped, as shells do.
  mkdir -p bin1/prog bin2 && printf '#!/bin/sh\nexit 5\n' >bin2/prog && chmod 755 bin2/prog
  PATH="$PWD/bin1:$PWD/bin2:$PATH" hr_run prog; expect_rc 5
  # Not executable in PATH: 126.
  mkdir bin3 && cp noexec bin3/prog2
  PATH="$PWD/bin3:$PATH" hr_run prog2; expect_rc 126; has "Permission denied"
  # A script without #! runs through /bin/sh, as execvp runs it.
  printf 'exit 6\n' >plain && chmod 755 plain
  hr_run ./plain; expect_rc 6
  hr_run sh -c 'exit 42'; expect_rc 42
}

# Issue 13 item 12: --help is complete (every flag, the environment, the
# exit statuses) and a bad flag is reported as handle-report reports one.
case_handlerun_usage() {
  [ -n "${HANDLE_RUN:-}" ] && [ -n "${HANDLE_REPORT:-}" ] || fail "handle-run or handle-report not built (HANDLE_RUN, HANDLE_REPORT unset)"
  "$HANDLE_RUN" --help >out 2>err; rc=$?; expect_rc 0
  for w in '--trace PATH' '--help' '--version' '%p' 'PATH' 'LD_PRELOAD' 'HANDLE_OPTIONS' \
    'fsanitize=address' 'HANDLE_DEBUG_LIBRARY' 'Exit status' '126' '127' 'handle-report'; do
    grep -qF -- "$w" out || fail "--help does not mention $w"
  done
  for tool in "$HANDLE_RUN" "$HANDLE_REPORT"; do
    n=$(basename "$tool")
    "$tool" --bogus x >out 2>err; rc=$?; expect_rc 2
    has "^$n: unknown option '--bogus' \(see $n --help\)$"
    [ "$(wc -l <err)" = 1 ] || fail "$n: more than one line"
    "$tool" -q x >out 2>err; rc=$?; expect_rc 2
    has "^$n: unknown option '-q' \(see $n --help\)$"
  done
  "$HANDLE_RUN" --trace >out 2>err; rc=$?; expect_rc 2
  has "^handle-run: option '--trace' needs an argument \(see handle-run --help\)$"
  "$HANDLE_REPORT" --format >out 2>err; rc=$?; expect_rc 2
  has "^handle-report: option '--format' needs an argument \(see handle-report --help\)$"
  "$HANDLE_RUN" >out 2>err; rc=$?; expect_rc 2
  has "^handle-run: no PROGRAM given \(see handle-run --help\)$"
}

# SPEC section 3: in log_path, as in trace, %p is the pid and %% a '%'
# (the file is then PATH.<pid>); quoted with a backslash escape.
case_options_log_path_percent() {
  hr_leaker
  HANDLE_OPTIONS="trace= log_path='l \\'%%\\' %p'" LD_PRELOAD="$DEBUG_LIB" ./leaker >out 2>err; rc=$?
  expect_rc 23
  hasnt "detected handle leaks"
  f=$(ls "l "* 2>/dev/null)
  [ "$(echo "$f" | wc -l)" = 1 ] || fail "log files: $f"
  [[ "$f" =~ ^"l '%' "([0-9]+)\.([0-9]+)$ ]] || fail "log file named [$f]"
  [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] || fail "%p is not the pid: $f"
  has "detected handle leaks" "$f"
}
