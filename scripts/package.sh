#!/usr/bin/env bash
# package.sh - builds the Debian packages of libhandle from this tree
# (debian/), checks them with lintian, installs them, uses them as a user
# would, and removes them again. Run by scripts/test.sh as root (CI); it
# needs root (or sudo) for apt-get.
#
#   1. copies the tree (without build directories) to a temporary
#      directory and runs `dpkg-buildpackage -us -uc -b` there, with
#      DEB_BUILD_OPTIONS=nocheck: scripts/test.sh has just run the whole
#      suite on the same sources, and running it again inside the package
#      build would add minutes to CI for nothing new (and noautodbgsym:
#      no -dbgsym packages, so ./*.deb is the four packages);
#   2. lintian on the .changes: no error and no warning (overrides, each
#      with its reason, are in debian/*.lintian-overrides);
#   3. apt-get install ./*.deb (libhandle1, libhandle-debug1, libhandle-dev,
#      handle-tools);
#   4. compiles the README's example (tests/demo/readme_example.c) with
#      `pkg-config --cflags --libs handle`, no rpath, and runs it against
#      /usr/lib/<multiarch>/libhandle.so.1; compiles the demo
#      (tests/demo/eventloop.c) the same way and runs it with
#      /usr/bin/handle-run (exit 23: its leak), then /usr/bin/handle-report
#      on its trace (exit 1); checks the man pages and completions are
#      where man and bash-completion look;
#   5. apt-get purges the four packages (also when a step failed).
# Exit status 0 when every step passed; 77 when not root and no sudo.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JOBS=${HANDLE_JOBS:-2}
PKGS=(libhandle1 libhandle-debug1 libhandle-dev handle-tools)
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "package.sh: needs root (or sudo) to install the packages; skipped" >&2
    exit 77
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/handle-package.XXXXXX")
installed=0
cleanup() {
    if [ "$installed" -eq 1 ]; then
        echo "package.sh: removing ${PKGS[*]}"
        DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get purge -y -q "${PKGS[@]}" >/dev/null || true
    fi
    # HANDLE_PACKAGE_KEEP=DIR: keep the packages and lintian's log there.
    if [ -n "${HANDLE_PACKAGE_KEEP:-}" ]; then
        mkdir -p "$HANDLE_PACKAGE_KEEP" && cp "$TMP"/*.deb "$TMP"/*.changes "$TMP"/*.log "$HANDLE_PACKAGE_KEEP"/ 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
step() { printf '\n--- package.sh: %s\n' "$*"; }
die() { echo "package.sh: $*" >&2; exit 1; }

# ---- 1. build --------------------------------------------------------------
version=$(dpkg-parsechangelog -l "$ROOT/debian/changelog" -S Version)
src=$TMP/libhandle-$version
step "dpkg-buildpackage -us -uc -b (libhandle $version, DEB_BUILD_OPTIONS=nocheck noautodbgsym)"
mkdir -p "$src"
tar -C "$ROOT" --exclude=./build --exclude='./obj-*' --exclude=./.git --exclude=./debian/.debhelper \
    -cf - . | tar -C "$src" -xf -
t0=$SECONDS
if ! (cd "$src" && DEB_BUILD_OPTIONS="nocheck noautodbgsym parallel=$JOBS" dpkg-buildpackage -us -uc -b) \
        >"$TMP/build.log" 2>&1; then
    tail -60 "$TMP/build.log" >&2
    die "dpkg-buildpackage failed (the end of its log is above)"
fi
echo "built in $((SECONDS - t0)) s:"
(cd "$TMP" && ls -1 ./*.deb)

# ---- 2. lintian ------------------------------------------------------------
step "lintian (no error, no warning)"
changes=$(ls "$TMP"/*.changes)
# --fail-on error,warning: an override (debian/*.lintian-overrides, with
# its reason) silences a tag; anything else fails this step.
t0=$SECONDS
rc=0
lintian --fail-on error,warning --display-level '>=warning' --show-overrides "$changes" \
    >"$TMP/lintian.log" 2>&1 || rc=$?
grep -v '^running with root privileges is not recommended!$' "$TMP/lintian.log" || true
[ "$rc" -eq 0 ] || die "lintian reports errors or warnings (above; exit $rc)"
echo "lintian: no error, no warning ($((SECONDS - t0)) s; $(grep -c '^O:' "$TMP/lintian.log" || true) override(s) shown above)"

# ---- 3. install --------------------------------------------------------------
step "apt-get install ./*.deb"
installed=1
(cd "$TMP" && DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -q \
    --no-install-recommends ./*.deb) >"$TMP/install.log" 2>&1 \
    || { cat "$TMP/install.log" >&2; die "apt-get install failed"; }
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Package} ${Version} ${Status}\n' "$p"
done

# ---- 4. use ----------------------------------------------------------------
step "the README's example with pkg-config, no rpath"
cd "$TMP"
flags=$(pkg-config --cflags --libs handle)
echo "pkg-config --cflags --libs handle: $flags"
# shellcheck disable=SC2086
cc -o example "$ROOT/tests/demo/readme_example.c" $flags
readelf -d example | grep -qE 'R(UN)?PATH' && die "example has an rpath"
lib=$(ldd ./example | awk '$1 == "libhandle.so.1" {print $3}')
case $lib in /usr/lib/*/libhandle.so.1 | /lib/*/libhandle.so.1) ;; *) die "example loads libhandle.so.1 from '$lib'" ;; esac
out=$(./example)
echo "./example: $out (libhandle.so.1 from $lib)"
[ "$out" = "sum=31 count=8 live=0 stale-lookup=refused" ] || die "unexpected output"

step "the demo under /usr/bin/handle-run, then /usr/bin/handle-report"
# shellcheck disable=SC2086
cc -O1 -g -o eventloop "$ROOT/tests/demo/eventloop.c" $flags
rc=0
/usr/bin/handle-run --trace "$TMP/demo.db" ./eventloop >demo.out 2>demo.err || rc=$?
[ "$rc" -eq 23 ] || { cat demo.err >&2; die "handle-run ./eventloop: exit $rc, want 23 (its leak)"; }
grep -q 'ERROR: HandleSanitizer: detected handle leaks' demo.err || { cat demo.err >&2; die "no leak report"; }
ldconfig -p | grep -q 'libhandle-debug.so.1 .*=> /.*/libhandle-debug.so.1$' \
    || die "libhandle-debug.so.1 is not in the linker cache"
rc=0
/usr/bin/handle-report "$TMP/demo.db" >report.txt 2>report.err || rc=$?
[ "$rc" -eq 1 ] || { cat report.err >&2; die "handle-report: exit $rc, want 1"; }
grep -q 'leaked' report.txt || die "handle-report printed no leak"
echo "handle-run ./eventloop: exit 23 with the leak report; handle-report: exit 1"
sed -n '/SUMMARY/p' report.txt

step "man pages and bash completions where man and bash-completion look"
# What the packages ship (a container's dpkg may be told not to unpack
# /usr/share/man: then man itself is not asked).
shipped=$(for d in "$TMP"/*.deb; do dpkg-deb -c "$d"; done | awk '{print $NF}')
for f in ./usr/share/man/man1/handle-report.1.gz ./usr/share/man/man1/handle-run.1.gz \
         ./usr/share/man/man3/libhandle.3.gz ./usr/share/man/man7/libhandle-debug.7.gz \
         ./usr/share/bash-completion/completions/handle-report \
         ./usr/share/bash-completion/completions/handle-run; do
    grep -qxF "$f" <<<"$shipped" || die "no package ships $f"
    if [ -e "${f#.}" ] && [[ $f == *.gz ]] && command -v man >/dev/null; then
        page=$(basename "$f" .gz)
        man -w "${page%.*}" >/dev/null || die "man cannot find ${page%.*}"
    fi
done
echo "4 man pages and 2 completions shipped"
pkg-config --exists handle-debug || die "no handle-debug.pc"
echo "package.sh: all steps passed"
