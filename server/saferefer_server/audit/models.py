"""Audit tables: the entries (audit-entry.schema.json) and the one-row chain head that orders appends."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from saferefer_server.db.base import Base, JSONDocument

GENESIS_HASH = "sha256:" + "0" * 64
CHAIN_HEAD_ID = 1

_SeqType = BigInteger().with_variant(Integer(), "sqlite")


class AuditEntry(Base):
    """One audit fact. Never updated or deleted; `hash` covers every other member."""

    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(_SeqType, primary_key=True, autoincrement=False)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    # The exact RFC 3339 text that was hashed, so verification never depends on how a backend
    # round-trips timestamps.
    occurred_at: Mapped[str] = mapped_column(String(40))
    node_id: Mapped[str] = mapped_column(String(120))
    actor_org: Mapped[str | None] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(128))
    counterparty_org: Mapped[str | None] = mapped_column(String(120))
    # Codes only: allow, violation codes, obligations, engine, purpose, categories.
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    basis: Mapped[str | None] = mapped_column(String(500))
    prev_hash: Mapped[str] = mapped_column(String(71))
    hash: Mapped[str] = mapped_column(String(71))

    __table_args__ = (
        Index("ix_audit_entries_actor_seq", "actor_org", "seq"),
        Index("ix_audit_entries_counterparty_seq", "counterparty_org", "seq"),
    )


class AuditChainHead(Base):
    """The last sequence number and hash. Appends lock this row, which orders them across workers."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(_SeqType)
    last_hash: Mapped[str] = mapped_column(String(71))
