"""Referral services: create under a policy decision, read (decided again), list, transitions,
the consent-withdrawal cascade, erasure acknowledgements and the retention/expiry lifecycle.

Every change is one transaction holding the referral row, its audit entries and its outbox
events. A denied or failed decision is still audited and committed before the problem is raised
(R31: every deny is logged).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, Select, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from saferefer_server import domain_spec
from saferefer_server.audit import service as audit
from saferefer_server.audit.ids import no_such, parse_rfc3339, request_time, rfc3339, uuid7
from saferefer_server.audit.jcs import canonicalize
from saferefer_server.auth.keys import NodeKeyStore
from saferefer_server.auth.principal import Principal
from saferefer_server.consents import service as consents
from saferefer_server.consents.models import STATUS_WITHDRAWN, Consent, WithdrawalNotice
from saferefer_server.core import idempotency, metrics
from saferefer_server.core.problems import ProblemError, not_found
from saferefer_server.db.base import utcnow
from saferefer_server.db.session import read_phase
from saferefer_server.domain_spec import codelist
from saferefer_server.events import service as events
from saferefer_server.organisations.models import Organisation
from saferefer_server.policy import PolicyDecision, PolicyEngine
from saferefer_server.referrals import crypto, policy_input, states
from saferefer_server.referrals.models import Referral, ReferralConsent, ReferralTransition

logger = logging.getLogger(__name__)

# Members of the create body kept in clear beside the row (codes and policy facts, no payload).
CLEAR_MEMBERS = (
    "requested_services",
    "urgency",
    "subject",
    "payload_flags",
    "safety_notes",
    "context",
    "justifications",
    "retain_until",
    "respond_by",
)
# Decision inputs the sender declared: shown to the sender, never to the recipient (R22).
SENDER_ONLY = ("subject", "context", "payload_flags", "justifications")
# Members sealed with AES-GCM and released only under an allowing read decision.
_SEALED_MEMBERS = ("payload", "payload_signature", "language_needs")
ERASURE_RETENTION = "retain_until"
# The node's default retention period (SR-SEC-010): a referral sent without `retain_until` that the
# policy allows (its R13 justification accepted) keeps its payload this long after creation.
DEFAULT_RETENTION = timedelta(days=365)
ERASURE_WITHDRAWAL = "withdrawal_acknowledged"


@dataclass(frozen=True)
class NodeContext:
    """What services need to know about the node they run on."""

    node_id: str
    engine_name: str
    keyring: Sequence[tuple[str, bytes]]
    keys: NodeKeyStore
    # The app's state, for what changes while the app runs (the federation runtime).
    app_state: Any = None

    @property
    def federation(self) -> Any:
        return getattr(self.app_state, "federation", None)


# Cross-border hooks, installed by `referrals.federation` (kept out of this module so a node
# without federation imports nothing of it). Each is awaited in the transaction of the change.
PeerHook = Callable[..., Awaitable[Any]]
peer_hooks: dict[str, PeerHook] = {}


def is_local(referral: Referral, party: str, node: NodeContext) -> bool:
    """Whether the referral's `sender` or `recipient` is served by this node."""
    key = "sender_node" if party == "sender" else "recipient_node"
    return bool(referral.attributes.get(key, node.node_id) == node.node_id)


def problem_for(decision: PolicyDecision, decision_id: str) -> ProblemError:
    violations = [dict(v) for v in decision.violations]
    if decision.engine_failure:
        return ProblemError(
            503,
            "policy-engine-unavailable",
            "The policy engine could not decide",
            "Nothing was disclosed: the policy engine failed, so the node denies (fail closed). "
            "Retry later.",
            headers={"Retry-After": "5"},
            violations=violations,
            decision_id=decision_id,
        )
    codes = ", ".join(sorted({str(v["code"]) for v in violations}))
    return ProblemError(
        403,
        "policy-violation",
        "The policy does not allow this disclosure",
        f"{len(violations)} violation(s): {codes}. Each violation says what to change.",
        violations=violations,
        decision_id=decision_id,
    )


async def commit_decision(db_session: AsyncSession, decision: PolicyDecision) -> None:
    """Commit the audit of a decision. That of a failed decision is all its 503 commits, and it
    is no effect of the request: a retry under the same Idempotency-Key is decided again."""
    if decision.engine_failure:
        with idempotency.recording_only():
            await db_session.commit()
    else:
        await db_session.commit()


async def decide_and_audit(
    *,
    db_session: AsyncSession,
    engine: PolicyEngine,
    node: NodeContext,
    document: Mapping[str, Any],
    actor_org: str,
    counterparty_org: str | None,
    object_type: str,
    object_id: str | None,
) -> tuple[PolicyDecision, str]:
    """Decide and append the `policy.decision` audit entry; its id is the decision id."""
    decision = await engine.decide(document)
    entry_id = await audit_decision(
        db_session=db_session,
        node=node,
        decision=decision,
        document=document,
        actor_org=actor_org,
        counterparty_org=counterparty_org,
        object_type=object_type,
        object_id=object_id,
    )
    return decision, entry_id


async def audit_decision(
    *,
    db_session: AsyncSession,
    node: NodeContext,
    decision: PolicyDecision,
    document: Mapping[str, Any],
    actor_org: str | None,
    counterparty_org: str | None,
    object_type: str,
    object_id: str | None,
) -> str:
    """Append the `policy.decision` entry of a decision; its id is the decision id."""
    entry = decision_entry(
        node=node,
        decision=decision,
        document=document,
        actor_org=actor_org,
        counterparty_org=counterparty_org,
        object_type=object_type,
        object_id=object_id,
    )
    await audit.append_all(db_session=db_session, node_id=node.node_id, entries=[entry])
    return entry.id


