"""The pull feed: one gap-free sequence per organisation, resumable by cursor, audience only."""

from __future__ import annotations

import asyncio
from typing import Any

from saferefer_server.domain_spec import schema_errors
from saferefer_server.referrals.testing import DomainFlows

NGO = "urn:saferefer:org:NL:demo-ngo"
SHELTER = "urn:saferefer:org:NL:demo-shelter"
SOCIAL = "urn:saferefer:org:NL:demo-social"
POLICE = "urn:saferefer:org:NL:demo-police"


async def feed(flows: DomainFlows, org: str, **params: Any) -> dict[str, Any]:
    response = await flows.get(org, "/v1/events", **params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def test_feed_is_gap_free_and_resumable(flows: DomainFlows) -> None:
    referrals = [await flows.referral(NGO, SHELTER) for _ in range(3)]
    first = await feed(flows, SHELTER, limit=2)
    rest = await feed(flows, SHELTER, limit=100, after=first["next_cursor"])
    events = first["items"] + rest["items"]
    assert [int(e["sequence"]) for e in events] == [1, 2, 3]
    assert [e["subject"] for e in events] == [r["id"] for r in referrals]
    assert {e["type"] for e in events} == {"org.saferefer.referral.submitted"}
    for event in events:
        assert schema_errors("event.schema.json", event) == []
        assert event["source"] == flows.node.settings.node_id
    # Resuming from the last cursor gives nothing new, and the cursor stays put.
    assert rest["next_cursor"] == "00000000000000000003"
    again = await feed(flows, SHELTER, after=rest["next_cursor"])
    assert again["items"] == []
    assert again["next_cursor"] == rest["next_cursor"]
    await flows.post(SHELTER, f"/v1/referrals/{referrals[0]['id']}/transitions", {"to": "received"})
    assert (await feed(flows, SHELTER, after=rest["next_cursor"]))["items"] == []
    sender = await feed(flows, NGO, limit=100)
    received = [e for e in sender["items"] if e["type"] == "org.saferefer.referral.received"]
    assert [e["data"]["previous_state"] for e in received] == ["submitted"]


async def test_feed_holds_only_the_audiences_events(flows: DomainFlows) -> None:
    await flows.referral(NGO, SHELTER)
    await flows.referral(NGO, SOCIAL)
    assert (await feed(flows, POLICE))["items"] == []
    shelter = (await feed(flows, SHELTER))["items"]
    assert all(e["data"]["recipient"] == SHELTER for e in shelter)


async def test_feed_long_poll_returns_when_an_event_arrives(flows: DomainFlows) -> None:
    start = await feed(flows, SHELTER)

    async def send_later() -> None:
        await asyncio.sleep(0.6)
        await flows.referral(NGO, SHELTER)

    waiting = asyncio.create_task(feed(flows, SHELTER, after=start["next_cursor"], wait=10))
    await send_later()
    page = await asyncio.wait_for(waiting, timeout=15)
    assert [e["type"] for e in page["items"]] == ["org.saferefer.referral.submitted"]


async def test_feed_rejects_a_forged_cursor(flows: DomainFlows) -> None:
    response = await flows.get(SHELTER, "/v1/events", after="eyJzZXEiOiJ4In0")
    assert response.status_code == 422
    response = await flows.get(SHELTER, "/v1/events", after="-1")
    assert response.status_code == 422


async def test_feed_sequences_stay_gap_free_under_concurrent_sends(
    patient_flows: DomainFlows,
) -> None:
    flows = patient_flows
    consent = await flows.consent_for(NGO, SHELTER)
    results = await asyncio.gather(*(flows.send(NGO, SHELTER, [consent["id"]]) for _ in range(8)))
    assert [r.status_code for r in results] == [201] * 8
    events = (await feed(flows, SHELTER, limit=100))["items"]
    assert [int(e["sequence"]) for e in events] == list(range(1, 9))
