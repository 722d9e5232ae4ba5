# cases/conv.sh - the conventions of sanitizer users (issue 13, items 10
# and 11): colours as ASan's (color= in the runtime, --color in
# handle-report, NO_COLOR, never into files unless asked), the one rule for
# a suppressions file, print_suppressions, LSan's option names. Sourced by
# run.sh; one function case_NAME per ctest case it_NAME.

ESC=$'\033'
# The codes of compiler-rt's SanitizerCommonDecorator, as grep -E patterns.
C_RED="${ESC}\\[1m${ESC}\\[31m"
C_BLUE="${ESC}\\[1m${ESC}\\[34m"
C_MAGENTA="${ESC}\\[1m${ESC}\\[35m"
C_END="${ESC}\\[1m${ESC}\\[0m"

# conv_build NAME: NAME.c (in the work dir) linked to libhandle.so.
conv_build() {
  $CC -std=gnu11 -O1 -g -I"$INCLUDE_DIR" "$1.c" "$RELEASE_LIB" \
    -Wl,-rpath,"$(dirname "$RELEASE_LIB")" -o "$1" || fail "cannot build $1"
}
# conv_tty FILE CMD ARGS...: CMD with stdin, stdout and stderr on a
# pseudo-terminal (script(1) of bsdutils); everything it wrote goes to
# FILE (terminal line ends: \r\n); sets $rc.
conv_tty() {
  local f=$1; shift
  command -v script >/dev/null || { echo "no script(1): cannot make a pseudo-terminal"; exit 77; }
  # No pseudo-terminal to be had (a container without /dev/pts): skipped.
  [ "$(SHELL=/bin/bash script -qec '[ -t 1 ] && [ -t 2 ] && echo tty' /dev/null </dev/null 2>/dev/null | tr -d '\r')" = tty ] \
    || { echo "script(1) gives no pseudo-terminal here"; exit 77; }
  local cmd; cmd=$(printf '%q ' "$@")
  SHELL=/bin/bash timeout -k 5 60 script -qec "$cmd" /dev/null </dev/null >"$f" 2>&1; rc=$?
}
# conv_leak: ./lk, a program that prints a line and leaks two handles
# tagged "session" (open_session) and one untagged (open_plain).
conv_leak() {
  cat >lk.c <<'C'
#include <handle/handle.h>
#include <stdio.h>
static int x;
__attribute__((noinline)) void open_session(void) { handle_new_tagged(&x, "session"); }
__attribute__((noinline)) void open_plain(void) { handle_new(&x); }
int main(void) { printf("program output\n"); for (volatile int i = 0; i < 2; i++) open_session(); open_plain(); return 0; }
C
  conv_build lk
}
# conv_dd: ./dd, a double delete (the panic's coloured lines).
conv_dd() {
  cat >dd.c <<'C'
#include <handle/handle.h>
static int x;
int main(void) { handle_t h = handle_new(&x); handle_delete(h); handle_delete(h); return 0; }
C
  conv_build dd
}

