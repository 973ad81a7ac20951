"""Payload signatures: detached ES256 JWS over the JCS form of the payload."""

from __future__ import annotations

import base64
import json

import pytest
import saferefer
from joserfc import jws
from joserfc.jwk import ECKey, KeySet
from saferefer._jcs import canonicalize
from saferefer._models.common_schema import Jwks


def _credentials(kid: str = "k1") -> saferefer.Credentials:
    key = ECKey.generate_key("P-256", private=True)
    return saferefer.Credentials.from_private_key(
        key.as_dict(private=True), org_id="urn:saferefer:org:NL:x", kid=kid
    )


def _jwks(credentials: saferefer.Credentials) -> dict[str, object]:
    return {"keys": [credentials.key.as_dict(private=False) | {"kid": credentials.kid}]}


PAYLOAD = {
    "identity": {"given_name": "Ana", "year_of_birth": 1999},
    "language_needs": {"languages": ["ro", "ru"]},
}


def test_sign_payload_is_detached_and_verifies_over_jcs() -> None:
    credentials = _credentials()
    signature = saferefer.sign_payload(PAYLOAD, credentials)
    protected, empty, _ = signature.split(".")
    assert empty == ""
    header = json.loads(base64.urlsafe_b64decode(protected + "=" * (-len(protected) % 4)))
    assert header == {"alg": "ES256", "kid": "k1"}
    # an independent verification with joserfc over the canonical bytes
    jws.deserialize_compact(
        signature, credentials.key, algorithms=["ES256"], payload=canonicalize(PAYLOAD)
    )
    saferefer.verify_payload_signature(
        signature, dict(reversed(list(PAYLOAD.items()))), _jwks(credentials)
    )


def _joserfc_protected(header: dict[str, str], credentials: saferefer.Credentials) -> str:
    return jws.serialize_compact(header, b"{}", credentials.key, algorithms=["ES256"]).split(".")[0]


def test_sign_payload_is_deterministic() -> None:
    """The same payload signed twice is the same JWS (RFC 6979), so a replay under the same
    Idempotency-Key is the same request; joserfc verifies it and made the same header."""
    credentials = _credentials()
    first = saferefer.sign_payload(PAYLOAD, credentials)
    assert saferefer.sign_payload(dict(reversed(list(PAYLOAD.items()))), credentials) == first
    protected, _, _ = first.split(".")
    assert protected == _joserfc_protected({"alg": "ES256", "kid": "k1"}, credentials)
    jws.deserialize_compact(
        first, credentials.key, algorithms=["ES256"], payload=canonicalize(PAYLOAD)
    )
    assert saferefer.sign_payload(PAYLOAD, _credentials()) != first  # another key, another JWS


def test_sign_consent_is_deterministic() -> None:
    credentials = _credentials()
    consent = {"subject_ref": "srp1.x", "language": "ro", "recorder_jws": "ignored"}
    first = saferefer.sign_consent(consent, credentials)
    assert saferefer.sign_consent(consent, credentials) == first
    header = {"alg": "ES256", "kid": "k1", "typ": "saferefer-consent+jws"}
    assert first.split(".")[0] == _joserfc_protected(header, credentials)
    verified = jws.deserialize_compact(first, credentials.key, algorithms=["ES256"])
    assert verified.payload == canonicalize({"subject_ref": "srp1.x", "language": "ro"})


@pytest.mark.parametrize("form", ["dict", "generated model", "KeySet"])
def test_verify_payload_signature_accepts_every_form_of_jwks(form: str) -> None:
    credentials = _credentials()
    jwks = _jwks(credentials)
    keys = {
        "dict": jwks,
        "generated model": Jwks.model_validate(jwks),  # organisations.retrieve(...).jwks
        "KeySet": KeySet.import_key_set(jwks),  # type: ignore[arg-type]
    }[form]
    saferefer.verify_payload_signature(saferefer.sign_payload(PAYLOAD, credentials), PAYLOAD, keys)


@pytest.mark.parametrize(
    "jwks", [None, "keys", [{"kty": "EC"}], 7], ids=["None", "str", "list", "int"]
)
def test_verify_payload_signature_rejects_what_is_not_a_jwks(jwks: object) -> None:
    signature = saferefer.sign_payload(PAYLOAD, _credentials())
    with pytest.raises(saferefer.PayloadSignatureError, match="must be a JWK Set"):
        saferefer.verify_payload_signature(signature, PAYLOAD, jwks)  # type: ignore[arg-type]


def test_verify_payload_signature_rejects_missing_signature_or_payload() -> None:
    credentials = _credentials()
    signature = saferefer.sign_payload(PAYLOAD, credentials)
    with pytest.raises(saferefer.PayloadSignatureError, match="compact JWS string"):
        saferefer.verify_payload_signature(None, PAYLOAD, _jwks(credentials))  # type: ignore[arg-type]
    with pytest.raises(saferefer.PayloadSignatureError, match="not NoneType"):
        saferefer.verify_payload_signature(signature, None, _jwks(credentials))  # type: ignore[arg-type]


def test_verify_payload_signature_rejects_other_content() -> None:
    credentials = _credentials()
    signature = saferefer.sign_payload(PAYLOAD, credentials)
    with pytest.raises(saferefer.PayloadSignatureError):
        saferefer.verify_payload_signature(
            signature, PAYLOAD | {"contact": {"phone": "1"}}, _jwks(credentials)
        )


def test_verify_payload_signature_rejects_other_key() -> None:
    signature = saferefer.sign_payload(PAYLOAD, _credentials())
    with pytest.raises(saferefer.PayloadSignatureError, match="does not verify"):
        saferefer.verify_payload_signature(signature, PAYLOAD, _jwks(_credentials()))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"b": 1, "a": [True, None, "é"]}, '{"a":[true,null,"é"],"b":1}'),
        ({"\u20ac": 1, "\r": 2, "1": 3}, '{"\\r":2,"1":3,"€":1}'),  # sorted by UTF-16 code units
        (
            [1e-7, 1e21, 1.5, 100.0, -0.0, 333333333.3333333],
            "[1e-7,1e+21,1.5,100,0,333333333.3333333]",
        ),
        ("\u0001\n", '"\\u0001\\n"'),
    ],
)
def test_canonicalize_follows_rfc_8785(value: object, expected: str) -> None:
    assert canonicalize(value) == expected.encode("utf-8")
