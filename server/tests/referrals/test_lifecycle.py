"""Expiry and retention: done by the sweeper (any worker) and on access, never by a timer one
process holds. Payloads are erased at retain_until; the audit trail stays."""

from __future__ import annotations

from datetime import timedelta

from saferefer_server.audit.models import AuditEntry
from saferefer_server.db.base import utcnow
from saferefer_server.referrals import service
from saferefer_server.referrals.models import Referral
from saferefer_server.referrals.node import node_context_of
from saferefer_server.referrals.testing import DomainFlows
from sqlalchemy import select, text

NGO = "urn:saferefer:org:NL:demo-ngo"
SHELTER = "urn:saferefer:org:NL:demo-shelter"


async def backdate(flows: DomainFlows, table: str, column: str, row_id: str) -> None:
    """Move a deadline into the past, as if time had passed."""
    async with flows.node.app.state.engine.begin() as connection:
        await connection.execute(
            text(f"UPDATE {table} SET {column} = :past WHERE id = :id"),
            {"past": utcnow() - timedelta(seconds=1), "id": row_id},
        )


async def sweep(flows: DomainFlows) -> int:
    app = flows.node.app
    async with app.state.sessionmaker() as db_session:
        handled = await service.sweep(
            db_session=db_session, node=node_context_of(app.state), now=utcnow()
        )
        await db_session.commit()
    return handled


async def test_sweep_erases_payload_at_retain_until_and_keeps_the_audit(
    flows: DomainFlows,
) -> None:
    consent = await flows.consent_for(NGO, SHELTER)
    referral_id = (await flows.send(NGO, SHELTER, [consent["id"]])).json()["id"]
    await backdate(flows, "referrals", "retain_until", referral_id)
    assert await sweep(flows) >= 1
    async with flows.node.app.state.sessionmaker() as db_session:
        referral = await db_session.get(Referral, referral_id)
        assert referral is not None
        assert referral.sealed is None
        assert referral.erasure_reason == "retain_until"
        actions = list(
            await db_session.scalars(
                select(AuditEntry.action).where(AuditEntry.object_id == referral_id)
            )
        )
    assert "referral.created" in actions
    assert "erasure.acknowledged" in actions
    read = (await flows.get(SHELTER, f"/v1/referrals/{referral_id}")).json()
    assert "payload" not in read
    assert (await flows.get(NGO, "/v1/audit/verify")).json()["valid"] is True


async def test_reading_after_retain_until_erases_on_access(flows: DomainFlows) -> None:
    consent = await flows.consent_for(NGO, SHELTER)
    referral_id = (await flows.send(NGO, SHELTER, [consent["id"]])).json()["id"]
    await backdate(flows, "referrals", "retain_until", referral_id)
    read = (await flows.get(SHELTER, f"/v1/referrals/{referral_id}")).json()
    assert "payload" not in read


async def test_open_referral_expires_with_its_consent_and_the_expiry_is_announced(
    flows: DomainFlows,
) -> None:
    consent = await flows.consent_for(NGO, SHELTER)
    referral_id = (await flows.send(NGO, SHELTER, [consent["id"]])).json()["id"]
    await backdate(flows, "consents", "valid_until", consent["id"])
    await sweep(flows)
    assert (await flows.get(NGO, f"/v1/referrals/{referral_id}")).json()["state"] == "expired"
    recorder_events = (await flows.get(NGO, "/v1/events")).json()["items"]
    types = [e["type"] for e in recorder_events]
    assert types.count("org.saferefer.consent.expired") == 1
    assert "org.saferefer.referral.expired" in types
    await sweep(flows)  # announced once only
    again = [e["type"] for e in (await flows.get(NGO, "/v1/events")).json()["items"]]
    assert again.count("org.saferefer.consent.expired") == 1
    listed = (await flows.get(NGO, "/v1/consents", status="expired")).json()["items"]
    assert [c["id"] for c in listed] == [consent["id"]]


async def test_referral_past_respond_by_expires_on_access(flows: DomainFlows) -> None:
    consent = await flows.consent_for(NGO, SHELTER)
    respond_by = (utcnow() + timedelta(days=1)).isoformat(timespec="seconds")
    response = await flows.send(
        NGO, SHELTER, [consent["id"]], respond_by=respond_by.replace("+00:00", "Z")
    )
    assert response.status_code == 201, response.text
    await backdate(flows, "referrals", "respond_by", response.json()["id"])
    moved = await flows.post(
        SHELTER, f"/v1/referrals/{response.json()['id']}/transitions", {"to": "received"}
    )
    assert moved.status_code == 409
    assert moved.json()["current_state"] == "expired"
