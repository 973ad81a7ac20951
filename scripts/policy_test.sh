#!/usr/bin/env bash
# Policy gates with the pinned OPA and Regal: format, strict compile, lint (.regal/config.yaml),
# unit tests with coverage >= 95%.
set -euo pipefail
cd "$(dirname "$0")/.."
OPA=.tools/bin/opa
REGAL=.tools/bin/regal
MIN_COVERAGE=95
# One test evaluates every decision vector (255 decisions); OPA's default 5 s per test is too
# tight for that on a loaded CI machine.
TEST_TIMEOUT=120s
echo "[policy] opa fmt --fail"; $OPA fmt --fail --list policies/ >/dev/null || { $OPA fmt --diff policies/; exit 1; }
echo "[policy] opa check --strict"; $OPA check --strict policies/
echo "[policy] regal lint"; $REGAL lint --no-color policies/
echo "[policy] opa test --coverage"
cov_json="$(mktemp)"
$OPA test policies/ --timeout "$TEST_TIMEOUT" --coverage --format=json > "$cov_json" \
  || { $OPA test policies/ --timeout "$TEST_TIMEOUT" -v; exit 1; }
$OPA test policies/ --timeout "$TEST_TIMEOUT" >/dev/null
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
