"""Two and three real node processes on loopback, each with its own SQLite database.

Moldova (MD), the Netherlands (NL) and, for onward referrals, Germany (DE) each run
`saferefer-server serve` with a shared trust list. Organisations use the public API with real
tokens; delivery between nodes is the nodes' own business.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from saferefer_server.core.ids import uuid7
from saferefer_server.federation.envelope import Envelope, fixed_part, issue
from saferefer_server.federation.trustlist import Jwks
from saferefer_server.referrals.testing import consent_body, grant, referral_body

from .factories import new_key, public, referral_document
from .processes import ProcessFederation, ProcessNode, eventually

MD_NODE = "urn:saferefer:node:MD:national"
NL_NODE = "urn:saferefer:node:NL:national"
DE_NODE = "urn:saferefer:node:DE:national"
MD_NGO = "urn:saferefer:org:MD:ngo"
MD_POLICE = "urn:saferefer:org:MD:police"
NL_NGO = "urn:saferefer:org:NL:ngo"
NL_POLICE = "urn:saferefer:org:NL:police"
DE_NGO = "urn:saferefer:org:DE:ngo"
PROBLEM = "https://saferefer.org/problems/"

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
async def two_nodes(tmp_path: Path) -> AsyncIterator[ProcessFederation]:
    federation = ProcessFederation(tmp_path)
    await federation.add_node(MD_NODE, {MD_NGO: ["ngo_service_provider"], MD_POLICE: ["police"]})
    await federation.add_node(NL_NODE, {NL_NGO: ["ngo_service_provider"], NL_POLICE: ["police"]})
    federation.start()
    yield federation
    federation.stop()


async def _consent_and_referral(
    sender: ProcessNode, sender_org: str, recipient_org: str, **referral: Any
) -> httpx.Response:
    consent = await sender.post(
        sender_org,
        "/v1/consents",
        consent_body(grants=[grant(org_id=recipient_org, purposes=["assistance"])]),
    )
    assert consent.status_code == 201, consent.text
    credentials = sender.credentials[sender_org]
    body = referral_body(
        recipient=recipient_org,
        consent_ids=[consent.json()["id"]],
        signing_key=(credentials.key, credentials.kid),
        **referral,
    )
    return await sender.post(sender_org, "/v1/referrals", body)


def _inbox_ids(node: ProcessNode) -> list[str]:
    return [row[0] for row in node.query("SELECT referral_id FROM federation_inbox")]


async def _state(node: ProcessNode, org_id: str, referral_id: str) -> str | None:
    response = await node.get(org_id, f"/v1/referrals/{referral_id}")
    return response.json().get("state") if response.status_code == 200 else None


# --- Authentication at the federation endpoint ------------------------------------------------


async def _post_envelope(node: ProcessNode, document: dict[str, Any]) -> httpx.Response:
    async with node.client() as client:
        return await client.post("/federation/v1/messages", json=document)


def _deliver(from_node: str, to_node: str, sender_org: str, recipient_org: str) -> Envelope:
    org_key = new_key()
    return Envelope(
        id=uuid7(),
        from_node=from_node,
        to_node=to_node,
        message_type="referral.deliver",
        body=referral_document(org_key, sender_org=sender_org, recipient_org=recipient_org),
        sender_jwks=Jwks.model_validate({"keys": [public(org_key)]}),
        policy_input={"action": "referral.send"},
    )


def _issued(envelope: Envelope, key: Any) -> dict[str, Any]:
    return issue(json.loads(fixed_part(envelope)), key=key, now=datetime.now(UTC))


async def test_federation_endpoint_rejects_unknown_tampered_and_expired(
    tmp_path: Path,
) -> None:
    federation = ProcessFederation(tmp_path)
    md = await federation.add_node(MD_NODE, {MD_NGO: ["ngo_service_provider"]})
    nl = await federation.add_node(NL_NODE, {NL_NGO: ["ngo_service_provider"]})
    retired = await federation.add_node(DE_NODE, {DE_NGO: ["ngo_service_provider"]})
    federation.anchor_path.write_text(json.dumps({"keys": [public(federation.authority)]}))
    now = datetime.now(UTC)
    federation.publish(
        [
            federation.entry(md),
            federation.entry(nl),
            # DE's key ended yesterday: it is listed, but may no longer sign.
            federation.entry(
                retired,
                valid_from=(now - timedelta(days=30)).isoformat().replace("+00:00", "Z"),
                valid_until=(now - timedelta(days=1)).isoformat().replace("+00:00", "Z"),
            ),
        ]
    )
    nl.start()
    try:
        md_key = md.node_keys().signing_key().key
        de_key = retired.node_keys().signing_key().key
        rogue = _issued(_deliver("urn:saferefer:node:MD:rogue", NL_NODE, MD_NGO, NL_NGO), new_key())
        tampered = _issued(_deliver(MD_NODE, NL_NODE, MD_NGO, NL_NGO), md_key)
        tampered["body"]["recipient"] = NL_NGO.replace(":ngo", ":police")
        expired = _issued(_deliver(DE_NODE, NL_NODE, DE_NGO, NL_NGO), de_key)

        answers = {
            name: await _post_envelope(nl, document)
            for name, document in {
                "unknown_node": rogue,
                "bad_signature": tampered,
                "key_expired": expired,
            }.items()
        }
        for reason, response in answers.items():
            assert response.status_code == 403, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
            problem = response.json()
            assert problem["type"] == PROBLEM + "federation-rejected"
            assert problem["reason"] == reason
        assert nl.query("SELECT count(*) FROM federation_inbox") == [(0,)]
    finally:
        nl.stop()


# --- The referral crosses and everything follows it -------------------------------------------


async def test_referral_crosses_border_and_completes(two_nodes: ProcessFederation) -> None:
    md, nl = two_nodes.nodes[MD_NODE], two_nodes.nodes[NL_NODE]
    created = await _consent_and_referral(md, MD_NGO, NL_NGO, purpose="assistance")
    assert created.status_code == 201, created.text
    referral_id = created.json()["id"]

    await eventually(lambda: referral_id in _inbox_ids(nl), what="delivery to NL")
    seen = await nl.get(NL_NGO, f"/v1/referrals/{referral_id}")
    assert seen.status_code == 200, seen.text
    assert seen.json()["sender"] == MD_NGO
    assert seen.json()["sender_node"] == MD_NODE

    for step in (
        {"to": "received"},
        {"to": "accepted"},
        {"to": "completed", "reason": "service_provided"},
    ):
        moved = await nl.post(NL_NGO, f"/v1/referrals/{referral_id}/transitions", step)
        assert moved.status_code in (200, 201), moved.text
    await eventually(
        lambda: _state(md, MD_NGO, referral_id),
        what="a state at the sender",
    )
    assert await eventually(
        lambda: _is(md, MD_NGO, referral_id, "completed"), what="completed at the sender"
    )
    # Each message had exactly one effect on each side.
    assert _inbox_ids(nl).count(referral_id) == 1
    assert md.query("SELECT count(*) FROM federation_inbox WHERE referral_id = ?", referral_id) == [
        (3,)
    ]


async def _is(node: ProcessNode, org_id: str, referral_id: str, state: str) -> bool:
    return await _state(node, org_id, referral_id) == state


async def test_egress_denied_disclosure_never_leaves_sender(two_nodes: ProcessFederation) -> None:
    """An address to the origin country's police (R21): the Dutch node refuses to send it."""
    md, nl = two_nodes.nodes[MD_NODE], two_nodes.nodes[NL_NODE]
    consent = await nl.post(
        NL_NGO,
        "/v1/consents",
        consent_body(
            grants=[
                grant(
                    org_id=MD_POLICE,
                    purposes=["criminal_investigation"],
                    categories=["identity", "location"],
                )
            ]
        ),
    )
    assert consent.status_code == 201, consent.text
    credentials = nl.credentials[NL_NGO]
    body = referral_body(
        recipient=MD_POLICE,
        consent_ids=[consent.json()["id"]],
        purpose="criminal_investigation",
        payload={"identity": {"given_name": "A."}, "location": {"address": "Shelter street 1"}},
        signing_key=(credentials.key, credentials.kid),
    )
    denied = await nl.post(NL_NGO, "/v1/referrals", body)
    assert denied.status_code == 403, denied.text
    assert denied.json()["type"] == PROBLEM + "policy-violation"
    assert {v["rule"] for v in denied.json()["violations"]} & {"R21", "R33"}
    assert nl.query("SELECT count(*) FROM federation_outbox") == [(0,)]
    assert md.query("SELECT count(*) FROM federation_inbox") == [(0,)]


