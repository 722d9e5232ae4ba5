#!/usr/bin/env python3
"""validate_sarif.py LOG.sarif... - checks SARIF logs written by
handle-report against the SARIF 2.1.0 JSON schema vendored beside this
file (sarif-schema-2.1.0.json, see README.md here), with the "uri" and
"uri-reference" formats checked (RFC 3986), and against what GitHub code
scanning needs besides the schema to take a log as it is: every result has
exactly one location with an artifact URI, a partial fingerprint and a
rule with help text; a uriBaseId is defined in originalUriBaseIds, whose
URIs are absolute and end in "/", and a URI with a base id is relative.

Uses python3-jsonschema (Debian's; scripts/deps.sh installs it) and no
network. Prints one line per problem; exit 0 valid, 1 invalid, 2 usage.
"""
import json
import os
import re
import sys

try:
    import jsonschema
except ImportError:
    print("validate_sarif.py: no python3 jsonschema module (scripts/deps.sh installs "
          "python3-jsonschema)", file=sys.stderr)
    sys.exit(2)

# RFC 3986, appendix B's grammar made strict: the characters a URI may
# hold, a scheme when there is one, and well-formed percent escapes.
_URI_CHARS = re.compile(r"^(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


def _uri_reference(s):
    if not isinstance(s, str):
        return True
    if not _URI_CHARS.match(s):
        return False
    # A relative reference's first segment may not hold ':' (it would
    # read as a scheme).
    first = s.split("/", 1)[0]
    return not (":" in first and not _SCHEME.match(s))


def _uri(s):
    if not isinstance(s, str):
        return True
    return _uri_reference(s) and bool(_SCHEME.match(s))


def _checker():
    fc = jsonschema.FormatChecker()
    fc.checks("uri")(_uri)
    fc.checks("uri-reference")(_uri_reference)
    return fc


def _github_problems(log):
    """What code scanning needs beyond the schema."""
    out = []
    for ri, run in enumerate(log.get("runs", [])):
        bases = run.get("originalUriBaseIds", {})
        for name, loc in bases.items():
            u = loc.get("uri", "")
            if not (_SCHEME.match(u) and u.endswith("/")):
                out.append("runs[%d].originalUriBaseIds[%s]: %r is not an absolute URI "
                           "ending in /" % (ri, name, u))
        rules = run.get("tool", {}).get("driver", {}).get("rules", [])
        ids = set()
        for k, rule in enumerate(rules):
            ids.add(rule.get("id"))
            for what in ("shortDescription", "fullDescription", "help"):
                if not rule.get(what, {}).get("text"):
                    out.append("runs[%d].rules[%d] (%s): no %s.text" % (ri, k, rule.get("id"), what))

        def artifacts(node, path):
            if isinstance(node, dict):
                for key, val in node.items():
                    if key == "artifactLocation" and isinstance(val, dict):
                        yield path + "." + key, val
                    yield from artifacts(val, path + "." + key)
            elif isinstance(node, list):
                for i, val in enumerate(node):
                    yield from artifacts(val, "%s[%d]" % (path, i))

        for k, res in enumerate(run.get("results", [])):
            where = "runs[%d].results[%d]" % (ri, k)
            locs = res.get("locations") or []
            if len(locs) != 1:
                out.append("%s: %d locations, code scanning wants one" % (where, len(locs)))
            for loc in locs:
                uri = loc.get("physicalLocation", {}).get("artifactLocation", {}).get("uri")
                if not uri:
                    out.append("%s: a location without physicalLocation.artifactLocation.uri" % where)
            if not res.get("partialFingerprints"):
                out.append("%s: no partialFingerprints" % where)
            if res.get("ruleId") not in ids:
                out.append("%s: ruleId %r is not among the rules" % (where, res.get("ruleId")))
            for p, art in artifacts(res, where):
                base = art.get("uriBaseId")
                if base is None:
                    continue
                if base not in bases:
                    out.append("%s: uriBaseId %r is not in originalUriBaseIds" % (p, base))
                if _SCHEME.match(art.get("uri", "")) or art.get("uri", "").startswith("/"):
                    out.append("%s: uri %r has a base id but is not relative" % (p, art.get("uri")))
    return out


def main(argv):
    if len(argv) < 2:
        print("usage: validate_sarif.py LOG.sarif...", file=sys.stderr)
        return 2
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "sarif-schema-2.1.0.json"), encoding="utf-8") as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema, format_checker=_checker())
    bad = 0
    for path in argv[1:]:
        try:
            with open(path, encoding="utf-8") as f:
                log = json.load(f)
        except (OSError, ValueError) as e:
            print("%s: not JSON: %s" % (path, e))
            bad += 1
            continue
        problems = ["%s: %s" % ("/".join(str(x) for x in e.absolute_path) or "(top)", e.message)
                    for e in validator.iter_errors(log)]
        problems += _github_problems(log)
        for p in problems[:40]:
            print("%s: %s" % (path, p))
        if problems:
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
