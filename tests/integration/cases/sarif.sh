# cases/sarif.sh - handle-report's SARIF as GitHub code scanning takes it,
# and its HTML page (issue 13 items 13 and 14). Each case builds a small
# program in its temp dir (the current directory: the default source
# root), runs it under the debug library and reports on its trace. SARIF
# is validated against the SARIF 2.1.0 schema vendored in
# tests/integration/sarif/ (with python3-jsonschema, no network); pages
# are loaded in Debian's chromium, headless, as the report tests do.

# sarif_app DIR/NAME.c: writes the test program. It leaks "conn" handles
# from make_conn, called by open_conn from two lines of main (one function
# and line, two stacks), and one untagged from open_plain; with "double"
# it then deletes a handle twice (and is aborted).
sarif_app() {
  mkdir -p "$(dirname "$1")"
  cat >"$1" <<'EOF'
#include <handle/handle.h>
#include <stdio.h>
#include <string.h>

static int objs[8];

__attribute__((noinline)) static handle_t make_conn(int i)
{
    return handle_new_tagged(&objs[i], "conn"); /* LINE_MAKE */
}

__attribute__((noinline)) static handle_t open_conn(int i)
{
    handle_t h = make_conn(i); /* LINE_OPEN */
    __asm__ volatile("" ::: "memory");
    return h;
}

__attribute__((noinline)) static handle_t open_plain(void)
{
    return handle_new(&objs[7]); /* LINE_PLAIN */
}

__attribute__((noinline)) static void drop(handle_t h)
{
    handle_delete(h); /* LINE_DROP */
}

int main(int argc, char **argv)
{
    handle_t a = open_conn(0); /* LINE_MAIN_A */
    handle_t b = open_conn(1); /* LINE_MAIN_B */
    handle_t c = open_conn(2); /* LINE_MAIN_B2 */
    handle_t p = open_plain();
    (void)a, (void)b, (void)c, (void)p;
    if (argc > 1 && strcmp(argv[1], "double") == 0) {
        handle_t d = handle_new(&objs[5]);
        drop(d);
        drop(d);
    }
    puts("done");
    return 0;
}
EOF
}

# sarif_build SRC OUT [CFLAGS...]: links against the release library.
sarif_build() {
  local src=$1 out=$2
  shift 2
  "$CC" -O1 "$@" -I"$INCLUDE_DIR" "$src" "$RELEASE_LIB" -Wl,-rpath,"$(dirname "$RELEASE_LIB")" \
    -o "$out" || fail "cannot build $src"
}

# sarif_run TRACE PROG ARGS...: runs PROG under the debug library, writing TRACE.
sarif_run() {
  local t=$1
  shift
  HANDLE_OPTIONS="trace=$t" LD_PRELOAD="$DEBUG_LIB" "$@" >out 2>err
  rc=$?
  [ -f "$t" ] || fail "no trace $t from $*"
}

# rep ARGS...: handle-report; stdout->out, stderr->rerr, status->rc.
sarif_rep() { "$HANDLE_REPORT" "$@" >out 2>rerr; rc=$?; }

# sarif_validate LOG...: the SARIF 2.1.0 schema and code scanning's needs.
. "$SRC/sarif/validate.sh"

# q FILE QUERY: a query over d(j), j the JSON text of FILE.
sarif_q() { sqlite3 :memory: "WITH d(j) AS (SELECT CAST(readfile('$1') AS TEXT)) $2"; }
sarif_check() { local v; v=$(sarif_q "$1" "$2" 2>&1); [ "$v" = 1 ] || fail "check failed ($v): $2"; }

# Every result has one location with an artifact URI, and a fingerprint.
sarif_every_result_placed() {
  sarif_check "$1" "SELECT count(*)>0 AND count(*)=sum(json_array_length(r.value,'\$.locations')=1
                 AND json_type(r.value,'\$.locations[0].physicalLocation.artifactLocation.uri')='text'
                 AND json_type(r.value,'\$.partialFingerprints')='object')
                 FROM d, json_each(j,'\$.runs[0].results') r"
}

