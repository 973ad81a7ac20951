#!/usr/bin/env bash
# The whole default test run (what CI runs): lint and types, spec validation,
# policy gates, then pytest (everything but the `slow` group, which README documents).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/lint.sh
scripts/validate_spec.sh
scripts/policy_test.sh
echo "[pytest]"
exec .venv/bin/pytest -m "not slow" -p no:cacheprovider "$@"
