#!/usr/bin/env bash
# The long schemathesis run against a served node (README "Fuzzing"): every check, every phase
# (stateful included), real tokens of two demo organisations. The default test run has a bounded
# version of it (server/tests/reliability/test_schemathesis.py).
#   scripts/fuzz_server.sh                                   # SQLite, 200 examples per operation
#   scripts/fuzz_server.sh --database postgres --max-time 1800 --max-examples 1000
# Options: see `.venv/bin/python server/tests/reliability/fuzzing.py --help`. Exit status 0 when
# schemathesis found nothing; its report stays in var/fuzz/ (or --report-dir).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python server/tests/reliability/fuzzing.py "$@"
