"""Referral tables: the referral (payload sealed), the consents it cites, its transitions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from saferefer_server.db.base import Base, JSONDocument, UTCDateTime


class Referral(Base):
    __tablename__ = "referrals"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sender_org: Mapped[str] = mapped_column(String(120))
    recipient_org: Mapped[str] = mapped_column(String(120))
    # Snapshots at sending time, for statistics (the directory can change later).
    sender_country: Mapped[str] = mapped_column(String(2))
    recipient_country: Mapped[str] = mapped_column(String(2))
    recipient_role: Mapped[str] = mapped_column(String(40))
    sender_role: Mapped[str] = mapped_column(String(40))
    age_status: Mapped[str] = mapped_column(String(32))
    cross_border: Mapped[bool] = mapped_column(Boolean)
    purpose: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(16))
    state_reason: Mapped[str | None] = mapped_column(String(40))
    subject_ref: Mapped[str] = mapped_column(String(200))
    data_categories: Mapped[list[str]] = mapped_column(JSONDocument)
    consent_ids: Mapped[list[str]] = mapped_column(JSONDocument)
    based_on: Mapped[str | None] = mapped_column(String(36))
    # The non-personal members of the create body (urgency, services, language needs codes…).
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    retain_until: Mapped[datetime] = mapped_column(UTCDateTime)
    respond_by: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state_changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # AES-GCM(payload, payload signature, language needs); NULL once erased.
    sealed_kid: Mapped[str | None] = mapped_column(String(64))
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    erasure_reason: Mapped[str | None] = mapped_column(String(40))

    __table_args__ = (
        Index("ix_referrals_recipient_id", "recipient_org", "id"),
        Index("ix_referrals_sender_id", "sender_org", "id"),
        Index("ix_referrals_retain_until", "retain_until"),
        Index("ix_referrals_state_respond_by", "state", "respond_by"),
        Index("ix_referrals_created_at", "created_at"),
    )


class ReferralConsent(Base):
    """Which consents a referral was sent under (to find every disclosure of a consent)."""

    __tablename__ = "referral_consents"

    referral_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("referrals.id", ondelete="CASCADE"), primary_key=True
    )
    consent_id: Mapped[str] = mapped_column(String(36), primary_key=True, index=True)


class ReferralTransition(Base):
    __tablename__ = "referral_transitions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    referral_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("referrals.id", ondelete="CASCADE"), index=True
    )
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(16))
    actor_org: Mapped[str | None] = mapped_column(String(120))
    reason: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(String(500))
    caused_by: Mapped[str | None] = mapped_column(String(36))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
