"""Withdrawal: new disclosures refused at once, open referrals revoked, every recipient notified,
erasure acknowledged and audited (R6, R35)."""

from __future__ import annotations

import asyncio
from typing import Any

from saferefer_server.audit.models import AuditEntry
from saferefer_server.domain_spec import schema_errors
from saferefer_server.referrals.models import Referral
from saferefer_server.referrals.testing import DomainFlows, grant
from sqlalchemy import select

NGO = "urn:saferefer:org:NL:demo-ngo"
SHELTER = "urn:saferefer:org:NL:demo-shelter"
SOCIAL = "urn:saferefer:org:NL:demo-social"
POLICE = "urn:saferefer:org:NL:demo-police"


def withdrawal(**overrides: Any) -> dict[str, Any]:
    return {
        "channel": "phone",
        "withdrawn_at": "2026-01-01T00:00:00Z",
        "received_by": "worker-9",
        **overrides,
    }


async def events_of(flows: DomainFlows, org: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await flows.get(org, "/v1/events", limit=500)).json()["items"]
    return items


async def two_recipient_consent(flows: DomainFlows) -> tuple[dict[str, Any], list[str]]:
    consent = await flows.record_consent(NGO, grants=[grant(org_id=SHELTER), grant(org_id=SOCIAL)])
    ids = []
    for recipient in (SHELTER, SOCIAL):
        response = await flows.send(NGO, recipient, [consent["id"]])
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return consent, ids


async def test_withdraw_revokes_open_referrals_and_notifies_every_recipient(
    flows: DomainFlows,
) -> None:
    consent, (to_shelter, to_social) = await two_recipient_consent(flows)
    # One referral already finished: not revoked, but its recipient still got the data.
    for to in ("received", "accepted"):
        await flows.post(SOCIAL, f"/v1/referrals/{to_social}/transitions", {"to": to})
    await flows.post(
        SOCIAL,
        f"/v1/referrals/{to_social}/transitions",
        {"to": "completed", "reason": "service_provided"},
    )
    response = await flows.post(NGO, f"/v1/consents/{consent['id']}/withdraw", withdrawal())
    assert response.status_code == 200, response.text
    record = response.json()
    assert schema_errors("consent-record.schema.json", record) == []
    assert record["status"] == "withdrawn"
    assert sorted(record["withdrawal"]["notified_referral_ids"]) == sorted([to_shelter, to_social])

    assert (await flows.get(NGO, f"/v1/referrals/{to_shelter}")).json()["state"] == "revoked"
    assert (await flows.get(NGO, f"/v1/referrals/{to_social}")).json()["state"] == "completed"
    for org, referral_id in ((SHELTER, to_shelter), (SOCIAL, to_social)):
        events = await events_of(flows, org)
        types = [e["type"] for e in events]
        assert "org.saferefer.consent.withdrawn" in types
        requested = [e for e in events if e["type"] == "org.saferefer.erasure.requested"]
        assert [e["subject"] for e in requested] == [referral_id]
        assert requested[0]["data"]["consent_id"] == consent["id"]
        for event in events:
            assert schema_errors("event.schema.json", event) == []
    sender_types = [e["type"] for e in await events_of(flows, NGO)]
    assert "org.saferefer.referral.revoked" in sender_types


async def test_withdraw_refuses_new_disclosures_at_once(flows: DomainFlows) -> None:
    consent = await flows.consent_for(NGO, SHELTER)
    await flows.post(NGO, f"/v1/consents/{consent['id']}/withdraw", withdrawal())
    response = await flows.send(NGO, SHELTER, [consent["id"]])
    assert response.status_code == 403
    assert response.json()["violations"]


async def test_withdraw_by_named_org_is_403_and_by_stranger_404(flows: DomainFlows) -> None:
    consent = await flows.consent_for(NGO, SHELTER)
    path = f"/v1/consents/{consent['id']}/withdraw"
    assert (await flows.post(SHELTER, path, withdrawal())).status_code == 403
    assert (await flows.post(POLICE, path, withdrawal())).status_code == 404
    assert (await flows.post(NGO, path, withdrawal())).status_code == 200
    assert (await flows.post(NGO, path, withdrawal())).status_code == 409


