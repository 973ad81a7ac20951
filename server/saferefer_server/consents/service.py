"""Recording, reading and listing consents; their documents for the API, the policy and receipts.

A consent is visible to the organisation that recorded it and to every organisation one of its
grants names (by id, or by a role it holds in its country). Everything else is "not found".
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, and_, bindparam, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from saferefer_server.audit import service as audit
from saferefer_server.audit.ids import parse_rfc3339, request_time, rfc3339, uuid7
from saferefer_server.auth.principal import Principal
from saferefer_server.consents.models import (
    STATUS_ACTIVE,
    STATUS_EXPIRED,
    STATUS_WITHDRAWN,
    Consent,
    ConsentGrant,
)
from saferefer_server.core.problems import ProblemError
from saferefer_server.db.base import utcnow
from saferefer_server.domain_spec import entry
from saferefer_server.events import service as events
from saferefer_server.organisations.models import Organisation
from saferefer_server.referrals import crypto

GRANT_ACTIVE = "active"
GRANT_WITHDRAWN = "withdrawn"
# Members of a stored record the server sets; the rest is the create document as sent.
_SERVER_MEMBERS = ("id", "status", "recorded_at", "withdrawal", "superseded_by")
RECORDER_JWS_TYP = "saferefer-consent+jws"


def is_enforcement_role(role: str) -> bool:
    found = entry("roles", role)
    return bool(found and found.get("enforcement"))


def _invalid(errors: list[dict[str, str]]) -> ProblemError:
    return ProblemError(
        422,
        "validation-error",
        "The consent record is incomplete or inconsistent",
        f"{len(errors)} problem(s), first at {errors[0]['pointer']}: {errors[0]['detail']}",
        errors=errors,
    )


def minimum_errors(
    *, document: Mapping[str, Any], principal: Principal, now: datetime
) -> list[dict[str, str]]:
    """What the schema cannot say about RIGHTS.md's consent minimum (SR-CONSENT-001..014)."""
    errors: list[dict[str, str]] = []
    role = document["recorder"]["role"]
    if role not in principal.roles:
        errors.append(
            {
                "pointer": "#/recorder/role",
                "detail": "the recording organisation does not hold this role",
            }
        )
    issued = request_time(document["issued_at"], pointer="#/issued_at")
    valid_from = request_time(document["valid_from"], pointer="#/valid_from")
    valid_until = request_time(document["valid_until"], pointer="#/valid_until")
    if valid_until <= issued:
        errors.append({"pointer": "#/valid_until", "detail": "must be later than issued_at (R6)"})
    if valid_until <= valid_from:
        errors.append({"pointer": "#/valid_until", "detail": "must be later than valid_from"})
    if valid_until <= now:
        errors.append({"pointer": "#/valid_until", "detail": "is already in the past"})
    child = document.get("child")
    if child is not None:
        guardian = child["guardian"]
        if not guardian["conflict_of_interest_checked"]:
            errors.append(
                {
                    "pointer": "#/child/guardian/conflict_of_interest_checked",
                    "detail": "the guardian must be checked for a conflict of interest (R27)",
                }
            )
        if guardian["conflict_of_interest_found"]:
            errors.append(
                {
                    "pointer": "#/child/guardian/conflict_of_interest_found",
                    "detail": "a guardian with a conflict of interest cannot consent (R27); "
                    "record the consent through another representative",
                }
            )
        if not child["views_heard"]:
            errors.append(
                {
                    "pointer": "#/child/views_heard",
                    "detail": "the child's views must be heard (R27)",
                }
            )
    for index, grant in enumerate(document["grants"]):
        extra = set(grant.get("explicit_categories", [])) - set(grant["data_categories"])
        if extra:
            errors.append(
                {
                    "pointer": f"#/grants/{index}/explicit_categories",
                    "detail": "lists a category that is not in the grant's data_categories",
                }
            )
    return errors


async def record(
    *, db_session: AsyncSession, principal: Principal, document: Mapping[str, Any], node_id: str
) -> Consent:
    """Store a schema-valid consent-create document recorded by `principal` (caller commits)."""
    now = utcnow()
    errors = minimum_errors(document=document, principal=principal, now=now)
    if errors:
        raise _invalid(errors)
    recorder_jws = document.get("recorder_jws")
    if recorder_jws is not None:
        await _verify_recorder_jws(
            db_session=db_session, principal=principal, document=document, token=recorder_jws
        )
    stored = copy.deepcopy(dict(document))
    stored["recorder"] = {
        "org_id": principal.org_id,
        "role": document["recorder"]["role"],
        "worker_ref": document["recorder"]["worker_ref"],
        "enforcement_role": is_enforcement_role(document["recorder"]["role"]),
    }
    stored["grants"] = [
        {
            "grant_id": uuid7(),
            "explicit_categories": [],
            "onward_sharing": False,
            **grant,
            "status": GRANT_ACTIVE,
        }
        for grant in document["grants"]
    ]
    consent = Consent(
        id=uuid7(),
        recorded_by_org=principal.org_id,
        recorder_role=stored["recorder"]["role"],
        subject_ref=stored["subject_ref"],
        status=STATUS_ACTIVE,
        valid_from=parse_rfc3339(stored["valid_from"]),
        valid_until=parse_rfc3339(stored["valid_until"]),
        recorded_at=now,
        document=stored,
        recorder_jws=recorder_jws,
        withdrawn_at=None,
        withdrawal=None,
        expiry_recorded_at=None,
    )
    db_session.add(consent)
    await db_session.flush()
    for position, grant in enumerate(stored["grants"]):
        recipient = grant["recipient"]
        db_session.add(
            ConsentGrant(
                consent_id=consent.id,
                position=position,
                recipient_org=recipient.get("org_id"),
                recipient_role=recipient.get("role"),
                recipient_country=recipient.get("country"),
            )
        )
    await audit.append(
        db_session=db_session,
        node_id=node_id,
        actor_org=principal.org_id,
        action="consent.recorded",
        object_type="consent",
        object_id=consent.id,
    )
    await events.emit(
        db_session=db_session,
        org_id=principal.org_id,
        event_type="org.saferefer.consent.recorded",
        subject=consent.id,
        data=consent_event_data(consent, grant_ids=grant_ids(consent), now=now),
        source=node_id,
    )
    return consent