def decision_entry(
    *,
    node: NodeContext,
    decision: PolicyDecision,
    document: Mapping[str, Any],
    actor_org: str | None,
    counterparty_org: str | None,
    object_type: str,
    object_id: str | None,
) -> audit.PendingEntry:
    """The `policy.decision` entry of a decision, not yet appended; its id is the decision id.

    Counts the decision in the metrics now. The caller appends the entry in the transaction of
    whatever the decision led to (with that change's own entries, in one append).
    """
    codes = sorted({str(v["code"]) for v in decision.violations})
    metrics.record_decision(decision.allow, codes, engine_failure=decision.engine_failure)
    obligations = [f"{o['rule']}:{o['code']}"[:200] for o in decision.obligations]
    basis = "; ".join(
        str(o["justification"]) for o in decision.obligations if o.get("justification")
    )
    decision_summary: dict[str, Any] = {
        "allow": decision.allow,
        "violation_codes": codes,
        "obligations": obligations,
        "engine_failure": decision.engine_failure,
        "purpose": document["purpose"],
        "data_categories": sorted(set(document["data_categories"])),
    }
    if node.engine_name in {"embedded", "opa"}:
        decision_summary["engine"] = node.engine_name
    return audit.PendingEntry(
        actor_org=actor_org,
        action="policy.decision",
        object_type=object_type,
        object_id=object_id,
        counterparty_org=counterparty_org,
        decision=decision_summary,
        basis=basis[:500] or None,
    )


def _invalid(pointer: str, detail: str) -> ProblemError:
    return ProblemError(
        422,
        "validation-error",
        "The request is invalid",
        f"{pointer}: {detail}",
        errors=[{"pointer": pointer, "detail": detail}],
    )


@dataclass(frozen=True)
class SendPlan:
    """Everything a send needs after the server-side lookups, before the decision."""

    sender: Organisation
    recipient: Organisation
    consent_rows: list[Consent]
    action: str
    policy_input: dict[str, Any]
    based_on: Referral | None


async def plan_send(
    *,
    db_session: AsyncSession,
    principal: Principal,
    body: Mapping[str, Any],
    now: datetime,
    node: NodeContext,
    lock_consents: bool = False,
) -> SendPlan:
    """Look up sender, recipient, consents and the onward chain; build the policy input.

    Shared by the real send and the dry run, so both get the same decision (SR-POLICY-020).
    """
    parties = await _directory_entries(db_session, (principal.org_id, body["recipient"]))
    sender = parties.get(principal.org_id)
    if sender is None:
        raise not_found("the calling organisation is not in this node's directory")
    recipient: Any = parties.get(body["recipient"])
    if recipient is None and "remote_recipient" in peer_hooks:
        recipient = await peer_hooks["remote_recipient"](node=node, org_id=body["recipient"])
    if recipient is None or not recipient.enabled:
        raise _invalid("#/recipient", "not an enabled organisation of this node's directory")
    if recipient.id == sender.id:
        raise _invalid("#/recipient", "an organisation cannot refer to itself")
    # Optional (SR-SEC-010 is a SHOULD): without it the policy reports `retain_until_missing`,
    # in the past `retain_until_past`, each unless justified; an allowed referral without it
    # gets DEFAULT_RETENTION.
    retain_until = body.get("retain_until")
    if retain_until is not None:
        request_time(retain_until, pointer="#/retain_until")
    respond_by = body.get("respond_by")
    if respond_by is not None and request_time(respond_by, pointer="#/respond_by") <= now:
        raise _invalid("#/respond_by", "must be in the future")

    consent_rows: list[Consent] = []
    for index, consent_id in enumerate(body["consent_ids"]):
        consent = await consents.get_visible(
            db_session=db_session,
            principal=principal,
            consent_id=consent_id,
            lock="share" if lock_consents else None,
        )
        if consent is None:
            raise _invalid(
                f"#/consent_ids/{index}",
                "not a consent this organisation recorded or is named in",
            )
        consent_rows.append(consent)

    based_on: Referral | None = None
    chain: list[dict[str, Any]] = []
    collected_for: str | None = None
    action = "referral.send"
    if body.get("based_on") is not None:
        based_on = await db_session.get(Referral, body["based_on"])
        if based_on is None or based_on.recipient_org != principal.org_id:
            raise _invalid("#/based_on", "not a referral this organisation received")
        action = "referral.forward"
        chain = await _based_on_chain(db_session=db_session, referral=based_on)
        collected_for = chain[-1]["purpose"]
    document = policy_input.build(
        action=action,
        body=body,
        sender=sender,
        recipient=recipient,
        consent_rows=consent_rows,
        now=now,
        based_on_chain=chain,
        collected_for=collected_for,
    )
    return SendPlan(sender, recipient, consent_rows, action, document, based_on)


# Directory entries by id, built once (the ids are bound, as one expanding IN parameter).
_DIRECTORY_ENTRIES = select(Organisation).where(
    Organisation.id.in_(bindparam("org_ids", expanding=True))
)


async def _directory_entries(
    db_session: AsyncSession, org_ids: Sequence[str]
) -> dict[str, Organisation]:
    """The directory entries of `org_ids` that exist, by id, read in one statement.

    One round trip for sender and recipient instead of one each; rows already in the session
    (expired by `create` between its phases) are refreshed from what this statement reads.
    """
    rows = await db_session.scalars(_DIRECTORY_ENTRIES, {"org_ids": sorted(set(org_ids))})
    return {org.id: org for org in rows.all()}


