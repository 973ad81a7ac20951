from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import pytest
from joserfc.jwk import ECKey
from saferefer_server.core.ids import uuid7
from saferefer_server.federation.envelope import (
    Envelope,
    content_digest,
    rfc3339,
    verify_envelope,
)
from saferefer_server.federation.errors import FederationRejected
from saferefer_server.federation.jose import b64url
from saferefer_server.federation.trustlist import TrustList, verify_trust_list

from .factories import (
    FAR_AHEAD,
    LONG_AGO,
    MD_NGO,
    MD_NODE,
    NL_NGO,
    NL_NODE,
    anchor_of,
    deliver_envelope,
    entry,
    issued,
    new_key,
    referral_document,
    trust_list_token,
)
from .schemas import spec_validator


class Keys(NamedTuple):
    authority: ECKey
    md: ECKey
    nl: ECKey
    org: ECKey


@pytest.fixture
def keys() -> Keys:
    return Keys(new_key(), new_key(), new_key(), new_key())


def _trust_list(
    keys: Keys, valid_from: datetime = LONG_AGO, valid_until: datetime = FAR_AHEAD
) -> TrustList:
    md_entry = entry(MD_NODE, keys.md, valid_from=valid_from, valid_until=valid_until)
    token = trust_list_token(keys.authority, [md_entry, entry(NL_NODE, keys.nl)])
    return verify_trust_list(token, anchor_of(keys.authority))


def _reason(document: dict[str, Any], trust_list: TrustList) -> str:
    with pytest.raises(FederationRejected) as caught:
        verify_envelope(document, trust_list=trust_list, self_node_id=NL_NODE)
    return caught.value.reason


def test_verify_envelope_accepts_message_signed_by_listed_node(keys: Keys) -> None:
    envelope = deliver_envelope(keys.org)
    document = issued(envelope, keys.md)
    verified = verify_envelope(document, trust_list=_trust_list(keys), self_node_id=NL_NODE)
    assert verified.envelope.id == envelope.id
    assert verified.envelope.referral_id == envelope.body["id"]
    assert verified.envelope.acting_org == MD_NGO
    assert verified.digest == content_digest(document)


def test_issued_envelope_matches_spec_schema(keys: Keys) -> None:
    now = rfc3339(datetime.now(UTC))
    acknowledgement = Envelope(
        id=uuid7(),
        from_node=NL_NODE,
        to_node=MD_NODE,
        message_type="erasure.acknowledgement",
        body={
            "id": uuid7(),
            "referral_id": uuid7(),
            "consent_id": uuid7(),
            "action": "erased",
            "onward_referral_ids": [],
            "completed_at": now,
            "acknowledged_by": NL_NGO,
            "recorded_at": now,
        },
    )
    document = issued(acknowledgement, keys.nl)
    validator = spec_validator("federation-envelope.schema.json")
    assert [e.message for e in validator.iter_errors(document)] == []
    verified = verify_envelope(document, trust_list=_trust_list(keys), self_node_id=MD_NODE)
    assert verified.envelope.acting_org == NL_NGO


def test_content_digest_is_stable_across_attempts(keys: Keys) -> None:
    envelope = deliver_envelope(keys.org)
    trust_list = _trust_list(keys)
    first = issued(envelope, keys.md)
    later = issued(envelope, keys.md, now=datetime.now(UTC) + timedelta(seconds=90))
    assert first["signature"] != later["signature"]
    assert first["issued_at"] != later["issued_at"]
    digests = {
        verify_envelope(d, trust_list=trust_list, self_node_id=NL_NODE).digest
        for d in (first, later)
    }
    assert len(digests) == 1


def test_verify_envelope_rejects_tampered_body(keys: Keys) -> None:
    document = issued(deliver_envelope(keys.org), keys.md)
    document["body"]["purpose"] = "criminal_investigation"
    assert _reason(document, _trust_list(keys)) == "bad_signature"