# Item 10: on a terminal, `auto` (the default) colours the reports as ASan
# does: the ERROR line bold red, each "Leak of" line bold blue (LSan's
# Leak()), the "by thread TN here:" lines bold magenta (ASan's
# Allocation()), each closed by Default() before its newline; frames, the
# SUMMARY and the program's own output stay plain.
case_color_auto_on_terminal() {
  conv_leak
  conv_tty tty.txt env HANDLE_OPTIONS=trace= NO_COLOR= LD_PRELOAD="$DEBUG_LIB" ./lk
  [ "$rc" = 23 ] || fail "exit status $rc: $(cat -v tty.txt)"
  has "^${C_RED}==[0-9]+==ERROR: HandleSanitizer: detected handle leaks${C_END}"$'\r'?$ tty.txt
  has "^${C_BLUE}Leak of 2 handle\\(s\\)( tagged \"session\")? created from:${C_END}"$'\r'?$ tty.txt
  has "^${C_BLUE}Leak of 1 handle\\(s\\) created from:${C_END}" tty.txt
  has "^    #0 0x[0-9a-f]+ in open_session " tty.txt
  has "^SUMMARY: HandleSanitizer: 3 handle\\(s\\) leaked in 2 site\\(s\\)\\."$'\r'?$ tty.txt
  has "^program output"$'\r'?$ tty.txt
  [ "$(grep -c "$ESC" tty.txt)" = 3 ] || fail "colour on other lines: $(grep "$ESC" tty.txt | cat -v)"
  conv_dd
  conv_tty tty2.txt env HANDLE_OPTIONS=trace=dd.db NO_COLOR= LD_PRELOAD="$DEBUG_LIB" ./dd
  [ "$rc" = 134 ] || fail "exit status $rc: $(cat -v tty2.txt)"
  has "^${C_RED}==[0-9]+==ERROR: HandleSanitizer: double-delete on handle 0x[0-9a-f]+ in thread T0${C_END}" tty2.txt
  has "^${C_MAGENTA}handle 0x[0-9a-f]+ was deleted by thread T0 here:${C_END}" tty2.txt
  has "^${C_MAGENTA}previously created by thread T0 here:${C_END}" tty2.txt
  has "^==[0-9]+==ABORTING" tty2.txt
  [ "$(grep -c "$ESC" tty2.txt)" = 3 ] || fail "colour on other lines: $(grep "$ESC" tty2.txt | cat -v)"
  # The trace keeps the report as text, without a colour.
  [ "$(sql dd.db "select count(*) from errors where message like '%'||char(27)||'%'")" = 0 ] \
    || fail "escape codes in the trace's errors.message"
  [ "$(sql dd.db "select count(*) from errors where message like '%double-delete%'")" = 1 ] \
    || fail "no message in the trace"
}

# Item 10: NO_COLOR set and not empty turns `auto` off (https://no-color.org);
# `always` still colours.
case_color_no_color() {
  conv_leak
  conv_tty tty.txt env HANDLE_OPTIONS=trace= NO_COLOR=1 LD_PRELOAD="$DEBUG_LIB" ./lk
  [ "$rc" = 23 ] || fail "exit status $rc"
  has "^==[0-9]+==ERROR: HandleSanitizer: detected handle leaks" tty.txt
  hasnt "$ESC" tty.txt
  conv_tty tty.txt env HANDLE_OPTIONS=trace=:color=always NO_COLOR=1 LD_PRELOAD="$DEBUG_LIB" ./lk
  has "^${C_RED}==[0-9]+==ERROR" tty.txt
}

# Item 10: `always` colours a file too (stderr redirected, log_path);
# `auto` never colours a file or a pipe, nor a log_path file on a terminal.
case_color_always_into_file() {
  conv_leak
  HANDLE_OPTIONS=trace=:color=always NO_COLOR= drun_conv ./lk
  [ "$rc" = 23 ] || fail "exit status $rc"
  has "^${C_RED}==[0-9]+==ERROR: HandleSanitizer: detected handle leaks${C_END}$" err
  has "^${C_BLUE}Leak of 1 handle\\(s\\) created from:${C_END}$" err
  HANDLE_OPTIONS="trace=:color=always:log_path=$PWD/log" drun_conv ./lk
  has "^${C_RED}==[0-9]+==ERROR" "log.$(ls log.* | head -1 | sed 's/^log\.//')"
  rm -f log.*
  # auto, the default: a pipe or a file gets no colour ...
  HANDLE_OPTIONS=trace= NO_COLOR= drun_conv ./lk
  has "^==[0-9]+==ERROR: HandleSanitizer: detected handle leaks$"; hasnt "$ESC"
  # ... nor a log file while the program runs on a terminal.
  conv_tty tty.txt env HANDLE_OPTIONS="trace=:log_path=$PWD/log" NO_COLOR= LD_PRELOAD="$DEBUG_LIB" ./lk
  [ "$rc" = 23 ] || fail "exit status $rc"
  set -- log.*; [ -f "$1" ] || fail "no log file"
  has "^==[0-9]+==ERROR: HandleSanitizer: detected handle leaks$" "$1"; hasnt "$ESC" "$1"
  # log_path=stderr on a terminal is the terminal: coloured.
  conv_tty tty.txt env HANDLE_OPTIONS="trace=:log_path=stderr" NO_COLOR= LD_PRELOAD="$DEBUG_LIB" ./lk
  has "^${C_RED}==[0-9]+==ERROR" tty.txt
}
drun_conv() { timeout -k 5 30 env LD_PRELOAD="$DEBUG_LIB" "$@" >out 2>err; rc=$?; }

