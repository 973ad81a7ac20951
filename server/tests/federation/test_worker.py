"""Sending: the outbox and the delivery worker against in-process peers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from saferefer_server.core import metrics
from saferefer_server.core.ids import uuid7
from saferefer_server.federation import service
from saferefer_server.federation import worker as worker_module
from saferefer_server.federation.envelope import Envelope
from saferefer_server.federation.models import (
    OUTBOX_DEAD,
    OUTBOX_DELIVERED,
    OUTBOX_PENDING,
    OUTBOX_REJECTED,
    FederationOutboxMessage,
)
from saferefer_server.federation.worker import DeliveryOutcome, DeliveryWorker, classify
from sqlalchemy import update

from .factories import (
    MD_NGO,
    MD_NODE,
    NL_NGO,
    NL_NODE,
    deliver_envelope,
    entry,
    new_key,
)
from .nodes import Federation, Node, later

PROBLEM = "https://saferefer.org/problems/"


async def _enqueue(
    node: Node,
    *,
    message_type: str = "referral.deliver",
    referral_id: str | None = None,
    purpose: str = "assistance",
    to_node: str = NL_NODE,
) -> tuple[str, str]:
    """Enqueue as the domain does: in a transaction of its own, then commit."""
    template = deliver_envelope(new_key(), referral_id=referral_id or uuid7(), purpose=purpose)
    body = template.body
    if message_type == "referral.transition":
        body = transition_record(template.referral_id)
    async with node.sessionmaker() as session:
        message_id = await service.enqueue_outbound(
            db_session=session,
            federation=node.runtime,
            message_type=message_type,  # type: ignore[arg-type]
            to_node=to_node,
            body=body,
            **(deliver_members(template) if message_type == "referral.deliver" else {}),
        )
        await session.commit()
    return message_id, template.referral_id


def deliver_members(template: Envelope) -> dict[str, Any]:
    assert template.sender_jwks is not None
    return {
        "sender_jwks": template.sender_jwks.model_dump(exclude_none=True),
        "policy_input": template.policy_input,
    }


def transition_record(referral_id: str) -> dict[str, Any]:
    return {
        "id": uuid7(),
        "referral_id": referral_id,
        "from": "submitted",
        "to": "withdrawn",
        "actor": "sender",
        "actor_org": MD_NGO,
        "reason": None,
        "occurred_at": "2026-11-28T21:00:00Z",
    }


@pytest.mark.parametrize(
    ("status", "problem", "reason", "outcome"),
    [
        (200, None, None, DeliveryOutcome.DELIVERED),
        (403, "federation-rejected", "ingress_policy_denied", DeliveryOutcome.REJECTED),
        (403, "federation-rejected", "unknown_recipient", DeliveryOutcome.REJECTED),
        (403, "federation-rejected", "malformed", DeliveryOutcome.REJECTED),
        (403, "federation-rejected", "unknown_key", DeliveryOutcome.RETRY),
        (403, "federation-rejected", "key_expired", DeliveryOutcome.RETRY),
        (403, "federation-rejected", "trust_list_stale", DeliveryOutcome.RETRY),
        (403, "forbidden", None, DeliveryOutcome.RETRY),
        (409, "conflict", None, DeliveryOutcome.REJECTED),
        (400, "validation-error", None, DeliveryOutcome.REJECTED),
        (404, "not-found", None, DeliveryOutcome.RETRY),
        (429, "rate-limited", None, DeliveryOutcome.RETRY),
        (500, None, None, DeliveryOutcome.RETRY),
        (503, "policy-engine-unavailable", None, DeliveryOutcome.RETRY),
    ],
)
def test_classify_peer_answers(
    status: int, problem: str | None, reason: str | None, outcome: str
) -> None:
    assert classify(status, PROBLEM + problem if problem else None, reason) == outcome


async def test_worker_delivers_committed_message_once(federation: Federation) -> None:
    md, nl = federation.nodes[MD_NODE], federation.nodes[NL_NODE]
    message_id, referral_id = await _enqueue(md)
    assert md.runtime.wake_event.is_set()  # the commit woke the worker

    assert await md.worker.run_once() == 1
    assert await md.worker.run_once() == 0

    row = await md.outbox(message_id)
    assert row.status == OUTBOX_DELIVERED
    assert row.peer_response is not None
    assert row.peer_response["status"] == "accepted"
    assert await nl.effects() == [(message_id, "referral.deliver", referral_id)]


async def test_enqueue_rolled_back_never_leaves(federation: Federation) -> None:
    md = federation.nodes[MD_NODE]
    async with md.sessionmaker() as session:
        await service.enqueue_outbound(
            db_session=session,
            federation=md.runtime,
            message_type="referral.transition",
            to_node=NL_NODE,
            body=transition_record(uuid7()),
        )
        await session.rollback()
    assert await md.worker.run_once() == 0
    assert federation.network.requests == []


async def test_enqueue_refuses_node_outside_trust_list(federation: Federation) -> None:
    md = federation.nodes[MD_NODE]
    with pytest.raises(service.FederationUnavailable):
        await _enqueue(md, to_node="urn:saferefer:node:DE:national")
    with pytest.raises(service.FederationUnavailable):
        await _enqueue(md, to_node=MD_NODE)


async def test_worker_retries_while_peer_down_then_delivers_everything_once(
    federation: Federation,
) -> None:
    md, nl = federation.nodes[MD_NODE], federation.nodes[NL_NODE]
    federation.network.down.add(nl.netloc)
    sent = [await _enqueue(md) for _ in range(5)]

    for hours in range(1, 4):  # three rounds "hours apart": every message fails each time
        last_round = datetime.now(UTC)
        await md.worker.run_once(now=later(3600 * hours))
    rows = [await md.outbox(message_id) for message_id, _ in sent]
    assert all(r.status == OUTBOX_PENDING and r.attempts == 3 for r in rows)
    assert all(r.last_error == "transport: ConnectError" for r in rows)
    # Third failure: the next attempt waits at least half the capped ceiling (0.2 s here).
    assert all(r.next_attempt_at >= last_round + timedelta(seconds=0.1) for r in rows)

    federation.network.down.clear()
    await md.worker.run_once(now=later(4 * 3600))
    assert {(await md.outbox(m)).status for m, _ in sent} == {OUTBOX_DELIVERED}
    assert sorted(e[0] for e in await nl.effects()) == sorted(m for m, _ in sent)


async def test_worker_resend_after_lost_acknowledgement_has_one_effect(
    federation: Federation,
) -> None:
    """The sender dies after the peer applied the message but before recording it."""
    md, nl = federation.nodes[MD_NODE], federation.nodes[NL_NODE]
    message_id, _ = await _enqueue(md)
    assert await md.worker.run_once() == 1
    async with md.sessionmaker() as session:  # as if the DELIVERED update never happened
        await session.execute(
            update(FederationOutboxMessage).values(status=OUTBOX_PENDING, attempts=0)
        )
        await session.commit()

    assert await md.worker.run_once() == 1
    row = await md.outbox(message_id)
    assert row.status == OUTBOX_DELIVERED
    assert row.peer_response is not None
    assert row.peer_response["status"] == "duplicate"
    assert len(await nl.effects()) == 1


async def test_worker_reclaims_message_only_after_dead_workers_lease(
    federation: Federation,
) -> None:
    md, nl = federation.nodes[MD_NODE], federation.nodes[NL_NODE]
    message_id, _ = await _enqueue(md)
    async with md.sessionmaker() as session:  # claimed by a worker that was then killed
        await session.execute(
            update(FederationOutboxMessage).values(lease_owner="dead-worker", lease_until=later(5))
        )
        await session.commit()
    assert await md.worker.run_once() == 0
    assert await md.worker.run_once(now=later(6)) == 1
    assert (await md.outbox(message_id)).status == OUTBOX_DELIVERED
    assert len(await nl.effects()) == 1


async def test_worker_keeps_per_referral_order(federation: Federation) -> None:
    md, nl = federation.nodes[MD_NODE], federation.nodes[NL_NODE]
    federation.network.down.add(nl.netloc)
    create_id, referral_id = await _enqueue(md)
    transition_id, _ = await _enqueue(
        md, message_type="referral.transition", referral_id=referral_id
    )
    await md.worker.run_once()
    # Only the first message of the referral was attempted; the transition waits behind it.
    assert (await md.outbox(create_id)).attempts == 1
    assert (await md.outbox(transition_id)).attempts == 0

    federation.network.down.clear()
    await md.worker.run_once(now=later(60))
    await md.worker.run_once(now=later(60))
    assert [e[1] for e in await nl.effects()] == ["referral.deliver", "referral.transition"]


async def test_worker_marks_ingress_denial_rejected_without_retry(federation: Federation) -> None:
    md, nl = federation.nodes[MD_NODE], federation.nodes[NL_NODE]
    nl.policy.denied_purposes.add("criminal_investigation")
    message_id, _ = await _enqueue(md, purpose="criminal_investigation")
    await md.worker.run_once()
    assert await md.worker.run_once(now=later(3600)) == 0
    row = await md.outbox(message_id)
    assert row.status == OUTBOX_REJECTED
    assert row.last_error == "HTTP 403 federation-rejected ingress_policy_denied"
    assert row.peer_response is not None
    assert row.peer_response["violations"][0]["rule"] == "R11"
    assert await nl.effects() == []


async def test_worker_retries_while_peer_lacks_new_key_then_delivers(
    federation: Federation,
) -> None:
    """Rotation lag: MD signs with a new key that NL's trust list does not have yet."""
    md, nl = federation.nodes[MD_NODE], federation.nodes[NL_NODE]
    rotated = new_key()
    md.runtime.signing_key = lambda: rotated
    message_id, _ = await _enqueue(md)
    await md.worker.run_once()
    row = await md.outbox(message_id)
    assert row.status == OUTBOX_PENDING
    assert row.last_error == "HTTP 403 federation-rejected unknown_key"

    md_entry = entry(MD_NODE, md.key, rotated, base_url=md.base_url)
    federation.publish([md_entry, entry(NL_NODE, nl.key, base_url=nl.base_url)])
    await nl.runtime.trust.refresh()
    await md.worker.run_once(now=later(60))
    assert (await md.outbox(message_id)).status == OUTBOX_DELIVERED


