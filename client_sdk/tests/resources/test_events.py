"""events.list / iterate / follow, subscriptions, audit and statistics against the real node."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any, get_args

import pytest
import saferefer
from saferefer._spec import codelist_codes
from saferefer.resources.subscriptions import DeliveryStatus

NGO = "urn:saferefer:org:NL:demo-ngo"
SHELTER = "urn:saferefer:org:NL:demo-shelter"
RAPPORTEUR = "urn:saferefer:org:NL:demo-rapporteur"

Doc = Callable[..., dict[str, Any]]


def _end_of_feed(client: saferefer.Client) -> str | None:
    feed = client.events.iterate(limit=200)
    for _ in feed:
        pass
    return feed.cursor


def test_event_feed_iterates_and_resumes_sync(
    client_for: Callable[..., saferefer.Client], consent_doc: Doc, referral_doc: Doc
) -> None:
    ngo, shelter = client_for(NGO), client_for(SHELTER)
    consent = ngo.consents.record(consent_doc(SHELTER))
    start = _end_of_feed(shelter)
    first = ngo.referrals.create(referral_doc(SHELTER, consent.id))

    feed = shelter.events.iterate(after=start, limit=1)  # one event per page: exercises the paging
    events = list(feed)
    assert [e.subject for e in events if e.type == "org.saferefer.referral.submitted"] == [first.id]
    sequences = [int(e.sequence) for e in events]
    assert sequences == list(range(sequences[0], sequences[0] + len(sequences)))
    saved = feed.cursor
    assert saved is not None

    assert list(shelter.events.iterate(after=saved)) == []  # caught up
    second = ngo.referrals.create(referral_doc(SHELTER, consent.id))
    resumed = list(shelter.events.iterate(after=saved))
    assert [e.subject for e in resumed] == [second.id]
    assert int(resumed[0].sequence) == sequences[-1] + 1


def test_event_follow_long_polls_sync(
    client_for: Callable[..., saferefer.Client], consent_doc: Doc, referral_doc: Doc
) -> None:
    ngo, shelter = client_for(NGO), client_for(SHELTER)
    consent = ngo.consents.record(consent_doc(SHELTER))
    cursor = _end_of_feed(shelter)
    created: list[str] = []

    def send_later() -> None:
        time.sleep(0.5)
        created.append(ngo.referrals.create(referral_doc(SHELTER, consent.id)).id)

    sender = threading.Thread(target=send_later)
    sender.start()
    started = time.monotonic()
    event = next(iter(shelter.events.follow(after=cursor, wait=5)))
    sender.join()
    assert event.subject == created[0]
    assert time.monotonic() - started < 5


def test_subscriptions_audit_statistics_sync(
    client_for: Callable[..., saferefer.Client], consent_doc: Doc
) -> None:
    ngo = client_for(NGO)
    ngo.consents.record(consent_doc(SHELTER))  # something to audit
    subscription = ngo.subscriptions.create(
        url="http://127.0.0.1:9/hook", event_types=["org.saferefer.referral.accepted"]
    )
    assert subscription.id in [s.id for s in ngo.subscriptions.list()]
    assert ngo.subscriptions.retrieve(subscription.id).url
    assert list(ngo.subscriptions.deliveries(subscription.id)) == []
    # the documented status filters are the code list's, and the node takes each of them
    assert set(get_args(DeliveryStatus)) == set(codelist_codes("delivery-statuses"))
    for status in get_args(DeliveryStatus):
        assert list(ngo.subscriptions.deliveries(subscription.id, status=status)) == []
    ngo.subscriptions.delete(subscription.id)
    with pytest.raises(saferefer.NotFoundError):
        ngo.subscriptions.retrieve(subscription.id)

    entries = list(ngo.audit.list())
    assert entries
    assert all(e.hash for e in entries)
    assert ngo.audit.verify().valid

    with pytest.raises(saferefer.PermissionDeniedError):
        ngo.statistics.retrieve(group_by=["purpose"])
    rapporteur = client_for(RAPPORTEUR)
    statistics = rapporteur.statistics.retrieve(
        group_by=["purpose"], period_from="2026-11-01T00:00:00Z", period_to="2026-12-01T00:00:00Z"
    )
    assert statistics.k_threshold >= 5
    with pytest.raises(saferefer.ValidationError):  # the documented format, not a date alone
        rapporteur.statistics.retrieve(period_from="2026-11-01")


async def test_events_and_the_rest_async(
    async_client_for: Callable[..., saferefer.AsyncClient], consent_doc: Doc, referral_doc: Doc
) -> None:
    async with (
        async_client_for(NGO) as ngo,
        async_client_for(SHELTER) as shelter,
        async_client_for(RAPPORTEUR) as rapporteur,
    ):
        consent = await ngo.consents.record(consent_doc(SHELTER))
        start = shelter.events.iterate(limit=200)
        async for _ in start:
            pass
        referral = await ngo.referrals.create(referral_doc(SHELTER, consent.id))
        feed = shelter.events.iterate(after=start.cursor)
        events = [e async for e in feed]
        assert referral.id in [e.subject for e in events]
        page = await shelter.events.list(after=feed.cursor)
        assert page.items == []

        async def send_later() -> str:
            await asyncio.sleep(0.3)
            return (await ngo.referrals.create(referral_doc(SHELTER, consent.id))).id

        task = asyncio.create_task(send_later())
        async for event in shelter.events.follow(after=feed.cursor, wait=5):
            assert event.subject == await task
            break

        subscription = await ngo.subscriptions.create(
            url="http://127.0.0.1:9/hook", event_types=["org.saferefer.referral.submitted"]
        )
        assert subscription.id in [s.id async for s in ngo.subscriptions.list()]
        assert (await ngo.subscriptions.retrieve(subscription.id)).id == subscription.id
        assert [d async for d in ngo.subscriptions.deliveries(subscription.id)] == []
        await ngo.subscriptions.delete(subscription.id)

        assert [e async for e in ngo.audit.list()]
        assert (await ngo.audit.verify()).valid
        assert (
            await rapporteur.statistics.retrieve(group_by=["purpose", "month"])
        ).cells is not None
