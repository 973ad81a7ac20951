"""Sending side of federation: put a message to a peer node into the durable outbox.

`enqueue_outbound` is called by the domain inside the transaction that records the change
(a referral allowed by the egress policy, a transition, a withdrawal, an erasure
acknowledgement). Nothing leaves the node here: the delivery worker sends after commit, so a
rolled-back change never reaches a peer and a committed one always does.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from saferefer_server.core import metrics
from saferefer_server.core.ids import uuid7
from saferefer_server.federation.envelope import Envelope, MessageType, fixed_part
from saferefer_server.federation.errors import FederationError
from saferefer_server.federation.models import OUTBOX_PENDING, FederationOutboxMessage
from saferefer_server.federation.runtime import FederationRuntime


class FederationUnavailable(FederationError):
    """A message was addressed to another node, but this node does not federate with it."""


async def enqueue_outbound(
    *,
    db_session: AsyncSession,
    federation: FederationRuntime | None,
    message_type: MessageType,
    to_node: str,
    body: Mapping[str, Any],
    sender_jwks: Mapping[str, Any] | None = None,
    policy_input: Mapping[str, Any] | None = None,
    message_id: str | None = None,
    now: datetime | None = None,
) -> str:
    """Add a message for `to_node` to the outbox (caller commits); returns its message id.

    `body` is the document federation-envelope.schema.json defines for `message_type` (the
    referral, the transition record, the erasure request or acknowledgement). A
    `referral.deliver` also carries `sender_jwks` (the sending organisation's public keys, to
    verify `payload_signature`) and `policy_input` (what the egress policy decided, which the
    receiving node decides again with its own directory and overlays).

    Raises FederationUnavailable if federation is off or `to_node` is not an active member, so
    the caller refuses the request instead of queueing something that can never leave.
    """
    if federation is None:
        raise FederationUnavailable("this node does not federate")
    trust_list = federation.trust.current
    peer = trust_list.node(to_node) if trust_list is not None else None
    if peer is None or peer.status != "active" or to_node == federation.node_id:
        raise FederationUnavailable(f"{to_node} is not an active peer of this node")
    _check_members(message_type, body, sender_jwks=sender_jwks, policy_input=policy_input)
    now = now or datetime.now(UTC)
    envelope = Envelope.model_validate(
        {
            "id": message_id or uuid7(),
            "from_node": federation.node_id,
            "to_node": to_node,
            "message_type": message_type,
            "body": dict(body),
            "sender_jwks": dict(sender_jwks) if sender_jwks is not None else None,
            "policy_input": dict(policy_input) if policy_input is not None else None,
        }
    )
    db_session.add(
        FederationOutboxMessage(
            message_id=envelope.id,
            message_type=message_type,
            to_node=to_node,
            referral_id=envelope.referral_id,
            envelope=fixed_part(envelope),
            status=OUTBOX_PENDING,
            attempts=0,
            created_at=now,
            next_attempt_at=now,
        )
    )
    _wake_after_commit(db_session, federation)
    return envelope.id


def _check_members(
    message_type: MessageType,
    body: Mapping[str, Any],
    *,
    sender_jwks: Mapping[str, Any] | None,
    policy_input: Mapping[str, Any] | None,
) -> None:
    """The envelope members federation-envelope.schema.json requires or forbids per type."""
    if message_type != "referral.deliver":
        if sender_jwks is not None or policy_input is not None:
            raise ValueError(f"{message_type} carries neither sender_jwks nor policy_input")
        return
    if policy_input is None:
        raise ValueError("referral.deliver needs the policy_input of the egress decision")
    if body.get("payload_signed_by", "sender") == "sender" and sender_jwks is None:
        raise ValueError("a payload signed by the sender needs sender_jwks to be verified")


def _wake_after_commit(db_session: AsyncSession, federation: FederationRuntime) -> None:
    sync_session = db_session.sync_session

    def _wake(session: Session) -> None:
        federation.wake()

    if not event.contains(sync_session, "after_commit", _wake):
        event.listen(sync_session, "after_commit", _wake, once=True)


async def outbox_summary(*, db_session: AsyncSession) -> dict[str, dict[str, int]]:
    """Message counts by peer node and status (for metrics and the operator CLI)."""
    rows = await db_session.execute(
        select(
            FederationOutboxMessage.to_node,
            FederationOutboxMessage.status,
            func.count(),
        ).group_by(FederationOutboxMessage.to_node, FederationOutboxMessage.status)
    )
    summary: dict[str, dict[str, int]] = {}
    for to_node, status, count in rows.all():
        summary.setdefault(to_node, {})[status] = count
    return summary


async def _outbox_gauge(db_session: AsyncSession) -> dict[tuple[str, ...], float]:
    summary = await outbox_summary(db_session=db_session)
    return {
        (peer, status): float(count)
        for peer, statuses in summary.items()
        for status, count in statuses.items()
    }


metrics.register_gauge(
    "saferefer_federation_outbox_messages",
    "Federation outbox messages by peer node and status (pending, delivered, rejected, dead)",
    _outbox_gauge,
    ("peer", "status"),
)