def test_verify_envelope_rejects_replaced_recipient(keys: Keys) -> None:
    document = issued(deliver_envelope(keys.org), keys.md)
    document["body"]["recipient"] = "urn:saferefer:org:NL:police"
    assert _reason(document, _trust_list(keys)) == "bad_signature"


def test_verify_envelope_rejects_node_claiming_another_nodes_identity(keys: Keys) -> None:
    # NL's own key signs a message claiming to come from MD: that kid is not MD's.
    document = issued(deliver_envelope(keys.org), keys.nl)
    assert _reason(document, _trust_list(keys)) == "unknown_key"


def test_verify_envelope_rejects_unknown_node(keys: Keys) -> None:
    envelope = deliver_envelope(keys.org, from_node="urn:saferefer:node:MD:rogue")
    assert _reason(issued(envelope, new_key()), _trust_list(keys)) == "unknown_node"


def test_verify_envelope_rejects_expired_node_key(keys: Keys) -> None:
    now = datetime.now(UTC)
    trust_list = _trust_list(
        keys, valid_from=now - timedelta(days=10), valid_until=now - timedelta(minutes=1)
    )
    assert _reason(issued(deliver_envelope(keys.org), keys.md), trust_list) == "key_expired"


def test_verify_envelope_rejects_message_for_another_node(keys: Keys) -> None:
    envelope = deliver_envelope(keys.org, to_node="urn:saferefer:node:DE:national")
    assert _reason(issued(envelope, keys.md), _trust_list(keys)) == "wrong_recipient_node"


def test_verify_envelope_rejects_sender_org_of_another_country(keys: Keys) -> None:
    envelope = deliver_envelope(keys.org, sender_org="urn:saferefer:org:RO:someone")
    assert _reason(issued(envelope, keys.md), _trust_list(keys)) == "org_country_mismatch"


def test_verify_envelope_rejects_payload_not_signed_by_sender_org(keys: Keys) -> None:
    envelope = deliver_envelope(keys.org)
    forged = referral_document(new_key(), referral_id=envelope.body["id"])
    envelope = envelope.model_copy(update={"body": forged})
    assert _reason(issued(envelope, keys.md), _trust_list(keys)) == "org_signature_invalid"


def test_verify_envelope_rejects_payload_changed_after_org_signed(keys: Keys) -> None:
    envelope = deliver_envelope(keys.org)
    body = {**envelope.body, "payload": {"location": {"address": "x"}}}
    envelope = envelope.model_copy(update={"body": body})
    assert _reason(issued(envelope, keys.md), _trust_list(keys)) == "org_signature_invalid"


@pytest.mark.parametrize(
    ("offset", "reason"),
    [(timedelta(hours=1), "clock_skew"), (-timedelta(minutes=6), "stale_message")],
)
def test_verify_envelope_rejects_message_outside_freshness_window(
    keys: Keys, offset: timedelta, reason: str
) -> None:
    document = issued(deliver_envelope(keys.org), keys.md, now=datetime.now(UTC) + offset)
    assert _reason(document, _trust_list(keys)) == reason


def test_verify_envelope_rejects_body_without_referral_id(keys: Keys) -> None:
    envelope = deliver_envelope(keys.org)
    body = {k: v for k, v in envelope.body.items() if k != "id"}
    envelope = envelope.model_copy(update={"body": body})
    assert _reason(issued(envelope, keys.md), _trust_list(keys)) == "malformed"


@pytest.mark.parametrize(
    "document",
    [
        {"from_node": MD_NODE},
        {"from_node": MD_NODE, "signature": "not-a-jws"},
        {"from_node": MD_NODE, "signature": b64url(b'{"alg":"none","kid":"k"}') + "..x"},
        {"from_node": MD_NODE, "signature": b64url(b'{"alg":"HS256","kid":"k"}') + "..x"},
    ],
)
def test_verify_envelope_rejects_malformed_signature(keys: Keys, document: dict[str, Any]) -> None:
    assert _reason(document, _trust_list(keys)) == "malformed"