# --- Store and forward ------------------------------------------------------------------------


async def test_peer_down_for_a_while_then_everything_delivered_once(
    two_nodes: ProcessFederation,
) -> None:
    md, nl = two_nodes.nodes[MD_NODE], two_nodes.nodes[NL_NODE]
    nl.stop()
    sent = []
    for _ in range(5):
        created = await _consent_and_referral(md, MD_NGO, NL_NGO)
        assert created.status_code == 201, created.text
        sent.append(created.json()["id"])
    # Several retries fail while NL is down; nothing is lost on the sender.
    await eventually(
        lambda: (
            md.query(
                "SELECT count(*) FROM federation_outbox WHERE status = 'pending' AND attempts >= 2"
            )
            == [(5,)]
        ),
        what="retries while the peer is down",
    )
    nl.start()
    await eventually(lambda: sorted(_inbox_ids(nl)) == sorted(sent), what="all five delivered")
    await eventually(
        lambda: (
            md.query("SELECT count(*) FROM federation_outbox WHERE status = 'delivered'") == [(5,)]
        ),
        what="all acknowledged",
    )
    assert sorted(_inbox_ids(nl)) == sorted(sent)  # no duplicate


async def test_sender_killed_mid_delivery_delivers_each_once_after_restart(
    two_nodes: ProcessFederation,
) -> None:
    md, nl = two_nodes.nodes[MD_NODE], two_nodes.nodes[NL_NODE]
    acknowledged: list[str] = []
    for index in range(12):
        created = await _consent_and_referral(md, MD_NGO, NL_NGO)
        assert created.status_code == 201, created.text
        acknowledged.append(created.json()["id"])
        if index == 8:
            md.kill()  # kill -9 while the worker is delivering the stream
            break
    md.start()
    await eventually(
        lambda: sorted(set(_inbox_ids(nl))) == sorted(acknowledged),
        timeout_s=60,
        what="every acknowledged referral delivered",
    )
    assert len(_inbox_ids(nl)) == len(acknowledged)  # exactly once each
    await eventually(
        lambda: (
            md.query("SELECT count(*) FROM federation_outbox WHERE status <> 'delivered'") == [(0,)]
        ),
        what="sender outbox drained",
    )