async def _verify_recorder_jws(
    *, db_session: AsyncSession, principal: Principal, document: Mapping[str, Any], token: str
) -> None:
    """The recorder's signature over the create document (without itself), or a 422 problem."""
    recorder = await db_session.get(Organisation, principal.org_id)
    jwks = recorder.jwks if recorder is not None else {"keys": []}
    unsigned = {key: value for key, value in document.items() if key != "recorder_jws"}
    try:
        signed = crypto.verify_compact_jws(token=token, jwks=jwks, typ=RECORDER_JWS_TYP)
    except crypto.SignatureInvalid:
        detail = "does not verify with the recording organisation's directory keys"
    else:
        if signed == unsigned:
            return
        detail = "signs a different document than the one sent"
    raise _invalid([{"pointer": "#/recorder_jws", "detail": detail}])


def grant_ids(consent: Consent) -> list[str]:
    return [str(g["grant_id"]) for g in consent.document["grants"]]


def consent_event_data(
    consent: Consent, *, grant_ids: Sequence[str], now: datetime
) -> dict[str, Any]:
    return {
        "consent_id": consent.id,
        "status": status_of(consent, now),
        "recorder": consent.recorded_by_org,
        "grant_ids": list(grant_ids),
        "occurred_at": rfc3339(now),
    }


def status_of(consent: Consent, now: datetime) -> str:
    """`withdrawn` as stored; `expired` once valid_until has passed, whatever is stored (SR-CONSENT-005)."""
    if consent.status == STATUS_WITHDRAWN:
        return STATUS_WITHDRAWN
    if consent.valid_until <= now:
        return STATUS_EXPIRED
    return consent.status


# Who may see a consent: the organisation that recorded it, or one named in a grant (by id, or
# by role and country). Built once, the caller bound as parameters (`_caller`): building and
# hashing it anew cost about 0.3 ms per statement, and a referral send looks each consent up twice.
_VISIBLE_TO = or_(
    Consent.recorded_by_org == bindparam("org_id"),
    exists().where(
        ConsentGrant.consent_id == Consent.id,
        or_(
            ConsentGrant.recipient_org == bindparam("org_id"),
            and_(
                ConsentGrant.recipient_role.in_(bindparam("roles", expanding=True)),
                ConsentGrant.recipient_country == bindparam("country"),
            ),
        ),
    ),
)


def _caller(principal: Principal) -> dict[str, Any]:
    """The parameters of `_VISIBLE_TO` for `principal`."""
    return {
        "org_id": principal.org_id,
        "roles": list(principal.roles),
        "country": principal.country,
    }


def _visible_consent_query(lock: Literal["update", "share"] | None) -> Select[Consent]:
    """The statement behind `get_visible` (the consent id bound as `consent_id`)."""
    query = select(Consent).where(Consent.id == bindparam("consent_id"), _VISIBLE_TO)
    if lock == "update":
        return query.with_for_update(of=Consent)
    if lock == "share":
        # A send holds its consents shared until it commits, so a concurrent withdrawal waits
        # for it and then revokes the new referral too (or the send sees the withdrawal).
        return query.with_for_update(read=True, of=Consent)
    return query


_VISIBLE_CONSENT = {lock: _visible_consent_query(lock) for lock in (None, "update", "share")}


async def get_visible(
    *,
    db_session: AsyncSession,
    principal: Principal,
    consent_id: str,
    lock: Literal["update", "share"] | None = None,
) -> Consent | None:
    """The consent `consent_id` if `principal` recorded it or is named in one of its grants."""
    parameters = {"consent_id": consent_id, **_caller(principal)}
    return (await db_session.scalars(_VISIBLE_CONSENT[lock], parameters)).one_or_none()


