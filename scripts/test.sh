#!/usr/bin/env bash
# The whole default test run (what CI runs): lint and types, spec validation,
# policy gates, then pytest (everything but the `slow` group, which README documents).
# Arguments go to pytest (e.g. `scripts/test.sh -x server/tests/auth`).
set -euo pipefail
cd "$(dirname "$0")/.."
phase() {
  local start=$SECONDS
  "$@"
  echo "[time] $1: $((SECONDS - start)) s"
}
phase scripts/lint.sh
phase scripts/validate_spec.sh
phase scripts/policy_test.sh
echo "[pytest]"
exec .venv/bin/pytest -m "not slow" -p no:cacheprovider --durations=30 "$@"
