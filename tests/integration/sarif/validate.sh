# validate.sh - sourced by tests/integration/run.sh (cases/sarif.sh) and
# tests/integration/report/run.sh: sarif_validate LOG... checks each SARIF
# log against the SARIF 2.1.0 schema and what GitHub code scanning needs
# (validate_sarif.py beside this file, python3-jsonschema); it calls the
# sourcing harness's fail on a finding.
SARIF_VALIDATOR=$(dirname "${BASH_SOURCE[0]}")/validate_sarif.py
sarif_validate() {
  local py
  for py in /usr/bin/python3 python3; do
    command -v "$py" >/dev/null && "$py" -c 'import jsonschema' 2>/dev/null && break
    py=
  done
  [ -n "$py" ] || fail "no python3 with jsonschema (scripts/deps.sh installs python3-jsonschema)"
  "$py" "$SARIF_VALIDATOR" "$@" >valid.out 2>&1 || fail "invalid SARIF: $(head -20 valid.out)"
}