async def test_worker_dead_letters_after_max_age(federation: Federation) -> None:
    md, nl = federation.nodes[MD_NODE], federation.nodes[NL_NODE]
    md.runtime.settings = md.runtime.settings.model_copy(update={"max_age_s": 0.001})
    federation.network.down.add(nl.netloc)
    message_id, _ = await _enqueue(md)
    await md.worker.run_once(now=later(1))
    row = await md.outbox(message_id)
    assert row.status == OUTBOX_DEAD
    assert row.last_error == "transport: ConnectError"
    async with md.sessionmaker() as session:
        assert await service.outbox_summary(db_session=session) == {NL_NODE: {"dead": 1}}


async def test_worker_honours_retry_after(federation: Federation) -> None:
    md, nl = federation.nodes[MD_NODE], federation.nodes[NL_NODE]
    nl.policy.failing = True  # the peer answers 503 with Retry-After: 5
    message_id, _ = await _enqueue(md)
    await md.worker.run_once()
    row = await md.outbox(message_id)
    assert row.status == OUTBOX_PENDING
    assert row.next_attempt_at >= datetime.now(UTC) + timedelta(seconds=4)


async def test_outbox_gauge_counts_by_peer_and_status(federation: Federation) -> None:
    md, nl = federation.nodes[MD_NODE], federation.nodes[NL_NODE]
    nl.policy.denied_purposes.add("criminal_investigation")
    await _enqueue(md)
    await _enqueue(md, purpose="criminal_investigation")
    await md.worker.run_once()
    await _enqueue(md)
    async with md.sessionmaker() as session:
        rendered = (await metrics.current().render(session)).decode()
    line = 'saferefer_federation_outbox_messages{peer="%s",status="%s"} %s'
    assert line % (NL_NODE, "delivered", "1.0") in rendered
    assert line % (NL_NODE, "rejected", "1.0") in rendered
    assert line % (NL_NODE, "pending", "1.0") in rendered


