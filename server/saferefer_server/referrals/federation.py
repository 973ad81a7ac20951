"""Referrals that cross to or from a peer node.

Egress: a send to a contact point of a peer node is decided here as usual (with the peer's
contact-point roles from the trust list) and, in the same transaction, queued as a
`referral.deliver` message; transitions, erasure requests and acknowledgements about it follow
as messages too; a peer's final refusal of the delivery declines the sender's referral
(`peer_refused`). Ingress: the federation layer authenticates a peer's message, de-duplicates it
and decides the ingress policy, then calls the handlers below inside its transaction; they store
or change the local copy, audit it and put the events into the local organisations' feeds.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from saferefer_server.audit import service as audit
from saferefer_server.audit.ids import parse_rfc3339, rfc3339, uuid7
from saferefer_server.consents.models import WithdrawalNotice
from saferefer_server.core.problems import ProblemError
from saferefer_server.db.base import utcnow
from saferefer_server.events import service as events
from saferefer_server.federation import routing
from saferefer_server.federation import service as federation
from saferefer_server.federation.envelope import org_country
from saferefer_server.federation.inbound import (
    InboundConflict,
    InboundMessage,
    register_inbound_handler,
    register_ingress_denial_recorder,
)
from saferefer_server.federation.worker import register_refusal_handler
from saferefer_server.organisations.models import Organisation
from saferefer_server.referrals import crypto, states
from saferefer_server.referrals import service as referrals
from saferefer_server.referrals.models import Referral, ReferralTransition
from saferefer_server.referrals.node import node_context_of
from saferefer_server.referrals.service import NodeContext

PEER_REFUSED = "peer_refused"


def _peer_node(referral: Referral, node: NodeContext) -> str:
    sender_node = str(referral.attributes.get("sender_node", node.node_id))
    recipient_node = str(referral.attributes.get("recipient_node", node.node_id))
    return recipient_node if sender_node == node.node_id else sender_node


async def _enqueue(
    db_session: AsyncSession, node: NodeContext, to_node: str, message_type: Any, **kwargs: Any
) -> None:
    try:
        await federation.enqueue_outbound(
            db_session=db_session,
            federation=node.federation,
            message_type=message_type,
            to_node=to_node,
            **kwargs,
        )
    except federation.FederationUnavailable as exc:
        raise ProblemError(
            503,
            "federation-rejected",
            "The peer node is not reachable",
            f"{to_node} is not an active peer of this node; nothing was sent",
            headers={"Retry-After": "60"},
        ) from exc


# --- egress ----------------------------------------------------------------------------------


async def remote_recipient(*, node: NodeContext, org_id: str) -> Any:
    return routing.remote_recipient(node.federation, org_id)


async def deliver(
    *,
    db_session: AsyncSession,
    node: NodeContext,
    referral: Referral,
    sealed_document: dict[str, Any],
    sender: Organisation,
    policy_input: dict[str, Any],
) -> None:
    released = {
        **sealed_document,
        "payload_signed_by": referral.attributes.get("payload_signed_by", "sender"),
    }
    # The recipient's view: the peer gets the decision facts in `policy_input`, never disclosed.
    body = referrals.referral_document(referral, viewer=referral.recipient_org, released=released)
    signed_by_sender = released["payload_signed_by"] == "sender"
    await _enqueue(
        db_session,
        node,
        str(referral.attributes["recipient_node"]),
        "referral.deliver",
        body=body,
        sender_jwks=sender.jwks if signed_by_sender else None,
        policy_input=policy_input,
    )


async def send_transition(
    *,
    db_session: AsyncSession,
    node: NodeContext,
    referral: Referral,
    transition: ReferralTransition,
) -> None:
    await _enqueue(
        db_session,
        node,
        _peer_node(referral, node),
        "referral.transition",
        body=referrals.transition_document(transition),
    )


async def send_erasure_request(
    *, db_session: AsyncSession, node: NodeContext, referral: Referral, body: dict[str, Any]
) -> None:
    await _enqueue(db_session, node, _peer_node(referral, node), "erasure.request", body=body)


async def send_erasure_acknowledgement(
    *, db_session: AsyncSession, node: NodeContext, referral: Referral, record: dict[str, Any]
) -> None:
    await _enqueue(
        db_session, node, _peer_node(referral, node), "erasure.acknowledgement", body=record
    )


# --- ingress ---------------------------------------------------------------------------------


async def on_deliver(*, db_session: AsyncSession, message: InboundMessage, app_state: Any) -> None:
    node = node_context_of(app_state)
    body = message.body
    if await db_session.get(Referral, body["id"]) is not None:
        return
    recipient = await db_session.get(Organisation, body["recipient"])
    if recipient is None or not recipient.enabled:
        raise InboundConflict(f"recipient of referral {body['id']} is not in this directory")
    now = utcnow()
    policy_input = message.ingress_policy_input or {}
    decision_id = uuid7()
    if message.ingress_decision is not None:
        decision_id = await referrals.audit_decision(
            db_session=db_session,
            node=node,
            decision=message.ingress_decision,
            document=policy_input,
            actor_org=body["sender"],
            counterparty_org=recipient.id,
            object_type="referral",
            object_id=body["id"],
        )
    attributes = {key: body[key] for key in referrals.CLEAR_MEMBERS if key in body}
    attributes["payload_signed_by"] = body.get("payload_signed_by", "sender")
    attributes["sender_node"] = message.from_node
    attributes["recipient_node"] = node.node_id
    # The consents as the sending node's policy saw them: they live on that node, not here.
    attributes["remote_consents"] = list(policy_input.get("consents") or [])
    # The body is the recipient's view, without the decision inputs; this node's read decisions
    # need them and take them from the ingress policy input (never shown to the recipient).
    for member in referrals.SENDER_ONLY:
        if member not in attributes and member in policy_input:
            attributes[member] = policy_input[member]
    attributes["remote_sender"] = dict(policy_input.get("sender") or {})
    sealed_document = {"payload": body.get("payload", {})}
    for member in ("payload_signature", "language_needs"):
        if member in body:
            sealed_document[member] = body[member]
    kid, sealed = crypto.seal(
        keyring=node.keyring, referral_id=body["id"], document=sealed_document
    )
    sender_roles = (policy_input.get("sender") or {}).get("roles") or ["unknown"]
    referral = Referral(
        id=body["id"],
        sender_org=body["sender"],
        recipient_org=recipient.id,
        sender_country=org_country(body["sender"]),
        recipient_country=recipient.country,
        recipient_role=sorted(recipient.roles)[0] if recipient.roles else "unknown",
        sender_role=sorted(sender_roles)[0],
        age_status=str((body.get("subject") or {}).get("age_status", "unknown_possible_child")),
        cross_border=True,
        purpose=body["purpose"],
        state=states.initial_state(),
        state_reason=None,
        subject_ref=body["subject_ref"],
        data_categories=list(body["data_categories"]),
        consent_ids=list(body["consent_ids"]),
        based_on=None,
        attributes=attributes,
        retain_until=(
            parse_rfc3339(body["retain_until"])
            if body.get("retain_until")
            else now + referrals.DEFAULT_RETENTION
        ),
        respond_by=parse_rfc3339(body["respond_by"]) if body.get("respond_by") else None,
        decision_id=decision_id,
        created_at=now,
        updated_at=now,
        state_changed_at=now,
        sealed_kid=kid,
        sealed=sealed,
        erased_at=None,
        erasure_reason=None,
    )
    await referrals.record_submission(db_session=db_session, node=node, referral=referral, now=now)


async def _held_for(
    db_session: AsyncSession, message: InboundMessage, node: NodeContext
) -> Referral:
    referral = await db_session.get(Referral, message.referral_id)
    if referral is None or _peer_node(referral, node) != message.from_node:
        raise InboundConflict(
            f"referral {message.referral_id} is not shared with {message.from_node}"
        )
    return referral


async def on_delivery_refused(
    *, db_session: AsyncSession, message: Any, reason: str, app_state: Any
) -> None:
    """The peer node finally refused a referral this node sent (its ingress policy, or the
    message itself): the sender sees the referral `declined` with reason `peer_refused` (a
    system transition, spec/codelists/referral-states.json) and the peer's reason code as note,
    instead of a referral left `submitted` for ever."""
    referral = await db_session.get(Referral, message.referral_id)
    if referral is None or states.find(referral.state, "declined", states.SYSTEM) is None:
        return  # gone, or already moved on (withdrawn, expired): nothing to decline
    await referrals.move(
        db_session=db_session,
        referral=referral,
        target="declined",
        actor=states.SYSTEM,
        actor_org=None,
        reason=PEER_REFUSED,
        note=f"refused by {message.to_node}: {reason}"[:500],
        caused_by=None,
        node=node_context_of(app_state),
        now=utcnow(),
        from_peer=True,  # the peer refused it: nothing to tell the peer
    )


async def on_transition(
    *, db_session: AsyncSession, message: InboundMessage, app_state: Any
) -> None:
    node = node_context_of(app_state)
    referral = await _held_for(db_session, message, node)
    body = message.body
    if referral.state == body["to"]:
        return
    if (
        referral.state != body["from"]
        or states.find(body["from"], body["to"], body["actor"]) is None
    ):
        raise InboundConflict(
            f"referral {referral.id} is {referral.state}; cannot apply {body['from']}->{body['to']}"
        )
    moved = await referrals.move(
        db_session=db_session,
        referral=referral,
        target=body["to"],
        actor=body["actor"],
        actor_org=body.get("actor_org"),
        reason=body.get("reason"),
        note=body.get("note"),
        caused_by=body.get("caused_by"),
        node=node,
        now=utcnow(),
        from_peer=True,
    )
    if moved is None:
        raise InboundConflict(f"referral {referral.id} changed state concurrently")


async def on_erasure_request(
    *, db_session: AsyncSession, message: InboundMessage, app_state: Any
) -> None:
    node = node_context_of(app_state)
    referral = await _held_for(db_session, message, node)
    body = message.body
    now = utcnow()
    # Reads are decided on the consents as delivered: mark this one withdrawn for them.
    attributes = dict(referral.attributes)
    attributes["remote_consents"] = [
        {**c, "status": "withdrawn"} if c.get("id") == body["consent_id"] else c
        for c in attributes.get("remote_consents", [])
    ]
    referral.attributes = attributes
    if referral.state not in states.terminal_states():
        await referrals.move(
            db_session=db_session,
            referral=referral,
            target="revoked",
            actor=states.SYSTEM,
            actor_org=None,
            reason=None,
            note=None,
            caused_by=body["consent_id"],
            node=node,
            now=now,
            from_peer=True,
        )
    existing = await db_session.scalar(
        select(WithdrawalNotice.id).where(
            WithdrawalNotice.referral_id == referral.id,
            WithdrawalNotice.consent_id == body["consent_id"],
        )
    )
    if existing is None:
        db_session.add(
            WithdrawalNotice(
                id=uuid7(),
                consent_id=body["consent_id"],
                referral_id=referral.id,
                recipient_org=referral.recipient_org,
                notified_at=now,
                acknowledged_at=None,
                action=None,
                legal_basis=None,
            )
        )
    await events.emit(
        db_session=db_session,
        org_id=referral.recipient_org,
        event_type="org.saferefer.erasure.requested",
        subject=referral.id,
        data=dict(body),
        source=node.node_id,
    )
    await audit.append(
        db_session=db_session,
        node_id=node.node_id,
        actor_org=None,
        action="erasure.requested",
        object_type="referral",
        object_id=referral.id,
        counterparty_org=referral.recipient_org,
    )
    await _forward_erasure_request(
        db_session=db_session, node=node, referral=referral, request=body, now=now
    )


async def _forward_erasure_request(
    *,
    db_session: AsyncSession,
    node: NodeContext,
    referral: Referral,
    request: dict[str, Any],
    now: Any,
) -> None:
    """R14/R35: the notice travels along every onward referral made from this one, to local
    recipients as events and to recipients on other nodes as their own `erasure.request`."""
    onward = (
        await db_session.scalars(
            select(Referral).where(Referral.based_on == referral.id).order_by(Referral.id)
        )
    ).all()
    for child in onward:
        if child.state not in states.terminal_states():
            await referrals.move(
                db_session=db_session,
                referral=child,
                target="revoked",
                actor=states.SYSTEM,
                actor_org=None,
                reason=None,
                note=None,
                caused_by=request["consent_id"],
                node=node,
                now=now,
            )
        db_session.add(
            WithdrawalNotice(
                id=uuid7(),
                consent_id=request["consent_id"],
                referral_id=child.id,
                recipient_org=child.recipient_org,
                notified_at=now,
                acknowledged_at=None,
                action=None,
                legal_basis=None,
            )
        )
        forwarded = {
            **request,
            "referral_id": child.id,
            "sender": child.sender_org,
            "requested_at": rfc3339(now),
        }
        if referrals.is_local(child, "recipient", node):
            await events.emit(
                db_session=db_session,
                org_id=child.recipient_org,
                event_type="org.saferefer.erasure.requested",
                subject=child.id,
                data=forwarded,
                source=node.node_id,
            )
        else:
            await send_erasure_request(
                db_session=db_session, node=node, referral=child, body=forwarded
            )
        await audit.append(
            db_session=db_session,
            node_id=node.node_id,
            actor_org=None,
            action="erasure.requested",
            object_type="referral",
            object_id=child.id,
            counterparty_org=child.recipient_org,
        )


async def on_erasure_acknowledgement(
    *, db_session: AsyncSession, message: InboundMessage, app_state: Any
) -> None:
    node = node_context_of(app_state)
    referral = await _held_for(db_session, message, node)
    body = message.body
    notice = await db_session.scalar(
        select(WithdrawalNotice).where(
            WithdrawalNotice.referral_id == referral.id,
            WithdrawalNotice.consent_id == body["consent_id"],
        )
    )
    if notice is None:
        raise InboundConflict(f"no erasure was requested for referral {referral.id}")
    if notice.acknowledged_at is not None:
        return
    now = utcnow()
    notice.acknowledged_at = now
    notice.action = body["action"]
    notice.legal_basis = body.get("legal_basis")
    referrals.erase(referral, reason=referrals.ERASURE_WITHDRAWAL, now=now)
    await audit.append(
        db_session=db_session,
        node_id=node.node_id,
        actor_org=body["acknowledged_by"],
        action="erasure.acknowledged",
        object_type="erasure_acknowledgement",
        object_id=notice.id,
        counterparty_org=referral.sender_org,
        basis=notice.legal_basis,
    )
    await events.emit(
        db_session=db_session,
        org_id=referral.sender_org,
        event_type="org.saferefer.erasure.acknowledged",
        subject=referral.id,
        data={
            "referral_id": referral.id,
            "consent_id": body["consent_id"],
            "acknowledged_by": body["acknowledged_by"],
            "action": body["action"],
            "acknowledgement_id": notice.id,
            "occurred_at": rfc3339(now),
        },
        source=node.node_id,
    )


async def record_ingress_denial(
    *, db_session: AsyncSession, message: InboundMessage, decision: Any, app_state: Any
) -> None:
    """Every ingress denial is audited like a local one (R31)."""
    node = node_context_of(app_state)
    await referrals.audit_decision(
        db_session=db_session,
        node=node,
        decision=decision,
        document=message.ingress_policy_input
        or {"purpose": message.body.get("purpose"), "data_categories": []},
        actor_org=message.acting_org,
        counterparty_org=message.body.get("recipient"),
        object_type="referral",
        object_id=message.referral_id,
    )


def remote_sender(*, referral: Referral) -> Any:
    """The sender of a delivered referral, as the sending node described it to its policy."""
    described: dict[str, Any] = dict(referral.attributes.get("remote_sender") or {})
    roles = [str(r) for r in described.get("roles") or [referral.sender_role]]
    return routing.RemoteOrganisation(
        id=referral.sender_org,
        name=referral.sender_org,
        country=referral.sender_country,
        roles=roles,
        node_id=str(referral.attributes.get("sender_node")),
        base_url="https://peer.invalid",
    )


def install() -> None:
    referrals.peer_hooks.update(
        remote_sender=remote_sender,
        remote_recipient=remote_recipient,
        deliver=deliver,
        transition=send_transition,
        erasure_request=send_erasure_request,
        erasure_acknowledgement=send_erasure_acknowledgement,
    )
    register_refusal_handler("referral.deliver", on_delivery_refused)
    register_inbound_handler("referral.deliver", on_deliver)
    register_inbound_handler("referral.transition", on_transition)
    register_inbound_handler("erasure.request", on_erasure_request)
    register_inbound_handler("erasure.acknowledgement", on_erasure_acknowledgement)
    register_ingress_denial_recorder(record_ingress_denial)
