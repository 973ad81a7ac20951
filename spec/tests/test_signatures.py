"""The signatures in the examples verify: they are test vectors for implementers of the signing
rules (detached ES256 JWS with `kid` over the RFC 8785 canonical JSON of the signed document)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from joserfc import jws
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "valid"


def _load(target: str, name: str) -> Any:
    return json.loads((EXAMPLES / target / f"{name}.json").read_text(encoding="utf-8"))


def _canonical(document: Any) -> bytes:
    """RFC 8785 for documents without floating-point numbers (all signed examples are such)."""
    assert not _has_float(document), "floats need the full JCS number serialisation"
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def _has_float(node: Any) -> bool:
    if isinstance(node, dict):
        return any(_has_float(value) for value in node.values())
    if isinstance(node, list):
        return any(_has_float(value) for value in node)
    return isinstance(node, float)


def _verify_detached(signature: str, document: Any, jwks: dict[str, Any]) -> dict[str, Any]:
    protected, empty, sig = signature.split(".")
    assert empty == "", "a detached JWS has an empty payload part"
    payload = base64.urlsafe_b64encode(_canonical(document)).rstrip(b"=").decode()
    result = jws.deserialize_compact(
        f"{protected}.{payload}.{sig}", KeySet.import_key_set(jwks), algorithms=["ES256"]
    )
    header: dict[str, Any] = result.protected
    return header


NGO_KEYS = _load("organisation", "ngo")["jwks"]
NODE_KEYS = _load("trust-list", "nl-md")["peers"][0]["jwks"]
NODE_JWKS = _load("common.jwks", "node-nl-demo")  # the node's /jwks.json
TRUST_ANCHOR = _load("common.jwks", "trust-anchor")  # the trust-list authority's keys


def test_payload_signature_verifies_with_the_sender_key() -> None:
    referral = _load("referral-create", "ngo-to-shelter")
    header = _verify_detached(referral["payload_signature"], referral["payload"], NGO_KEYS)
    assert header == {"alg": "ES256", "kid": NGO_KEYS["keys"][0]["kid"]}


def test_payload_signature_fails_when_a_category_changes() -> None:
    referral = _load("referral-create", "ngo-to-shelter")
    tampered = {**referral["payload"], "health": {"summary": "changed"}}
    with pytest.raises(BadSignatureError):
        _verify_detached(referral["payload_signature"], tampered, NGO_KEYS)


def _verify_compact(token: str, jwks: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    result = jws.deserialize_compact(token, KeySet.import_key_set(jwks), algorithms=["ES256"])
    return dict(result.protected), json.loads(result.payload)


def test_consent_recorder_jws_covers_the_consent_as_the_organisation_recorded_it() -> None:
    consent = _load("consent-create", "adult-three-grants")
    header, payload = _verify_compact(consent["recorder_jws"], NGO_KEYS)
    assert header["typ"] == "saferefer-consent+jws"
    assert header["kid"] in {key["kid"] for key in NGO_KEYS["keys"]}
    assert payload == {k: v for k, v in consent.items() if k != "recorder_jws"}
    assert _canonical(payload) == base64.urlsafe_b64decode(
        consent["recorder_jws"].split(".")[1] + "=="
    ), "the payload is the RFC 8785 form"


def test_consent_record_keeps_the_recorder_jws_and_its_members_match() -> None:
    consent = _load("consent-create", "adult-three-grants")
    record = _load("consent-record", "active")
    assert record["recorder_jws"] == consent["recorder_jws"]
    _, signed = _verify_compact(record["recorder_jws"], NGO_KEYS)
    for member in ("subject_ref", "valid_from", "valid_until", "language", "method"):
        assert record[member] == signed[member], member
    assert [g["recipient"] for g in record["grants"]] == [g["recipient"] for g in signed["grants"]]


def test_consent_receipt_is_a_compact_jws_of_the_receipt_by_the_node() -> None:
    receipt = _load("consent-receipt", "receipt-ro")
    header, payload = _verify_compact(receipt["signature"], NODE_JWKS)
    assert header["typ"] == "saferefer-consent-receipt+jws"
    assert payload == {k: v for k, v in receipt.items() if k != "signature"}


def test_trust_list_signature_verifies_with_the_trust_anchor() -> None:
    trust_list = _load("trust-list", "nl-md")
    unsigned = {k: v for k, v in trust_list.items() if k != "signature"}
    _verify_detached(trust_list["signature"], unsigned, TRUST_ANCHOR)
    with pytest.raises(BadSignatureError):
        _verify_detached(trust_list["signature"], {**unsigned, "sequence_number": 16}, TRUST_ANCHOR)


@pytest.mark.parametrize("name", ["referral-deliver", "erasure-request"])
def test_federation_envelope_signature_verifies_with_the_trust_list_key(name: str) -> None:
    envelope = _load("federation-envelope", name)
    unsigned = {k: v for k, v in envelope.items() if k != "signature"}
    _verify_detached(envelope["signature"], unsigned, NODE_KEYS)


# The examples' pseudonyms are derived as common.schema.json#/$defs/subject-ref recommends, with
# this test secret, the sender's local case references below, and each recipient's org id.
TEST_SECRET = b"demo-ngo subject-pseudonym secret (test vector only)"


def _subject_ref(recipient: str, case: str) -> str:
    digest = hmac.new(TEST_SECRET, f"{recipient}\n{case}".encode(), hashlib.sha256).digest()
    return "srp1." + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("target", "name", "case"),
    [
        ("referral-create", "ngo-to-shelter", "case-2026-0042"),
        ("referral-create", "ngo-to-police-after-decision-to-cooperate", "case-2026-0042"),
        ("referral-create", "cross-border-voluntary-return", "case-2026-0042"),
    ],
)
def test_subject_ref_is_the_pairwise_pseudonym_for_the_recipient(
    target: str, name: str, case: str
) -> None:
    referral = _load(target, name)
    assert referral["subject_ref"] == _subject_ref(referral["recipient"], case)


def test_pseudonyms_differ_per_recipient_and_consent_uses_the_recorder() -> None:
    refs = {
        _load("referral-create", n)["subject_ref"]
        for n in ("ngo-to-shelter", "ngo-to-police-after-decision-to-cooperate")
    }
    assert len(refs) == 2
    consent = _load("consent-create", "adult-three-grants")
    recorder = _load("organisation", "ngo")["id"]
    assert consent["subject_ref"] == _subject_ref(recorder, "case-2026-0042")
