"""Writing events into the outbox, reading the pull feed, managing and delivering webhooks.

`emit` runs inside the transaction of the change it announces, so an event exists exactly when
the change does. Each organisation's feed has its own sequence: positions are allocated by an
upsert on `event_sequences` that holds the row lock until commit, so they are gap-free and become
visible in order. Deliveries are claimed with `FOR UPDATE SKIP LOCKED` and leased, so several
workers on one PostgreSQL never send the same attempt twice.
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Insert, bindparam, delete, exists, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from saferefer_server.audit.ids import rfc3339, uuid7
from saferefer_server.audit.service import canonical_json
from saferefer_server.core import metrics
from saferefer_server.db.base import utcnow
from saferefer_server.events.models import (
    DELIVERY_DEAD,
    DELIVERY_DELIVERED,
    DELIVERY_PENDING,
    DELIVERY_RETRYING,
    OPEN_DELIVERY_STATUSES,
    SUBSCRIPTION_ACTIVE,
    SUBSCRIPTION_DISABLED,
    EventSequence,
    OutboxEvent,
    Subscription,
    WebhookDelivery,
)

logger = logging.getLogger(__name__)

CLOUDEVENTS_SPECVERSION = "1.0"
CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json"
SIGNATURE_HEADER = "SafeRefer-Signature"

RETRY_BASE = timedelta(seconds=10)
RETRY_CAP = timedelta(hours=1)
RETRY_WINDOW = timedelta(hours=24)
# Consecutive dead-lettered deliveries (each one failed for RETRY_WINDOW) that disable a subscription.
DISABLE_AFTER_DEAD_LETTERS = 3
CLAIM_LEASE = timedelta(seconds=60)
CLAIM_BATCH = 20
DELIVERY_TIMEOUT_S = 10.0


def retry_delay(attempt: int, *, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff, jittered in its upper half: attempt 1 waits 5-10 s, then doubling,
    capped at 1 h."""
    rng = rng or random.SystemRandom()
    ceiling: timedelta = min(RETRY_CAP, RETRY_BASE * (2 ** max(0, attempt - 1)))
    return timedelta(seconds=ceiling.total_seconds() * rng.uniform(0.5, 1.0))


_SEQUENCES = EventSequence.metadata.tables[EventSequence.__tablename__]
_INSERT_EVENT = insert(OutboxEvent.metadata.tables[OutboxEvent.__tablename__])
# The active subscriptions of one organisation, built once (the organisation id is bound).
_ACTIVE_SUBSCRIPTIONS = select(Subscription).where(
    Subscription.org_id == bindparam("org_id"), Subscription.status == SUBSCRIPTION_ACTIVE
)


@functools.cache
def _feed_position_upsert(dialect: str) -> Insert:
    """The position allocator of `dialect`, built once: a plain Core upsert on the table (no ORM
    bulk-insert machinery for a row that is never loaded as an object), org id bound per call."""
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        upsert(_SEQUENCES)
        .values(org_id=bindparam("org_id"), last_seq=1)
        .on_conflict_do_update(
            index_elements=[_SEQUENCES.c.org_id],
            set_={"last_seq": _SEQUENCES.c.last_seq + 1},
        )
        .returning(_SEQUENCES.c.last_seq)
    )


async def _next_feed_position(db_session: AsyncSession, org_id: str) -> int:
    statement = _feed_position_upsert(db_session.get_bind().dialect.name)
    return int((await db_session.execute(statement, {"org_id": org_id})).scalar_one())


