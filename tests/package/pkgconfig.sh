#!/usr/bin/env bash
# pkgconfig.sh SRC LIBDIR - handle.pc is right for CMAKE_INSTALL_LIBDIR=LIBDIR
# (issue 13 item 3): a small build of the release library (no debug
# runtime, no tests) configured with prefix /usr and that libdir is
#  1. installed with --prefix to a temporary directory (the relocatable
#     default: prefix found from ${pcfiledir}), and
#  2. configured with HANDLE_PC_RELOCATABLE=OFF (as the Debian packages
#     are: prefix=/usr) and installed with DESTDIR, read with
#     PKG_CONFIG_SYSROOT_DIR;
# each time the README's example is compiled with `pkg-config --cflags
# --libs handle` and run with LD_LIBRARY_PATH, and must load that libdir's
# libhandle.so.1. Exit 0 = pass.
set -u
src=$1 libdir=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL [pkgconfig $libdir]: $*" >&2; exit 1; }

cmake -S "$src" -B "$tmp/b" -DHANDLE_BUILD_DEBUG=OFF -DBUILD_TESTING=OFF \
    -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_INSTALL_LIBDIR="$libdir" >"$tmp/log" 2>&1 \
    && cmake --build "$tmp/b" -j2 >>"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; fail "build"; }

# check ROOT PREFIX_EXPECTED [env...]: compile and run against ROOT/LIBDIR.
check() {
    local root=$1 want_prefix=$2 pc=$1/$2/$libdir/pkgconfig out flags
    shift 2
    [ -f "$pc/handle.pc" ] || fail "no $pc/handle.pc"
    flags=$(env PKG_CONFIG_PATH="$pc" PKG_CONFIG_LIBDIR="$pc" "$@" pkg-config --cflags --libs handle) \
        || fail "pkg-config failed"
    echo "pkg-config --cflags --libs handle: $flags"
    # shellcheck disable=SC2086
    cc -std=c11 -Wall -Werror -o "$tmp/example" "$src/tests/demo/readme_example.c" $flags \
        || { cat "$pc/handle.pc" >&2; fail "README example does not compile with: $flags"; }
    readelf -d "$tmp/example" | grep -qE 'R(UN)?PATH' && fail "example has an rpath"
    LD_LIBRARY_PATH="$root/$want_prefix/$libdir" ldd "$tmp/example" \
        | grep -q "libhandle.so.1 => $root/$want_prefix/$libdir/libhandle.so.1" \
        || fail "example does not load $root/$want_prefix/$libdir/libhandle.so.1"
    out=$(LD_LIBRARY_PATH="$root/$want_prefix/$libdir" "$tmp/example") || fail "example failed"
    [ "$out" = "sum=31 count=8 live=0 stale-lookup=refused" ] || fail "example printed: $out"
}

# 1. Relocatable, installed to another prefix.
cmake --install "$tmp/b" --prefix "$tmp/p" >>"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; fail "install"; }
check "$tmp" p
pfx=$(PKG_CONFIG_PATH="$tmp/p/$libdir/pkgconfig" pkg-config --variable=prefix handle)
[ "$(realpath -m "$pfx")" = "$tmp/p" ] || fail "prefix $pfx is not $tmp/p"

# 2. prefix=/usr, staged with DESTDIR.
cmake -S "$src" -B "$tmp/b" -DHANDLE_PC_RELOCATABLE=OFF >>"$tmp/log" 2>&1 || fail "reconfigure"
DESTDIR="$tmp/d" cmake --install "$tmp/b" >>"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; fail "DESTDIR install"; }
grep -qx 'prefix=/usr' "$tmp/d/usr/$libdir/pkgconfig/handle.pc" || fail "prefix is not /usr"
grep -qx "libdir=\${prefix}/$libdir" "$tmp/d/usr/$libdir/pkgconfig/handle.pc" || fail "libdir line"
check "$tmp/d" usr PKG_CONFIG_SYSROOT_DIR="$tmp/d"
echo "PASS [pkgconfig $libdir]"