# Item 10: color=never on a terminal: no colour; a bad value warns once and
# keeps `auto`.
case_color_never() {
  conv_leak
  conv_tty tty.txt env HANDLE_OPTIONS=trace=:color=never NO_COLOR= LD_PRELOAD="$DEBUG_LIB" ./lk
  [ "$rc" = 23 ] || fail "exit status $rc"
  has "^==[0-9]+==ERROR: HandleSanitizer: detected handle leaks" tty.txt
  hasnt "$ESC" tty.txt
  conv_tty tty.txt env HANDLE_OPTIONS=trace=:color=blue NO_COLOR= LD_PRELOAD="$DEBUG_LIB" ./lk
  has "WARNING: HandleSanitizer: invalid value 'blue' for option 'color' \\(expected one of auto\\|always\\|never\\)" tty.txt
  has "^${C_RED}==[0-9]+==ERROR" tty.txt
}

# Item 10: handle-report --color auto|always|never for text output, by the
# same rules: auto colours stdout on a terminal unless NO_COLOR, never a
# file of -o; always colours a file; other formats never.
case_color_handle_report() {
  [ -n "${HANDLE_REPORT:-}" ] || fail "handle-report not built (HANDLE_REPORT unset)"
  conv_leak
  HANDLE_OPTIONS=trace=t.db drun_conv ./lk
  [ "$rc" = 23 ] || fail "exit status $rc"
  conv_tty tty.txt env NO_COLOR= "$HANDLE_REPORT" t.db
  [ "$rc" = 1 ] || fail "handle-report exit $rc: $(cat -v tty.txt)"
  has "^${C_RED}==[0-9]+==ERROR: HandleSanitizer: detected handle leaks${C_END}" tty.txt
  has "^${C_BLUE}Leak of 2 handle\\(s\\)" tty.txt
  has "^Trace t.db: " tty.txt
  conv_tty tty.txt env NO_COLOR=yes "$HANDLE_REPORT" t.db
  [ "$rc" = 1 ] || fail "handle-report exit $rc"
  has "^==[0-9]+==ERROR: HandleSanitizer: detected handle leaks" tty.txt; hasnt "$ESC" tty.txt
  conv_tty tty.txt env NO_COLOR= "$HANDLE_REPORT" --color never t.db
  has "detected handle leaks" tty.txt; hasnt "$ESC" tty.txt
  conv_tty tty.txt env NO_COLOR= "$HANDLE_REPORT" -o rep.txt t.db
  [ "$rc" = 1 ] || fail "handle-report -o exit $rc"
  has "detected handle leaks" rep.txt; hasnt "$ESC" rep.txt
  "$HANDLE_REPORT" --color always t.db >rep2.txt; [ $? = 1 ] || fail "--color always exit"
  has "^${C_RED}==[0-9]+==ERROR" rep2.txt
  "$HANDLE_REPORT" --color always -o rep3.txt t.db; has "^${C_BLUE}Leak of" rep3.txt
  "$HANDLE_REPORT" t.db >rep4.txt; hasnt "$ESC" rep4.txt
  "$HANDLE_REPORT" --color always --format json t.db >rep.json; hasnt "$ESC" rep.json
  "$HANDLE_REPORT" --color sometimes t.db >out 2>err; rc=$?
  expect_rc 2; has "^handle-report: unknown --color 'sometimes' \\(auto, always or never\\)"
  # A recorded error's stored text gets the panic's colours.
  conv_dd
  HANDLE_OPTIONS=trace=dd.db drun_conv ./dd
  "$HANDLE_REPORT" --color always dd.db >rep5.txt
  has "^${C_RED}==[0-9]+==ERROR: HandleSanitizer: double-delete" rep5.txt
  has "^${C_MAGENTA}previously created by thread T0 here:${C_END}$" rep5.txt
}

