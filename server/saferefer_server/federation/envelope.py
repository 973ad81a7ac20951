"""The federation envelope (federation-envelope.schema.json): one message between two nodes.

The envelope names the message (`id`, `message_type`), both nodes, when it was issued, and carries
a type-specific `body`; `signature` is the sending node's detached JWS over the JCS form of the
envelope without `signature`. For `referral.deliver` the body is the referral, whose
`payload_signature` is the sending organisation's own signature over the payload, so the
receiving node checks two signatures: the node's (against the trust list) and the organisation's
(against `sender_jwks`, the organisation keys the node vouches for by signing the envelope).

What stays fixed from enqueue to delivery is everything except `issued_at` and `signature`: each
attempt is issued and signed afresh with the node key current at that moment. A message queued
for hours therefore still passes the receiver's freshness check (SR-FED-007) and verifies after a
key rotation, while its `id` and `digest` (over the fixed part) identify it for idempotency.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from joserfc.jwk import ECKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from saferefer_server.audit.jcs import canonicalize
from saferefer_server.federation.errors import FederationRejected
from saferefer_server.federation.jose import (
    SignatureInvalid,
    detached_header,
    sign_detached,
    signed_bytes,
    verify_detached,
)
from saferefer_server.federation.trustlist import NODE_ID_PATTERN, Jwks, TrustList

ENVELOPE_VERSION: Literal["1"] = "1"
ORG_ID_PATTERN = r"^urn:saferefer:org:[A-Z]{2}:[a-z0-9][a-z0-9-]{1,62}$"
UUID7_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
MessageType = Literal[
    "referral.deliver", "referral.transition", "erasure.request", "erasure.acknowledgement"
]
MESSAGE_TYPES: tuple[MessageType, ...] = (
    "referral.deliver",
    "referral.transition",
    "erasure.request",
    "erasure.acknowledgement",
)
# Where each body names its referral, and the organisation on whose behalf the node speaks.
_REFERRAL_ID_MEMBER: dict[str, str] = {
    "referral.deliver": "id",
    "referral.transition": "referral_id",
    "erasure.request": "referral_id",
    "erasure.acknowledgement": "referral_id",
}
_ACTING_ORG_MEMBER: dict[str, str] = {
    "referral.deliver": "sender",
    "referral.transition": "actor_org",
    "erasure.request": "sender",
    "erasure.acknowledgement": "acknowledged_by",
}
# Members that change at every delivery attempt, left out of the content digest.
_PER_ATTEMPT = ("issued_at", "signature")
MAX_MESSAGE_AGE = timedelta(minutes=5)


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    envelope_version: Literal["1"] = ENVELOPE_VERSION
    id: str = Field(pattern=UUID7_PATTERN)
    from_node: str = Field(pattern=NODE_ID_PATTERN)
    to_node: str = Field(pattern=NODE_ID_PATTERN)
    issued_at: datetime | None = None
    message_type: MessageType
    body: dict[str, Any]
    # Extensions pending in the spec (see the federation notes): the sending organisation's
    # public keys, and the input of the egress decision for the receiver's ingress decision.
    sender_jwks: Jwks | None = None
    policy_input: dict[str, Any] | None = None
    signature: str | None = None

    @property
    def referral_id(self) -> str:
        value = self.body.get(_REFERRAL_ID_MEMBER[self.message_type])
        if not isinstance(value, str):
            raise ValueError(f"{self.message_type} body names no referral")
        return value

    @property
    def acting_org(self) -> str | None:
        value = self.body.get(_ACTING_ORG_MEMBER[self.message_type])
        return value if isinstance(value, str) else None

    def document(self) -> dict[str, Any]:
        """The JSON document, without members that are absent."""
        document = self.model_dump(mode="json", exclude_none=True)
        if self.issued_at is not None:
            document["issued_at"] = rfc3339(self.issued_at)
        return document


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def content_digest(document: Mapping[str, Any]) -> str:
    """SHA-256 of the JCS form without the per-attempt members: equal for every attempt."""
    return hashlib.sha256(signed_bytes(document, exclude=_PER_ATTEMPT)).hexdigest()


def fixed_part(envelope: Envelope) -> str:
    """What the outbox stores: the envelope without `issued_at` and `signature`."""
    document = envelope.document()
    for member in _PER_ATTEMPT:
        document.pop(member, None)
    return canonicalize(document).decode()


def issue(fixed: Mapping[str, Any], *, key: ECKey, now: datetime) -> dict[str, Any]:
    """One delivery attempt's envelope: issued now and signed with the current node key."""
    document = {**fixed, "issued_at": rfc3339(now)}
    document["signature"] = sign_detached(signed_bytes(document), key)
    return document


