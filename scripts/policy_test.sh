#!/usr/bin/env bash
# Policy gates with the pinned OPA: format, strict compile, unit tests with coverage >= 95%.
set -euo pipefail
cd "$(dirname "$0")/.."
OPA=.tools/bin/opa
MIN_COVERAGE=95
echo "[policy] opa fmt --fail"; $OPA fmt --fail --list policies/ >/dev/null || { $OPA fmt --diff policies/; exit 1; }
echo "[policy] opa check --strict"; $OPA check --strict policies/
echo "[policy] opa test --coverage"
cov_json="$(mktemp)"
$OPA test policies/ --coverage --format=json > "$cov_json" || { $OPA test policies/ -v; exit 1; }
$OPA test policies/ >/dev/null
.venv/bin/python - "$cov_json" "$MIN_COVERAGE" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
coverage = report.get("coverage", 0.0)
print(f"[policy] coverage {coverage:.2f}% (minimum {sys.argv[2]}%)")
if coverage < float(sys.argv[2]):
    for name, f in sorted(report.get("files", {}).items()):
        for gap in f.get("not_covered", []):
            print(f"  not covered: {name}:{gap['start']['row']}-{gap['end']['row']}")
    sys.exit(1)
PY
rm -f "$cov_json"