# An app with debug info, leaks and a double delete, in "src dir" (a
# space in the path); its leaks are placed in it, relative to %SRCROOT%.
case_sarif_source_root() {
  sarif_app "src dir/app.c"
  sarif_build "$PWD/src dir/app.c" app -g
  local lm lp ld
  lm=$(grep -n LINE_MAKE "src dir/app.c" | cut -d: -f1)
  lp=$(grep -n LINE_PLAIN "src dir/app.c" | cut -d: -f1)
  ld=$(grep -n LINE_DROP "src dir/app.c" | cut -d: -f1)
  sarif_run t.db ./app double
  expect_rc 134
  sarif_rep -f sarif t.db; expect_rc 1; mv out t.sarif
  sarif_validate t.sarif
  sarif_every_result_placed t.sarif
  sarif_check t.sarif "SELECT json_extract(j,'\$.runs[0].originalUriBaseIds.\"%SRCROOT%\".uri')='file://$PWD/' FROM d"
  # every leak and the error at app.c, relative to the root, with its line
  # (the compiler was given an absolute name, as CMake gives it)
  sarif_check t.sarif "SELECT count(*)=5 AND sum(json_extract(r.value,'\$.locations[0].physicalLocation.artifactLocation.uri')='src%20dir/app.c'
                 AND json_extract(r.value,'\$.locations[0].physicalLocation.artifactLocation.uriBaseId')='%SRCROOT%')=5
                 FROM d, json_each(j,'\$.runs[0].results') r"
  sarif_check t.sarif "SELECT group_concat(json_extract(r.value,'\$.locations[0].physicalLocation.region.startLine'), ',')='$lm,$lm,$lm,$lp,$ld'
                 FROM d, json_each(j,'\$.runs[0].results') r"
  sarif_check t.sarif "SELECT json_extract(j,'\$.runs[0].results[4].ruleId')='double-delete'
                 AND json_extract(j,'\$.runs[0].results[4].locations[0].logicalLocations[0].name')='drop' FROM d"
  # frames under the root are relative in the stacks too; glibc's are not
  sarif_check t.sarif "SELECT count(*)>0 FROM d, json_tree(j) t WHERE t.key='artifactLocation'
                 AND json_extract(t.value,'\$.uri') LIKE '%libc%' AND json_extract(t.value,'\$.uriBaseId') IS NULL"
  # the rules: help text for each
  sarif_check t.sarif "SELECT count(*)=6 AND sum(length(json_extract(x.value,'\$.help.text'))>100
                 AND length(json_extract(x.value,'\$.fullDescription.text'))>100)=6
                 FROM d, json_each(j,'\$.runs[0].tool.driver.rules') x"
  # --source-root "src dir" (relative to the current directory)
  sarif_rep -f sarif --source-root "src dir" t.db; expect_rc 1; mv out s.sarif
  sarif_validate s.sarif
  sarif_check s.sarif "SELECT json_extract(j,'\$.runs[0].results[0].locations[0].physicalLocation.artifactLocation.uri')='app.c'
                 AND json_extract(j,'\$.runs[0].originalUriBaseIds.\"%SRCROOT%\".uri')='file://$PWD/src%20dir/' FROM d"
  # a root that holds none of it: the first frame with a source file, as an absolute URI
  mkdir elsewhere
  sarif_rep -f sarif --source-root elsewhere t.db; expect_rc 1; mv out e.sarif
  sarif_validate e.sarif
  sarif_every_result_placed e.sarif
  sarif_check e.sarif "SELECT json_extract(j,'\$.runs[0].results[0].locations[0].physicalLocation.artifactLocation.uri')='file://$PWD/src%20dir/app.c'
                 AND json_extract(j,'\$.runs[0].results[0].locations[0].physicalLocation.artifactLocation.uriBaseId') IS NULL FROM d"
  # through a symbolic link to the root
  ln -s "$PWD" link
  sarif_rep -f sarif --source-root link t.db; expect_rc 1; mv out l.sarif
  sarif_check l.sarif "SELECT json_extract(j,'\$.runs[0].results[0].locations[0].physicalLocation.artifactLocation.uri')='src%20dir/app.c' FROM d"
}

