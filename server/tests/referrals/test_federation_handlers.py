"""The inbound federation handlers: a referral delivered by a peer node lands in the local
inbox with its audit entry and event; a withdrawal at the peer revokes it here."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from saferefer_server.audit.ids import uuid7
from saferefer_server.federation.inbound import InboundConflict, InboundMessage
from saferefer_server.policy import PolicyDecision
from saferefer_server.referrals import federation
from saferefer_server.referrals.testing import DomainFlows, new_subject_ref, referral_body

PEER_NODE = "urn:saferefer:node:MD:peer"
PEER_NGO = "urn:saferefer:org:MD:peer-ngo"
SHELTER = "urn:saferefer:org:NL:demo-shelter"
CONSENT = "01936f5e-8a7b-7c3d-9e4f-0a1b2c3d4e5f"


def delivered(referral_id: str) -> dict[str, Any]:
    body = referral_body(recipient=SHELTER, consent_ids=[CONSENT])
    body.pop("context", None)
    body.update(
        id=referral_id,
        sender=PEER_NGO,
        sender_node=PEER_NODE,
        recipient_node="urn:saferefer:node:NL:demo",
        state="submitted",
        data_categories=sorted(body["payload"]),
        withheld_categories=[],
        cross_border=True,
        payload_flags={},
        justifications=[],
        payload_signed_by="node",
        subject_ref=new_subject_ref(),
        created_at="2026-11-28T10:00:00Z",
        updated_at="2026-11-28T10:00:00Z",
        state_changed_at="2026-11-28T10:00:00Z",
    )
    return body


def message(
    message_type: Any, referral_id: str, body: dict[str, Any], **extra: Any
) -> InboundMessage:
    fields: dict[str, Any] = {
        "message_id": uuid7(),
        "message_type": message_type,
        "from_node": PEER_NODE,
        "to_node": "urn:saferefer:node:NL:demo",
        "referral_id": referral_id,
        "acting_org": PEER_NGO,
        "body": body,
        "sender_jwks": None,
        "issued_at": datetime.now(UTC),
        "ingress_decision": None,
        "ingress_policy_input": None,
    }
    fields.update(extra)
    return InboundMessage(**fields)


async def apply(flows: DomainFlows, handler: Any, inbound: InboundMessage) -> None:
    async with flows.node.app.state.sessionmaker() as db_session:
        await handler(db_session=db_session, message=inbound, app_state=flows.node.app.state)
        await db_session.commit()


async def test_delivered_referral_lands_in_the_inbox_and_a_withdrawal_revokes_it(
    flows: DomainFlows,
) -> None:
    referral_id = uuid7()
    allow = PolicyDecision(
        allow=True, violations=[], permitted_categories=["contact", "identity"], obligations=[]
    )
    policy_input = {
        "purpose": "assistance",
        "data_categories": ["contact", "identity"],
        "sender": {"org": PEER_NGO, "roles": ["ngo_service_provider"], "country": "MD"},
        "consents": [{"id": CONSENT, "status": "active"}],
    }
    await apply(
        flows,
        federation.on_deliver,
        message(
            "referral.deliver",
            referral_id,
            delivered(referral_id),
            ingress_decision=allow,
            ingress_policy_input=policy_input,
        ),
    )
    inbox = (await flows.get(SHELTER, "/v1/referrals", box="inbox")).json()["items"]
    assert [r["id"] for r in inbox] == [referral_id]
    assert inbox[0]["sender_node"] == PEER_NODE
    events = (await flows.get(SHELTER, "/v1/events")).json()["items"]
    assert [e["type"] for e in events] == ["org.saferefer.referral.submitted"]
    audit = (await flows.get(SHELTER, "/v1/audit")).json()["items"]
    assert [e["action"] for e in audit] == ["policy.decision", "referral.created"]
    assert audit[0]["id"] == inbox[0]["decision_id"]

    # The same delivery again changes nothing (the inbox de-duplicates; the handler too).
    await apply(
        flows,
        federation.on_deliver,
        message("referral.deliver", referral_id, delivered(referral_id)),
    )
    assert len((await flows.get(SHELTER, "/v1/referrals", box="inbox")).json()["items"]) == 1

    request = {
        "referral_id": referral_id,
        "consent_id": CONSENT,
        "sender": PEER_NGO,
        "grant_ids": [uuid7()],
        "forward_to_onward_recipients": True,
        "requested_at": "2026-11-28T11:00:00Z",
    }
    await apply(
        flows, federation.on_erasure_request, message("erasure.request", referral_id, request)
    )
    current = (await flows.get(SHELTER, f"/v1/referrals/{referral_id}")).json()
    assert current["state"] == "revoked"
    assert "payload" not in current
    types = [e["type"] for e in (await flows.get(SHELTER, "/v1/events")).json()["items"]]
    assert "org.saferefer.erasure.requested" in types
    assert "org.saferefer.referral.revoked" in types


async def test_transition_for_a_referral_not_shared_with_that_node_is_a_conflict(
    flows: DomainFlows,
) -> None:
    local = await flows.referral("urn:saferefer:org:NL:demo-ngo", SHELTER)
    record = {
        "id": uuid7(),
        "referral_id": local["id"],
        "from": "submitted",
        "to": "received",
        "actor": "recipient",
        "actor_org": SHELTER,
        "reason": None,
        "occurred_at": "2026-11-28T11:00:00Z",
    }
    with pytest.raises(InboundConflict):
        await apply(
            flows, federation.on_transition, message("referral.transition", local["id"], record)
        )


async def test_peer_refusal_declines_the_senders_referral_as_peer_refused(
    flows: DomainFlows,
) -> None:
    ngo = "urn:saferefer:org:NL:demo-ngo"
    referral = await flows.referral(ngo, SHELTER)
    refused = SimpleNamespace(referral_id=referral["id"], to_node=PEER_NODE)
    for _ in range(2):  # a second refusal of the same referral changes nothing
        async with flows.node.app.state.sessionmaker() as db_session:
            await federation.on_delivery_refused(
                db_session=db_session,
                message=refused,
                reason="ingress_policy_denied",
                app_state=flows.node.app.state,
            )
            await db_session.commit()

    current = (await flows.get(ngo, f"/v1/referrals/{referral['id']}")).json()
    assert (current["state"], current["reason"]) == ("declined", "peer_refused")
    moves = (await flows.get(ngo, f"/v1/referrals/{referral['id']}/transitions")).json()["items"]
    declined = [t for t in moves if t["to"] == "declined"]
    assert len(declined) == 1
    assert declined[0]["actor"] == "system"
    assert declined[0]["note"] == f"refused by {PEER_NODE}: ingress_policy_denied"
    types = [e["type"] for e in (await flows.get(ngo, "/v1/events")).json()["items"]]
    assert types.count("org.saferefer.referral.declined") == 1


async def test_peer_refusal_leaves_a_referral_that_moved_on_alone(flows: DomainFlows) -> None:
    ngo = "urn:saferefer:org:NL:demo-ngo"
    referral = await flows.referral(ngo, SHELTER)
    withdrawn = await flows.post(
        ngo, f"/v1/referrals/{referral['id']}/transitions", {"to": "withdrawn"}
    )
    assert withdrawn.status_code == 201, withdrawn.text
    async with flows.node.app.state.sessionmaker() as db_session:
        await federation.on_delivery_refused(
            db_session=db_session,
            message=SimpleNamespace(referral_id=referral["id"], to_node=PEER_NODE),
            reason="HTTP 422",
            app_state=flows.node.app.state,
        )
        await db_session.commit()
    current = (await flows.get(ngo, f"/v1/referrals/{referral['id']}")).json()
    assert current["state"] == "withdrawn"
