"""Schemathesis hooks for fuzzing a SafeRefer node (loaded through SCHEMATHESIS_HOOKS).

Some schema-valid values carry meaning that no generator can produce. Where schemathesis generated
such a value *valid per the schema*, it is replaced by a real one; a value that is invalid per the
schema (a negative test case) is left exactly as generated, so every check still sees it.

* `Idempotency-Key`: the spec makes the key name one request — the same key with another body is
  a 422 `idempotency-key-reuse`. Generated keys repeat (the spec's example is one fixed UUID), so
  a valid generated key is replaced by a fresh UUID.
* `cursor` query parameters: a cursor is an opaque token the node issued (the node answers 422
  `unknown cursor` to any other), so no generated one can be valid. A schema-valid generated
  cursor is dropped — the request asks for the first page; schema-invalid ones are sent as they are.
* `wait` of `GET /v1/events` is a long poll of up to 30 s by design; a valid generated value is
  capped at 1 s so a bounded run spends its time on requests, not on waiting.
* `consent_ids` of `POST /v1/referrals` and `POST /v1/policy/decisions`: the node looks the cited
  consents up, and a random UUIDv7 is nobody's consent (422). Schema-valid generated ids are
  replaced by real consents the sender recorded before the run (SAFEREFER_FUZZ_CONSENT_IDS), so
  generated referrals reach the policy decision, the payload encryption and the store.
* `GET /v1/statistics` is for national coordinators and rapporteurs only; its requests carry the
  demo coordinator's real token (from the run's token service, SAFEREFER_FUZZ_TOKEN_SERVICE)
  instead of the NGO's, so the operation is exercised beyond its 403. A request generated without
  credentials (authentication tests) stays without.
* `payload_signature` of `POST /v1/referrals`: a detached JWS by the sending organisation over
  the JCS form of `payload`. A valid-looking generated signature over an object payload is
  replaced by the sender's real signature (the credentials file in SAFEREFER_FUZZ_SIGNER, the
  identity every request is sent as).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import threading
import time
import uuid
from collections.abc import MutableMapping
from typing import Any

import httpx
import schemathesis
from saferefer import Credentials, sign_payload
from schemathesis import Case

CURSOR_MAX_LENGTH = 512
MAX_WAIT_S = 1
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7E]{1,255}$")
UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
JWS_DETACHED = re.compile(r"^[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]+$")


@functools.lru_cache(maxsize=1)
def _signer() -> Credentials | None:
    path = os.environ.get("SAFEREFER_FUZZ_SIGNER")
    return Credentials.from_file(path) if path else None


def _fresh_idempotency_key(case: Any) -> None:
    headers = case.headers
    if not isinstance(headers, MutableMapping):
        return
    for name in list(headers):
        if name.lower() != "idempotency-key":
            continue
        value = headers[name]
        if isinstance(value, str) and IDEMPOTENCY_KEY.fullmatch(value):
            headers[name] = str(uuid.uuid4())


def _without_generated_cursor(case: Any) -> None:
    query = case.query
    if not isinstance(query, MutableMapping):
        return
    value = query.get("cursor")
    if isinstance(value, str) and 1 <= len(value) <= CURSOR_MAX_LENGTH:
        del query["cursor"]


def _short_long_poll(case: Any) -> None:
    query = case.query
    if not isinstance(query, MutableMapping):
        return
    value = query.get("wait")
    if isinstance(value, str) and value.isdigit():
        number: object = int(value)
    else:
        number = value
    if isinstance(number, int) and not isinstance(number, bool) and 0 <= number <= 30:
        query["wait"] = min(number, MAX_WAIT_S)


@functools.lru_cache(maxsize=1)
def _consent_ids() -> tuple[str, ...]:
    return tuple(filter(None, os.environ.get("SAFEREFER_FUZZ_CONSENT_IDS", "").split(",")))


def _real_consent_ids(case: Any) -> None:
    body = case.body
    real = _consent_ids()
    if not real or not isinstance(body, dict):
        return
    cited = body.get("consent_ids")
    if (
        isinstance(cited, list)
        and 1 <= len(cited) <= len(real)
        and all(isinstance(c, str) and UUID7.fullmatch(c) for c in cited)
    ):
        body["consent_ids"] = list(real[: len(cited)])


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
    # A payload the SDK cannot canonicalise keeps its generated signature.
    with contextlib.suppress(Exception):
        body["payload_signature"] = sign_payload(payload, signer)


_ROLE_TOKEN_LIFETIME_S = 120.0
_role_tokens: dict[str, tuple[float, str]] = {}
_role_tokens_lock = threading.Lock()
OPERATION_IDENTITIES = {"/v1/statistics": "coordinator"}


def _role_token(name: str) -> str | None:
    service = os.environ.get("SAFEREFER_FUZZ_TOKEN_SERVICE")
    if not service:
        return None
    with _role_tokens_lock:
        cached = _role_tokens.get(name)
        if cached is not None and time.monotonic() < cached[0]:
            return cached[1]
        response = httpx.post(f"{service}/token/{name}", timeout=30.0)
        response.raise_for_status()
        token = str(response.json()["access_token"])
        _role_tokens[name] = (time.monotonic() + _ROLE_TOKEN_LIFETIME_S, token)
        return token


def _role_identity(case: Any) -> None:
    name = OPERATION_IDENTITIES.get(case.operation.path)
    headers = case.headers
    if name is None or not isinstance(headers, MutableMapping):
        return
    current = headers.get("Authorization")
    if isinstance(current, str) and current.startswith("Bearer "):
        token = _role_token(name)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"


def _make_meaningful(case: Case[Any]) -> Case[Any]:
    operation = case.operation
    _role_identity(case)
    _without_generated_cursor(case)
    if operation.path == "/v1/events":
        _short_long_poll(case)
    if operation.method.upper() == "POST":
        _fresh_idempotency_key(case)
        if operation.path in ("/v1/referrals", "/v1/policy/decisions"):
            _real_consent_ids(case)
        if operation.path == "/v1/referrals":
            _real_payload_signature(case)
    return case


@schemathesis.hook
def map_case(context: schemathesis.HookContext, case: Case[Any]) -> Case[Any]:
    """Generated cases (coverage, fuzzing and stateful phases)."""
    return _make_meaningful(case)


@schemathesis.hook
def before_add_examples(context: schemathesis.HookContext, examples: list[Case[Any]]) -> None:
    """The spec's own examples (examples phase), which `map_case` does not see."""
    for case in examples:
        _make_meaningful(case)


@schemathesis.check
def unprocessable_names_the_member(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: Case[Any]
) -> bool | None:
    """Every 422 `validation-error` locates each error (a pointer, parameter or header)."""
    if response.status_code != 422:
        return None
    document = response.json()
    assert isinstance(document, dict), "a 422 must be a problem document"
    if document.get("type") != "https://saferefer.org/problems/validation-error":
        return None
    errors = document.get("errors")
    assert isinstance(errors, list), "a validation-error must list its errors"
    assert errors, "a validation-error must list its errors"
    for error in errors:
        locators = [key for key in ("pointer", "parameter", "header") if key in error]
        assert len(locators) == 1, f"an error must have exactly one locator: {error}"
    return True