class VerifiedEnvelope(BaseModel):
    model_config = ConfigDict(frozen=True)

    envelope: Envelope
    digest: str
    node_kid: str


def verify_envelope(
    document: Mapping[str, Any],
    *,
    trust_list: TrustList,
    self_node_id: str,
    now: datetime | None = None,
    max_clock_skew: timedelta = timedelta(minutes=5),
    max_age: timedelta = MAX_MESSAGE_AGE,
) -> VerifiedEnvelope:
    """Authenticate a peer's message; raises FederationRejected naming the reason."""
    now = now or datetime.now(UTC)
    signature, from_node = document.get("signature"), document.get("from_node")
    if not isinstance(signature, str) or not isinstance(from_node, str):
        raise FederationRejected("malformed", "envelope needs from_node and signature")
    try:
        kid = detached_header(signature)["kid"]
    except SignatureInvalid as exc:
        raise FederationRejected("malformed", f"envelope signature: {exc}") from exc
    key = trust_list.verification_key(node_id=from_node, kid=kid, at=now)
    try:
        verify_detached(signature, signed_bytes(document), key)
    except SignatureInvalid as exc:
        raise FederationRejected("bad_signature", f"envelope signature of {from_node}") from exc
    except (TypeError, ValueError) as exc:  # not representable as canonical JSON
        raise FederationRejected("malformed", "envelope is not canonical JSON") from exc
    try:
        envelope = Envelope.model_validate(dict(document))
        referral_id = envelope.referral_id
    except (ValidationError, ValueError) as exc:
        raise FederationRejected("malformed", _first_error(exc)) from exc
    if envelope.to_node != self_node_id:
        raise FederationRejected("wrong_recipient_node", f"message is for {envelope.to_node}")
    issued_at = envelope.issued_at
    if issued_at is None:
        raise FederationRejected("malformed", "envelope needs issued_at")
    if issued_at > now + max_clock_skew:
        raise FederationRejected("clock_skew", "message issued in the future")
    if issued_at < now - max_age:
        raise FederationRejected("stale_message", "message issued too long ago; re-issue it")
    node = trust_list.node(from_node)
    assert node is not None  # verification_key found it
    acting_org = envelope.acting_org
    if acting_org is not None and org_country(acting_org) != node.country:
        raise FederationRejected(
            "org_country_mismatch", f"{from_node} cannot speak for {acting_org}"
        )
    if envelope.message_type == "referral.deliver":
        _verify_payload_signature(envelope, node_key=key, referral_id=referral_id)
    return VerifiedEnvelope(envelope=envelope, digest=content_digest(document), node_kid=kid)


def _verify_payload_signature(envelope: Envelope, *, node_key: ECKey, referral_id: str) -> None:
    body = envelope.body
    signature, payload = body.get("payload_signature"), body.get("payload")
    if payload is None and signature is None:
        return  # nothing personal travels (e.g. only codes); the node signature covers it
    if not isinstance(signature, str) or not isinstance(payload, dict):
        raise FederationRejected(
            "org_signature_invalid", f"referral {referral_id}: payload without payload_signature"
        )
    try:
        kid = detached_header(signature)["kid"]
        if body.get("payload_signed_by", "sender") == "node":
            key = node_key
        else:
            sender_keys = envelope.sender_jwks.keys if envelope.sender_jwks else ()
            jwk = next((k for k in sender_keys if k.kid == kid), None)
            if jwk is None:
                raise SignatureInvalid("payload signature kid not in sender_jwks")
            key = jwk.key()
        verify_detached(signature, canonicalize(payload), key)
    except SignatureInvalid as exc:
        raise FederationRejected(
            "org_signature_invalid", f"referral {referral_id}: payload signature does not verify"
        ) from exc


def _first_error(exc: ValidationError | ValueError) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = "/".join(str(p) for p in first["loc"]) or "(root)"
        return f"envelope {where}: {first['msg']}"
    return str(exc)


def org_country(org_id: str) -> str:
    return org_id.split(":")[3]
