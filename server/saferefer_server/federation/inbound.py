"""Receiving a message from a peer node: authenticate, de-duplicate, decide, hand to the domain.

The order matters. The envelope is authenticated first (node signature against the trust list,
organisation signature against the keys the node vouches for), so nothing from an unknown or
tampered source is ever stored. The inbox is then checked, so a retried delivery replays the
first answer instead of acting twice (SR-FED-004). A delivered referral is decided again by
*this* node's policy (the recipient country's overlays apply, SR-FED-006) before the domain sees
it; a denial is recorded and answered `federation-rejected` with the violations, and the
referral is never stored. Finally the domain's handler for the message type runs
in the same transaction as the inbox row, which is what makes the effect exactly-once.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from saferefer_server.federation.envelope import MessageType, VerifiedEnvelope, verify_envelope
from saferefer_server.federation.errors import FederationError, FederationRejected
from saferefer_server.federation.models import FederationInboxMessage
from saferefer_server.federation.runtime import FederationRuntime
from saferefer_server.federation.schemas import first_error
from saferefer_server.organisations import service as organisations

logger = logging.getLogger("saferefer.federation")


class Decision(Protocol):
    """What this module needs of the policy engine's decision (saferefer_server.policy)."""

    @property
    def allow(self) -> bool: ...
    @property
    def engine_failure(self) -> bool: ...
    @property
    def violations(self) -> list[dict[str, Any]]: ...
    def to_document(self) -> dict[str, Any]: ...


class Engine(Protocol):
    async def decide(self, policy_input: Mapping[str, Any]) -> Any: ...


@dataclass(frozen=True)
class InboundMessage:
    """An authenticated message from a peer node, as the domain's handlers receive it."""

    message_id: str
    message_type: MessageType
    from_node: str
    to_node: str
    referral_id: str
    # The organisation on whose behalf the peer speaks (None for a `system` transition).
    acting_org: str | None
    # The body as federation-envelope.schema.json defines it for the message type.
    body: dict[str, Any]
    sender_jwks: dict[str, Any] | None
    issued_at: datetime
    # This node's own decision on a delivered referral (None for the other message types).
    ingress_decision: Any | None
    ingress_policy_input: dict[str, Any] | None


class InboundConflict(FederationError):
    """The message cannot apply to this node's state (e.g. an illegal transition) — answered
    409, and the sender stops retrying. The text carries ids and codes only."""


InboundHandler = Callable[..., Awaitable[None]]
DenialRecorder = Callable[..., Awaitable[None]]

_handlers: dict[str, InboundHandler] = {}
_denial_recorders: list[DenialRecorder] = []


def register_inbound_handler(message_type: MessageType, handler: InboundHandler) -> None:
    """The domain's effect of one message type: `handler(*, db_session, message, app_state)`
    (`app_state` is the receiving app's `app.state`: settings, node keys, federation runtime).

    It runs inside the transaction that records the message id, and must not commit.
    """
    _handlers[message_type] = handler


def register_ingress_denial_recorder(recorder: DenialRecorder) -> None:
    """Called as `recorder(*, db_session, message, decision, app_state)` for every ingress
    denial (R31), in the transaction that records it."""
    if recorder not in _denial_recorders:
        _denial_recorders.append(recorder)


@dataclass(frozen=True)
class Receipt:
    status: int
    document: dict[str, Any]


class ReceiveProblem(FederationError):
    """An answer other than a receipt: rendered as problem+json by the route."""

    def __init__(self, status: int, slug: str, title: str, detail: str, **extensions: Any) -> None:
        super().__init__(f"{status} {slug}: {detail}")
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.extensions = extensions


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def receive_message(
    *,
    db_session: AsyncSession,
    runtime: FederationRuntime,
    policy_engine: Engine,
    signed: Mapping[str, Any],
    app_state: Any = None,
    now: datetime | None = None,
) -> Receipt:
    """Process one POSTed envelope; commits on success and on a recorded denial.

    Raises FederationRejected (403 federation-rejected) or ReceiveProblem for other answers.
    """
    now = now or datetime.now(UTC)
    trust_list = runtime.trust.require()
    verified = verify_envelope(
        signed,
        trust_list=trust_list,
        self_node_id=runtime.node_id,
        now=now,
        max_clock_skew=runtime.max_clock_skew,
    )
    envelope = verified.envelope
    previous = await db_session.get(FederationInboxMessage, envelope.id)
    if previous is not None:
        return _replay(previous, verified)
    decision: Any | None = None
    policy_input: dict[str, Any] | None = None
    if envelope.message_type == "referral.deliver":
        recipient = await _local_recipient(db_session, envelope.body.get("recipient"))
        policy_input = ingress_policy_input(envelope.policy_input, recipient=recipient, now=now)
        decision = await policy_engine.decide(policy_input)
        if decision.engine_failure:
            raise ReceiveProblem(
                503,
                "policy-engine-unavailable",
                "Policy engine unavailable",
                "the ingress decision could not be made; retry later",
                violations=decision.violations,
            )
    assert envelope.issued_at is not None  # verify_envelope requires it
    message = InboundMessage(
        message_id=envelope.id,
        message_type=envelope.message_type,
        from_node=envelope.from_node,
        to_node=envelope.to_node,
        referral_id=envelope.referral_id,
        acting_org=envelope.acting_org,
        body=envelope.body,
        sender_jwks=(
            envelope.sender_jwks.model_dump(exclude_none=True) if envelope.sender_jwks else None
        ),
        issued_at=envelope.issued_at,
        ingress_decision=decision,
        ingress_policy_input=policy_input,
    )
    if decision is not None and not decision.allow:
        problem = {
            "type": "https://saferefer.org/problems/federation-rejected",
            "title": "The receiving node's policy refuses this referral",
            "status": 403,
            "detail": f"ingress policy of {runtime.node_id} denied referral {envelope.referral_id}",
            "reason": "ingress_policy_denied",
            "violations": decision.violations,
        }
        for recorder in _denial_recorders:
            await recorder(
                db_session=db_session, message=message, decision=decision, app_state=app_state
            )
        await _record(db_session, verified, now, outcome="denied", status=403, response=problem)
        logger.info(
            "federation ingress denied",
            extra={"message_id": envelope.id, "from_node": envelope.from_node},
        )
        raise ReceiveProblem(
            403,
            "federation-rejected",
            problem["title"],
            problem["detail"],
            reason="ingress_policy_denied",
            violations=decision.violations,
        )
    handler = _handlers.get(envelope.message_type)
    if handler is None:
        raise ReceiveProblem(
            503,
            "internal-error",
            "Message type not available",
            f"this node cannot apply {envelope.message_type} messages yet; retry later",
        )
    try:
        await handler(db_session=db_session, message=message, app_state=app_state)
    except InboundConflict as exc:
        await db_session.rollback()
        raise ReceiveProblem(409, "conflict", "Conflict", str(exc)) from exc
    receipt = {
        "message_id": envelope.id,
        "status": "accepted",
        "received_at": _rfc3339(now),
    }
    return await _record(
        db_session, verified, now, outcome="accepted", status=200, response=receipt
    )


