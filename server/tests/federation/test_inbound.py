"""Receiving: authentication answers, exactly-once effect, ingress decisions."""

from __future__ import annotations

import asyncio
import json
from typing import Any, get_args

import httpx
import pytest
from saferefer import _resources
from saferefer_server.federation import inbound, worker
from saferefer_server.federation.envelope import Envelope
from saferefer_server.federation.errors import RejectionReason
from saferefer_server.federation.inbound import InboundConflict, InboundMessage

from .factories import (
    MD_NODE,
    NL_NGO,
    NL_NODE,
    deliver_envelope,
    entry,
    issued,
    new_key,
)
from .nodes import Federation, Node
from .schemas import spec_def_validator

PROBLEM = "https://saferefer.org/problems/"


def _client(node: Node) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=node.app), base_url=node.base_url)


async def _post(node: Node, signed: dict[str, Any]) -> httpx.Response:
    async with _client(node) as client:
        return await client.post("/federation/v1/messages", json=signed)


def _signed(federation: Federation, envelope: Envelope, signer: str = MD_NODE) -> dict[str, Any]:
    return issued(envelope, federation.nodes[signer].key)


async def test_receive_accepts_referral_and_applies_it_once(federation: Federation) -> None:
    nl = federation.nodes[NL_NODE]
    envelope = deliver_envelope(new_key())
    signed = _signed(federation, envelope)

    first = await _post(nl, signed)
    resent = await _post(nl, _signed(federation, envelope))  # re-signed on a retry

    assert first.status_code == 200
    assert first.json()["status"] == "accepted"
    assert resent.status_code == 200
    assert resent.json() == {**first.json(), "status": "duplicate"}
    receipt = spec_def_validator("federation-envelope.schema.json", "receipt")
    for document in (first.json(), resent.json()):
        assert [e.message for e in receipt.iter_errors(document)] == []
    assert await nl.effects() == [(envelope.id, "referral.deliver", envelope.referral_id)]


async def test_receive_decides_ingress_with_local_directory_roles(federation: Federation) -> None:
    nl = federation.nodes[NL_NODE]
    # The sender believed the recipient is police; this node's directory says NGO.
    response = await _post(nl, _signed(federation, deliver_envelope(new_key())))
    assert response.status_code == 200
    [decided] = nl.policy.inputs
    assert decided["recipient"] == {
        "org": NL_NGO,
        "roles": ["ngo_service_provider"],
        "country": "NL",
        "node": NL_NODE,
    }
    assert decided["context"]["cross_border"] is True
    assert decided["context"]["now"] != "2026-11-28T21:00:00Z"
    assert decided["purpose"] == "assistance"


async def test_receive_concurrent_duplicates_have_one_effect(federation: Federation) -> None:
    nl = federation.nodes[NL_NODE]
    envelope = deliver_envelope(new_key())
    responses = await asyncio.gather(*(_post(nl, _signed(federation, envelope)) for _ in range(5)))
    assert sorted(r.json()["status"] for r in responses) == ["accepted"] + ["duplicate"] * 4
    assert len(await nl.effects()) == 1


async def test_receive_refuses_same_message_id_with_other_content(federation: Federation) -> None:
    nl = federation.nodes[NL_NODE]
    envelope = deliver_envelope(new_key())
    assert (await _post(nl, _signed(federation, envelope))).status_code == 200
    altered = deliver_envelope(new_key(), message_id=envelope.id, referral_id=envelope.referral_id)
    response = await _post(nl, _signed(federation, altered))
    assert response.status_code == 409
    assert response.json()["type"] == PROBLEM + "conflict"
    assert len(await nl.effects()) == 1


async def test_receive_ingress_denial_is_recorded_answered_and_never_applied(
    federation: Federation,
) -> None:
    nl = federation.nodes[NL_NODE]
    nl.policy.denied_purposes.add("assistance")
    recorded: list[str] = []

    async def recorder(
        *, db_session: Any, message: InboundMessage, decision: Any, app_state: Any
    ) -> None:
        recorded.append(message.message_id)

    inbound.register_ingress_denial_recorder(recorder)
    envelope = deliver_envelope(new_key())

    first = await _post(nl, _signed(federation, envelope))
    again = await _post(nl, _signed(federation, envelope))

    for response in (first, again):
        assert response.status_code == 403
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["type"] == PROBLEM + "federation-rejected"
        assert response.json()["reason"] == "ingress_policy_denied"
        assert response.json()["violations"][0]["rule"] == "R11"
    assert recorded == [envelope.id]  # the replay does not decide again
    assert await nl.effects() == []
    assert await nl.inbox_count() == 1


