"""Federation tables: the durable outbox of messages to peers, and the inbox of message ids.

The outbox row is written in the same transaction as the change it reports (a referral, a
transition, a withdrawal), so an acknowledged change is never lost to a crash; the delivery
worker claims rows with a lease, so a worker killed mid-delivery leaves the row to be claimed
again once the lease runs out. The inbox row is written in the same transaction as the effect of
a received message, so a message delivered twice has one effect.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from saferefer_server.db.base import Base, JSONDocument

# Outbox states: pending (to deliver or retry), delivered (peer acknowledged, also as duplicate),
# rejected (peer refused for good, e.g. ingress policy), dead (gave up after max age).
OUTBOX_PENDING = "pending"
OUTBOX_DELIVERED = "delivered"
OUTBOX_REJECTED = "rejected"
OUTBOX_DEAD = "dead"


class FederationOutboxMessage(Base):
    __tablename__ = "federation_outbox"

    message_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    message_type: Mapped[str] = mapped_column(String(40))
    to_node: Mapped[str] = mapped_column(String(120))
    referral_id: Mapped[str] = mapped_column(String(36))
    # The exact envelope bytes (canonical JSON) signed at each attempt.
    envelope: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=OUTBOX_PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(36), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    # Status code and problem type/reason of the last failed attempt: ids and codes only.
    last_error: Mapped[str | None] = mapped_column(String(300), default=None)
    # The peer's answer that ended delivery (receipt, or the problem document of a rejection).
    peer_response: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)

    __table_args__ = (
        Index("ix_federation_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_federation_outbox_to_node_referral_id", "to_node", "referral_id", "created_at"),
    )


class FederationInboxMessage(Base):
    __tablename__ = "federation_inbox"

    message_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    message_type: Mapped[str] = mapped_column(String(40))
    from_node: Mapped[str] = mapped_column(String(120))
    referral_id: Mapped[str] = mapped_column(String(36))
    digest: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime]
    # accepted | denied (ingress policy) — a duplicate replays the stored answer.
    outcome: Mapped[str] = mapped_column(String(16))
    response_status: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSONDocument)

    __table_args__ = (Index("ix_federation_inbox_referral_id", "referral_id"),)