async def _based_on_chain(*, db_session: AsyncSession, referral: Referral) -> list[dict[str, Any]]:
    """The onward chain, nearest first, as policy-input links (R14)."""
    links: list[dict[str, Any]] = []
    current: Referral | None = referral
    seen: set[str] = set()
    while current is not None and current.id not in seen and len(links) < 20:
        seen.add(current.id)
        onward = any(
            g.get("onward_sharing", False)
            for c in await consents.get_many(db_session=db_session, consent_ids=current.consent_ids)
            for g in consents.active_grants(c)
        )
        links.append(
            {
                "referral_id": current.id,
                "sender": current.sender_org,
                "recipient": current.recipient_org,
                "purpose": current.purpose,
                "consent_ids": list(current.consent_ids),
                "onward_sharing": onward,
            }
        )
        current = await db_session.get(Referral, current.based_on) if current.based_on else None
    return links


def _verify_or_sign_payload(
    *, body: Mapping[str, Any], sender: Organisation, node: NodeContext
) -> tuple[str, str]:
    """(payload_signature, payload_signed_by): the sender's JWS verified, or the node's own."""
    canonical = canonicalize(body["payload"])
    signature = body.get("payload_signature")
    if signature is not None:
        try:
            crypto.verify_detached_jws(token=signature, jwks=sender.jwks, payload=canonical)
        except crypto.SignatureInvalid as exc:
            raise _invalid(
                "#/payload_signature",
                "does not verify with the sender's registered keys over the JCS form of payload",
            ) from exc
        return signature, "sender"
    node_key = node.keys.signing_key()
    return crypto.sign_detached(key=node_key.key, kid=node_key.kid, payload=canonical), "node"


def _primary_role(org: Organisation) -> str:
    return sorted(org.roles)[0] if org.roles else "unknown"


async def create(
    *,
    db_session: AsyncSession,
    principal: Principal,
    body: Mapping[str, Any],
    engine: PolicyEngine,
    node: NodeContext,
) -> Referral:
    """Decide and, if allowed, store and announce a referral (commits; raises the problem if not).

    The policy decides outside any write transaction: on a snapshot first, then the write
    transaction looks everything up again with the consents locked and keeps that decision only
    if the policy input is still the same (a consent withdrawn in between changes it, and the
    referral is decided again under the lock). So neither SQLite's write lock nor PostgreSQL's
    consent row locks are held while the engine works. The decision's audit entry is written in
    the write transaction, in one append with `referral.created` (alone for a deny).
    """
    now = utcnow()
    async with read_phase(db_session):
        snapshot = await plan_send(
            db_session=db_session, principal=principal, body=body, now=now, node=node
        )
    signature, signed_by = _verify_or_sign_payload(body=body, sender=snapshot.sender, node=node)
    referral_id = uuid7()
    early = await engine.decide(snapshot.policy_input)
    # Loaded rows must be read again, not served from the identity map as they were.
    db_session.expire_all()

    plan = await plan_send(
        db_session=db_session,
        principal=principal,
        body=body,
        now=now,
        node=node,
        lock_consents=True,
    )
    if plan.policy_input == snapshot.policy_input:
        decision = early
    else:
        decision = await engine.decide(plan.policy_input)
    # Appended below with the referral's own entries (or alone, for a deny): one append.
    decided = decision_entry(
        node=node,
        decision=decision,
        document=plan.policy_input,
        actor_org=principal.org_id,
        counterparty_org=plan.recipient.id,
        object_type="referral",
        object_id=referral_id,
    )
    decision_id = decided.id
    categories = plan.policy_input["data_categories"]
    if decision.allow and not set(categories) <= set(decision.permitted_categories):
        # SR-POLICY-009: a category outside the permitted ones refuses the whole referral.
        logger.error(
            "policy allowed categories it did not permit", extra={"decision_id": decision_id}
        )
        decision = PolicyDecision(
            allow=False,
            violations=[
                {
                    "code": "category_not_permitted",
                    "rule": "R11",
                    "message": "The decision does not permit every data category sent.",
                    "legal_basis": "GDPR art 5(1)(c) (data minimisation)",
                    "fix": "Remove the categories the decision does not permit.",
                    "categories": sorted(set(categories) - set(decision.permitted_categories)),
                }
            ],
            permitted_categories=decision.permitted_categories,
            obligations=decision.obligations,
        )
    if not decision.allow:
        await audit.append_all(db_session=db_session, node_id=node.node_id, entries=[decided])
        await commit_decision(db_session, decision)
        raise problem_for(decision, decision_id)

    attributes = {key: body[key] for key in CLEAR_MEMBERS if key in body}
    attributes.setdefault("retain_until", rfc3339(now + DEFAULT_RETENTION))
    attributes["payload_signed_by"] = signed_by
    attributes["sender_node"] = plan.sender.node_id
    attributes["recipient_node"] = plan.recipient.node_id
    sealed_document = {"payload": body["payload"], "payload_signature": signature}
    if body.get("language_needs") is not None:
        sealed_document["language_needs"] = body["language_needs"]
    kid, sealed = crypto.seal(
        keyring=node.keyring, referral_id=referral_id, document=sealed_document
    )
    referral = Referral(
        id=referral_id,
        sender_org=plan.sender.id,
        recipient_org=plan.recipient.id,
        sender_country=plan.sender.country,
        recipient_country=plan.recipient.country,
        recipient_role=_primary_role(plan.recipient),
        sender_role=_primary_role(plan.sender),
        age_status=body["subject"]["age_status"],
        cross_border=plan.sender.country != plan.recipient.country,
        purpose=body["purpose"],
        state=states.initial_state(),
        state_reason=None,
        subject_ref=body["subject_ref"],
        data_categories=list(categories),
        consent_ids=list(body["consent_ids"]),
        based_on=body.get("based_on"),
        attributes=attributes,
        retain_until=parse_rfc3339(attributes["retain_until"]),
        respond_by=parse_rfc3339(body["respond_by"]) if body.get("respond_by") else None,
        decision_id=decision_id,
        created_at=now,
        updated_at=now,
        state_changed_at=now,
        sealed_kid=kid,
        sealed=sealed,
        erased_at=None,
        erasure_reason=None,
    )
    await record_submission(
        db_session=db_session, node=node, referral=referral, now=now, decided=decided
    )
    if not is_local(referral, "recipient", node):
        await peer_hooks["deliver"](
            db_session=db_session,
            node=node,
            referral=referral,
            sealed_document=sealed_document,
            sender=plan.sender,
            policy_input=plan.policy_input,
        )
    await db_session.commit()
    return referral