async def test_running_worker_is_woken_by_the_commit_not_the_poll(
    federation: Federation,
) -> None:
    md, nl = federation.nodes[MD_NODE], federation.nodes[NL_NODE]
    md.runtime.settings = md.runtime.settings.model_copy(update={"worker_poll_s": 60.0})
    task = asyncio.create_task(md.worker.run())
    try:
        await asyncio.sleep(0.05)  # the worker found nothing and sleeps for up to a minute
        message_id, _ = await _enqueue(md)
        async with asyncio.timeout(10):
            while (await md.outbox(message_id)).status != OUTBOX_DELIVERED:
                await asyncio.sleep(0.02)
    finally:
        md.worker.stop()
        await asyncio.wait_for(task, 10)
    assert len(await nl.effects()) == 1


@pytest.mark.parametrize(
    ("message_type", "members", "message"),
    [
        ("referral.deliver", {"sender_jwks": {"keys": []}}, "needs the policy_input"),
        ("referral.deliver", {"policy_input": {"action": "referral.send"}}, "needs sender_jwks"),
        ("referral.transition", {"policy_input": {"action": "referral.send"}}, "carries neither"),
    ],
)
async def test_enqueue_refuses_members_the_envelope_schema_forbids(
    federation: Federation, message_type: str, members: dict[str, Any], message: str
) -> None:
    md = federation.nodes[MD_NODE]
    body = deliver_envelope(new_key()).body
    async with md.sessionmaker() as session:
        with pytest.raises(ValueError, match=message):
            await service.enqueue_outbound(
                db_session=session,
                federation=md.runtime,
                message_type=message_type,  # type: ignore[arg-type]
                to_node=NL_NODE,
                body=body,
                **members,
            )


