"""Consent tables: the record, its grants (for "named in" lookups) and withdrawal notices."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from saferefer_server.db.base import Base, JSONDocument, UTCDateTime

STATUS_ACTIVE = "active"
STATUS_WITHDRAWN = "withdrawn"
STATUS_EXPIRED = "expired"


class Consent(Base):
    __tablename__ = "consents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    recorded_by_org: Mapped[str] = mapped_column(String(120))
    recorder_role: Mapped[str] = mapped_column(String(40))
    subject_ref: Mapped[str] = mapped_column(String(200))
    # `withdrawn` is stored; `expired` is derived from valid_until at read time (see service.status_of).
    status: Mapped[str] = mapped_column(String(16))
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The consent-create document as the recorder sent and signed it.
    document: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    recorder_jws: Mapped[str | None] = mapped_column(Text)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawal: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    # When the node announced the expiry (the status itself is derived from valid_until).
    expiry_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_consents_recorder_id", "recorded_by_org", "id"),)


class ConsentGrant(Base):
    """One grant of a consent, flattened so "consents naming me" is an indexed query."""

    __tablename__ = "consent_grants"

    consent_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("consents.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    recipient_org: Mapped[str | None] = mapped_column(String(120), index=True)
    recipient_role: Mapped[str | None] = mapped_column(String(40))
    recipient_country: Mapped[str | None] = mapped_column(String(2))

    __table_args__ = (
        Index("ix_consent_grants_role_country", "recipient_role", "recipient_country"),
    )


class WithdrawalNotice(Base):
    """Notice of a withdrawal to one organisation that received data under the consent (R35),
    and its acknowledgement (erased or restricted) once the recipient has acted."""

    __tablename__ = "withdrawal_notices"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    consent_id: Mapped[str] = mapped_column(String(36), index=True)
    referral_id: Mapped[str] = mapped_column(String(36))
    recipient_org: Mapped[str] = mapped_column(String(120))
    notified_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    action: Mapped[str | None] = mapped_column(String(16))
    legal_basis: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (
        UniqueConstraint("consent_id", "referral_id"),
        Index("ix_withdrawal_notices_referral", "referral_id"),
    )