# A program without debug info: placed at the program (relative to the
# root), not at glibc's libc_start_call_main.h, which was the first frame
# with a source line.
case_sarif_no_debug_info() {
  sarif_app app.c
  sarif_build app.c app_nodbg
  sarif_run t.db ./app_nodbg double
  expect_rc 134
  sarif_rep -f sarif t.db; expect_rc 1; mv out t.sarif
  sarif_validate t.sarif
  sarif_every_result_placed t.sarif
  ! grep -q 'libc_start_call_main' <(sarif_q t.sarif "SELECT l.value || json_extract(r.value,'\$.message.text') FROM d, json_each(j,'\$.runs[0].results') r, json_each(r.value,'\$.locations') l") ||
    fail "a result placed in glibc"
  sarif_check t.sarif "SELECT count(*)=5 AND sum(json_extract(r.value,'\$.locations[0].physicalLocation.artifactLocation.uri')='app_nodbg'
                 AND json_extract(r.value,'\$.locations[0].physicalLocation.artifactLocation.uriBaseId')='%SRCROOT%'
                 AND json_type(r.value,'\$.locations[0].physicalLocation.address.relativeAddress')='integer')=5
                 FROM d, json_each(j,'\$.runs[0].results') r"
  sarif_check t.sarif "SELECT json_extract(j,'\$.runs[0].results[0].locations[0].logicalLocations[0].name')='make_conn' FROM d"
  # the program outside the root: an absolute file URI, still a location
  mkdir elsewhere
  sarif_rep -f sarif --source-root elsewhere t.db; expect_rc 1; mv out e.sarif
  sarif_validate e.sarif
  sarif_every_result_placed e.sarif
  sarif_check e.sarif "SELECT json_extract(j,'\$.runs[0].results[0].locations[0].physicalLocation.artifactLocation.uri')='file://$PWD/app_nodbg' FROM d"
}

# Fingerprints: on every result (errors too), by the baseline's rule, so
# the same sites keep them after a rebuild that moves every line and
# address; distinct for the three sites.
case_sarif_fingerprints_survive_rebuild() {
  sarif_app v1/app.c
  sarif_build "$PWD/v1/app.c" app1 -g
  sarif_run t1.db ./app1 double
  mkdir v2
  { printf '/* moved */\n\n\n\n\nstatic int pad(int x) { return x * 3 + 1; }\nint (*volatile keep)(int) = pad;\n'; cat v1/app.c; } >v2/app.c
  sarif_build "$PWD/v2/app.c" app2 -g
  sarif_run t2.db ./app2 double
  sarif_rep -f sarif t1.db; expect_rc 1; mv out 1.sarif
  sarif_rep -f sarif t2.db; expect_rc 1; mv out 2.sarif
  sarif_validate 1.sarif 2.sarif
  sarif_every_result_placed 1.sarif
  fp="SELECT json_extract(r.value,'\$.ruleId') || ' ' || (SELECT group_concat(f.key || '=' || f.value) FROM json_each(r.value,'\$.partialFingerprints') f)
      FROM d, json_each(j,'\$.runs[0].results') r ORDER BY 1"
  sarif_q 1.sarif "$fp" >fp1; sarif_q 2.sarif "$fp" >fp2
  # make_conn from three lines of main (one key, told apart by their
  # order), open_plain, the double delete
  [ "$(wc -l <fp1)" = 5 ] || fail "expected 5 results: $(cat fp1)"
  [ "$(sort -u fp1 | wc -l)" = 5 ] || fail "fingerprints are not distinct: $(cat fp1)"
  grep -q '^double-delete .' fp1 || fail "the error has no fingerprint: $(cat fp1)"
  diff fp1 fp2 >&2 || fail "fingerprints changed with a rebuild"
  # the lines did move
  ! cmp -s <(sarif_q 1.sarif "SELECT json_extract(j,'\$.runs[0].results[0].locations[0].physicalLocation.region.startLine') FROM d") \
           <(sarif_q 2.sarif "SELECT json_extract(j,'\$.runs[0].results[0].locations[0].physicalLocation.region.startLine') FROM d") ||
    fail "the rebuild did not move the lines"
}

