"""Webhook verification: detached JWS in SafeRefer-Signature over the exact body bytes."""

from __future__ import annotations

import json
from typing import Any

import pytest
import saferefer
from joserfc import jws
from joserfc.jwk import ECKey
from saferefer._resources import spec_dir

EVENT: dict[str, Any] = json.loads(
    (spec_dir() / "examples" / "valid" / "event" / "referral-submitted.json").read_text(
        encoding="utf-8"
    )
)


def _node_key(kid: str = "node-1") -> ECKey:
    return ECKey.generate_key("P-256", private=True, parameters={"kid": kid})


def _sign(key: ECKey, body: bytes, **header: Any) -> str:
    token = jws.serialize_compact({"alg": "ES256", "kid": key.kid, **header}, body, key)
    protected, _, signature = token.split(".")
    return f"{protected}..{signature}"


def _jwks(*keys: ECKey) -> dict[str, Any]:
    return {"keys": [k.as_dict(private=False) for k in keys]}


def _body(document: dict[str, Any] | None = None) -> bytes:
    return json.dumps(document or EVENT).encode()


def test_verify_returns_typed_event() -> None:
    key = _node_key()
    body = _body()
    event = saferefer.webhooks.verify(
        {"safeRefer-signature": _sign(key, body, typ="saferefer-webhook+jws")},
        body,
        _jwks(_node_key("old"), key),
    )
    assert isinstance(event, saferefer.types.Event)
    assert event.type == "org.saferefer.referral.submitted"
    assert event.sequence == EVENT["sequence"]


@pytest.mark.parametrize(
    "tamper",
    ["missing-header", "other-body", "other-key", "alg-none", "attached", "garbage", "unknown-kid"],
)
def test_verify_rejects_bad_deliveries(tamper: str) -> None:
    key = _node_key()
    body = _body()
    headers = {"SafeRefer-Signature": _sign(key, body)}
    jwks = _jwks(key)
    if tamper == "missing-header":
        headers = {}
    elif tamper == "other-body":
        body = _body(EVENT | {"type": "org.saferefer.referral.accepted"})
    elif tamper == "other-key":
        jwks = _jwks(_node_key())
    elif tamper == "alg-none":
        headers["SafeRefer-Signature"] = "eyJhbGciOiJub25lIiwia2lkIjoibm9kZS0xIn0.."
    elif tamper == "attached":
        headers["SafeRefer-Signature"] = jws.serialize_compact(
            {"alg": "ES256", "kid": "node-1"}, body, key
        )
    elif tamper == "garbage":
        headers["SafeRefer-Signature"] = "not a jws"
    elif tamper == "unknown-kid":
        jwks = _jwks(_node_key("someone-else"))
    with pytest.raises(saferefer.WebhookVerificationError):
        saferefer.webhooks.verify(headers, body, jwks)


def test_verify_rejects_signed_body_that_is_not_an_event() -> None:
    key = _node_key()
    body = json.dumps({"hello": "world"}).encode()
    with pytest.raises(saferefer.WebhookVerificationError, match="not a valid event"):
        saferefer.webhooks.verify({"SafeRefer-Signature": _sign(key, body)}, body, _jwks(key))
