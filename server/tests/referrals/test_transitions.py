"""The referral state machine of spec/codelists/referral-states.json, enforced."""

from __future__ import annotations

import asyncio

from saferefer_server.referrals.testing import DomainFlows

NGO = "urn:saferefer:org:NL:demo-ngo"
SHELTER = "urn:saferefer:org:NL:demo-shelter"
POLICE = "urn:saferefer:org:NL:demo-police"


async def move(flows: DomainFlows, org: str, referral_id: str, to: str, reason: str | None = None):  # type: ignore[no-untyped-def]
    body = {"to": to, **({"reason": reason} if reason else {})}
    return await flows.post(org, f"/v1/referrals/{referral_id}/transitions", body)


async def test_transition_happy_path_to_completed_with_outcome(flows: DomainFlows) -> None:
    referral = await flows.referral(NGO, SHELTER)
    for to, reason in [("received", None), ("accepted", None), ("completed", "service_provided")]:
        response = await move(flows, SHELTER, referral["id"], to, reason)
        assert response.status_code == 201, response.text
        assert response.json()["to"] == to
    current = (await flows.get(NGO, f"/v1/referrals/{referral['id']}")).json()
    assert current["state"] == "completed"
    assert current["reason"] == "service_provided"
    history = (await flows.get(NGO, f"/v1/referrals/{referral['id']}/transitions")).json()
    assert [t["to"] for t in history["items"]] == ["received", "accepted", "completed"]


async def test_transition_illegal_is_409_naming_allowed_transitions(flows: DomainFlows) -> None:
    referral = await flows.referral(NGO, SHELTER)
    response = await move(flows, SHELTER, referral["id"], "completed", "service_provided")
    assert response.status_code == 409
    problem = response.json()
    assert problem["type"] == "https://saferefer.org/problems/invalid-transition"
    assert problem["current_state"] == "submitted"
    assert [a["to"] for a in problem["allowed_transitions"]] == ["received"]
    # The sender may not accept; its allowed move from submitted is withdrawal.
    by_sender = (await move(flows, NGO, referral["id"], "accepted")).json()
    assert [a["to"] for a in by_sender["allowed_transitions"]] == ["withdrawn"]
    state = (await flows.get(NGO, f"/v1/referrals/{referral['id']}")).json()["state"]
    assert state == "submitted"


async def test_transition_decline_without_reason_is_422(flows: DomainFlows) -> None:
    referral = await flows.referral(NGO, SHELTER)
    await move(flows, SHELTER, referral["id"], "received")
    response = await move(flows, SHELTER, referral["id"], "declined")
    assert response.status_code == 422
    declined = await move(flows, SHELTER, referral["id"], "declined", "no_capacity")
    assert declined.status_code == 201


async def test_transition_with_reason_of_wrong_list_or_node_only_is_422(flows: DomainFlows) -> None:
    referral = await flows.referral(NGO, SHELTER)
    await move(flows, SHELTER, referral["id"], "received")
    # `peer_refused` is a decline reason only the node records (a peer node refused delivery).
    for reason in ("peer_refused", "service_provided"):
        response = await move(flows, SHELTER, referral["id"], "declined", reason)
        assert response.status_code == 422, (reason, response.text)
        assert response.json()["errors"][0]["pointer"] == "#/reason"
    response = await move(flows, SHELTER, referral["id"], "declined", "no_capacity")
    assert response.status_code == 201, response.text


async def test_transition_terminal_state_never_changes(flows: DomainFlows) -> None:
    referral = await flows.referral(NGO, SHELTER)
    assert (await move(flows, NGO, referral["id"], "withdrawn")).status_code == 201
    response = await move(flows, SHELTER, referral["id"], "received")
    assert response.status_code == 409
    assert response.json()["allowed_transitions"] == []


async def test_transition_by_another_org_is_404(flows: DomainFlows) -> None:
    referral = await flows.referral(NGO, SHELTER)
    response = await move(flows, POLICE, referral["id"], "received")
    assert response.status_code == 404


async def test_transition_concurrent_requests_one_wins(flows: DomainFlows) -> None:
    referral = await flows.referral(NGO, SHELTER)
    results = await asyncio.gather(
        *(move(flows, SHELTER, referral["id"], "received") for _ in range(4))
    )
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201, 409, 409, 409]
