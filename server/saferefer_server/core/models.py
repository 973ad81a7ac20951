"""Tables of the cross-cutting infrastructure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from saferefer_server.db.base import Base


class IdempotencyRecord(Base):
    """One `Idempotency-Key` of one organisation: the claim, then the stored first response.

    The composite primary key (org_id, key) is the arbiter between concurrent duplicates on any
    number of workers. The response body is encrypted with the payload key (it can echo a
    referral), and the row is useless after `expires_at`.
    """

    __tablename__ = "idempotency_records"

    org_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # in_progress | completed
    # Set in the same transaction as the request's own writes (see core.idempotency).
    effects_committed: Mapped[bool] = mapped_column(Boolean, default=False)
    claimed_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[list[Any] | None] = mapped_column(JSON)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    response_key_id: Mapped[str | None] = mapped_column(String(64))


class RateLimitWindow(Base):
    """Requests counted in one fixed window for one bucket (e.g. `token:addr:127.0.0.1`)."""

    __tablename__ = "rate_limit_windows"

    bucket: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