async def announce(
    *,
    db_session: AsyncSession,
    node: NodeContext,
    referral: Referral,
    event_type: str,
    previous_state: str | None,
    transition_id: str | None,
    now: datetime,
) -> None:
    """Put the referral event into the feed of each audience the event-types code list names."""
    audience: list[str] = []
    for item in codelist("event-types")["entries"]:
        if item["code"] == event_type:
            audience = list(item["audience"])
    data: dict[str, Any] = {
        "referral_id": referral.id,
        "sender": referral.sender_org,
        "recipient": referral.recipient_org,
        "purpose": referral.purpose,
        "state": referral.state,
        "previous_state": previous_state,
        "reason": referral.state_reason,
        "transition_id": transition_id,
        "occurred_at": rfc3339(now),
    }
    if referral.based_on is not None:
        data["based_on"] = referral.based_on
    orgs = {"sender": referral.sender_org, "recipient": referral.recipient_org}
    for party in audience:
        if party in orgs and is_local(referral, party, node):
            await events.emit(
                db_session=db_session,
                org_id=orgs[party],
                event_type=event_type,
                subject=referral.id,
                data=data,
                source=node.node_id,
            )


# --- reading ---------------------------------------------------------------------------------


def _party_filter(principal: Principal) -> Any:
    return or_(Referral.sender_org == principal.org_id, Referral.recipient_org == principal.org_id)


async def get_for_party(
    *, db_session: AsyncSession, principal: Principal, referral_id: str
) -> Referral | None:
    """The referral if the caller sent or received it; otherwise None (answered as 404)."""
    query = select(Referral).where(Referral.id == referral_id, _party_filter(principal))
    return (await db_session.scalars(query)).one_or_none()


@dataclass(frozen=True, slots=True)
class ReferralSummary:
    """What a listing shows of a referral: the columns `referral_document` reads, nothing else.

    Listings read these as plain rows: not the sealed payload (the largest column, never shown
    in a list) nor the other columns, and no mapped objects to track in the session.
    """

    id: str
    sender_org: str
    recipient_org: str
    purpose: str
    consent_ids: list[str]
    subject_ref: str
    state: str
    state_reason: str | None
    data_categories: list[str]
    cross_border: bool
    decision_id: str
    created_at: datetime
    updated_at: datetime
    state_changed_at: datetime
    based_on: str | None
    attributes: dict[str, Any]


@functools.cache
def _box_query(party: str, by_state: bool, paged: bool) -> Select[Any]:
    """The listing statement of one shape, built once: every value is a bound parameter, so
    each call only binds values (and the compiled form is cached by SQLAlchemy as well)."""
    table = Referral.__table__
    query = select(*(table.c[field.name] for field in fields(ReferralSummary))).where(
        table.c[party] == bindparam("org_id")
    )
    if by_state:
        query = query.where(table.c.state == bindparam("state"))
    if paged:
        query = query.where(table.c.id < bindparam("before_id"))
    return query.order_by(table.c.id.desc()).limit(bindparam("limit", type_=Integer))


async def list_box(
    *,
    db_session: AsyncSession,
    principal: Principal,
    box: str,
    before_id: str | None,
    limit: int,
    state: str | None,
) -> list[ReferralSummary]:
    """Inbox (received) or outbox (sent), newest first, keyset-paginated by id (UUIDv7 = time).

    Served by the (recipient_org, id) or (sender_org, id) index, read backwards.
    """
    party = "recipient_org" if box == "inbox" else "sender_org"
    query = _box_query(party, state is not None, before_id is not None)
    params: dict[str, Any] = {"org_id": principal.org_id, "limit": limit}
    if state is not None:
        params["state"] = state
    if before_id is not None:
        params["before_id"] = before_id
    return [ReferralSummary(*row) for row in await db_session.execute(query, params)]


def referral_document(
    referral: Referral | ReferralSummary,
    *,
    viewer: str,
    released: Mapping[str, Any] | None = None,
    withheld: Sequence[str] = (),
) -> dict[str, Any]:
    """The referral.schema.json document as organisation `viewer` may see it.

    `released` holds the sealed members the viewer may see. The decision inputs (`SENDER_ONLY`)
    go to the sender only: an origin-country recipient must not learn of an asylum application
    or a decision to cooperate (R22).
    """
    attributes = dict(referral.attributes)
    document: dict[str, Any] = {
        "id": referral.id,
        "sender": referral.sender_org,
        "recipient": referral.recipient_org,
        "sender_node": attributes.pop("sender_node"),
        "recipient_node": attributes.pop("recipient_node"),
        "purpose": referral.purpose,
        "consent_ids": list(referral.consent_ids),
        "subject_ref": referral.subject_ref,
        "state": referral.state,
        "reason": referral.state_reason,
        "data_categories": list(referral.data_categories),
        "withheld_categories": sorted(withheld),
        "cross_border": referral.cross_border,
        "decision_id": referral.decision_id,
        "created_at": rfc3339(referral.created_at),
        "updated_at": rfc3339(referral.updated_at),
        "state_changed_at": rfc3339(referral.state_changed_at),
        "requested_services": [],
        "payload_flags": {},
        "justifications": [],
    }
    document.update(attributes)
    if viewer != referral.sender_org:
        for member in SENDER_ONLY:
            document.pop(member, None)
        # Goes with the payload: only in `released`, when the read decision allows it.
        document.pop("payload_signed_by", None)
    if referral.based_on is not None:
        document["based_on"] = referral.based_on
    if released:
        document.update(released)
    return document