async def test_final_refusal_runs_the_refusal_handler_in_the_same_transaction(
    federation: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    md, nl = federation.nodes[MD_NODE], federation.nodes[NL_NODE]
    nl.policy.denied_purposes.add("criminal_investigation")
    calls: list[tuple[str, str]] = []
    failing = {"on": True}

    async def on_refused(*, db_session: Any, message: Any, reason: str, app_state: Any) -> None:
        assert db_session.in_transaction()
        calls.append((message.referral_id, reason))
        if failing["on"]:
            raise RuntimeError("the domain could not record the refusal")

    monkeypatch.setitem(worker_module._refusal_handlers, "referral.deliver", on_refused)
    monkeypatch.setattr(md.worker, "app_state", object())
    message_id, referral_id = await _enqueue(md, purpose="criminal_investigation")

    # The handler failed: the rejection is not recorded either; the message stays pending.
    with pytest.raises(RuntimeError):
        await md.worker.run_once()
    assert (await md.outbox(message_id)).status == OUTBOX_PENDING

    failing["on"] = False
    await md.worker.run_once(now=later(3600))
    assert (await md.outbox(message_id)).status == OUTBOX_REJECTED
    assert calls == [(referral_id, "ingress_policy_denied")] * 2


@pytest.mark.postgres
async def test_two_workers_on_one_postgresql_database_claim_each_message_once(
    tmp_path: Path, handlers: Any, request: pytest.FixtureRequest
) -> None:
    cluster = request.getfixturevalue("pg_cluster")
    template = request.getfixturevalue("_pg_template")
    url = cluster.create_database(f"t_{uuid7().replace('-', '')[:16]}", template=template)
    fed = Federation.create(tmp_path)
    md = await fed.add_node(
        MD_NODE, port=18011, orgs={MD_NGO: ["ngo_service_provider"]}, database_url=url
    )
    nl = await fed.add_node(NL_NODE, port=18012, orgs={NL_NGO: ["ngo_service_provider"]})
    assert md.db.url.get_backend_name() == "postgresql"
    await fed.start()
    second = DeliveryWorker(
        runtime=md.runtime,
        sessionmaker=md.sessionmaker,
        http_client=httpx.AsyncClient(transport=fed.network),
    )
    try:
        message_ids = [(await _enqueue(md))[0] for _ in range(12)]
        claimed = 0
        for _ in range(4):  # rounds of both workers claiming at the same time
            claimed += sum(await asyncio.gather(md.worker.run_once(), second.run_once()))
        assert claimed == len(message_ids)
        for message_id in message_ids:
            row = await md.outbox(message_id)
            assert (row.status, row.attempts) == (OUTBOX_DELIVERED, 1)
        assert sorted(e[0] for e in await nl.effects()) == sorted(message_ids)
    finally:
        await second.aclose()
        await fed.aclose()