async def _record(
    db_session: AsyncSession,
    verified: VerifiedEnvelope,
    now: datetime,
    *,
    outcome: str,
    status: int,
    response: dict[str, Any],
) -> Receipt:
    envelope = verified.envelope
    db_session.add(
        FederationInboxMessage(
            message_id=envelope.id,
            message_type=envelope.message_type,
            from_node=envelope.from_node,
            referral_id=envelope.referral_id,
            digest=verified.digest,
            received_at=now,
            outcome=outcome,
            response_status=status,
            response=response,
        )
    )
    try:
        await db_session.commit()
    except IntegrityError:
        # The same message arrived twice at once; the other delivery won and had the effect.
        await db_session.rollback()
        first = (
            await db_session.execute(
                select(FederationInboxMessage).where(
                    FederationInboxMessage.message_id == envelope.id
                )
            )
        ).scalar_one()
        return _replay(first, verified)
    logger.info(
        "federation message received",
        extra={
            "message_id": envelope.id,
            "message_type": envelope.message_type,
            "from_node": envelope.from_node,
            "outcome": outcome,
        },
    )
    return Receipt(status=status, document=response)


def _replay(previous: FederationInboxMessage, verified: VerifiedEnvelope) -> Receipt:
    if previous.digest != verified.digest:
        raise ReceiveProblem(
            409,
            "conflict",
            "Conflict",
            f"message {previous.message_id} was already received with other content",
        )
    if previous.outcome == "denied":
        response = previous.response
        raise ReceiveProblem(
            previous.response_status,
            "federation-rejected",
            str(response.get("title", "Denied")),
            str(response.get("detail", "")),
            reason="ingress_policy_denied",
            violations=response.get("violations", []),
        )
    return Receipt(status=200, document={**previous.response, "status": "duplicate"})


@dataclass(frozen=True)
class LocalRecipient:
    org_id: str
    roles: list[str]
    country: str
    node_id: str


async def _local_recipient(db_session: AsyncSession, org_id: object) -> LocalRecipient:
    if not isinstance(org_id, str):
        raise FederationRejected("malformed", "referral.deliver body needs recipient")
    org = await organisations.get(db_session=db_session, org_id=org_id)
    if org is None or not org.enabled:
        raise FederationRejected("unknown_recipient", f"{org_id} is not in this node's directory")
    return LocalRecipient(
        org_id=org.id, roles=list(org.roles), country=org.country, node_id=org.node_id
    )


def ingress_policy_input(
    sent: Mapping[str, Any] | None, *, recipient: LocalRecipient, now: datetime
) -> dict[str, Any]:
    """The egress input the sender decided, re-grounded in this node's facts.

    The recipient block comes from this node's own directory (roles the sender may not know or
    may have got wrong), the clock is this node's, and the transfer is marked cross-border.
    """
    if sent is None:
        raise FederationRejected("malformed", "referral.deliver needs policy_input")
    problem = first_error("policy-input.schema.json", dict(sent))
    if problem is not None:
        raise FederationRejected("malformed", f"policy_input: {problem}")
    policy_input: dict[str, Any] = copy.deepcopy(dict(sent))
    recipient_block = dict(policy_input.get("recipient") or {})
    recipient_block.update(
        {
            "org": recipient.org_id,
            "roles": recipient.roles,
            "country": recipient.country,
            "node": recipient.node_id,
        }
    )
    policy_input["recipient"] = recipient_block
    context = dict(policy_input.get("context") or {})
    context["now"] = _rfc3339(now)
    context["cross_border"] = True
    policy_input["context"] = context
    return policy_input
