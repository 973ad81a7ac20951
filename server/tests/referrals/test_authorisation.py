"""Object-level authorisation: every endpoint tried with another organisation's ids answers 404
exactly as for an id that does not exist, so existence never leaks (SR-AUTHZ-001..005)."""

from __future__ import annotations

from typing import Any

import httpx
from saferefer_server.referrals.testing import DomainFlows

NGO = "urn:saferefer:org:NL:demo-ngo"
SHELTER = "urn:saferefer:org:NL:demo-shelter"
POLICE = "urn:saferefer:org:NL:demo-police"
UNKNOWN = "01936f5e-8a7b-7c3d-9e4f-0a1b2c3d4e5f"
GARBAGE = "%C3%B7%0E"  # "÷" and U+000E, percent-encoded in the path


async def call(
    flows: DomainFlows, org: str, method: str, path: str, body: Any = None
) -> httpx.Response:
    auth = await flows.node.auth(org)
    return await flows.node.client.request(method, path, json=body, headers=auth)


async def test_every_object_endpoint_hides_other_orgs_objects(flows: DomainFlows) -> None:
    consent = await flows.consent_for(NGO, SHELTER)
    referral = (await flows.send(NGO, SHELTER, [consent["id"]])).json()
    subscription = (
        await flows.post(
            NGO,
            "/v1/subscriptions",
            {"url": "http://127.0.0.1:9/x", "event_types": ["org.saferefer.referral.received"]},
        )
    ).json()
    ack = {"consent_id": consent["id"], "action": "erased", "completed_at": "2026-01-01T00:00:00Z"}
    withdrawal = {"channel": "phone", "withdrawn_at": "2026-01-01T00:00:00Z", "received_by": "w-1"}
    endpoints = [
        ("GET", "/v1/referrals/{referral}", None),
        ("GET", "/v1/referrals/{referral}/transitions", None),
        ("POST", "/v1/referrals/{referral}/transitions", {"to": "received"}),
        ("POST", "/v1/referrals/{referral}/erasure-acknowledgements", ack),
        ("GET", "/v1/consents/{consent}", None),
        ("GET", "/v1/consents/{consent}/receipt", None),
        ("POST", "/v1/consents/{consent}/withdraw", withdrawal),
        ("GET", "/v1/subscriptions/{subscription}", None),
        ("GET", "/v1/subscriptions/{subscription}/deliveries", None),
        ("DELETE", "/v1/subscriptions/{subscription}", None),
    ]
    ids = {"referral": referral["id"], "consent": consent["id"], "subscription": subscription["id"]}
    for method, template, body in endpoints:
        theirs = await call(flows, POLICE, method, template.format(**ids), body)
        missing = await call(
            flows, POLICE, method, template.format(**dict.fromkeys(ids, UNKNOWN)), body
        )
        assert theirs.status_code == 404, (method, template, theirs.text)
        assert missing.status_code == 404, (method, template)
        assert theirs.json()["type"] == missing.json()["type"]
        # An id that is no UUID is not echoed (it is client text: control characters, anything).
        garbage = await call(
            flows, NGO, method, template.format(**dict.fromkeys(ids, GARBAGE)), body
        )
        assert garbage.status_code == 404, (method, template, garbage.text)
        assert garbage.json()["detail"].endswith("with this id"), (method, template)
    # Nothing changed for the owners.
    assert (await flows.get(NGO, f"/v1/referrals/{referral['id']}")).json()["state"] == "submitted"
    assert (await flows.get(NGO, f"/v1/consents/{consent['id']}")).json()["status"] == "active"
    assert (await flows.get(NGO, f"/v1/subscriptions/{subscription['id']}")).status_code == 200


async def test_lists_and_feeds_hold_nothing_of_others(flows: DomainFlows) -> None:
    await flows.referral(NGO, SHELTER)
    for path, params in [
        ("/v1/referrals", {"box": "inbox"}),
        ("/v1/referrals", {"box": "outbox"}),
        ("/v1/consents", {}),
        ("/v1/subscriptions", {}),
        ("/v1/audit", {}),
    ]:
        page = (await flows.get(POLICE, path, **params)).json()
        assert page == {"items": [], "next_cursor": None}, path
    feed = (await flows.get(POLICE, "/v1/events")).json()
    assert feed["items"] == []


async def test_unauthenticated_calls_are_401(flows: DomainFlows) -> None:
    for method, path in [
        ("GET", "/v1/referrals"),
        ("POST", "/v1/referrals"),
        ("GET", "/v1/audit/verify"),
    ]:
        response = await flows.node.client.request(method, path, json={})
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