@dataclass(frozen=True)
class ReadResult:
    referral: Referral
    released: dict[str, Any] | None
    withheld: list[str]


async def read(
    *,
    db_session: AsyncSession,
    principal: Principal,
    referral_id: str,
    engine: PolicyEngine,
    node: NodeContext,
) -> ReadResult:
    """Read one referral; for its recipient the payload read is decided again now (SR-CONSENT-017)."""
    referral = await get_for_party(
        db_session=db_session, principal=principal, referral_id=referral_id
    )
    if referral is None:
        raise no_such("referral", referral_id)
    now = utcnow()
    await apply_lifecycle(db_session=db_session, referral=referral, node=node, now=now)
    if principal.org_id != referral.recipient_org or referral.sealed is None:
        await db_session.commit()
        return ReadResult(referral, None, [])

    sender: Any = await db_session.get(Organisation, referral.sender_org)
    if sender is None and "remote_sender" in peer_hooks:
        sender = peer_hooks["remote_sender"](referral=referral)
    recipient = await db_session.get(Organisation, referral.recipient_org)
    if sender is None or recipient is None:
        await db_session.commit()
        return ReadResult(referral, None, list(referral.data_categories))
    consent_rows = await consents.get_many(db_session=db_session, consent_ids=referral.consent_ids)
    based_on = await db_session.get(Referral, referral.based_on) if referral.based_on else None
    chain = await _based_on_chain(db_session=db_session, referral=based_on) if based_on else []
    document = policy_input.build(
        action="referral.read",
        body={**referral.attributes, "purpose": referral.purpose},
        sender=sender,
        recipient=recipient,
        consent_rows=consent_rows,
        now=now,
        based_on_chain=chain,
        collected_for=chain[-1]["purpose"] if chain else None,
        data_categories=referral.data_categories,
        consent_views=referral.attributes.get("remote_consents"),
    )
    decision, _decision_id = await decide_and_audit(
        db_session=db_session,
        engine=engine,
        node=node,
        document=document,
        actor_org=principal.org_id,
        counterparty_org=referral.sender_org,
        object_type="referral",
        object_id=referral.id,
    )
    if decision.engine_failure:
        await commit_decision(db_session, decision)
        raise problem_for(decision, _decision_id)
    if not decision.allow:
        await db_session.commit()
        return ReadResult(referral, None, list(referral.data_categories))
    permitted = set(decision.permitted_categories)
    sealed = crypto.unseal(
        keyring=node.keyring,
        referral_id=referral.id,
        kid=referral.sealed_kid or "",
        blob=referral.sealed,
    )
    payload = {k: v for k, v in sealed["payload"].items() if k in permitted}
    released: dict[str, Any] = {"payload": payload}
    withheld = sorted(set(referral.data_categories) - permitted)
    if not withheld:
        # The signature covers the whole payload; it is only useful when nothing was withheld.
        released["payload_signature"] = sealed["payload_signature"]
        released["payload_signed_by"] = referral.attributes.get("payload_signed_by", "sender")
    if "language_needs" in sealed and "language_needs" in permitted:
        released["language_needs"] = sealed["language_needs"]
    await audit.append(
        db_session=db_session,
        node_id=node.node_id,
        actor_org=principal.org_id,
        action="referral.read",
        object_type="referral",
        object_id=referral.id,
        counterparty_org=referral.sender_org,
    )
    await db_session.commit()
    return ReadResult(referral, released, withheld)


# --- transitions -----------------------------------------------------------------------------


def _invalid_transition(referral: Referral, actor: str, target: str) -> ProblemError:
    allowed = [
        {"to": t.target, "reason_codelist": t.reason_codelist}
        for t in states.allowed_from(referral.state, actor)
    ]
    names = ", ".join(t.target for t in states.allowed_from(referral.state, actor)) or "none"
    return ProblemError(
        409,
        "invalid-transition",
        "This transition is not allowed",
        f"The {actor} cannot move a referral from {referral.state} to {target}; "
        f"allowed for the {actor} from {referral.state}: {names}.",
        current_state=referral.state,
        allowed_transitions=allowed,
    )


