#!/usr/bin/env bash
# Regenerate the SDK's pydantic models (client_sdk/saferefer/_models/) from spec/schemas.
# `--check` only compares and exits 1 when the committed models are out of date.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -P client_sdk/saferefer/_codegen.py "$@"