# Item 10: scripts/demo.sh writes no escape code into a file or a pipe (its
# headings were always bold), and colours them on a terminal unless NO_COLOR.
case_demo_no_escape_codes_in_files() {
  local demo="$SRC/../../scripts/demo.sh"
  [ -f "$demo" ] || fail "no scripts/demo.sh"
  # Its heading helper, as the script defines it (between the markers).
  sed -n '/^# headings: begin/,/^# headings: end/p' "$demo" >say.sh
  [ -s say.sh ] || fail "no heading helper between '# headings: begin/end' in demo.sh"
  bash -c '. ./say.sh; say "Building"' >plain.txt
  has "^== Building$" plain.txt; hasnt "$ESC" plain.txt
  conv_tty tty.txt env NO_COLOR= bash -c '. ./say.sh; say "Building"'
  has "${ESC}\\[1m== Building${ESC}\\[0m" tty.txt
  conv_tty tty.txt env NO_COLOR=1 bash -c '. ./say.sh; say "Building"'
  has "^== Building" tty.txt; hasnt "$ESC" tty.txt
}

# Item 11: the suppressions are read once, at the runtime's first call: the
# exit report applies them even when the file is gone by then (it read the
# file again at exit, warned, and reported every leak as unsuppressed).
case_suppressions_read_once() {
  cat >gone.c <<'C'
#include <handle/handle.h>
#include <stdio.h>
#include <unistd.h>
static int x;
__attribute__((noinline)) void open_plain(void) { handle_new(&x); }
int main(int argc, char **argv) { (void)argc; open_plain(); unlink(argv[1]); puts("removed"); return 0; }
C
  conv_build gone
  printf 'leak:open_plain\n' >s.supp
  HANDLE_OPTIONS="trace=:suppressions=$PWD/s.supp" drun_conv ./gone "$PWD/s.supp"
  [ ! -e s.supp ] || fail "the program did not remove the file"
  # the leak suppressed (else 23 and a report), and not a word on stderr
  expect_rc 0; has '^removed$' out
  [ ! -s err ] || fail "stderr: $(cat err)"
}

# Item 11: print_suppressions (default 1) lists the suppressions that
# matched after the leak report, in LSan's layout (count, pattern), before
# the SUMMARY; =0 leaves it out; patterns that matched nothing are not
# listed. When every leak was suppressed there is no report, and so no
# table (SPEC section 4: nothing is printed without leaks).
case_print_suppressions() {
  conv_leak
  printf '# known\nleak:open_plain\nleak:no_such_function\n' >one.supp
  HANDLE_OPTIONS="trace=:suppressions=$PWD/one.supp" drun_conv ./lk
  expect_rc 23
  cat >want <<'W'
-----------------------------------------------------
Suppressions used:
  count template
      1 open_plain
-----------------------------------------------------

SUMMARY: HandleSanitizer: 2 handle(s) leaked in 1 site(s).
W
  tail -n 7 err | diff want - >&2 || fail "the table is not LSan's, before the SUMMARY"
  hasnt 'no_such_function'
  HANDLE_OPTIONS="trace=:print_suppressions=0:suppressions=$PWD/one.supp" drun_conv ./lk
  expect_rc 23; has 'detected handle leaks'; hasnt 'Suppressions used'
  printf 'leak:open_plain\nleak:^open_session$\n' >all.supp
  HANDLE_OPTIONS="trace=:suppressions=$PWD/all.supp" drun_conv ./lk
  # every leak suppressed: no report, so no table either (SPEC section 4)
  expect_rc 0; [ ! -s err ] || fail "output with every leak suppressed: $(cat err)"
  HANDLE_OPTIONS="trace=:print_suppressions=0:suppressions=$PWD/all.supp" drun_conv ./lk
  expect_rc 0; [ ! -s err ] || fail "output with print_suppressions=0: $(cat err)"
}

