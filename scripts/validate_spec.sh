#!/usr/bin/env bash
# Validates the standard's machine-readable parts: the OpenAPI document with
# openapi-spec-validator and Spectral (spectral:oas + OWASP rulesets, spec/.spectral.yaml).
# Schema, example and code-list consistency is asserted by spec/tests (pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "[spec] openapi-spec-validator spec/openapi.yaml"
.venv/bin/openapi-spec-validator spec/openapi.yaml
echo "[spec] spectral lint spec/openapi.yaml"
.tools/node/node_modules/.bin/spectral lint --quiet --fail-severity=error \
  --ruleset spec/.spectral.yaml spec/openapi.yaml
echo "[spec] ok"