async def test_receive_engine_failure_answers_503_and_records_nothing(
    federation: Federation,
) -> None:
    nl = federation.nodes[NL_NODE]
    nl.policy.failing = True
    envelope = deliver_envelope(new_key())
    response = await _post(nl, _signed(federation, envelope))
    assert response.status_code == 503
    assert response.json()["type"] == PROBLEM + "policy-engine-unavailable"
    assert await nl.inbox_count() == 0
    nl.policy.failing = False
    assert (await _post(nl, _signed(federation, envelope))).status_code == 200


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"recipient_org": "urn:saferefer:org:NL:nobody"}, "unknown_recipient"),
        ({"to_node": "urn:saferefer:node:DE:national"}, "wrong_recipient_node"),
        ({"sender_org": NL_NGO}, "org_country_mismatch"),
    ],
)
async def test_receive_rejects_with_federation_rejected_reason(
    federation: Federation, change: dict[str, str], reason: str
) -> None:
    nl = federation.nodes[NL_NODE]
    envelope = deliver_envelope(new_key(), **change)
    response = await _post(nl, _signed(federation, envelope))
    assert response.status_code == 403
    body = response.json()
    assert body["type"] == PROBLEM + "federation-rejected"
    assert body["reason"] == reason
    assert await nl.inbox_count() == 0


async def test_receive_rejects_unknown_node_and_tampered_message(federation: Federation) -> None:
    nl = federation.nodes[NL_NODE]
    rogue = issued(deliver_envelope(new_key(), from_node="urn:saferefer:node:MD:rogue"), new_key())
    tampered = _signed(federation, deliver_envelope(new_key()))
    tampered["body"]["recipient"] = "urn:saferefer:org:NL:police"
    assert (await _post(nl, rogue)).json()["reason"] == "unknown_node"
    assert (await _post(nl, tampered)).json()["reason"] == "bad_signature"
    assert await nl.inbox_count() == 0


async def test_receive_rejects_key_removed_by_new_trust_list(federation: Federation) -> None:
    md, nl = federation.nodes[MD_NODE], federation.nodes[NL_NODE]
    envelope = deliver_envelope(new_key())
    federation.publish([entry(NL_NODE, nl.key, base_url=nl.base_url)])  # MD leaves the mechanism
    assert await nl.runtime.trust.refresh() is True
    response = await _post(nl, issued(envelope, md.key))
    assert response.json()["reason"] == "unknown_node"


@pytest.mark.parametrize(
    ("body", "status", "problem"),
    [
        (b"not json", 400, "malformed-request"),
        (b"[1, 2]", 400, "malformed-request"),
        (b'{"signature": "x"}', 403, "federation-rejected"),
    ],
    ids=["text", "list", "partial"],
)
async def test_receive_refuses_bodies_that_are_not_an_envelope(
    federation: Federation, body: bytes, status: int, problem: str
) -> None:
    async with _client(federation.nodes[NL_NODE]) as client:
        response = await client.post(
            "/federation/v1/messages", content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == PROBLEM + problem


async def test_receive_handler_conflict_answers_409_without_recording(
    federation: Federation, handlers: dict[str, Any]
) -> None:
    async def refuse(*, db_session: Any, message: InboundMessage, app_state: Any) -> None:
        raise InboundConflict(f"referral {message.referral_id} is completed")

    inbound.register_inbound_handler("referral.deliver", refuse)
    nl = federation.nodes[NL_NODE]
    response = await _post(nl, _signed(federation, deliver_envelope(new_key())))
    assert response.status_code == 409
    assert await nl.inbox_count() == 0


async def test_receive_without_domain_handler_answers_retryable_503(
    federation: Federation, handlers: dict[str, Any]
) -> None:
    handlers.clear()
    response = await _post(
        federation.nodes[NL_NODE], _signed(federation, deliver_envelope(new_key()))
    )
    assert response.status_code == 503
    assert "Retry-After" in response.headers


async def test_trust_list_endpoint_serves_list_in_force(federation: Federation) -> None:
    nl = federation.nodes[NL_NODE]
    async with _client(nl) as client:
        response = await client.get("/federation/v1/trust-list")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.text == federation.trust_list_path.read_text()


async def test_receive_refuses_policy_input_outside_the_schema(federation: Federation) -> None:
    nl = federation.nodes[NL_NODE]
    envelope = deliver_envelope(new_key())
    broken = {**(envelope.policy_input or {}), "action": "referral.teleport"}
    response = await _post(
        nl, _signed(federation, envelope.model_copy(update={"policy_input": broken}))
    )
    assert response.status_code == 403
    assert response.json()["reason"] == "malformed"
    assert "policy-input.schema.json #action" in response.json()["detail"]
    assert nl.policy.inputs == []  # never decided, never stored
    assert await nl.inbox_count() == 0


def test_rejection_reasons_match_the_code_list() -> None:
    codelist = json.loads(
        (_resources.spec_dir() / "codelists" / "federation-rejection-reasons.json").read_text()
    )
    codes = {entry["code"] for entry in codelist["entries"]}
    final = {entry["code"] for entry in codelist["entries"] if entry["final"]}
    assert set(get_args(RejectionReason)) == codes
    assert final == worker._PERMANENT_REASONS
