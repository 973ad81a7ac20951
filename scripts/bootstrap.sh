#!/usr/bin/env bash
# Installs everything the tests and the server need on a fresh machine, idempotently:
#   - .venv/ with the project (editable) and its pinned dev dependencies
#   - .tools/bin/opa built with `go install` at the pinned version
#   - .tools/bin/regal built with `go install` inside the pinning module scripts/regal/
#   - .tools/node/ with Spectral and the OWASP ruleset from the npm registry
#   - PostgreSQL server binaries from Debian's packages (the tests start their own cluster)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
# shellcheck source=versions.env
source scripts/versions.env
TOOLS="$ROOT/.tools"
mkdir -p "$TOOLS/bin"

log() { printf '[bootstrap] %s\n' "$*"; }

# --- Python -----------------------------------------------------------------
if [[ ! -x .venv/bin/python ]]; then
  log "creating .venv"
  python3 -m venv .venv
fi
stamp=".venv/.installed-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
if [[ ! -f "$stamp" ]]; then
  log "installing Python packages"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -c constraints.txt -e '.[dev]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# --- OPA (Go module, pinned) ---------------------------------------------------
if [[ ! -x "$TOOLS/bin/opa" ]] || ! "$TOOLS/bin/opa" version 2>/dev/null | grep -q "^Version: ${OPA_VERSION#v}$"; then
  log "building OPA ${OPA_VERSION} with go install (first run takes a few minutes)"
  GOBIN="$TOOLS/bin" CGO_ENABLED=0 go install "github.com/open-policy-agent/opa@${OPA_VERSION}"
fi

# --- Regal (Go module, pinned by scripts/regal/go.mod and go.sum) ---------------
# `go install github.com/styrainc/regal@<version>` fails: the module proxy refuses the module's
# version list. Installing from inside scripts/regal/ builds exactly the version its go.mod requires.
if ! grep -Eq "^(require )?[[:space:]]*github.com/styrainc/regal ${REGAL_VERSION}( |$)" scripts/regal/go.mod; then
  echo "[bootstrap] scripts/regal/go.mod does not require Regal ${REGAL_VERSION} (scripts/versions.env)" >&2
  exit 1
fi
if [[ ! -x "$TOOLS/bin/regal" ]] || ! "$TOOLS/bin/regal" version 2>/dev/null | grep -q "^Version: *${REGAL_VERSION#v}$"; then
  log "building Regal ${REGAL_VERSION} with go install in scripts/regal (first run takes a few minutes)"
  (cd scripts/regal && GOBIN="$TOOLS/bin" CGO_ENABLED=0 go install \
    -ldflags "-X github.com/styrainc/regal/pkg/version.Version=${REGAL_VERSION#v}" github.com/styrainc/regal)
fi

# --- Spectral (npm, pinned by scripts/spectral/package-lock.json) ---------------
if [[ ! -x "$TOOLS/node/node_modules/.bin/spectral" ]] || ! cmp -s scripts/spectral/package-lock.json "$TOOLS/node/package-lock.json"; then
  log "installing Spectral (npm ci)"
  rm -rf "$TOOLS/node"
  mkdir -p "$TOOLS/node"
  cp scripts/spectral/package.json scripts/spectral/package-lock.json "$TOOLS/node/"
  (cd "$TOOLS/node" && npm ci --silent --no-audit --no-fund >/dev/null)
fi

# --- PostgreSQL (Debian packages) ----------------------------------------------
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  log "installing PostgreSQL from Debian packages"
  as_root=()
  [[ $(id -u) -eq 0 ]] || as_root=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
# The tests run initdb/postgres as the `postgres` user (runuser) when they run as root.
if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
  echo "[bootstrap] the postgres system user is missing (reinstall Debian's postgresql package)" >&2
  exit 1
fi
log "ready"
