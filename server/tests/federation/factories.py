"""Keys, trust lists and envelopes for the federation tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from joserfc.jwk import ECKey, KeySet
from saferefer_server.audit.jcs import canonicalize
from saferefer_server.core.ids import uuid7
from saferefer_server.federation.envelope import Envelope, fixed_part, issue
from saferefer_server.federation.jose import sign_detached
from saferefer_server.federation.trustlist import Jwks, node_entry, sign_trust_list

MD_NODE = "urn:saferefer:node:MD:national"
NL_NODE = "urn:saferefer:node:NL:national"
DE_NODE = "urn:saferefer:node:DE:national"
MD_NGO = "urn:saferefer:org:MD:la-strada"
NL_NGO = "urn:saferefer:org:NL:comensha"

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
FAR_AHEAD = datetime(2099, 1, 1, tzinfo=UTC)


def new_key() -> ECKey:
    return ECKey.generate_key("P-256", auto_kid=True, private=True)


def public(key: ECKey) -> dict[str, Any]:
    return dict(key.as_dict(private=False))


def anchor_of(*keys: ECKey) -> KeySet:
    return KeySet.import_key_set({"keys": [public(k) for k in keys]})


def entry(
    node_id: str,
    *keys: ECKey,
    base_url: str = "http://127.0.0.1:1",
    valid_from: datetime = LONG_AGO,
    valid_until: datetime = FAR_AHEAD,
    status: Literal["active", "suspended"] = "active",
    key_validity: dict[str, tuple[datetime, datetime]] | None = None,
    contact_points: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return node_entry(
        node_id=node_id,
        base_url=base_url,
        public_keys=[public(k) for k in keys],
        valid_from=valid_from,
        valid_until=valid_until,
        status=status,
        key_validity=key_validity,
        contact_points=contact_points or [],
    )


def trust_list_token(
    authority: ECKey,
    nodes: list[dict[str, Any]],
    *,
    sequence: int = 1,
    issued_at: datetime | None = None,
    valid_for: timedelta = timedelta(days=30),
) -> str:
    return sign_trust_list(
        nodes=nodes,
        authority_key=authority,
        sequence=sequence,
        issuer="test authority",
        issued_at=issued_at,
        valid_for=valid_for,
    )


def egress_policy_input(purpose: str = "assistance") -> dict[str, Any]:
    return {
        "action": "referral.send",
        "sender": {"org": MD_NGO, "roles": ["ngo_service_provider"], "country": "MD"},
        "recipient": {"org": NL_NGO, "roles": ["police"], "country": "NL"},
        "purpose": purpose,
        "data_categories": ["language_needs"],
        "context": {"now": "2026-11-28T21:00:00Z", "cross_border": True},
    }


def referral_document(
    org_key: ECKey,
    *,
    referral_id: str | None = None,
    sender_org: str = MD_NGO,
    recipient_org: str = NL_NGO,
    purpose: str = "assistance",
) -> dict[str, Any]:
    payload = {"language_needs": {"languages": ["ro"]}}
    return {
        "id": referral_id or uuid7(),
        "sender": sender_org,
        "recipient": recipient_org,
        "purpose": purpose,
        "payload": payload,
        "payload_signature": sign_detached(canonicalize(payload), org_key),
        "payload_signed_by": "sender",
    }


def deliver_envelope(
    org_key: ECKey,
    *,
    from_node: str = MD_NODE,
    to_node: str = NL_NODE,
    message_id: str | None = None,
    purpose: str = "assistance",
    **referral: Any,
) -> Envelope:
    return Envelope(
        id=message_id or uuid7(),
        from_node=from_node,
        to_node=to_node,
        message_type="referral.deliver",
        body=referral_document(org_key, purpose=purpose, **referral),
        sender_jwks=Jwks.model_validate({"keys": [public(org_key)]}),
        policy_input=egress_policy_input(purpose),
    )


def issued(envelope: Envelope, node_key: ECKey, *, now: datetime | None = None) -> dict[str, Any]:
    """The envelope as one delivery attempt sends it."""
    return issue(json.loads(fixed_part(envelope)), key=node_key, now=now or datetime.now(UTC))


def write_anchor(path: Path, *keys: ECKey) -> Path:
    path.write_text(json.dumps({"keys": [public(k) for k in keys]}))
    return path
