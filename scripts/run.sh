#!/usr/bin/env bash
# Starts a local SafeRefer node on http://127.0.0.1:8000: SQLite and keys in var/, the embedded
# policy engine, and the demo directory (organisations in NL and MD) whose client credentials
# the SDK and the examples read from var/demo/credentials/.
set -euo pipefail
cd "$(dirname "$0")/.."
export SAFEREFER_DATA_DIR="${SAFEREFER_DATA_DIR:-var}"
export SAFEREFER_BASE_URL="${SAFEREFER_BASE_URL:-http://127.0.0.1:8000}"
export SAFEREFER_DEMO="${SAFEREFER_DEMO:-true}"
CREDENTIALS="$SAFEREFER_DATA_DIR/demo/credentials"
SERVER=.venv/bin/saferefer-server

if [[ ! -f "$CREDENTIALS/NL-demo-ngo.json" ]]; then
  echo "[run] registering the demo directory"
  "$SERVER" seed-demo --credentials-dir "$CREDENTIALS"
fi
echo "[run] demo client credentials: $CREDENTIALS/<CC>-<organisation>.json"
echo "[run] serving $SAFEREFER_BASE_URL (API description: $SAFEREFER_BASE_URL/openapi.yaml)"
exec "$SERVER" serve --host 127.0.0.1 --port 8000
