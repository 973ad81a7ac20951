"""`/v1/consents`: record, list, read, withdraw, receipt."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Response

from saferefer_server.audit import service as audit
from saferefer_server.audit.ids import cursor_str, no_such, rfc3339, uuid7
from saferefer_server.audit.jcs import canonicalize
from saferefer_server.consents import service
from saferefer_server.consents.models import Consent
from saferefer_server.core.cursors import encode_cursor
from saferefer_server.db.base import utcnow
from saferefer_server.db.session import read_phase
from saferefer_server.deps import CurrentOrg, SessionDep
from saferefer_server.domain_spec import entry, validate_or_422
from saferefer_server.organisations.models import Organisation
from saferefer_server.referrals import crypto
from saferefer_server.referrals import service as referrals
from saferefer_server.referrals.node import NodeDep

router = APIRouter(tags=["consents"])

NO_STORE = {"Cache-Control": "no-store"}
RECEIPT_JWS_TYP = "saferefer-consent-receipt+jws"


async def _visible(
    db_session: SessionDep, principal: CurrentOrg, consent_id: str, *, lock: bool = False
) -> Consent:
    consent = await service.get_visible(
        db_session=db_session,
        principal=principal,
        consent_id=consent_id,
        lock="update" if lock else None,
    )
    if consent is None:
        raise no_such("consent", consent_id)
    return consent


@router.post("/v1/consents", operation_id="recordConsent", status_code=201)
async def record_consent(
    db_session: SessionDep,
    principal: CurrentOrg,
    node: NodeDep,
    response: Response,
    body: Annotated[Any, Body()],
) -> dict[str, Any]:
    validate_or_422("consent-create.schema.json", body, what="consent")
    consent = await service.record(
        db_session=db_session, principal=principal, document=body, node_id=node.node_id
    )
    await db_session.commit()
    response.headers.update(NO_STORE)
    response.headers["Location"] = f"/v1/consents/{consent.id}"
    return service.record_document(consent, now=utcnow())


@router.get("/v1/consents", operation_id="listConsents")
async def list_consents(
    db_session: SessionDep,
    principal: CurrentOrg,
    response: Response,
    status: Annotated[
        Literal["active", "withdrawn", "expired", "superseded"] | None, Query()
    ] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    after_id = cursor_str(cursor, "id") if cursor is not None else None
    async with read_phase(db_session):
        rows = await service.list_visible(
            db_session=db_session,
            principal=principal,
            after_id=after_id,
            limit=limit + 1,
            status=status,
            now=utcnow(),
        )
    page, now = rows[:limit], utcnow()
    response.headers.update(NO_STORE)
    return {
        "items": [service.record_document(c, now=now) for c in page],
        "next_cursor": encode_cursor({"id": page[-1].id}) if len(rows) > limit else None,
    }


@router.get("/v1/consents/{consent_id}", operation_id="getConsent")
async def get_consent(
    db_session: SessionDep,
    principal: CurrentOrg,
    node: NodeDep,
    response: Response,
    consent_id: str,
) -> dict[str, Any]:
    consent = await _visible(db_session, principal, consent_id)
    await audit.append(
        db_session=db_session,
        node_id=node.node_id,
        actor_org=principal.org_id,
        action="consent.read",
        object_type="consent",
        object_id=consent.id,
        counterparty_org=consent.recorded_by_org,
    )
    await db_session.commit()
    response.headers.update(NO_STORE)
    return service.record_document(consent, now=utcnow())


@router.post("/v1/consents/{consent_id}/withdraw", operation_id="withdrawConsent")
async def withdraw_consent(
    db_session: SessionDep,
    principal: CurrentOrg,
    node: NodeDep,
    response: Response,
    consent_id: str,
    body: Annotated[Any, Body()],
) -> dict[str, Any]:
    consent = await _visible(db_session, principal, consent_id, lock=True)
    validate_or_422("consent-withdrawal.schema.json", body, what="withdrawal")
    consent = await referrals.withdraw_consent(
        db_session=db_session, principal=principal, consent=consent, body=body, node=node
    )
    response.headers.update(NO_STORE)
    return service.record_document(consent, now=utcnow())


def _label(codelist_name: str, code: str, language: str) -> str:
    found = entry(codelist_name, code)
    if found is None:
        return code
    labels = found["labels"]
    return str(labels.get(language.split("-")[0], labels["en"]))


@router.get("/v1/consents/{consent_id}/receipt", operation_id="getConsentReceipt")
async def get_consent_receipt(
    db_session: SessionDep,
    principal: CurrentOrg,
    node: NodeDep,
    response: Response,
    consent_id: str,
) -> dict[str, Any]:
    """A portable receipt for the person, signed by the node (SR-CONSENT-024/025)."""
    consent = await _visible(db_session, principal, consent_id)
    recorder = await db_session.get(Organisation, consent.recorded_by_org)
    recorder_name = recorder.name if recorder is not None else consent.recorded_by_org
    now = utcnow()
    doc = consent.document
    language = str(doc["language"])
    grants = []
    for grant in doc["grants"]:
        item: dict[str, Any] = {
            "grant_id": grant["grant_id"],
            "recipient": grant["recipient"],
            "purposes": list(grant["purposes"]),
            "data_categories": list(grant["data_categories"]),
            "explicit_categories": list(grant.get("explicit_categories", [])),
            "onward_sharing": bool(grant.get("onward_sharing", False)),
            "status": grant.get("status", "active"),
        }
        org_id = grant["recipient"].get("org_id")
        if org_id is not None:
            org = await db_session.get(Organisation, org_id)
            if org is not None:
                item["recipient_name"] = org.name[:200]
        grants.append(item)
    channels = [_label("withdrawal-channels", c, language) for c in doc["withdrawal_channels"]]
    receipt: dict[str, Any] = {
        "receipt_version": "1",
        "receipt_id": uuid7(),
        "consent_id": consent.id,
        "subject_ref": consent.subject_ref,
        "issued_at": rfc3339(now),
        "language": language,
        "recorder": {"org_id": consent.recorded_by_org, "name": recorder_name[:200]},
        "grants": grants,
        "valid_from": rfc3339(consent.valid_from),
        "valid_until": rfc3339(consent.valid_until),
        "status": service.status_of(consent, now),
        "refusal_does_not_affect_assistance": True,
        "withdrawal_channels": list(doc["withdrawal_channels"]),
        "withdrawal_instructions": (
            f"You can withdraw this consent at any time by contacting {recorder_name[:200]} "
            f"({', '.join(channels)}). Withdrawing does not affect the assistance you receive."
        ),
    }
    node_key = node.keys.signing_key()
    receipt["signature"] = crypto.sign_compact(
        key=node_key.key, kid=node_key.kid, payload=canonicalize(receipt), typ=RECEIPT_JWS_TYP
    )
    response.headers.update(NO_STORE)
    return receipt
