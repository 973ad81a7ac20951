"""Webhook subscriptions: CRUD, signed CloudEvents deliveries, retries and dead letters."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import timedelta
from typing import Any

import httpx
import pytest
from joserfc import jws
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet
from saferefer_server.db.base import utcnow
from saferefer_server.domain_spec import schema_errors
from saferefer_server.events import service
from saferefer_server.events.signing import sign_detached
from saferefer_server.referrals.testing import DomainFlows

NGO = "urn:saferefer:org:NL:demo-ngo"
SHELTER = "urn:saferefer:org:NL:demo-shelter"
POLICE = "urn:saferefer:org:NL:demo-police"
HOOK = "http://127.0.0.1:9/hook"
TYPES = ["org.saferefer.referral.submitted"]


@pytest.fixture(autouse=True)
def paused_worker(flows: DomainFlows) -> None:
    """These tests drive `deliver_due` themselves; the app's own worker stays out of the way."""
    flows.node.app.state.webhook_worker_paused = True


async def subscribe(flows: DomainFlows, org: str = SHELTER, **extra: Any) -> dict[str, Any]:
    body = {"url": HOOK, "event_types": ["org.saferefer.referral.submitted"], **extra}
    response = await flows.post(org, "/v1/subscriptions", body)
    assert response.status_code == 201, response.text
    document: dict[str, Any] = response.json()
    return document