async def emit(
    *,
    db_session: AsyncSession,
    org_id: str,
    event_type: str,
    subject: str,
    data: dict[str, Any],
    source: str,
) -> str:
    """Append one event to `org_id`'s feed and queue it for each matching webhook; its id.

    The event row is inserted as a plain row (it is read back by the feed and the delivery
    worker, never as an object of this session), which spares a unit-of-work flush per event.
    """
    now = utcnow()
    event_id = uuid7()
    seq = await _next_feed_position(db_session, org_id)
    await db_session.execute(
        _INSERT_EVENT,
        {
            "id": event_id,
            "org_id": org_id,
            "seq": seq,
            "type": event_type,
            "source": source,
            "subject": subject,
            "time": now,
            "data": data,
        },
    )
    subscriptions = (await db_session.scalars(_ACTIVE_SUBSCRIPTIONS, {"org_id": org_id})).all()
    for subscription in subscriptions:
        if event_type not in subscription.event_types:
            continue
        db_session.add(
            WebhookDelivery(
                id=uuid7(),
                subscription_id=subscription.id,
                org_id=org_id,
                event_id=event_id,
                event_type=event_type,
                sequence=seq,
                status=DELIVERY_PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
    await db_session.flush()
    return event_id


def format_sequence(seq: int) -> str:
    """CloudEvents `sequence`: 20 zero-padded digits, so string order is numeric order."""
    return f"{seq:020d}"


def cloudevent(event: OutboxEvent) -> dict[str, Any]:
    """The CloudEvents 1.0 structured-mode document of an outbox event."""
    return {
        "specversion": CLOUDEVENTS_SPECVERSION,
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "subject": event.subject,
        "time": rfc3339(event.time),
        "datacontenttype": "application/json",
        "sequence": format_sequence(event.seq),
        "data": event.data,
    }


async def read_feed(
    *, db_session: AsyncSession, org_id: str, after_seq: int, limit: int
) -> list[OutboxEvent]:
    query = (
        select(OutboxEvent)
        .where(OutboxEvent.org_id == org_id, OutboxEvent.seq > after_seq)
        .order_by(OutboxEvent.seq)
        .limit(limit)
    )
    return list((await db_session.scalars(query)).all())


# --- subscriptions ---------------------------------------------------------------------------


async def create_subscription(
    *,
    db_session: AsyncSession,
    org_id: str,
    url: str,
    event_types: Sequence[str],
    description: str | None,
) -> Subscription:
    subscription = Subscription(
        id=uuid7(),
        org_id=org_id,
        url=url,
        event_types=sorted(set(event_types)),
        description=description,
        status=SUBSCRIPTION_ACTIVE,
        created_at=utcnow(),
        last_delivery_at=None,
        consecutive_failures=0,
    )
    db_session.add(subscription)
    await db_session.flush()
    return subscription


async def get_subscription(
    *, db_session: AsyncSession, org_id: str, subscription_id: str
) -> Subscription | None:
    """The subscription if it belongs to `org_id` (another organisation's is simply absent)."""
    return (
        await db_session.scalars(
            select(Subscription).where(
                Subscription.id == subscription_id, Subscription.org_id == org_id
            )
        )
    ).one_or_none()


async def list_subscriptions(
    *, db_session: AsyncSession, org_id: str, after_id: str | None, limit: int
) -> list[Subscription]:
    query = select(Subscription).where(Subscription.org_id == org_id)
    if after_id is not None:
        query = query.where(Subscription.id > after_id)
    return list((await db_session.scalars(query.order_by(Subscription.id).limit(limit))).all())


async def delete_subscription(*, db_session: AsyncSession, subscription: Subscription) -> None:
    """Delete the subscription and drop its undelivered attempts (dead letters stay visible)."""
    await db_session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.subscription_id == subscription.id,
            WebhookDelivery.status.in_(OPEN_DELIVERY_STATUSES),
        )
    )
    await db_session.delete(subscription)
    await db_session.flush()


async def list_deliveries(
    *,
    db_session: AsyncSession,
    org_id: str,
    subscription_id: str,
    status: str | None,
    after_id: str | None,
    limit: int,
) -> list[WebhookDelivery]:
    query = select(WebhookDelivery).where(
        WebhookDelivery.org_id == org_id, WebhookDelivery.subscription_id == subscription_id
    )
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if after_id is not None:
        query = query.where(WebhookDelivery.id > after_id)
    return list((await db_session.scalars(query.order_by(WebhookDelivery.id).limit(limit))).all())