# A clean run, several traces, and odd strings: still valid SARIF.
case_sarif_schema_valid() {
  sarif_app "we'ird %dir/app.c"
  sarif_build "we'ird %dir/app.c" app -g   # a relative name in DWARF, as make gives it
  HANDLE_OPTIONS=trace=c.db LD_PRELOAD="$DEBUG_LIB" "$PROGS/leak" clean >out 2>err || fail "clean run failed"
  sarif_rep -f sarif c.db; expect_rc 0; mv out c.sarif
  sarif_validate c.sarif
  sarif_check c.sarif "SELECT json_array_length(j,'\$.runs[0].results')=0 FROM d"
  sarif_run a.db ./app
  sarif_run b.db ./app double
  sarif_rep -f sarif a.db b.db; expect_rc 1; mv out m.sarif
  sarif_validate m.sarif
  sarif_every_result_placed m.sarif
  sarif_check m.sarif "SELECT json_extract(j,'\$.runs[0].results[0].locations[0].physicalLocation.artifactLocation.uri')='we%27ird%20%25dir/app.c' FROM d"
  # the validator does catch what GitHub rejects
  sed 's/"uriBaseId": "%SRCROOT%"/"uriBaseId": "%NOWHERE%"/' m.sarif >bad1.sarif
  ( sarif_validate bad1.sarif ) >/dev/null 2>&1 && fail "the validator took an undefined uriBaseId"
  sed 's/"startLine": [0-9]*/"startLine": 0/' m.sarif >bad2.sarif
  ( sarif_validate bad2.sarif ) >/dev/null 2>&1 && fail "the validator took startLine 0"
  sarif_q m.sarif "SELECT json_remove(j,'\$.runs[0].results[0].locations')" >bad3.sarif
  ( sarif_validate bad3.sarif ) >/dev/null 2>&1 && fail "the validator took a result without a location"
  true
}

# --source-root must name a directory: exit 2 and one line.
case_sarif_bad_source_root() {
  HANDLE_OPTIONS=trace=c.db LD_PRELOAD="$DEBUG_LIB" "$PROGS/leak" clean >out 2>err || fail "clean run failed"
  sarif_rep -f sarif --source-root missing c.db; expect_rc 2
  [ "$(wc -l <rerr)" = 1 ] && grep -q '^handle-report: missing: No such file or directory$' rerr || fail "stderr: $(cat rerr)"
  [ ! -s out ] || fail "a report despite the error"
  sarif_rep -f sarif --source-root c.db c.db; expect_rc 2
  grep -q '^handle-report: c.db: not a directory$' rerr || fail "stderr: $(cat rerr)"
  sarif_rep --help; expect_rc 0
  grep -q -- '--source-root DIR' out || fail "--help does not name --source-root"
}

# ---- HTML ---------------------------------------------------------------

# sarif_dom PAGE: chromium loads the page from file:// and dumps the DOM
# after its script ran (dom.html).
sarif_dom() {
  command -v chromium >/dev/null || fail "no chromium (scripts/deps.sh installs it)"
  local prof; prof=$(mktemp -d "$PWD/chromium.XXXXXX")
  timeout 100 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-crash-reporter --host-resolver-rules='MAP * ~NOTFOUND' \
    --user-data-dir="$prof" --dump-dom "file://$(realpath "$1")" >dom.html 2>chromium.err ||
    fail "chromium failed on $1: $(tail -3 chromium.err)"
  rm -rf "$prof"
  grep -q 'selftest ok' dom.html || fail "the page reports problems: $(grep -o 'selftest [^<]*' dom.html | head -3)"
}

