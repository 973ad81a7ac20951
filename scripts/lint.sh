#!/usr/bin/env bash
# Lint and type gates: ruff (lint + format check) everywhere, mypy strict on the
# SDK (saferefer), the server (saferefer_server) and the conformance suite.
set -euo pipefail
cd "$(dirname "$0")/.."
V=.venv/bin
echo "[lint] ruff check"; $V/ruff check .
echo "[lint] ruff format --check"; $V/ruff format --check .
echo "[lint] mypy --strict saferefer saferefer_server saferefer_conformance"
$V/mypy -p saferefer -p saferefer_server -p saferefer_conformance