async def move(
    *,
    db_session: AsyncSession,
    referral: Referral,
    target: str,
    actor: str,
    actor_org: str | None,
    reason: str | None,
    note: str | None,
    caused_by: str | None,
    node: NodeContext,
    now: datetime,
    from_peer: bool = False,
) -> ReferralTransition | None:
    """Apply a transition if the referral is still in the state we read (None if it moved).

    A transition made here is passed on to the other party's node when that party is remote;
    one that came from the peer (`from_peer`) is not sent back."""
    source = referral.state
    result = await db_session.execute(
        update(Referral)
        .where(Referral.id == referral.id, Referral.state == source)
        .values(state=target, state_reason=reason, updated_at=now, state_changed_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    referral.state, referral.state_reason = target, reason
    referral.updated_at = referral.state_changed_at = now
    transition = ReferralTransition(
        id=uuid7(),
        referral_id=referral.id,
        from_state=source,
        to_state=target,
        actor=actor,
        actor_org=actor_org,
        reason=reason,
        note=note,
        caused_by=caused_by,
        at=now,
    )
    db_session.add(transition)
    await audit.append(
        db_session=db_session,
        node_id=node.node_id,
        actor_org=actor_org,
        action="referral.transitioned",
        object_type="referral",
        object_id=referral.id,
        counterparty_org=(
            None
            if actor_org is None
            else referral.recipient_org
            if actor_org == referral.sender_org
            else referral.sender_org
        ),
    )
    await announce(
        db_session=db_session,
        node=node,
        referral=referral,
        event_type=f"org.saferefer.referral.{target}",
        previous_state=source,
        transition_id=transition.id,
        now=now,
    )
    remote_party = not (
        is_local(referral, "sender", node) and is_local(referral, "recipient", node)
    )
    if remote_party and not from_peer:
        await peer_hooks["transition"](
            db_session=db_session, node=node, referral=referral, transition=transition
        )
    await db_session.flush()
    return transition


async def transition(
    *,
    db_session: AsyncSession,
    principal: Principal,
    referral_id: str,
    body: Mapping[str, Any],
    node: NodeContext,
) -> ReferralTransition:
    referral = await get_for_party(
        db_session=db_session, principal=principal, referral_id=referral_id
    )
    if referral is None:
        raise no_such("referral", referral_id)
    now = utcnow()
    await apply_lifecycle(db_session=db_session, referral=referral, node=node, now=now)
    actor = states.SENDER if principal.org_id == referral.sender_org else states.RECIPIENT
    target = str(body["to"])
    allowed = states.find(referral.state, target, actor)
    if allowed is None:
        await db_session.commit()
        raise _invalid_transition(referral, actor, target)
    reason = body.get("reason")
    if allowed.reason_required and reason is None:
        raise _invalid("#/reason", f"a reason from {allowed.reason_codelist} is required")
    if reason is not None and allowed.reason_codelist is not None:
        code = domain_spec.entry(allowed.reason_codelist, str(reason))
        if code is None:
            raise _invalid("#/reason", f"not a code of {allowed.reason_codelist}")
        if code.get("system_only"):
            raise _invalid("#/reason", "only the node itself records this reason")
    moved = await move(
        db_session=db_session,
        referral=referral,
        target=target,
        actor=actor,
        actor_org=principal.org_id,
        reason=reason,
        note=body.get("note"),
        caused_by=None,
        node=node,
        now=now,
    )
    if moved is None:
        # Another request moved it first (SR-STATE-009): answer from the state it is in now.
        await db_session.rollback()
        fresh = await get_for_party(
            db_session=db_session, principal=principal, referral_id=referral_id
        )
        assert fresh is not None
        await db_session.refresh(fresh)
        raise _invalid_transition(fresh, actor, target)
    await db_session.commit()
    return moved


async def list_transitions(
    *, db_session: AsyncSession, referral: Referral, after_id: str | None, limit: int
) -> list[ReferralTransition]:
    """Recorded transitions, oldest first (the creation itself is not a transition)."""
    query = select(ReferralTransition).where(
        ReferralTransition.referral_id == referral.id, ReferralTransition.from_state.is_not(None)
    )
    if after_id is not None:
        query = query.where(ReferralTransition.id > after_id)
    return list(
        (await db_session.scalars(query.order_by(ReferralTransition.id).limit(limit))).all()
    )


def transition_document(transition: ReferralTransition) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": transition.id,
        "referral_id": transition.referral_id,
        "from": transition.from_state,
        "to": transition.to_state,
        "actor": transition.actor,
        "actor_org": transition.actor_org,
        "reason": transition.reason,
        "occurred_at": rfc3339(transition.at),
    }
    if transition.note is not None:
        document["note"] = transition.note
    if transition.caused_by is not None:
        document["caused_by"] = transition.caused_by
    return document


# --- lifecycle: expiry and erasure -----------------------------------------------------------


def erase(referral: Referral, *, reason: str, now: datetime) -> None:
    referral.sealed = None
    referral.sealed_kid = None
    referral.erased_at = now
    referral.erasure_reason = reason
    referral.updated_at = now


async def apply_lifecycle(
    *, db_session: AsyncSession, referral: Referral, node: NodeContext, now: datetime
) -> None:
    """Expire an open referral past its deadline or its consents; erase a payload past retain_until.

    Runs on every access and from the periodic sweeper, so nothing depends on one process's timer.
    """
    if referral.state not in states.terminal_states():
        lapsed = referral.respond_by is not None and referral.respond_by <= now
        if not lapsed and referral.consent_ids:
            rows = await consents.get_many(db_session=db_session, consent_ids=referral.consent_ids)
            lapsed = any(consents.status_of(c, now) == "expired" for c in rows)
        if lapsed and states.find(referral.state, "expired", states.SYSTEM) is not None:
            await move(
                db_session=db_session,
                referral=referral,
                target="expired",
                actor=states.SYSTEM,
                actor_org=None,
                reason=None,
                note=None,
                caused_by=None,
                node=node,
                now=now,
            )
    if referral.sealed is not None and referral.retain_until <= now:
        erase(referral, reason=ERASURE_RETENTION, now=now)
        await audit.append(
            db_session=db_session,
            node_id=node.node_id,
            actor_org=None,
            action="erasure.acknowledged",
            object_type="referral",
            object_id=referral.id,
            basis="retain_until reached: the node erased the payload",
        )
        await db_session.flush()


async def sweep(
    *, db_session: AsyncSession, node: NodeContext, now: datetime, batch: int = 100
) -> int:
    """One pass of the periodic lifecycle sweep; returns how many referrals it looked at."""
    terminal = list(states.terminal_states())
    query = (
        select(Referral)
        .where(
            or_(
                Referral.sealed_kid.is_not(None) & (Referral.retain_until <= now),
                Referral.state.not_in(terminal) & (Referral.respond_by <= now),
            )
        )
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    rows = list((await db_session.scalars(query)).all())
    # Open referrals whose cited consent expired: found through the consents that expired.
    expired_consents = select(Consent.id).where(
        Consent.valid_until <= now, Consent.status != STATUS_WITHDRAWN
    )
    lapsed = (
        select(Referral)
        .join(ReferralConsent, ReferralConsent.referral_id == Referral.id)
        .where(Referral.state.not_in(terminal), ReferralConsent.consent_id.in_(expired_consents))
        .limit(batch)
        .with_for_update(skip_locked=True, of=Referral)
    )
    seen = {r.id for r in rows}
    rows += [r for r in (await db_session.scalars(lapsed)).unique().all() if r.id not in seen]
    for referral in rows:
        await apply_lifecycle(db_session=db_session, referral=referral, node=node, now=now)
    announced = await consents.record_expiries(db_session=db_session, node_id=node.node_id, now=now)
    return len(rows) + announced


# --- consent withdrawal cascade --------------------------------------------------------------


async def withdraw_consent(
    *,
    db_session: AsyncSession,
    principal: Principal,
    consent: Consent,
    body: Mapping[str, Any],
    node: NodeContext,
) -> Consent:
    """Withdraw a consent (or some of its grants): refuse new disclosures at once, revoke open
    referrals under it, and ask every organisation that received data under it to erase or
    restrict (R6, R35, SR-CONSENT-015..019). Commits."""
    now = utcnow()
    if consent.recorded_by_org != principal.org_id:
        raise ProblemError(
            403,
            "forbidden",
            "Not allowed",
            "Only the organisation that recorded a consent can record its withdrawal; "
            "pass the person's withdrawal on to it.",
        )
    if consent.status == STATUS_WITHDRAWN:
        raise ProblemError(
            409, "conflict", "Already withdrawn", f"consent {consent.id} is already withdrawn"
        )
    document = dict(consent.document)
    grants = [dict(g) for g in document["grants"]]
    active_ids = [g["grant_id"] for g in grants if g.get("status", "active") == "active"]
    requested = list(body.get("grant_ids") or active_ids)
    for index, grant_id in enumerate(requested):
        if grant_id not in active_ids:
            raise _invalid(f"#/grant_ids/{index}", "not an active grant of this consent")
    withdrawn_grants = [g for g in grants if g["grant_id"] in requested]
    for grant in grants:
        if grant["grant_id"] in requested:
            grant["status"] = "withdrawn"
    document["grants"] = grants
    consent.document = document
    if all(g["status"] == "withdrawn" for g in grants):
        consent.status = STATUS_WITHDRAWN
        consent.withdrawn_at = now

    # Every referral sent under a withdrawn grant: the consent cites it and the grant names it.
    cited = (
        await db_session.scalars(
            select(Referral)
            .join(ReferralConsent, ReferralConsent.referral_id == Referral.id)
            .where(ReferralConsent.consent_id == consent.id)
            .order_by(Referral.id)
        )
    ).all()
    affected: list[Referral] = []
    for referral in cited:
        recipient = await db_session.get(Organisation, referral.recipient_org)
        roles = list(recipient.roles) if recipient is not None else [referral.recipient_role]
        if any(
            consents.grant_covers(
                g,
                org_id=referral.recipient_org,
                roles=roles,
                country=referral.recipient_country,
                purpose=referral.purpose,
            )
            for g in withdrawn_grants
        ):
            affected.append(referral)

    consent.withdrawal = {
        "channel": body["channel"],
        "withdrawn_at": body["withdrawn_at"],
        "received_by": body["received_by"],
        "grant_ids": requested,
        **({"note": body["note"]} if body.get("note") else {}),
        "recorded_at": rfc3339(now),
        "recorded_by_org": principal.org_id,
        "notified_referral_ids": [r.id for r in affected],
    }
    await audit.append(
        db_session=db_session,
        node_id=node.node_id,
        actor_org=principal.org_id,
        action="consent.withdrawn",
        object_type="consent",
        object_id=consent.id,
    )
    event_data = consents.consent_event_data(consent, grant_ids=requested, now=now)
    notified_orgs = {consent.recorded_by_org}
    await events.emit(
        db_session=db_session,
        org_id=consent.recorded_by_org,
        event_type="org.saferefer.consent.withdrawn",
        subject=consent.id,
        data=event_data,
        source=node.node_id,
    )
    for referral in affected:
        if referral.state not in states.terminal_states():
            await move(
                db_session=db_session,
                referral=referral,
                target="revoked",
                actor=states.SYSTEM,
                actor_org=None,
                reason=None,
                note=None,
                caused_by=consent.id,
                node=node,
                now=now,
            )
        if referral.recipient_org not in notified_orgs and is_local(referral, "recipient", node):
            notified_orgs.add(referral.recipient_org)
            await events.emit(
                db_session=db_session,
                org_id=referral.recipient_org,
                event_type="org.saferefer.consent.withdrawn",
                subject=consent.id,
                data=event_data,
                source=node.node_id,
            )
        db_session.add(
            WithdrawalNotice(
                id=uuid7(),
                consent_id=consent.id,
                referral_id=referral.id,
                recipient_org=referral.recipient_org,
                notified_at=now,
                acknowledged_at=None,
                action=None,
                legal_basis=None,
            )
        )
        erasure_request = {
            "referral_id": referral.id,
            "consent_id": consent.id,
            "sender": referral.sender_org,
            "grant_ids": requested,
            "forward_to_onward_recipients": True,
            "requested_at": rfc3339(now),
        }
        if is_local(referral, "recipient", node):
            await events.emit(
                db_session=db_session,
                org_id=referral.recipient_org,
                event_type="org.saferefer.erasure.requested",
                subject=referral.id,
                data=erasure_request,
                source=node.node_id,
            )
        else:
            await peer_hooks["erasure_request"](
                db_session=db_session, node=node, referral=referral, body=erasure_request
            )
        await audit.append(
            db_session=db_session,
            node_id=node.node_id,
            actor_org=None,
            action="erasure.requested",
            object_type="referral",
            object_id=referral.id,
            counterparty_org=referral.recipient_org,
        )
    await db_session.commit()
    return consent


async def acknowledge_erasure(
    *,
    db_session: AsyncSession,
    principal: Principal,
    referral_id: str,
    body: Mapping[str, Any],
    node: NodeContext,
) -> dict[str, Any]:
    """Record the recipient's erasure/restriction after a withdrawal; erase the node's copy (commits)."""
    referral = await get_for_party(
        db_session=db_session, principal=principal, referral_id=referral_id
    )
    if referral is None:
        raise no_such("referral", referral_id)
    if referral.recipient_org != principal.org_id:
        raise ProblemError(
            403,
            "forbidden",
            "Not allowed",
            "Only the organisation that received the referral acknowledges its erasure.",
        )
    notice = (
        await db_session.scalars(
            select(WithdrawalNotice).where(
                WithdrawalNotice.referral_id == referral.id,
                WithdrawalNotice.consent_id == body["consent_id"],
            )
        )
    ).one_or_none()
    if notice is None:
        raise _invalid(
            "#/consent_id", "no erasure was requested for this referral under that consent"
        )
    if notice.acknowledged_at is not None:
        raise ProblemError(
            409, "conflict", "Already acknowledged", "this erasure request was already acknowledged"
        )
    now = utcnow()
    notice.acknowledged_at = now
    notice.action = body["action"]
    notice.legal_basis = body.get("legal_basis")
    record = {
        "id": notice.id,
        "referral_id": referral.id,
        "consent_id": notice.consent_id,
        "action": notice.action,
        "completed_at": body["completed_at"],
        "acknowledged_by": principal.org_id,
        "recorded_at": rfc3339(now),
        "onward_referral_ids": list(body.get("onward_referral_ids") or []),
    }
    if notice.legal_basis is not None:
        record["legal_basis"] = notice.legal_basis
    if referral.sealed is not None:
        erase(referral, reason=ERASURE_WITHDRAWAL, now=now)
    await audit.append(
        db_session=db_session,
        node_id=node.node_id,
        actor_org=principal.org_id,
        action="erasure.acknowledged",
        object_type="erasure_acknowledgement",
        object_id=notice.id,
        counterparty_org=referral.sender_org,
        basis=notice.legal_basis,
    )
    consent = await db_session.get(Consent, notice.consent_id)
    data = {
        "referral_id": referral.id,
        "consent_id": notice.consent_id,
        "acknowledged_by": principal.org_id,
        "action": notice.action,
        "acknowledgement_id": notice.id,
        "occurred_at": rfc3339(now),
    }
    if not is_local(referral, "sender", node):
        await peer_hooks["erasure_acknowledgement"](
            db_session=db_session, node=node, referral=referral, record=record
        )
    for org_id in sorted(
        {referral.sender_org, consent.recorded_by_org if consent else referral.sender_org}
        - ({referral.sender_org} if not is_local(referral, "sender", node) else set())
    ):
        await events.emit(
            db_session=db_session,
            org_id=org_id,
            event_type="org.saferefer.erasure.acknowledged",
            subject=referral.id,
            data=data,
            source=node.node_id,
        )
    await db_session.commit()
    return record


async def record_submission(
    *,
    db_session: AsyncSession,
    node: NodeContext,
    referral: Referral,
    now: datetime,
    decided: audit.PendingEntry | None = None,
) -> None:
    """Store a new referral with its consent links, initial transition, audit entry and event.

    Shared by local creation and by referrals arriving from a peer node, so both leave the
    same trail. `decided` is the not yet appended `policy.decision` entry of the referral: it is
    appended just before `referral.created`, under the same lock of the audit chain.
    """
    # One flush for the three (the unit of work inserts the referral before the rows that
    # reference it): the audit append below reads the chain head, which flushes them.
    db_session.add(referral)
    db_session.add_all(
        ReferralConsent(referral_id=referral.id, consent_id=consent_id)
        for consent_id in referral.consent_ids
    )
    db_session.add(
        ReferralTransition(
            id=uuid7(),
            referral_id=referral.id,
            from_state=None,
            to_state=referral.state,
            actor=states.SENDER,
            actor_org=referral.sender_org,
            reason=None,
            note=None,
            caused_by=None,
            at=now,
        )
    )
    created = audit.PendingEntry(
        actor_org=referral.sender_org,
        action="referral.created",
        object_type="referral",
        object_id=referral.id,
        counterparty_org=referral.recipient_org,
    )
    await audit.append_all(
        db_session=db_session,
        node_id=node.node_id,
        entries=[created] if decided is None else [decided, created],
    )
    await announce(
        db_session=db_session,
        node=node,
        referral=referral,
        event_type="org.saferefer.referral.submitted",
        previous_state=None,
        transition_id=None,
        now=now,
    )