# sarif_dom_text WHAT: parts of dom.html as text, one per line: legend
# (the timeline's legend items), verdict, errors (the errors section's
# introduction), ran (the header's "ran" fact), cells (every table cell).
sarif_dom_text() {
  python3 - "$1" <<'EOF'
import html.parser, sys
what = sys.argv[1]
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.out, self.cur, self.dt = [], [], None, None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs); cls = (a.get('class') or '').split()
        parent = self.stack[-1] if self.stack else ('', [], '')
        ctx = parent[2]
        if what == 'legend' and tag == 'span' and 'item' in cls and 'legend' in parent[1]:
            ctx = 'grab'
        elif what == 'verdict' and a.get('id') == 'verdict':
            ctx = 'grab'
        elif what == 'errors' and tag == 'p' and 'sub' in cls and self.section == 'errors':
            ctx = 'grab'
        elif what == 'cells' and tag == 'td':
            ctx = 'grab'
        elif what == 'ran' and tag == 'dd' and self.dt == 'ran':
            ctx = 'grab'
        if tag == 'section':
            self.section = a.get('id')
        if ctx == 'grab' and parent[2] != 'grab':
            self.out.append('')
        if tag not in ('br', 'img', 'meta', 'link', 'input'):
            self.stack.append((tag, cls, ctx))
        if tag == 'dt':
            self.dt = ''
    section = None
    def handle_endtag(self, tag):
        while self.stack:
            t = self.stack.pop()
            if t[0] == tag:
                break
        if tag == 'dd':
            self.dt = None
    def handle_data(self, d):
        if self.stack and self.stack[-1][0] == 'dt' and self.dt is not None:
            self.dt += d
        if self.stack and self.stack[-1][2] == 'grab':
            self.out[-1] += d
p = P()
p.feed(open('dom.html', encoding='utf-8').read())
for o in p.out:
    print(' '.join(o.split()))
EOF
}

# Two leak sites with one function and line (make_conn, called by
# open_conn) and different stacks (main calls open_conn from two lines):
# their labels in the timeline's legend differ.
case_html_distinct_site_labels() {
  sarif_app app.c
  sarif_build app.c app -g -O0
  sarif_run t.db ./app
  sarif_rep -f html t.db; expect_rc 1; mv out t.html
  sarif_dom t.html
  sarif_dom_text legend >legend
  [ "$(grep -c make_conn legend)" -ge 2 ] || fail "the legend does not show both make_conn sites: $(cat legend)"
  [ "$(sort legend | uniq -d | wc -l)" = 0 ] || fail "identical legend labels: $(sort legend | uniq -d)"
}

# A process that died of a misuse: the headline is the error, not the
# leaks; the errors section does not say a misuse may not abort; the
# durations are printed as the text report prints them.
case_html_misuse_headline() {
  sarif_app app.c
  sarif_build app.c app -g
  sarif_run t.db ./app double
  expect_rc 134
  sarif_rep -f html t.db; expect_rc 1; mv out t.html
  sarif_dom t.html
  sarif_dom_text verdict >verdict
  head -1 verdict | grep -q '^double-delete on handle 0x[0-9a-f]*' || fail "the headline is not the error: $(cat verdict)"
  grep -q 'aborted' verdict || fail "the headline does not say the program was aborted: $(cat verdict)"
  sarif_dom_text errors >errors
  grep -q 'always aborts' errors || fail "errors section: $(cat errors)"
  ! grep -q 'unless it was configured otherwise' errors || fail "errors section: $(cat errors)"
  # "ran" as the text report's header says it
  sarif_rep t.db; expect_rc 1
  want=$(sed -nE 's/^Trace .*, ran ([0-9.]+ s),.*/\1/p' out)
  [ -n "$want" ] || fail "no 'ran' in the text report"
  sarif_dom_text ran >ran
  [ "$(cat ran)" = "$want" ] || fail "the page says ran '$(cat ran)', the text report '$want'"
}

# Lifetimes with the text report's precision (--stats: p50/p99/max).
case_html_duration_precision() {
  cat >life.c <<'EOF'
#include <handle/handle.h>
#include <time.h>
static int x;
int main(void)
{
    struct timespec ts = {0, 20000000}; /* 20 ms: "20.xx ms", which three digits would cut */
    for (int i = 0; i < 3; i++) {
        handle_t h = handle_new(&x);
        nanosleep(&ts, 0);
        handle_delete(h);
    }
    return 0;
}
EOF
  sarif_build life.c life -g
  sarif_run t.db ./life
  sarif_rep --stats t.db; expect_rc 0
  p50=$(sed -nE 's/^  lifetime p50 ([0-9.]+ (ns|us|ms|s)), .*/\1/p' out | head -1)
  [ -n "$p50" ] || fail "no duration in the --stats text: $(cat out)"
  sarif_rep -f html t.db; expect_rc 0; mv out t.html
  sarif_dom t.html
  sarif_dom_text cells >cells
  grep -qxF "$p50" cells || fail "the page has no cell '$p50' (text report); its cells: $(tr '\n' '|' <cells)"
}
