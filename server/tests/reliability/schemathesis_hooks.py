"""Schemathesis hooks for fuzzing a SafeRefer node (loaded through SCHEMATHESIS_HOOKS).

Some schema-valid values carry meaning that no generator can produce. Where schemathesis generated
such a value *valid per the schema*, it is replaced by a real one; a value that is invalid per the
schema (a negative test case) is left exactly as generated, so every check still sees it.

* `Idempotency-Key`: the spec makes the key name one request — the same key with another body is
  a 422 `idempotency-key-reuse`. Generated keys repeat (the spec's example is one fixed UUID), so
  a valid generated key is replaced by a fresh UUID.
* `payload_signature` of `POST /v1/referrals`: a detached JWS by the sending organisation over
  the JCS form of `payload`. A valid-looking generated signature over an object payload is
  replaced by the sender's real signature (the credentials file in SAFEREFER_FUZZ_SIGNER, the
  identity every request is sent as).
"""

from __future__ import annotations

import functools
import os
import re
import uuid
from typing import Any

import schemathesis
from saferefer import Credentials, sign_payload

IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7E]{1,255}$")
JWS_DETACHED = re.compile(r"^[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]+$")


@functools.lru_cache(maxsize=1)
def _signer() -> Credentials | None:
    path = os.environ.get("SAFEREFER_FUZZ_SIGNER")
    return Credentials.from_file(path) if path else None


def _fresh_idempotency_key(case: Any) -> None:
    headers = case.headers
    if not isinstance(headers, dict):
        return
    for name in list(headers):
        if name.lower() != "idempotency-key":
            continue
        value = headers[name]
        if isinstance(value, str) and IDEMPOTENCY_KEY.fullmatch(value):
            headers[name] = str(uuid.uuid4())


def _real_payload_signature(case: Any) -> None:
    body = case.body
    signer = _signer()
    if signer is None or not isinstance(body, dict):
        return
    signature = body.get("payload_signature")
    payload = body.get("payload")
    if not isinstance(signature, str) or not JWS_DETACHED.fullmatch(signature):
        return
    if not isinstance(payload, dict):
        return
    try:
        body["payload_signature"] = sign_payload(payload, signer)
    except Exception:  # noqa: S110 - a payload the SDK cannot canonicalise keeps its generated value
        pass


@schemathesis.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    operation = case.operation
    if operation.method.upper() == "POST":
        _fresh_idempotency_key(case)
        if operation.path == "/v1/referrals":
            _real_payload_signature(case)
    return case