class Receiver:
    """An httpx transport that records each delivery and answers with the next status."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.statuses.pop(0) if self.statuses else 200)


async def deliver(flows: DomainFlows, receiver: Receiver, *, now: Any = None) -> int:
    keys = flows.node.app.state.node_keys

    async def sign(body: bytes) -> str:
        return sign_detached(keys, body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver.handle)) as http:
        return await service.deliver_due(
            sessionmaker=flows.node.app.state.sessionmaker,
            http=http,
            sign=sign,
            **({"now": now} if now else {}),
        )


async def test_subscription_crud_is_per_organisation(flows: DomainFlows) -> None:
    created = await subscribe(flows, description="case system")
    assert schema_errors("subscription.schema.json", created) == []
    path = f"/v1/subscriptions/{created['id']}"
    assert (await flows.get(SHELTER, path)).json() == created
    assert [s["id"] for s in (await flows.get(SHELTER, "/v1/subscriptions")).json()["items"]] == [
        created["id"]
    ]
    assert (await flows.get(POLICE, path)).status_code == 404
    assert (await flows.get(POLICE, "/v1/subscriptions")).json()["items"] == []
    police_auth = await flows.node.auth(POLICE)
    assert (await flows.node.client.delete(path, headers=police_auth)).status_code == 404
    auth = await flows.node.auth(SHELTER)
    assert (await flows.node.client.delete(path, headers=auth)).status_code == 204
    assert (await flows.get(SHELTER, path)).status_code == 404


async def test_subscription_with_bad_url_or_type_is_422(flows: DomainFlows) -> None:
    for body in (
        {"url": "ftp://example.org/x", "event_types": ["org.saferefer.referral.submitted"]},
        {"url": HOOK, "event_types": ["org.example.unknown"]},
        {"url": HOOK, "event_types": []},
    ):
        assert (await flows.post(SHELTER, "/v1/subscriptions", body)).status_code == 422


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:4?\u00afn",  # the shape schemathesis found stored, then listed back
        "https://[abc",  # answered 500 (urlsplit raised)
        "https://hook-user:hook-password@cms.example/hook",
    ],
)
async def test_subscription_with_url_outside_the_schema_is_422_and_not_stored(
    flows: DomainFlows, url: str
) -> None:
    response = await flows.post(SHELTER, "/v1/subscriptions", {"url": url, "event_types": TYPES})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "https://saferefer.org/problems/validation-error"
    assert [error["pointer"] for error in problem["errors"]] == ["#/url"]
    assert url not in response.text
    assert schema_errors("problem.schema.json", problem) == []
    assert (await flows.get(SHELTER, "/v1/subscriptions")).json()["items"] == []


async def test_delivery_is_a_cloudevent_with_a_verifiable_signature(flows: DomainFlows) -> None:
    await subscribe(flows)
    referral = await flows.referral(NGO, SHELTER)
    receiver = Receiver([200])
    assert await deliver(flows, receiver) == 1
    [request] = receiver.requests
    assert request.headers["content-type"] == "application/cloudevents+json"
    event = json.loads(request.content)
    assert schema_errors("event.schema.json", event) == []
    assert event["subject"] == referral["id"]
    jwks = (await flows.node.client.get("/jwks.json")).json()
    verified = jws.deserialize_compact(
        request.headers["SafeRefer-Signature"],
        KeySet.import_key_set(jwks),
        algorithms=["ES256"],
        payload=request.content,
    )
    assert verified.protected["alg"] == "ES256"
    # Tampering with the body breaks the signature.
    with pytest.raises(BadSignatureError):
        jws.deserialize_compact(
            request.headers["SafeRefer-Signature"],
            KeySet.import_key_set(jwks),
            algorithms=["ES256"],
            payload=request.content.replace(b"submitted", b"accepted"),
        )
    assert await deliver(flows, receiver) == 0  # delivered once, not again


async def test_failed_delivery_retries_with_backoff_then_dead_letters(flows: DomainFlows) -> None:
    subscription = await subscribe(flows)
    await flows.referral(NGO, SHELTER)
    receiver = Receiver([503, 500])
    assert await deliver(flows, receiver) == 1
    path = f"/v1/subscriptions/{subscription['id']}/deliveries"
    [pending] = (await flows.get(SHELTER, path)).json()["items"]
    assert pending["status"] == "retrying"
    assert pending["last_status_code"] == 503
    assert schema_errors("subscription.schema.json", pending, "/$defs/delivery") == []
    assert await deliver(flows, receiver) == 0  # not due yet
    # A day later the next failure dead-letters it; it stays visible, and in the feed.
    later = utcnow() + timedelta(hours=25)
    assert await deliver(flows, receiver, now=lambda: later) == 1
    [dead] = (await flows.get(SHELTER, path, status="dead_lettered")).json()["items"]
    assert dead["attempts"] == 2
    assert (await flows.get(SHELTER, "/v1/events")).json()["items"]
    current = (await flows.get(SHELTER, f"/v1/subscriptions/{subscription['id']}")).json()
    assert current["consecutive_failures"] == 2


async def test_two_workers_never_deliver_the_same_attempt(flows: DomainFlows) -> None:
    await subscribe(flows)
    for _ in range(6):
        await flows.referral(NGO, SHELTER)
    receiver = Receiver([])

    async def worker() -> int:
        # Passes until nothing is due; one subscription gives one delivery per pass (in order).
        total = 0
        while attempted := await deliver(flows, receiver):
            total += attempted
        return total

    counts = await asyncio.gather(worker(), worker())
    assert sum(counts) == 6
    ids = [json.loads(r.content)["id"] for r in receiver.requests]
    assert len(ids) == len(set(ids)) == 6
    sequences = [json.loads(r.content)["sequence"] for r in receiver.requests]
    assert sequences == sorted(sequences)


async def test_a_crashed_claim_is_retried_after_its_lease(flows: DomainFlows) -> None:
    await subscribe(flows)
    await flows.referral(NGO, SHELTER)
    async with flows.node.app.state.sessionmaker() as db_session:
        claimed = await service.claim_due(db_session=db_session, now=utcnow())
        await db_session.commit()
    assert len(claimed) == 1  # ...and this worker dies before sending
    receiver = Receiver([])
    assert await deliver(flows, receiver) == 0
    after_lease = utcnow() + service.CLAIM_LEASE + timedelta(seconds=1)
    assert await deliver(flows, receiver, now=lambda: after_lease) == 1
    assert len(receiver.requests) == 1


async def test_background_worker_delivers_through_the_app(flows: DomainFlows) -> None:
    receiver = Receiver([])
    flows.node.app.state.webhook_transport = httpx.MockTransport(receiver.handle)
    flows.node.app.state.webhook_worker_paused = False
    await subscribe(flows)
    referral = await flows.referral(NGO, SHELTER)
    for _ in range(100):
        if receiver.requests:
            break
        await asyncio.sleep(0.1)
    assert [json.loads(r.content)["subject"] for r in receiver.requests] == [referral["id"]]


def test_retry_delay_grows_exponentially_with_jitter_and_a_cap() -> None:
    rng = random.Random(7)
    for attempt, low, high in [(1, 5, 10), (2, 10, 20), (3, 20, 40), (12, 1800, 3600)]:
        for _ in range(20):
            delay = service.retry_delay(attempt, rng=rng).total_seconds()
            assert low <= delay <= high, (attempt, delay)
    # Enough attempts fit in the 24 h window before a delivery is dead-lettered.
    total, attempt = 0.0, 1
    while total < service.RETRY_WINDOW.total_seconds():
        total += service.retry_delay(attempt, rng=rng).total_seconds()
        attempt += 1
    assert attempt > 20


async def test_outbox_depth_gauge_counts_undelivered_deliveries(flows: DomainFlows) -> None:
    await subscribe(flows)
    await flows.referral(NGO, SHELTER)
    await flows.referral(NGO, SHELTER)
    metrics = (await flows.node.client.get("/metrics")).text
    assert "saferefer_outbox_depth 2.0" in metrics
    receiver = Receiver([])
    assert await deliver(flows, receiver) == 1  # one per subscription and pass, in order
    assert await deliver(flows, receiver) == 1
    metrics = (await flows.node.client.get("/metrics")).text
    assert "saferefer_outbox_depth 0.0" in metrics


async def test_subscription_is_disabled_after_repeated_dead_letters(flows: DomainFlows) -> None:
    subscription = await subscribe(flows)
    path = f"/v1/subscriptions/{subscription['id']}"
    later = utcnow() + timedelta(hours=25)  # past the retry window: a failure dead-letters
    receiver = Receiver([500] * 10)
    for sent in range(1, service.DISABLE_AFTER_DEAD_LETTERS + 1):
        await flows.referral(NGO, SHELTER)
        assert (await flows.get(SHELTER, path)).json()["status"] == "active"
        assert await deliver(flows, receiver, now=lambda: later) == 1
        dead = (await flows.get(SHELTER, f"{path}/deliveries", status="dead_lettered")).json()
        assert len(dead["items"]) == sent

    current = (await flows.get(SHELTER, path)).json()
    assert current["status"] == "disabled"
    assert schema_errors("subscription.schema.json", current) == []
    # Nothing more is sent to it; the pull feed still has every event.
    await flows.referral(NGO, SHELTER)
    assert await deliver(flows, receiver, now=lambda: later) == 0
    assert len(receiver.requests) == service.DISABLE_AFTER_DEAD_LETTERS
    feed = (await flows.get(SHELTER, "/v1/events")).json()["items"]
    assert len(feed) >= service.DISABLE_AFTER_DEAD_LETTERS + 1


async def test_deliveries_of_one_subscription_go_in_sequence_order(flows: DomainFlows) -> None:
    # The first event fails; the later ones wait for it (SR-EVENT-013) instead of overtaking it.
    await subscribe(flows)
    for _ in range(3):
        await flows.referral(NGO, SHELTER)
    receiver = Receiver([503])
    assert await deliver(flows, receiver) == 1  # only the head of the line is tried
    assert await deliver(flows, receiver) == 0  # its retry is not due; nothing overtakes it
    later = utcnow() + timedelta(minutes=5)
    for _ in range(3):
        assert await deliver(flows, receiver, now=lambda: later) == 1
    sequences = [json.loads(r.content)["sequence"] for r in receiver.requests]
    assert sequences[0] == sequences[1]  # the retry of the first event ...
    assert sequences[1:] == sorted(sequences[1:])  # ... then the rest, in order
    assert len(set(sequences)) == 3
