#!/usr/bin/env bash
# completion.sh SRC BUILD - the bash completions (issue 13 item 6): sourced
# in bash, `complete -p` shows them, and completing options, --format
# values, trace files and handle-run's own options gives what it should.
# Exit 0 = pass.
set -u
src=$1 build=$2
fail() { echo "FAIL [bash_completion]: $*" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" && ln -s "$build/tools/handle-report" "$build/tools/handle-run" "$tmp/bin/"
cd "$tmp" && touch a.db b.db notes.txt && mkdir sub

# complete_words LINE: what the completion function offers for LINE
# (cursor at its end), one per line, sorted.
out=$(PATH="$tmp/bin:$PATH" bash --norc --noprofile -c '
  . "$1/completions/handle-report" && . "$1/completions/handle-run" || exit 3
  complete -p handle-report handle-run || exit 4
  words() {
      COMP_LINE=$1; COMP_POINT=${#1}
      read -ra COMP_WORDS <<<"$1"
      [[ $1 == *" " ]] && COMP_WORDS+=("")
      COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
      COMPREPLY=()
      local f; f=$(complete -p "${COMP_WORDS[0]}" | sed -E "s/.*-F ([^ ]+) .*/\1/")
      "$f" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
      echo "[$1] $(printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " ")"
  }
  words "handle-report --f"
  words "handle-report --format "
  words "handle-report --format j"
  words "handle-report --debugi"
  words "handle-report "
  words "handle-run --t"
  words "handle-run --trace x.db handle-rep"
' bash "$src") || fail "bash exited $?: $out"
echo "$out"
want() { grep -qxF -- "$1" <<<"$out" || fail "want line: $1"; }
want 'complete -F _handle_report handle-report'
want 'complete -F _handle_run handle-run'
want '[handle-report --f] --format '
want '[handle-report --format ] folded html json sarif text '
want '[handle-report --format j] json '
want '[handle-report --debugi] --debuginfo-path --debuginfod '
want '[handle-report ] a.db b.db bin sub '
want '[handle-run --t] --trace '
want '[handle-run --trace x.db handle-rep] handle-report '
echo "PASS [bash_completion]"