# --- Withdrawal across two borders ------------------------------------------------------------


async def test_withdrawal_reaches_foreign_recipient_and_onward_recipient(
    tmp_path: Path,
) -> None:
    federation = ProcessFederation(tmp_path)
    md = await federation.add_node(MD_NODE, {MD_NGO: ["ngo_service_provider"]})
    nl = await federation.add_node(NL_NODE, {NL_NGO: ["ngo_service_provider"]})
    de = await federation.add_node(DE_NODE, {DE_NGO: ["ngo_service_provider"]})
    federation.start()
    try:
        consent = await md.post(
            MD_NGO,
            "/v1/consents",
            consent_body(
                grants=[grant(org_id=NL_NGO, purposes=["assistance"], onward_sharing=True)]
            ),
        )
        assert consent.status_code == 201, consent.text
        consent_id = consent.json()["id"]
        md_credentials = md.credentials[MD_NGO]
        first = await md.post(
            MD_NGO,
            "/v1/referrals",
            referral_body(
                recipient=NL_NGO,
                consent_ids=[consent_id],
                signing_key=(md_credentials.key, md_credentials.kid),
            ),
        )
        assert first.status_code == 201, first.text
        first_id = first.json()["id"]
        await eventually(lambda: first_id in _inbox_ids(nl), what="MD → NL")

        onward_consent = await nl.post(
            NL_NGO,
            "/v1/consents",
            consent_body(grants=[grant(org_id=DE_NGO, purposes=["assistance"])]),
        )
        assert onward_consent.status_code == 201, onward_consent.text
        nl_credentials = nl.credentials[NL_NGO]
        onward = await nl.post(
            NL_NGO,
            "/v1/referrals",
            referral_body(
                recipient=DE_NGO,
                consent_ids=[onward_consent.json()["id"]],
                signing_key=(nl_credentials.key, nl_credentials.kid),
                based_on=first_id,
            ),
        )
        assert onward.status_code == 201, onward.text
        onward_id = onward.json()["id"]
        await eventually(lambda: onward_id in _inbox_ids(de), what="NL → DE")

        withdrawal = {
            "channel": "in_person",
            "withdrawn_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "received_by": "worker-1",
        }
        withdrawn = await md.post(MD_NGO, f"/v1/consents/{consent_id}/withdraw", withdrawal)
        assert withdrawn.status_code in (200, 201), withdrawn.text
        assert await eventually(
            lambda: _is(nl, NL_NGO, first_id, "revoked"), what="revoked at the NL recipient"
        )
        assert await eventually(
            lambda: _is(de, DE_NGO, onward_id, "revoked"),
            what="revoked at the DE onward recipient",
        )
    finally:
        federation.stop()
