"""Outbox tables: per-organisation sequences, events, webhook subscriptions and deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from saferefer_server.db.base import Base, JSONDocument, UTCDateTime

_SeqType = BigInteger().with_variant(Integer(), "sqlite")


class EventSequence(Base):
    """Last feed position per organisation. Allocating a position locks this row until commit,
    so positions are handed out in commit order and a rolled-back change leaves no gap."""

    __tablename__ = "event_sequences"

    org_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    last_seq: Mapped[int] = mapped_column(_SeqType)


class OutboxEvent(Base):
    """One CloudEvent for one organisation's feed, written in the transaction of the change."""

    __tablename__ = "outbox_events"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(120))
    seq: Mapped[int] = mapped_column(_SeqType)
    type: Mapped[str] = mapped_column(String(80))
    source: Mapped[str] = mapped_column(String(120))
    subject: Mapped[str] = mapped_column(String(120))
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    # Ids and codes only (event-types code list): never payload values.
    data: Mapped[dict[str, Any]] = mapped_column(JSONDocument)

    __table_args__ = (UniqueConstraint("org_id", "seq"),)


class Subscription(Base):
    """A webhook endpoint of one organisation, optionally filtered to some event types."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(120), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    event_types: Mapped[list[str]] = mapped_column(JSONDocument)
    description: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_delivery_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consecutive_failures: Mapped[int] = mapped_column(Integer)


SUBSCRIPTION_ACTIVE = "active"
SUBSCRIPTION_DISABLED = "disabled"

DELIVERY_PENDING = "pending"
DELIVERY_RETRYING = "retrying"
DELIVERY_DELIVERED = "delivered"
DELIVERY_DEAD = "dead_lettered"
OPEN_DELIVERY_STATUSES = (DELIVERY_PENDING, DELIVERY_RETRYING)


class WebhookDelivery(Base):
    """One event on its way to one subscription; retried until delivered or dead-lettered."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(36), index=True)
    org_id: Mapped[str] = mapped_column(String(120))
    event_id: Mapped[str] = mapped_column(String(36))
    event_type: Mapped[str] = mapped_column(String(80))
    sequence: Mapped[int] = mapped_column(_SeqType)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    # A fixed description of what went wrong (status, timeout, connection) — never a response body.
    last_error: Mapped[str | None] = mapped_column(String(200))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_webhook_deliveries_status_due", "status", "next_attempt_at"),)