async def test_withdraw_one_grant_leaves_the_other_recipient_covered(flows: DomainFlows) -> None:
    consent, (to_shelter, to_social) = await two_recipient_consent(flows)
    shelter_grant = consent["grants"][0]["grant_id"]
    response = await flows.post(
        NGO, f"/v1/consents/{consent['id']}/withdraw", withdrawal(grant_ids=[shelter_grant])
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "active"
    assert response.json()["withdrawal"]["notified_referral_ids"] == [to_shelter]
    assert (await flows.get(NGO, f"/v1/referrals/{to_shelter}")).json()["state"] == "revoked"
    assert (await flows.get(NGO, f"/v1/referrals/{to_social}")).json()["state"] == "submitted"
    assert (await flows.send(NGO, SOCIAL, [consent["id"]])).status_code == 201
    assert (await flows.send(NGO, SHELTER, [consent["id"]])).status_code == 403


async def test_erasure_acknowledgement_erases_and_notifies_sender(flows: DomainFlows) -> None:
    consent = await flows.consent_for(NGO, SHELTER)
    referral_id = (await flows.send(NGO, SHELTER, [consent["id"]])).json()["id"]
    await flows.post(NGO, f"/v1/consents/{consent['id']}/withdraw", withdrawal())
    path = f"/v1/referrals/{referral_id}/erasure-acknowledgements"
    ack = {"consent_id": consent["id"], "action": "erased", "completed_at": "2026-01-02T00:00:00Z"}
    assert (await flows.post(NGO, path, ack)).status_code == 403
    assert (await flows.post(POLICE, path, ack)).status_code == 404
    restricted = {**ack, "action": "restricted"}
    assert (await flows.post(SHELTER, path, restricted)).status_code == 422  # needs legal_basis
    response = await flows.post(SHELTER, path, ack)
    assert response.status_code == 201, response.text
    record = response.json()
    assert schema_errors("erasure-acknowledgement.schema.json", record, "/$defs/record") == []
    assert (await flows.post(SHELTER, path, ack)).status_code == 409
    acknowledged = [
        e for e in await events_of(flows, NGO) if e["type"] == "org.saferefer.erasure.acknowledged"
    ]
    assert [e["data"]["acknowledgement_id"] for e in acknowledged] == [record["id"]]
    async with flows.node.app.state.sessionmaker() as db_session:
        referral = await db_session.get(Referral, referral_id)
        assert referral is not None
        assert referral.sealed is None
        assert referral.erased_at is not None
        actions = list(
            await db_session.scalars(
                select(AuditEntry.action).where(
                    AuditEntry.object_id.in_([referral_id, record["id"]])
                )
            )
        )
    assert {"erasure.requested", "erasure.acknowledged", "referral.transitioned"} <= set(actions)
    verify = (await flows.get(NGO, "/v1/audit/verify")).json()
    assert verify["valid"] is True


async def test_withdraw_racing_sends_leaves_no_open_referral_under_it(
    patient_flows: DomainFlows,
) -> None:
    flows = patient_flows
    consent = await flows.consent_for(NGO, SHELTER)
    sends = [flows.send(NGO, SHELTER, [consent["id"]]) for _ in range(4)]
    withdraw = flows.post(NGO, f"/v1/consents/{consent['id']}/withdraw", withdrawal())
    results = await asyncio.gather(*sends, withdraw)
    assert results[-1].status_code == 200
    assert {r.status_code for r in results[:-1]} <= {201, 403}
    referrals = (await flows.get(NGO, "/v1/referrals", box="outbox")).json()["items"]
    assert {r["state"] for r in referrals} <= {"revoked"}
    notified = (await flows.get(NGO, f"/v1/consents/{consent['id']}")).json()["withdrawal"]
    assert sorted(notified["notified_referral_ids"]) == sorted(r["id"] for r in referrals)
