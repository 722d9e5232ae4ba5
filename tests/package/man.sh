#!/usr/bin/env bash
# man.sh SRC BUILD - the manual pages (issue 13 item 5): each page renders
# with `man -l` and with groff -man -ww without one warning, has its NAME
# and sections, libhandle(3) names the seven calls, libhandle-debug(7)
# every option of lib/debug/options.inc with its default, and
# handle-report(1) and handle-run(1) every long option their --help names.
# Exit 0 = pass, 77 = no man/groff here.
set -u
src=$1 build=$2
fail() { echo "FAIL [man_pages]: $*" >&2; exit 1; }
command -v groff >/dev/null && command -v man >/dev/null || { echo "no man or groff (scripts/deps.sh installs man-db)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

pages=("$src/man/handle-report.1" "$src/man/handle-run.1" "$src/man/libhandle.3" "$build/man/libhandle-debug.7")
for p in "${pages[@]}"; do
    [ -f "$p" ] || fail "no page $p"
    LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$p" 2>"$tmp/warn"
    [ -s "$tmp/warn" ] && { cat "$tmp/warn" >&2; fail "groff warns on $p"; }
    # man -l as a user runs it (man-db checks with its own warnings too).
    LC_ALL=C.UTF-8 MANWIDTH=80 MAN_KEEP_FORMATTING=0 man --warnings=w -l "$p" 2>"$tmp/warn" | col -b >"$tmp/$(basename "$p").txt"
    [ -s "$tmp/warn" ] && { cat "$tmp/warn" >&2; fail "man -l warns on $p"; }
    for s in NAME SYNOPSIS DESCRIPTION 'SEE ALSO'; do
        grep -q "^$s" "$tmp/$(basename "$p").txt" || fail "$p has no $s section"
    done
done
t=$tmp/libhandle.3.txt
for f in handle_new handle_new_tagged handle_value handle_value_tagged handle_delete handle_lookup handle_live_count; do
    grep -q "$f(" "$t" || fail "libhandle(3) does not describe $f"
done
# Every option of options.inc, with its default as the source has it.
t=$tmp/libhandle-debug.7.txt
n=0
while read -r name; do
    n=$((n + 1))
    grep -qE "^ +$name=" "$t" || fail "libhandle-debug(7) does not list $name"
done < <(grep -oE '^HANDLE_OPTION\([A-Z0-9]+, *[a-z_0-9]+' "$src/lib/debug/options.inc" | sed -E 's/.*, *//')
[ "$n" -ge 10 ] || fail "read only $n options from options.inc"
grep -qE '^ +exitcode=N \(default 23; 0 to 255\)' "$t" || fail "exitcode's default"
grep -qE '^ +trace=string \(default handle-trace\.%p\.db\)' "$t" || fail "trace's default"
# Every long option of the tools' --help is documented.
for tool in handle-report handle-run; do
    exe=$build/tools/$tool
    [ -x "$exe" ] || fail "no $exe"
    for o in $("$exe" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
        grep -q -- "$o" "$tmp/$tool.1.txt" || fail "$tool(1) does not document $o"
    done
done
grep -q 'debuginfod' "$tmp/handle-report.1.txt" || fail "handle-report(1) says nothing of debuginfod"
echo "PASS [man_pages]: ${#pages[@]} pages, $n options"
