"""Federation: a node publishes its trust list and accepts only messages its trust list vouches for.

These checks need no second node. SRC-110 and SRC-111 play an untrusted or forging peer; SRC-112
plays a trusted peer whose key the implementer gave the suite (``[federation_peer]``) and sends
correctly signed messages the node must still refuse. Every envelope the suite sends is valid
against federation-envelope.schema.json, so a refusal is for the reason under test, not for the
envelope's shape. Delivery guarantees between two real nodes (idempotency by envelope id,
store-and-forward, ingress decisions) need the implementer's own peer and are listed in
spec/requirements.csv with the reason they are not checked here.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc import jws
from joserfc.jwk import ECKey

from .._context import Context
from .._failures import FailureCollector, Skipped
from .._http import b64url_json
from .._jcs import canonicalize
from .._registry import check

TRUST_LIST = "/federation/v1/trust-list"
MESSAGES = "/federation/v1/messages"
UNKNOWN_NODE = "urn:saferefer:node:ZZ:conformance-unknown"


def _trust_list(ctx: Context) -> dict[str, Any]:
    """The trust list in force: a JSON document carrying its own signature (trust-list.schema.json)."""
    response = ctx.anonymous.get(TRUST_LIST, authenticated=False)
    ctx.expect_status(response, 200, "The trust list in force is not published")
    document = ctx.json(response, "The trust list is not a JSON document")
    if not isinstance(document, dict):
        ctx.fail("The trust list is not a JSON object", "", response=response)
    ctx.expect_schema(
        document, "trust-list.schema.json", "The trust list does not match its schema", response
    )
    return document


@check(
    id="SRC-110",
    name="trust_list_published",
    title="The node publishes the signed trust list it is using, and it names the node itself",
    severity="must",
    requirements=["SR-FED-001"],
    profile="federation",
)
def trust_list_published(ctx: Context) -> None:
    document = _trust_list(ctx)
    node_id = str(ctx.capability().get("node_id"))
    if node_id not in json.dumps(document.get("peers")):
        ctx.fail("The trust list in force does not name this node", "", expected=str(node_id))


def _uuid7() -> str:
    """A fresh UUIDv7 (RFC 9562): 48-bit Unix milliseconds, version 7, variant 10, random rest."""
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)
    value = (value & ~(0x3 << 62)) | (0x2 << 62)
    return str(uuid.UUID(int=value))


def _envelope(from_node: str, to_node: str) -> dict[str, Any]:
    """A schema-valid ``erasure.request`` envelope, unsigned: only its signature can be wrong."""
    issued_at = datetime.now(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "envelope_version": "1",
        "id": _uuid7(),
        "from_node": from_node,
        "to_node": to_node,
        "issued_at": issued_at,
        "message_type": "erasure.request",
        "body": {
            "referral_id": _uuid7(),
            "consent_id": _uuid7(),
            "sender": f"urn:saferefer:org:{from_node.split(':')[3]}:conformance-sender",
            "grant_ids": [_uuid7()],
            "forward_to_onward_recipients": True,
            "requested_at": issued_at,
        },
    }


def _signed(envelope: dict[str, Any], key: ECKey, kid: str, alg: str = "ES256") -> dict[str, Any]:
    """The envelope with its detached JWS over the JCS form of the rest (as the spec signs it)."""
    if alg == "none":
        return {**envelope, "signature": f"{b64url_json({'alg': 'none', 'kid': kid})}..AA"}
    compact = jws.serialize_compact(
        {"alg": "ES256", "kid": kid}, canonicalize(envelope), key, algorithms=["ES256"]
    )
    protected, _, signature = compact.split(".")
    return {**envelope, "signature": f"{protected}..{signature}"}


def _peer_kid(peer: dict[str, Any]) -> str:
    keys = (peer.get("jwks") or {}).get("keys") or [{}]
    return str(keys[0].get("kid") or "conformance")


@check(
    id="SRC-111",
    name="federation_rejects_untrusted_messages",
    title="Messages from unknown nodes, with forged signatures or alg none, are rejected",
    severity="must",
    requirements=["SR-FED-002", "SR-FED-010", "SR-FED-011"],
    profile="federation",
)
def federation_rejects_untrusted_messages(ctx: Context) -> None:
    document = _trust_list(ctx)
    node_id = str(ctx.capability().get("node_id"))
    peers = [
        p
        for p in document.get("peers", [])
        if p.get("node_id") != node_id and p.get("status", "active") == "active"
    ]
    if not peers:
        raise Skipped("the trust list names no active peer besides this node to impersonate")
    peer = peers[0]
    claimed, kid = str(peer["node_id"]), _peer_kid(peer)
    forger = ECKey.generate_key("P-256", private=True)
    # Each envelope is valid against federation-envelope.schema.json and addressed to this node:
    # the signature (or the sender's absence from the trust list) is the only thing wrong with it.
    attempts: dict[str, tuple[dict[str, Any], set[str]]] = {
        "a message from a node not on the trust list": (
            _signed(_envelope(UNKNOWN_NODE, node_id), forger, "conformance"),
            {"unknown_node"},
        ),
        "a message claiming a trusted peer, signed by another key under the peer's kid": (
            _signed(_envelope(claimed, node_id), forger, kid),
            {"bad_signature"},
        ),
        "a message claiming a trusted peer, signed with a key the trust list does not give": (
            _signed(_envelope(claimed, node_id), forger, "conformance-forged"),
            {"unknown_key"},
        ),
        "an unsigned (alg none) message claiming a trusted peer": (
            _signed(_envelope(claimed, node_id), forger, kid, alg="none"),
            {"bad_signature", "malformed"},
        ),
    }
    found = FailureCollector()
    for what, (body, reasons) in attempts.items():
        response = ctx.http.post(MESSAGES, json=body, headers={"Accept": "application/json"})
        errors = ctx.problem_errors(response, 403, "federation-rejected")
        if not errors:
            reason = response.json().get("reason")
            if reason not in reasons:
                errors = [f"reason {reason!r}, expected {' or '.join(sorted(reasons))}"]
        if errors:
            found.add(
                ctx.failure(
                    f"{what} was accepted"
                    if response.status_code < 300
                    else f"{what} was not rejected for its signature",
                    "; ".join(errors),
                    expected="403 federation-rejected, reason " + " or ".join(sorted(reasons)),
                    response=response,
                )
            )
    found.raise_if_any()


@check(
    id="SRC-112",
    name="federation_refuses_stale_misaddressed_or_unfounded_messages",
    title="Correctly signed messages that are stale, misaddressed, speak for a foreign organisation "
    "or concern a referral the node does not share are refused",
    severity="must",
    requirements=["SR-FED-007", "SR-FED-011", "SR-FED-018", "SR-FED-020"],
    profile="federation",
)
def federation_refuses_stale_misaddressed_or_unfounded_messages(ctx: Context) -> None:
    peer = ctx.config.federation_peer
    if peer is None:
        raise Skipped(
            "needs a test node on the server's trust list: add [federation_peer] (node_id and "
            "its private key) to the configuration"
        )
    node_id = str(ctx.capability().get("node_id"))
    key = ECKey.import_key(dict(peer.private_key_jwk))

    def envelope(*, age: timedelta = timedelta(0), to_node: str = node_id) -> dict[str, Any]:
        document = _envelope(peer.node_id, to_node)
        moment = datetime.now(UTC) - age
        document["issued_at"] = moment.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
        return document

    foreign = envelope()
    foreign["body"]["sender"] = "urn:saferefer:org:ZZ:conformance-foreign"
    attempts: dict[str, tuple[dict[str, Any], int, str, str]] = {
        "a message issued 10 minutes ago": (
            envelope(age=timedelta(minutes=10)),
            403,
            "federation-rejected",
            "stale_message",
        ),
        "a message issued 10 minutes in the future": (
            envelope(age=-timedelta(minutes=10)),
            403,
            "federation-rejected",
            "clock_skew",
        ),
        "a message addressed to another node": (
            envelope(to_node=UNKNOWN_NODE),
            403,
            "federation-rejected",
            "wrong_recipient_node",
        ),
        "a message speaking for an organisation of another country": (
            foreign,
            403,
            "federation-rejected",
            "org_country_mismatch",
        ),
        "an erasure request about a referral the node does not share with the peer": (
            envelope(),
            409,
            "conflict",
            "",
        ),
    }
    found = FailureCollector()
    for what, (document, status, slug, reason) in attempts.items():
        body = _signed(document, key, peer.kid)
        response = ctx.http.post(MESSAGES, json=body, headers={"Accept": "application/json"})
        errors = ctx.problem_errors(response, status, slug)
        if not errors and reason and response.json().get("reason") != reason:
            errors = [f"reason {response.json().get('reason')!r}, expected {reason!r}"]
        if errors:
            found.add(
                ctx.failure(
                    f"{what} was accepted"
                    if response.status_code < 300
                    else f"{what} was not refused as the standard says",
                    "; ".join(errors),
                    expected=f"{status} {slug}" + (f", reason {reason}" if reason else ""),
                    response=response,
                )
            )
    found.raise_if_any()
