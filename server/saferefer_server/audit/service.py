"""Appending to and verifying the hash-chained audit log.

Each entry's hash is SHA-256 over the canonical JSON of all its fields plus the previous entry's
hash. Appends take the chain-head row under a row lock (`SELECT … FOR UPDATE` on PostgreSQL; SQLite
already holds the database write lock from `BEGIN IMMEDIATE`), so concurrent workers extend one
chain in one order, and the entry commits or rolls back with the change it records.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from saferefer_server.audit.ids import rfc3339, uuid7
from saferefer_server.audit.jcs import canonicalize
from saferefer_server.audit.models import CHAIN_HEAD_ID, GENESIS_HASH, AuditChainHead, AuditEntry
from saferefer_server.db.base import utcnow

VERIFY_BATCH = 1000
MAX_REPORTED_FAILURES = 100


def canonical_json(document: Any) -> bytes:
    return canonicalize(document)


def entry_document(entry: Any, *, with_hash: bool = True) -> dict[str, Any]:
    """The audit-entry.schema.json document of an `AuditEntry` (or a row with its columns)."""
    document: dict[str, Any] = {
        "seq": entry.seq,
        "id": entry.id,
        "occurred_at": entry.occurred_at,
        "node_id": entry.node_id,
        "actor_org": entry.actor_org,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "counterparty_org": entry.counterparty_org,
        "prev_hash": entry.prev_hash,
    }
    if entry.decision is not None:
        document["decision"] = entry.decision
    if entry.basis is not None:
        document["basis"] = entry.basis
    if with_hash:
        document["hash"] = entry.hash
    return document


def entry_hash(entry: Any) -> str:
    """`sha256:` + hex SHA-256 of the JCS form of the entry without `hash`."""
    return (
        "sha256:" + hashlib.sha256(canonicalize(entry_document(entry, with_hash=False))).hexdigest()
    )


async def _lock_chain_head(db_session: AsyncSession) -> tuple[int, str]:
    query = (
        select(AuditChainHead.last_seq, AuditChainHead.last_hash)
        .where(AuditChainHead.id == CHAIN_HEAD_ID)
        .with_for_update()
    )
    row = (await db_session.execute(query)).one_or_none()
    if row is None:
        # First append on a fresh database: create the head (a concurrent creator wins harmlessly).
        dialect = db_session.get_bind().dialect.name
        values = {"id": CHAIN_HEAD_ID, "last_seq": 0, "last_hash": GENESIS_HASH}
        if dialect == "postgresql":
            await db_session.execute(
                postgresql.insert(AuditChainHead).values(**values).on_conflict_do_nothing()
            )
        else:
            await db_session.execute(
                sqlite.insert(AuditChainHead).values(**values).on_conflict_do_nothing()
            )
        row = (await db_session.execute(query)).one()
    return int(row.last_seq), str(row.last_hash)


async def append(
    *,
    db_session: AsyncSession,
    node_id: str,
    actor_org: str | None,
    action: str,
    object_type: str,
    object_id: str | None,
    counterparty_org: str | None = None,
    decision: dict[str, Any] | None = None,
    basis: str | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction (it commits or rolls back with the change).

    `actor_org` None means the node itself acted. The entry id of a `policy.decision` entry is the
    decision id that referrals and problem documents cite.
    """
    last_seq, last_hash = await _lock_chain_head(db_session)
    entry = AuditEntry(
        seq=last_seq + 1,
        id=uuid7(),
        occurred_at=rfc3339(utcnow()),
        node_id=node_id,
        actor_org=actor_org,
        action=action,
        object_type=object_type,
        object_id=object_id,
        counterparty_org=counterparty_org,
        decision=decision,
        basis=basis,
        prev_hash=last_hash,
    )
    entry.hash = entry_hash(entry)
    db_session.add(entry)
    await db_session.execute(
        update(AuditChainHead)
        .where(AuditChainHead.id == CHAIN_HEAD_ID)
        .values(last_seq=entry.seq, last_hash=entry.hash)
    )
    await db_session.flush()
    return entry


async def list_for_org(
    *, db_session: AsyncSession, org_id: str, after_seq: int, limit: int
) -> list[AuditEntry]:
    """Entries the organisation took part in (as actor or counterparty), oldest first."""
    query = (
        select(AuditEntry)
        .where(or_(AuditEntry.actor_org == org_id, AuditEntry.counterparty_org == org_id))
        .where(AuditEntry.seq > after_seq)
        .order_by(AuditEntry.seq)
        .limit(limit)
    )
    return list((await db_session.scalars(query)).all())


@dataclass(frozen=True)
class ChainFailure:
    seq: int
    entry_id: str | None
    reason: str


@dataclass(frozen=True)
class ChainVerification:
    valid: bool
    entries_checked: int
    head_seq: int
    head_hash: str
    failures: list[ChainFailure] = field(default_factory=list)

    @property
    def first_failure(self) -> ChainFailure | None:
        return self.failures[0] if self.failures else None


async def verify_chain(*, db_session: AsyncSession) -> ChainVerification:
    """Recompute every hash and link; report each entry that does not match, by seq and id."""
    failures: list[ChainFailure] = []

    def fail(seq: int, entry_id: str | None, reason: str) -> None:
        if len(failures) < MAX_REPORTED_FAILURES:
            failures.append(ChainFailure(seq=seq, entry_id=entry_id, reason=reason))

    expected_seq = 1
    prev_hash = GENESIS_HASH
    checked = 0
    last_seen = 0
    while True:
        # Plain rows, not ORM objects: verification must read what is stored, never a cached copy.
        batch = (
            await db_session.execute(
                select(*AuditEntry.__table__.columns)
                .where(AuditEntry.seq > last_seen)
                .order_by(AuditEntry.seq)
                .limit(VERIFY_BATCH)
            )
        ).all()
        if not batch:
            break
        for entry in batch:
            checked += 1
            if entry.seq != expected_seq:
                fail(expected_seq, None, f"entries {expected_seq}..{entry.seq - 1} are missing")
            if entry.prev_hash != prev_hash:
                fail(entry.seq, entry.id, "prev_hash does not match the previous entry's hash")
            if entry_hash(entry) != entry.hash:
                fail(entry.seq, entry.id, "content does not match its hash (entry was altered)")
            prev_hash = entry.hash
            expected_seq = entry.seq + 1
            last_seen = entry.seq

    head = (
        await db_session.execute(
            select(AuditChainHead.last_seq, AuditChainHead.last_hash).where(
                AuditChainHead.id == CHAIN_HEAD_ID
            )
        )
    ).one_or_none()
    head_seq, head_hash = (0, GENESIS_HASH) if head is None else (head.last_seq, head.last_hash)
    if head_seq != last_seen or head_hash != prev_hash:
        fail(
            head_seq,
            None,
            f"chain head (seq {head_seq}) does not match the last stored entry (seq {last_seen}); "
            "entries were removed from the end or the head was altered",
        )
    return ChainVerification(
        valid=not failures,
        entries_checked=checked,
        head_seq=head_seq,
        head_hash=head_hash,
        failures=failures,
    )
