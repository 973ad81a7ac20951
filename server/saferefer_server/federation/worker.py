"""The delivery worker: takes due outbox messages and delivers them to their peer nodes.

Guarantees, and how:
- Nothing lost: a message leaves the `pending` state only on the peer's acknowledgement, a
  permanent refusal, or after `max_age_s` (then `dead`, kept and counted, never dropped).
- Survives restarts and `kill -9`: a claim is a lease in the database; the lease of a killed
  worker runs out and another (or the restarted) worker claims the message again. The receiver
  de-duplicates by message id, so a message sent twice has one effect.
- Survives peers down for hours: retries follow `backoff.retry_delay` (exponential, capped, with
  jitter), honouring `Retry-After`.
- Order per referral: a message is not attempted while an older message for the same referral
  and peer is still pending, so a transition never overtakes the referral it moves.
- Several workers (processes) on one database: the claim is a conditional UPDATE; only one wins.
- A peer's final refusal is not silent: the domain's refusal handler for that message type (for
  `referral.deliver`: the sender's referral becomes `declined`, reason `peer_refused`) runs in the
  transaction that marks the message rejected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from saferefer_server.federation.backoff import next_attempt_at, parse_retry_after
from saferefer_server.federation.envelope import issue
from saferefer_server.federation.models import (
    OUTBOX_DEAD,
    OUTBOX_DELIVERED,
    OUTBOX_PENDING,
    OUTBOX_REJECTED,
    FederationOutboxMessage,
)
from saferefer_server.federation.runtime import FederationRuntime

logger = logging.getLogger("saferefer.federation")

PROBLEM_BASE = "https://saferefer.org/problems/"
# Answers that will not change by retrying: the peer examined the message and refused it.
_PERMANENT_STATUSES = frozenset({400, 409, 413, 415, 422})
_PERMANENT_REASONS = frozenset(
    {
        "ingress_policy_denied",
        "malformed",
        "org_signature_invalid",
        "org_country_mismatch",
        "unknown_recipient",
        "wrong_recipient_node",
    }
)


RefusalHandler = Callable[..., Awaitable[None]]
_refusal_handlers: dict[str, RefusalHandler] = {}


def register_refusal_handler(message_type: str, handler: RefusalHandler) -> None:
    """The domain's effect of a peer's final refusal of one message type, called as
    `handler(*, db_session, message, reason, app_state)` inside the transaction that marks the
    message rejected (`reason`: the peer's reason code or HTTP status, never payload values).
    It must not commit."""
    _refusal_handlers[message_type] = handler


class DeliveryOutcome:
    DELIVERED = "delivered"
    REJECTED = "rejected"
    RETRY = "retry"


def classify(status: int, problem_type: str | None, reason: str | None = None) -> str:
    """What a peer's HTTP answer means for the message.

    A 403 `federation-rejected` is retried unless its reason is a decision on the content (the
    ingress policy, or a malformed message): an authentication refusal is what a peer answers
    while its copy of the trust list still lacks this node's new key, which its next poll fixes.
    """
    if 200 <= status < 300:
        return DeliveryOutcome.DELIVERED
    if status in _PERMANENT_STATUSES:
        return DeliveryOutcome.REJECTED
    if (
        status == 403
        and problem_type == PROBLEM_BASE + "federation-rejected"
        and reason in _PERMANENT_REASONS
    ):
        return DeliveryOutcome.REJECTED
    return DeliveryOutcome.RETRY


class DeliveryWorker:
    def __init__(
        self,
        *,
        runtime: FederationRuntime,
        sessionmaker: async_sessionmaker[AsyncSession],
        http_client: httpx.AsyncClient | None = None,
        app_state: Any = None,
    ) -> None:
        self.runtime = runtime
        self.sessionmaker = sessionmaker
        self.app_state = app_state  # handed to refusal handlers (the node's settings and keys)
        self.owner = str(uuid.uuid4())
        self._http = http_client or httpx.AsyncClient(
            timeout=runtime.settings.delivery_timeout_s, follow_redirects=False
        )
        self._owns_http = http_client is None
        self._stopping = False

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def run(self) -> None:
        """Deliver until `stop()`; the round in progress finishes first."""
        settings = self.runtime.settings
        while not self._stopping:
            # Cleared before looking, so a commit that lands while we look still wakes us.
            self.runtime.wake_event.clear()
            try:
                delivered = await self.run_once()
            except Exception:
                # A database hiccup must not end delivery for the life of the process.
                logger.exception("federation delivery round failed")
                delivered = 0
            if delivered or self._stopping:
                continue
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
            # that arrives as the event is set, and the worker would outlive its shutdown.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(settings.worker_poll_s):
                    await self.runtime.wake_event.wait()

    def stop(self) -> None:
        """Finish the current round (its answers get recorded), then leave `run`.

        Cancelling mid-round would be safe for the guarantees (the lease runs out and the peer
        de-duplicates) but would resend work a clean shutdown can simply finish.
        """
        self._stopping = True
        self.runtime.wake()

    async def run_once(self, now: datetime | None = None) -> int:
        """Claim due messages and attempt each once; returns how many were attempted."""
        claimed = await self._claim(now or datetime.now(UTC))
        if claimed:
            await asyncio.gather(*(self._attempt(message) for message in claimed))
        return len(claimed)

    async def _claim(self, now: datetime) -> list[FederationOutboxMessage]:
        settings = self.runtime.settings
        earlier = aliased(FederationOutboxMessage)
        blocked_by_earlier = exists().where(
            and_(
                earlier.to_node == FederationOutboxMessage.to_node,
                earlier.referral_id == FederationOutboxMessage.referral_id,
                earlier.status == OUTBOX_PENDING,
                or_(
                    earlier.created_at < FederationOutboxMessage.created_at,
                    and_(
                        earlier.created_at == FederationOutboxMessage.created_at,
                        earlier.message_id < FederationOutboxMessage.message_id,
                    ),
                ),
            )
        )
        lease_free = or_(
            FederationOutboxMessage.lease_until.is_(None),
            FederationOutboxMessage.lease_until < now,
        )
        async with self.sessionmaker() as session, session.begin():
            candidates = (
                (
                    await session.execute(
                        select(FederationOutboxMessage.message_id)
                        .where(
                            FederationOutboxMessage.status == OUTBOX_PENDING,
                            FederationOutboxMessage.next_attempt_at <= now,
                            lease_free,
                            ~blocked_by_earlier,
                        )
                        .order_by(FederationOutboxMessage.next_attempt_at)
                        .limit(settings.max_concurrent_deliveries)
                    )
                )
                .scalars()
                .all()
            )
            claimed: list[FederationOutboxMessage] = []
            lease_until = now + timedelta(seconds=settings.lease_s)
            for message_id in candidates:
                result = await session.execute(
                    update(FederationOutboxMessage)
                    .where(
                        FederationOutboxMessage.message_id == message_id,
                        FederationOutboxMessage.status == OUTBOX_PENDING,
                        lease_free,
                    )
                    .values(lease_owner=self.owner, lease_until=lease_until)
                    .execution_options(synchronize_session=False)
                )
                if getattr(result, "rowcount", 0) == 1:
                    row = await session.get(FederationOutboxMessage, message_id)
                    assert row is not None
                    claimed.append(row)
        return claimed

    async def _attempt(self, message: FederationOutboxMessage) -> None:
        runtime = self.runtime
        trust_list = runtime.trust.current
        peer = trust_list.node(message.to_node) if trust_list is not None else None
        now = datetime.now(UTC)
        if trust_list is None or trust_list.stale(now):
            await self._finish_retry(message, "trust list unavailable or stale", None)
            return
        if peer is None or peer.status != "active":
            await self._finish_retry(message, f"{message.to_node} is not an active peer", None)
            return
        signed = issue(json.loads(message.envelope), key=runtime.signing_key(), now=now)
        try:
            response = await self._http.post(peer.messages_url, json=signed)
        except httpx.HTTPError as exc:
            await self._finish_retry(message, f"transport: {type(exc).__name__}", None)
            return
        problem_type, document = _read_answer(response)
        reason = document.get("reason") if document else None
        outcome = classify(
            response.status_code, problem_type, reason if isinstance(reason, str) else None
        )
        if outcome == DeliveryOutcome.DELIVERED:
            await self._finish(message, OUTBOX_DELIVERED, document, None)
        elif outcome == DeliveryOutcome.REJECTED:
            await self._finish(
                message,
                OUTBOX_REJECTED,
                document,
                _error(response.status_code, problem_type, document),
                refusal=reason if isinstance(reason, str) else f"HTTP {response.status_code}",
            )
        else:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), now=now)
            await self._finish_retry(
                message, _error(response.status_code, problem_type, document), retry_after
            )

    async def _finish(
        self,
        message: FederationOutboxMessage,
        status: str,
        document: dict[str, Any] | None,
        error: str | None,
        refusal: str | None = None,
    ) -> None:
        now = datetime.now(UTC)
        await self._update(
            message,
            refusal=refusal,
            status=status,
            attempts=message.attempts + 1,
            finished_at=now,
            peer_response=document,
            last_error=error,
            lease_owner=None,
            lease_until=None,
        )
        logger.info(
            "federation message %s",
            status,
            extra={"message_id": message.message_id, "to_node": message.to_node},
        )

    async def _finish_retry(
        self, message: FederationOutboxMessage, error: str, retry_after_s: float | None
    ) -> None:
        settings = self.runtime.settings
        now = datetime.now(UTC)
        attempts = message.attempts + 1
        if now - message.created_at > timedelta(seconds=settings.max_age_s):
            await self._finish(message, OUTBOX_DEAD, None, error)
            return
        await self._update(
            message,
            attempts=attempts,
            next_attempt_at=next_attempt_at(
                now,
                attempts,
                base_s=settings.retry_base_s,
                cap_s=settings.retry_cap_s,
                retry_after_s=retry_after_s,
            ),
            last_error=error,
            lease_owner=None,
            lease_until=None,
        )
        logger.info(
            "federation delivery will be retried",
            extra={"message_id": message.message_id, "attempts": attempts, "error": error},
        )

    async def _update(
        self, message: FederationOutboxMessage, *, refusal: str | None = None, **values: Any
    ) -> None:
        """Record the attempt if this worker still holds the lease; on a final refusal, apply its
        domain effect in the same transaction (both happen, or neither)."""
        async with self.sessionmaker() as session, session.begin():
            result = await session.execute(
                update(FederationOutboxMessage)
                .where(
                    FederationOutboxMessage.message_id == message.message_id,
                    FederationOutboxMessage.lease_owner == self.owner,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            still_ours = getattr(result, "rowcount", 0) == 1
            handler = _refusal_handlers.get(message.message_type)
            if still_ours and refusal is not None and handler and self.app_state is not None:
                await handler(
                    db_session=session, message=message, reason=refusal, app_state=self.app_state
                )


def _read_answer(response: httpx.Response) -> tuple[str | None, dict[str, Any] | None]:
    try:
        document = response.json()
    except ValueError:
        return None, None
    if not isinstance(document, dict):
        return None, None
    problem_type = document.get("type")
    return (problem_type if isinstance(problem_type, str) else None), document


def _error(status: int, problem_type: str | None, document: dict[str, Any] | None) -> str:
    """Status, problem type and reason code: what an operator needs, and no payload values."""
    parts = [f"HTTP {status}"]
    if problem_type:
        parts.append(problem_type.removeprefix(PROBLEM_BASE))
    if document and isinstance(document.get("reason"), str):
        parts.append(str(document["reason"])[:60])
    return " ".join(parts)[:300]
