"""Pull feed `GET /v1/events` and webhook subscriptions `/v1/subscriptions`."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response

from saferefer_server.audit import service as audit
from saferefer_server.audit.ids import cursor_str, no_such, rfc3339
from saferefer_server.core.cursors import encode_cursor
from saferefer_server.db.session import read_phase
from saferefer_server.deps import CurrentOrg, SessionDep, SettingsDep
from saferefer_server.domain_spec import validate_or_422
from saferefer_server.events import service
from saferefer_server.events.models import OPEN_DELIVERY_STATUSES, Subscription, WebhookDelivery
from saferefer_server.events.webhook_urls import check_webhook_url

router = APIRouter(tags=["events"])

LONG_POLL_INTERVAL_S = 0.5
MAX_WAIT_S = 30
MAX_SEQUENCE = 2**63 - 1  # a 20-digit `after` beyond any stored position


@router.get("/v1/events", operation_id="listEvents")
async def list_events(
    db_session: SessionDep,
    principal: CurrentOrg,
    after: Annotated[str | None, Query(max_length=20, pattern="^[0-9]{1,20}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    wait: Annotated[int, Query(ge=0, le=MAX_WAIT_S)] = 0,
) -> dict[str, Any]:
    # The feed cursor is the CloudEvents `sequence` itself: the position in the caller's own feed.
    after_seq = min(int(after), MAX_SEQUENCE) if after is not None else 0
    deadline = time.monotonic() + wait
    while True:
        # Each poll is a read phase of its own, ended before waiting.
        async with read_phase(db_session):
            events = await service.read_feed(
                db_session=db_session, org_id=principal.org_id, after_seq=after_seq, limit=limit
            )
        items = [service.cloudevent(e) for e in events]
        last = events[-1].seq if events else after_seq
        if items or time.monotonic() >= deadline:
            break
        await asyncio.sleep(LONG_POLL_INTERVAL_S)
    return {
        "items": items,
        # Always a cursor, so a client resumes exactly where it stopped even on an empty page.
        "next_cursor": service.format_sequence(last),
    }


async def _audit_change(
    db_session: SessionDep, org_id: str, subscription_id: str, node_id: str
) -> None:
    await audit.append(
        db_session=db_session,
        node_id=node_id,
        actor_org=org_id,
        action="subscription.changed",
        object_type="subscription",
        object_id=subscription_id,
    )


def _subscription_document(subscription: Subscription) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": subscription.id,
        "org_id": subscription.org_id,
        "url": subscription.url,
        "event_types": list(subscription.event_types),
        "status": subscription.status,
        "created_at": rfc3339(subscription.created_at),
        "last_delivery_at": rfc3339(subscription.last_delivery_at)
        if subscription.last_delivery_at
        else None,
        "consecutive_failures": subscription.consecutive_failures,
    }
    if subscription.description is not None:
        document["description"] = subscription.description
    return document


def _delivery_document(delivery: WebhookDelivery) -> dict[str, Any]:
    open_ = delivery.status in OPEN_DELIVERY_STATUSES
    return {
        "id": delivery.id,
        "subscription_id": delivery.subscription_id,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "sequence": service.format_sequence(delivery.sequence),
        "status": delivery.status,
        "attempts": delivery.attempts,
        "created_at": rfc3339(delivery.created_at),
        "next_attempt_at": rfc3339(delivery.next_attempt_at) if open_ else None,
        "last_attempt_at": rfc3339(delivery.last_attempt_at) if delivery.last_attempt_at else None,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
    }


@router.post("/v1/subscriptions", operation_id="createSubscription", status_code=201)
async def create_subscription(
    db_session: SessionDep,
    principal: CurrentOrg,
    settings: SettingsDep,
    response: Response,
    body: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    validate_or_422("subscription.schema.json", body, what="subscription", pointer="/$defs/create")
    url = str(body["url"])
    await check_webhook_url(url, production=settings.production)
    subscription = await service.create_subscription(
        db_session=db_session,
        org_id=principal.org_id,
        url=url,
        event_types=[str(t) for t in body["event_types"]],
        description=body.get("description"),
    )
    await _audit_change(db_session, principal.org_id, subscription.id, settings.node_id)
    await db_session.commit()
    response.headers["Location"] = f"/v1/subscriptions/{subscription.id}"
    return _subscription_document(subscription)


@router.get("/v1/subscriptions", operation_id="listSubscriptions")
async def list_subscriptions(
    db_session: SessionDep,
    principal: CurrentOrg,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    after_id = cursor_str(cursor, "id") if cursor is not None else None
    async with read_phase(db_session):
        rows = await service.list_subscriptions(
            db_session=db_session, org_id=principal.org_id, after_id=after_id, limit=limit + 1
        )
    page = rows[:limit]
    return {
        "items": [_subscription_document(s) for s in page],
        "next_cursor": encode_cursor({"id": page[-1].id}) if len(rows) > limit else None,
    }


async def _own_subscription(
    db_session: SessionDep, principal: CurrentOrg, subscription_id: str
) -> Subscription:
    subscription = await service.get_subscription(
        db_session=db_session, org_id=principal.org_id, subscription_id=subscription_id
    )
    if subscription is None:
        raise no_such("subscription", subscription_id)
    return subscription


@router.get("/v1/subscriptions/{subscription_id}", operation_id="getSubscription")
async def get_subscription(
    db_session: SessionDep, principal: CurrentOrg, subscription_id: str
) -> dict[str, Any]:
    async with read_phase(db_session):
        subscription = await _own_subscription(db_session, principal, subscription_id)
    return _subscription_document(subscription)


@router.delete(
    "/v1/subscriptions/{subscription_id}", operation_id="deleteSubscription", status_code=204
)
async def delete_subscription(
    db_session: SessionDep, principal: CurrentOrg, settings: SettingsDep, subscription_id: str
) -> Response:
    subscription = await _own_subscription(db_session, principal, subscription_id)
    await service.delete_subscription(db_session=db_session, subscription=subscription)
    await _audit_change(db_session, principal.org_id, subscription_id, settings.node_id)
    await db_session.commit()
    return Response(status_code=204)


@router.get(
    "/v1/subscriptions/{subscription_id}/deliveries", operation_id="listSubscriptionDeliveries"
)
async def list_subscription_deliveries(
    db_session: SessionDep,
    principal: CurrentOrg,
    subscription_id: str,
    status: Annotated[
        str | None, Query(pattern="^(pending|retrying|delivered|dead_lettered)$")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    await _own_subscription(db_session, principal, subscription_id)
    after_id = cursor_str(cursor, "id") if cursor is not None else None
    rows = await service.list_deliveries(
        db_session=db_session,
        org_id=principal.org_id,
        subscription_id=subscription_id,
        status=status,
        after_id=after_id,
        limit=limit + 1,
    )
    page = rows[:limit]
    return {
        "items": [_delivery_document(d) for d in page],
        "next_cursor": encode_cursor({"id": page[-1].id}) if len(rows) > limit else None,
    }
