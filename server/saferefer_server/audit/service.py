"""Appending to and verifying the hash-chained audit log.

Each entry's hash is SHA-256 over the canonical JSON of all its fields plus the previous entry's
hash. Appends take the chain-head row under a row lock (`SELECT … FOR UPDATE` on PostgreSQL; SQLite
already holds the database write lock from `BEGIN IMMEDIATE`), so concurrent workers extend one
chain in one order, and the entry commits or rolls back with the change it records.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, insert, or_, select, update
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


# The chain-head statements of every append, built once on the table (plain Core: no ORM
# bookkeeping for a row that is never loaded as an object); values are bound per call.
_HEAD = AuditChainHead.metadata.tables[AuditChainHead.__tablename__]
_LOCK_HEAD = (
    select(_HEAD.c.last_seq, _HEAD.c.last_hash).where(_HEAD.c.id == CHAIN_HEAD_ID).with_for_update()
)
_INSERT_ENTRIES = insert(AuditEntry.metadata.tables[AuditEntry.__tablename__])
_MOVE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == CHAIN_HEAD_ID)
    .values(last_seq=bindparam("new_seq"), last_hash=bindparam("new_hash"))
)


async def _lock_chain_head(db_session: AsyncSession) -> tuple[int, str]:
    row = (await db_session.execute(_LOCK_HEAD)).one_or_none()
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
        row = (await db_session.execute(_LOCK_HEAD)).one()
    return int(row.last_seq), str(row.last_hash)


@dataclass(frozen=True)
class PendingEntry:
    """An audit entry decided on but not appended yet.

    Its id is fixed up front, so a `policy.decision` entry's id (the decision id) can be cited
    before the entry is written; `append_all` then writes it together with the entries of the
    change it decided, under one lock of the chain head.
    """

    actor_org: str | None
    action: str
    object_type: str
    object_id: str | None
    counterparty_org: str | None = None
    decision: dict[str, Any] | None = None
    basis: str | None = None
    id: str = field(default_factory=uuid7)


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
) -> str:
    """Append one entry in the caller's transaction (it commits or rolls back with the change).

    `actor_org` None means the node itself acted. The entry id of a `policy.decision` entry is the
    decision id that referrals and problem documents cite. Returns the entry id.
    """
    pending = PendingEntry(
        actor_org=actor_org,
        action=action,
        object_type=object_type,
        object_id=object_id,
        counterparty_org=counterparty_org,
        decision=decision,
        basis=basis,
    )
    await append_all(db_session=db_session, node_id=node_id, entries=[pending])
    return pending.id


async def append_all(
    *, db_session: AsyncSession, node_id: str, entries: Sequence[PendingEntry]
) -> None:
    """Append entries in order, in the caller's transaction, chained one after the other.

    The chain head is locked, read and updated once for all of them (one round trip each
    instead of one per entry), and the entries are inserted together as plain rows (nothing
    reads them back as objects of this session). Order and hashes are the same as appending
    them one by one.
    """
    if not entries:
        return
    last_seq, last_hash = await _lock_chain_head(db_session)
    occurred_at = rfc3339(utcnow())
    rows: list[dict[str, Any]] = []
    for pending in entries:
        row: dict[str, Any] = {
            "seq": last_seq + 1,
            "id": pending.id,
            "occurred_at": occurred_at,
            "node_id": node_id,
            "actor_org": pending.actor_org,
            "action": pending.action,
            "object_type": pending.object_type,
            "object_id": pending.object_id,
            "counterparty_org": pending.counterparty_org,
            "decision": pending.decision,
            "basis": pending.basis,
            "prev_hash": last_hash,
        }
        row["hash"] = entry_hash(SimpleNamespace(**row))
        last_seq, last_hash = row["seq"], row["hash"]
        rows.append(row)
    await db_session.execute(_INSERT_ENTRIES, rows)
    await db_session.execute(_MOVE_HEAD, {"new_seq": last_seq, "new_hash": last_hash})


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