# Item 11: one rule for a suppressions file that cannot be used, at run
# time and in handle-report: missing, a directory, over 1 MiB, a malformed
# line. The runtime: one line naming the file (and line), the program's
# stdout flushed first, status 1; handle-report: one line, status 2.
case_suppressions_one_rule() {
  conv_leak
  HANDLE_OPTIONS=trace=t.db drun_conv ./lk
  printf 'leak:ok\n\nrace:foo\n' >bad.supp
  mkdir dir.supp
  head -c 1100000 /dev/zero | tr '\0' '#' >big.supp
  for f in missing.supp dir.supp big.supp bad.supp; do
    HANDLE_OPTIONS="trace=:suppressions=$PWD/$f" drun_conv ./lk
    expect_rc 1
    [ "$(wc -l <err)" = 1 ] || fail "$f: more than one line: $(cat err)"
    has "^==[0-9]+==ERROR: HandleSanitizer: suppressions: $PWD/$f"
    has '^program output$' out
    if [ -n "${HANDLE_REPORT:-}" ]; then
      "$HANDLE_REPORT" --suppressions "$PWD/$f" t.db >rout 2>rerr; r=$?
      [ "$r" = 2 ] || fail "handle-report exit $r on $f"
      [ "$(wc -l <rerr)" = 1 ] || fail "handle-report: $(cat rerr)"
      grep -q "$PWD/$f" rerr || fail "handle-report does not name $f: $(cat rerr)"
    fi
  done
  has "suppressions: $PWD/bad.supp:3: unsupported suppression type 'race'"
}

# Item 11: LSan's names are accepted for ours, with our defaults:
# malloc_context_size for max_frames, fast_unwind_on_malloc for fast_unwind.
case_lsan_option_names() {
  conv_leak
  HANDLE_OPTIONS=trace=:malloc_context_size=1 drun_conv ./lk
  expect_rc 23; hasnt 'WARNING'
  has '^    #0 0x[0-9a-f]+ in open_session'; hasnt '^    #1 '
  HANDLE_OPTIONS=trace=:fast_unwind_on_malloc=1 drun_conv ./lk
  expect_rc 23; hasnt 'WARNING'; has '^    #0 0x[0-9a-f]+ in open_session'
  HANDLE_OPTIONS=trace=:help=1:malloc_context_size=7:fast_unwind_on_malloc=1 drun_conv ./lk
  has '^	max_frames$'; has '\(Default: 32, Current Value: 7\)'
  has "LeakSanitizer's name malloc_context_size"
  has '^	color$'; has '^	print_suppressions$'; has '\(Default: auto, Current Value: auto\)'
  HANDLE_OPTIONS=trace=:malloc_context_size=0 drun_conv ./lk
  has "invalid value '0' for option 'max_frames' \\(expected an integer in 1\\.\\.256\\)"
}

# Items 8 and 9: log_path=stdout and log_path=stderr are those streams, as
# in the sanitizers (no file stdout.PID or stderr.PID); verbosity=1 lines
# are information (==PID==HandleSanitizer: ...), not WARNINGs.
case_log_path_streams_and_info_lines() {
  conv_leak
  HANDLE_OPTIONS="trace=:log_path=stdout" drun_conv ./lk
  expect_rc 23
  has "^==[0-9]+==ERROR: HandleSanitizer: detected handle leaks" out
  has '^program output$' out
  [ ! -s err ] || fail "stderr with log_path=stdout: $(cat err)"
  HANDLE_OPTIONS="trace=:log_path=stderr" drun_conv ./lk
  expect_rc 23
  has "^==[0-9]+==ERROR: HandleSanitizer: detected handle leaks" err
  hasnt "HandleSanitizer" out
  ls stdout* stderr* 2>/dev/null && fail "log_path made a file: $(ls stdout* stderr*)"
  HANDLE_OPTIONS="trace=$PWD/v.db:verbosity=1" drun_conv ./lk
  expect_rc 23
  has "^==[0-9]+==HandleSanitizer: tracing to $PWD/v\.db" err
  hasnt "WARNING" err
}
