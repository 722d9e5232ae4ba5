#!/usr/bin/env bash
# deps.sh - installs the Debian packages that building and testing
# libhandle needs, and only those that are missing.
#
# On a fresh Debian 12 as root it runs `apt-get update` and
# `apt-get install -y --no-install-recommends` for the missing packages;
# when nothing is missing it touches nothing (no update, no network). As a
# non-root user it uses sudo if there is one; without sudo it prints what is
# missing and exits 1. Add a package by adding it to HANDLE_DEB_PACKAGES.
set -euo pipefail

# Why each (the README lists them too):
#   build-essential cmake pkg-config   the build, and the pkg-config tests
#   clang libclang-rt-dev              the clang -Werror build; libFuzzer
#   libcmocka-dev                      the unit tests
#   libunwind-dev libdw-dev libelf-dev the debug runtime's unwinder and the
#                                      symbolizer (loaded at run time)
#   libsqlite3-dev                     the trace (linked statically)
#   sqlite3                            tests read traces with its shell
#   chromium                           the HTML report's test and screenshot
#   xz-utils                           the fuzzers' compressed corpora
#   python3                            the ctypes, faulthandler and
#                                      debuginfod tests
#   python3-jsonschema                 the SARIF checked against its 2.1.0 schema
#   debhelper dpkg-dev lintian         scripts/package.sh: the Debian packages
#   man-db                             the man page test (man -l, groff)
HANDLE_DEB_PACKAGES=(
    build-essential cmake pkg-config clang libclang-rt-dev
    libcmocka-dev
    libunwind-dev libdw-dev libelf-dev
    libsqlite3-dev sqlite3 chromium xz-utils
    python3 python3-jsonschema
    debhelper dpkg-dev lintian man-db
)

installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps.sh: not a Debian system (no dpkg-query); install by hand: ${HANDLE_DEB_PACKAGES[*]}" >&2
    exit 1
fi

missing=()
for p in "${HANDLE_DEB_PACKAGES[@]}"; do
    installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "deps.sh: all ${#HANDLE_DEB_PACKAGES[@]} packages present"
    exit 0
fi

echo "deps.sh: missing: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo -n)
else
    echo "deps.sh: not root and no sudo; as root run:" >&2
    echo "    apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"

still=()
for p in "${missing[@]}"; do
    installed "$p" || still+=("$p")
done
if [ ${#still[@]} -ne 0 ]; then
    echo "deps.sh: still missing after apt-get: ${still[*]}" >&2
    exit 1
fi
echo "deps.sh: installed ${missing[*]}"
