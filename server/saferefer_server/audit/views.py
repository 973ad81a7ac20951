"""`GET /v1/audit` (the caller's own entries) and `GET /v1/audit/verify` (recompute the chain)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from saferefer_server.audit import service
from saferefer_server.audit.ids import cursor_int, rfc3339
from saferefer_server.core.cursors import encode_cursor
from saferefer_server.db.base import utcnow
from saferefer_server.db.session import read_phase
from saferefer_server.deps import CurrentOrg, SessionDep

router = APIRouter(tags=["audit"])


@router.get("/v1/audit", operation_id="listAuditEntries")
async def list_audit_entries(
    db_session: SessionDep,
    principal: CurrentOrg,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    after_seq = cursor_int(cursor, "seq") if cursor is not None else 0
    async with read_phase(db_session):
        entries = await service.list_for_org(
            db_session=db_session, org_id=principal.org_id, after_seq=after_seq, limit=limit + 1
        )
    page, more = entries[:limit], len(entries) > limit
    return {
        "items": [service.entry_document(e) for e in page],
        "next_cursor": encode_cursor({"seq": page[-1].seq}) if more else None,
    }


@router.get("/v1/audit/verify", operation_id="verifyAuditChain")
async def verify_audit_chain(db_session: SessionDep, principal: CurrentOrg) -> dict[str, Any]:
    async with read_phase(db_session):
        result = await service.verify_chain(db_session=db_session)
    return verification_document(result)


def verification_document(result: service.ChainVerification) -> dict[str, Any]:
    """The audit-verification.schema.json document of a verification."""
    first = result.first_failure
    return {
        "valid": result.valid,
        "checked_at": rfc3339(utcnow()),
        "entries_checked": result.entries_checked,
        "first_seq": 1 if result.entries_checked else None,
        "last_seq": result.head_seq or None,
        "head_hash": result.head_hash if result.head_seq else None,
        "first_invalid_seq": max(first.seq, 1) if first else None,
        "error": f"entry {first.seq}: {first.reason}" if first else None,
    }