async def list_visible(
    *,
    db_session: AsyncSession,
    principal: Principal,
    after_id: str | None,
    limit: int,
    status: str | None = None,
    now: datetime | None = None,
) -> list[Consent]:
    query = select(Consent).where(_VISIBLE_TO)
    if after_id is not None:
        query = query.where(Consent.id > after_id)
    if status is not None:
        # `expired` is derived from valid_until (SR-CONSENT-005), not stored.
        moment = now or utcnow()
        if status == STATUS_WITHDRAWN:
            query = query.where(Consent.status == STATUS_WITHDRAWN)
        elif status == STATUS_EXPIRED:
            query = query.where(Consent.status != STATUS_WITHDRAWN, Consent.valid_until <= moment)
        else:
            query = query.where(
                Consent.status == status,
                Consent.status != STATUS_WITHDRAWN,
                Consent.valid_until > moment,
            )
    statement = query.order_by(Consent.id).limit(limit)
    return list((await db_session.scalars(statement, _caller(principal))).all())


async def get_many(*, db_session: AsyncSession, consent_ids: Sequence[str]) -> list[Consent]:
    """Consents by id, server-side (for policy input: never trusted from the client)."""
    if not consent_ids:
        return []
    rows = (
        await db_session.scalars(select(Consent).where(Consent.id.in_(list(consent_ids))))
    ).all()
    return list(rows)


def record_document(consent: Consent, *, now: datetime) -> dict[str, Any]:
    """The consent-record.schema.json document."""
    document: dict[str, Any] = {
        key: value for key, value in consent.document.items() if key not in _SERVER_MEMBERS
    }
    document["id"] = consent.id
    document["status"] = status_of(consent, now)
    document["recorded_at"] = rfc3339(consent.recorded_at)
    if consent.withdrawal is not None:
        document["withdrawal"] = consent.withdrawal
    return document


def active_grants(consent: Consent) -> list[dict[str, Any]]:
    return [g for g in consent.document["grants"] if g.get("status", GRANT_ACTIVE) == GRANT_ACTIVE]


def policy_consent(consent: Consent, *, now: datetime) -> dict[str, Any]:
    """The consent as the policy input carries it (policy-input.schema.json#/$defs/consent)."""
    doc = consent.document
    given_by: dict[str, Any] = {"kind": doc["given_by"]}
    child = doc.get("child")
    if child is not None:
        given_by["conflict_of_interest"] = bool(child["guardian"]["conflict_of_interest_found"])
    view: dict[str, Any] = {
        "id": consent.id,
        "status": status_of(consent, now),
        "recorded_by": {"org": consent.recorded_by_org, "role": consent.recorder_role},
        "given_by": given_by,
        "valid_from": rfc3339(consent.valid_from),
        "valid_until": rfc3339(consent.valid_until),
        "language": doc["language"],
        "interpreter": bool(doc["interpreter"]["present"]),
        "method": doc["method"],
        "refusal_does_not_affect_assistance": bool(doc["refusal_does_not_affect_assistance"]),
        "risks_informed": list(doc.get("risks_informed", [])),
        "grants": [_policy_grant(g) for g in active_grants(consent)],
    }
    if doc["interpreter"].get("independence"):
        view["interpreter_independence"] = doc["interpreter"]["independence"]
    return view


def _policy_grant(grant: Mapping[str, Any]) -> dict[str, Any]:
    recipient = grant["recipient"]
    if "org_id" in recipient:
        policy_recipient: dict[str, Any] = {"org": recipient["org_id"]}
    else:
        policy_recipient = {"role": recipient["role"], "country": recipient["country"]}
    return {
        "recipient": policy_recipient,
        "purposes": list(grant["purposes"]),
        "data_categories": list(grant["data_categories"]),
        "explicit_categories": list(grant.get("explicit_categories", [])),
        "onward_sharing": bool(grant.get("onward_sharing", False)),
    }


def grant_covers(
    grant: Mapping[str, Any], *, org_id: str, roles: Sequence[str], country: str, purpose: str
) -> bool:
    recipient = grant["recipient"]
    if "org_id" in recipient:
        names = recipient["org_id"] == org_id
    else:
        names = recipient["role"] in roles and recipient["country"] == country
    return names and purpose in grant["purposes"]


async def record_expiries(
    *, db_session: AsyncSession, node_id: str, now: datetime, batch: int = 100
) -> int:
    """Audit and announce consents whose valid_until has passed (once each); returns how many."""
    query = (
        select(Consent)
        .where(
            Consent.status == STATUS_ACTIVE,
            Consent.valid_until <= now,
            Consent.expiry_recorded_at.is_(None),
        )
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    expired = list((await db_session.scalars(query)).all())
    for consent in expired:
        consent.expiry_recorded_at = now
        await audit.append(
            db_session=db_session,
            node_id=node_id,
            actor_org=None,
            action="consent.expired",
            object_type="consent",
            object_id=consent.id,
            counterparty_org=consent.recorded_by_org,
        )
        await events.emit(
            db_session=db_session,
            org_id=consent.recorded_by_org,
            event_type="org.saferefer.consent.expired",
            subject=consent.id,
            data=consent_event_data(
                consent, grant_ids=[g["grant_id"] for g in active_grants(consent)], now=now
            ),
            source=node_id,
        )
    return len(expired)