async def outbox_depth(*, db_session: AsyncSession) -> int:
    """Webhook deliveries still waiting to go out (the `saferefer_outbox_depth` gauge)."""
    count = await db_session.scalar(
        select(func.count())
        .select_from(WebhookDelivery)
        .where(WebhookDelivery.status.in_(OPEN_DELIVERY_STATUSES))
    )
    return int(count or 0)


async def _outbox_depth_probe(db_session: AsyncSession) -> int:
    return await outbox_depth(db_session=db_session)


metrics.register_outbox_depth(_outbox_depth_probe)


# --- delivery --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimedDelivery:
    delivery_id: str
    subscription_id: str
    attempt: int
    created_at: datetime
    url: str
    event: dict[str, Any]


Signer = Callable[[bytes], Awaitable[str]]


async def claim_due(
    *, db_session: AsyncSession, now: datetime, limit: int = CLAIM_BATCH
) -> list[ClaimedDelivery]:
    """Lease due deliveries to this worker (commit right after, before any network call).

    In `sequence` order per subscription (SR-EVENT-013): a delivery is due only when no earlier
    one of its subscription is still open, so a failing event holds back the later ones until
    it is delivered or dead-lettered, and an attempt in flight (leased) holds them too.
    """
    earlier = aliased(WebhookDelivery)
    head_of_line = ~exists().where(
        earlier.subscription_id == WebhookDelivery.subscription_id,
        earlier.status.in_(OPEN_DELIVERY_STATUSES),
        earlier.sequence < WebhookDelivery.sequence,
    )
    due = (
        await db_session.scalars(
            select(WebhookDelivery)
            .where(
                WebhookDelivery.status.in_(OPEN_DELIVERY_STATUSES),
                WebhookDelivery.next_attempt_at <= now,
                head_of_line,
            )
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    claimed: list[ClaimedDelivery] = []
    for delivery in due:
        subscription = await db_session.get(Subscription, delivery.subscription_id)
        event = await db_session.get(OutboxEvent, delivery.event_id)
        if subscription is None or event is None:
            await db_session.delete(delivery)
            continue
        if subscription.status != SUBSCRIPTION_ACTIVE:
            # Disabled after repeated dead letters: nothing more is sent to it (the pull feed
            # still has every event).
            delivery.status = DELIVERY_DEAD
            delivery.last_error = "subscription disabled"
            continue
        delivery.attempts += 1
        delivery.last_attempt_at = now
        # The lease: if this worker dies mid-attempt, another one retries after it runs out.
        delivery.next_attempt_at = now + CLAIM_LEASE
        claimed.append(
            ClaimedDelivery(
                delivery_id=delivery.id,
                subscription_id=delivery.subscription_id,
                attempt=delivery.attempts,
                created_at=delivery.created_at,
                url=subscription.url,
                event=cloudevent(event),
            )
        )
    await db_session.flush()
    return claimed


@dataclass(frozen=True)
class AttemptResult:
    delivered: bool
    status_code: int | None
    error: str | None


async def attempt_delivery(
    *, http: httpx.AsyncClient, claimed: ClaimedDelivery, body: bytes, signature: str
) -> AttemptResult:
    headers = {
        "Content-Type": CLOUDEVENTS_CONTENT_TYPE,
        SIGNATURE_HEADER: signature,
        "SafeRefer-Delivery-Id": claimed.delivery_id,
        "SafeRefer-Delivery-Attempt": str(claimed.attempt),
    }
    try:
        response = await http.post(
            claimed.url, content=body, headers=headers, timeout=DELIVERY_TIMEOUT_S
        )
    except httpx.TimeoutException:
        return AttemptResult(False, None, "timeout")
    except httpx.HTTPError as exc:
        return AttemptResult(False, None, f"connection failed ({type(exc).__name__})")
    if 200 <= response.status_code < 300:
        return AttemptResult(True, response.status_code, None)
    return AttemptResult(False, response.status_code, f"endpoint answered {response.status_code}")


async def record_attempt(
    *, db_session: AsyncSession, claimed: ClaimedDelivery, result: AttemptResult, now: datetime
) -> str:
    """Store the outcome; returns the delivery's new status."""
    values: dict[str, Any] = {
        "last_status_code": result.status_code,
        "last_error": result.error,
    }
    if result.delivered:
        values |= {"status": DELIVERY_DELIVERED, "delivered_at": now}
    elif now - claimed.created_at >= RETRY_WINDOW:
        values |= {"status": DELIVERY_DEAD}
    else:
        values |= {
            "status": DELIVERY_RETRYING,
            "next_attempt_at": now + retry_delay(claimed.attempt),
        }
    await db_session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == claimed.delivery_id, WebhookDelivery.attempts == claimed.attempt
        )
        .values(**values)
    )
    failures: Any = 0 if result.delivered else Subscription.consecutive_failures + 1
    await db_session.execute(
        update(Subscription)
        .where(Subscription.id == claimed.subscription_id)
        .values(last_delivery_at=now, consecutive_failures=failures)
    )
    if values["status"] == DELIVERY_DEAD:
        await _disable_after_dead_letters(
            db_session=db_session, subscription_id=claimed.subscription_id
        )
    return str(values["status"])


