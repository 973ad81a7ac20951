"""Federation: a node publishes its trust list and accepts only messages its trust list vouches for.

These checks need no second node: they play an untrusted or forging peer. Delivery guarantees
between two real nodes (idempotency by referral id, store-and-forward) need the implementer's own
peer and are
listed in spec/requirements.csv with the reason they are not checked here.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from joserfc import jws
from joserfc.jwk import ECKey

from .._context import Context
from .._failures import FailureCollector, Skipped
from .._http import b64url_json
from .._registry import check

TRUST_LIST = "/federation/v1/trust-list"
MESSAGES = "/federation/v1/messages"


def _require_federation(ctx: Context) -> None:
    if "federation" not in (ctx.capability().get("profiles") or []):
        raise Skipped("the server does not claim the federation profile")


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
    _require_federation(ctx)
    document = _trust_list(ctx)
    node_id = str(ctx.capability().get("node_id"))
    if node_id not in json.dumps(document.get("peers")):
        ctx.fail("The trust list in force does not name this node", "", expected=str(node_id))


def _envelope(sender_node: str, recipient_node: str) -> dict[str, Any]:
    now = int(time.time())
    return {
        "message_id": str(uuid.uuid4()),
        "type": "referral.deliver",
        "sender_node": sender_node,
        "recipient_node": recipient_node,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "body": {},
    }


def _flattened(payload: dict[str, Any], key: ECKey, kid: str, alg: str = "ES256") -> dict[str, Any]:
    if alg == "none":
        return {
            "protected": b64url_json({"alg": "none", "kid": kid}),
            "payload": b64url_json(payload),
            "signature": "",
        }
    compact = jws.serialize_compact(
        {"alg": "ES256", "kid": kid}, json.dumps(payload).encode(), key, algorithms=["ES256"]
    )
    protected, body, signature = compact.split(".")
    return {"protected": protected, "payload": body, "signature": signature}


@check(
    id="SRC-111",
    name="federation_rejects_untrusted_messages",
    title="Messages from unknown nodes, with forged signatures or alg none, are rejected",
    severity="must",
    requirements=["SR-FED-002", "SR-FED-010"],
    profile="federation",
)
def federation_rejects_untrusted_messages(ctx: Context) -> None:
    _require_federation(ctx)
    document = _trust_list(ctx)
    node_id = str(ctx.capability().get("node_id"))
    peers = [p for p in document.get("peers", []) if p.get("node_id") != node_id]
    forger = ECKey.generate_key("P-256", private=True)
    claimed = str(peers[0]["node_id"]) if peers else "urn:saferefer:node:ZZ:conformance"
    attempts = {
        "a message from a node not on the trust list": _flattened(
            _envelope("urn:saferefer:node:ZZ:conformance-unknown", node_id), forger, "conformance"
        ),
        "a message claiming a trusted peer, signed with another key": _flattened(
            _envelope(claimed, node_id), forger, "conformance-forged"
        ),
        "an unsigned (alg none) message claiming a trusted peer": _flattened(
            _envelope(claimed, node_id), forger, "x", alg="none"
        ),
    }
    found = FailureCollector()
    for what, body in attempts.items():
        response = ctx.http.post(MESSAGES, json=body, headers={"Accept": "application/json"})
        if errors := ctx.problem_errors(
            response,
            (400, 401, 403, 422),
            ("federation-rejected", "validation-error", "malformed-request"),
        ):
            found.add(
                ctx.failure(
                    f"{what} was not rejected",
                    "; ".join(errors),
                    expected="403 federation-rejected (or 4xx problem)",
                    response=response,
                )
            )
        elif response.status_code < 300:
            found.add(ctx.failure(f"{what} was accepted", "", response=response))
    found.raise_if_any()
