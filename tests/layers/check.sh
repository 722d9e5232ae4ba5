#!/usr/bin/env bash
# check.sh SRC_ROOT - the layers of lib/debug (docs/ARCHITECTURE.md) are
# kept: every #include "..." between files of lib/debug goes to the same or
# a lower layer, and the files form no include cycle (a file and its header
# count as one node). A file of lib/debug that no layer names is a failure
# too, so a new file gets a place here and in ARCHITECTURE.md. Exit 0 =
# pass.
set -u
root=${1:?usage: check.sh SRC_ROOT}
cd "$root/lib/debug" || exit 1

# Lowest first. Patterns are shell globs on file names.
layer_of() {
  case $1 in
  rt.[ch] | options.[ch] | options.inc | unwind.[ch] | loader.[ch] | fork_phase.h | forward.[ch] | futex.h) echo 0 ;;
  model.h | clock.c | depot.c | modules.c | threads.c | side.[ch] | stack.[ch]) echo 1 ;;
  trace*.[ch]) echo 2 ;;
  runtime.h | finding.[ch] | panic.c | leakreport.c) echo 3 ;;
  bigstack.[ch]) echo 0 ;;
  lifecycle.[ch]) echo 4 ;;
  debug.c) echo 5 ;;
  *) echo none ;;
  esac
}

fail=0
edges=$(mktemp); trap 'rm -f "$edges"' EXIT
for f in *.c *.h *.inc; do
  [ -f "$f" ] || continue
  lf=$(layer_of "$f")
  if [ "$lf" = none ]; then echo "FAIL: $f has no layer (tests/layers/check.sh, docs/ARCHITECTURE.md)"; fail=1; continue; fi
  for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"/]*\)".*/\1/p' "$f"); do
    [ -f "$inc" ] || continue
    li=$(layer_of "$inc")
    if [ "$li" = none ] || [ "$li" -gt "$lf" ]; then
      echo "FAIL: $f (layer $lf) includes $inc (layer $li): calls go downward only"; fail=1
    fi
    a=${f%.*} b=${inc%.*}
    [ "$a" != "$b" ] && echo "$a $b" >>"$edges"
  done
done
# Cycles among nodes (tsort reports them).
if ! sort -u "$edges" | tsort >/dev/null 2>tsort.err.$$; then
  echo "FAIL: include cycle in lib/debug:"; cat tsort.err.$$; fail=1
fi
rm -f tsort.err.$$
[ $fail = 0 ] && echo "PASS: lib/debug layers"
exit $fail
