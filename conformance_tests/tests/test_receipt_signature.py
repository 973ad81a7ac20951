"""SRC-037 verifies a node-signed consent receipt, and fails one that does not verify."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from joserfc import jws
from joserfc.jwk import ECKey
from saferefer_conformance._config import Config
from saferefer_conformance._context import Context
from saferefer_conformance._failures import CheckFailed
from saferefer_conformance._jcs import canonicalize
from saferefer_conformance.checks.consent import RECEIPT_TYP, _expect_receipt_signature

RECEIPT = {"consent_id": "01936f5e-8a7b-7c3d-9e4f-0a1b2c3d4e5f", "grants": [{"purpose": "shelter"}]}


def _context(node_key: ECKey) -> Context:
    jwks = {"keys": [node_key.as_dict(private=False)]}

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/jwks.json"
        return httpx.Response(200, json=jwks)

    http = httpx.Client(base_url="http://node.test", transport=httpx.MockTransport(answer))
    return Context(Config(base_url="http://node.test", organisations={}), http=http)


def _signed(receipt: dict[str, Any], key: ECKey, typ: str = RECEIPT_TYP) -> dict[str, Any]:
    header = {"alg": "ES256", "kid": key.kid, "typ": typ}
    signature = jws.serialize_compact(header, canonicalize(receipt), key, algorithms=["ES256"])
    return {**receipt, "signature": signature}


def _response() -> httpx.Response:
    request = httpx.Request("GET", "http://node.test/v1/consents/x/receipt")
    return httpx.Response(200, request=request, json={})


def test_receipt_signed_by_a_published_node_key_passes() -> None:
    key = ECKey.generate_key("P-256", private=True, auto_kid=True)
    _expect_receipt_signature(_context(key), _signed(RECEIPT, key), _response())


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        (lambda r, key, other: {**_signed(r, key), "grants": []}, "not the RFC 8785 form"),
        (lambda r, key, other: _signed(r, other), "no key with kid"),
        (lambda r, key, other: _signed(r, key, typ="JWT"), "typ"),
        (lambda r, key, other: {**r, "signature": "not-a-jws"}, "not a compact JWS"),
    ],
    ids=["changed-after-signing", "unpublished-key", "wrong-typ", "not-a-jws"],
)
def test_receipt_signature_that_does_not_verify_fails(tamper: Any, problem: str) -> None:
    key = ECKey.generate_key("P-256", private=True, auto_kid=True)
    other = ECKey.generate_key("P-256", private=True, auto_kid=True)
    receipt = json.loads(json.dumps(RECEIPT))
    with pytest.raises(CheckFailed) as raised:
        _expect_receipt_signature(_context(key), tamper(receipt, key, other), _response())
    assert problem in raised.value.failures[0].message