async def _disable_after_dead_letters(*, db_session: AsyncSession, subscription_id: str) -> None:
    """Disable the subscription when its last DISABLE_AFTER_DEAD_LETTERS finished deliveries
    were all dead-lettered (subscription.schema.json `status`)."""
    last = (
        await db_session.scalars(
            select(WebhookDelivery.status)
            .where(
                WebhookDelivery.subscription_id == subscription_id,
                WebhookDelivery.status.in_((DELIVERY_DELIVERED, DELIVERY_DEAD)),
            )
            .order_by(WebhookDelivery.last_attempt_at.desc(), WebhookDelivery.id.desc())
            .limit(DISABLE_AFTER_DEAD_LETTERS)
        )
    ).all()
    if len(last) == DISABLE_AFTER_DEAD_LETTERS and set(last) == {DELIVERY_DEAD}:
        await db_session.execute(
            update(Subscription)
            .where(Subscription.id == subscription_id, Subscription.status == SUBSCRIPTION_ACTIVE)
            .values(status=SUBSCRIPTION_DISABLED)
        )
        await db_session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.subscription_id == subscription_id,
                WebhookDelivery.status.in_(OPEN_DELIVERY_STATUSES),
            )
            .values(status=DELIVERY_DEAD, last_error="subscription disabled")
        )
        logger.warning(
            "webhook subscription disabled after dead letters",
            extra={"subscription_id": subscription_id},
        )


async def deliver_due(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient,
    sign: Signer,
    now: Callable[[], datetime] = utcnow,
) -> int:
    """One pass of the delivery worker; returns how many attempts it made."""
    async with sessionmaker() as db_session, db_session.begin():
        claimed = await claim_due(db_session=db_session, now=now())
    for item in claimed:
        body = canonical_body(item.event)
        result = await attempt_delivery(
            http=http, claimed=item, body=body, signature=await sign(body)
        )
        async with sessionmaker() as db_session, db_session.begin():
            status = await record_attempt(
                db_session=db_session, claimed=item, result=result, now=now()
            )
        logger.info(
            "webhook delivery attempt",
            extra={
                "delivery_id": item.delivery_id,
                "event_id": item.event["id"],
                "attempt": item.attempt,
                "delivery_status": status,
                "status_code": result.status_code,
            },
        )
    return len(claimed)


def canonical_body(document: dict[str, Any]) -> bytes:
    return canonical_json(document)
