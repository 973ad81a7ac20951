"""`/v1/referrals`: create, inbox/outbox, read, transitions, erasure acknowledgements."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Response

from saferefer_server.audit.ids import cursor_str, no_such
from saferefer_server.core.cursors import encode_cursor
from saferefer_server.db.session import read_phase
from saferefer_server.deps import CurrentOrg, PolicyEngineDep, ReadingOrg, SessionDep
from saferefer_server.domain_spec import validate_or_422
from saferefer_server.referrals import service
from saferefer_server.referrals.node import NodeDep

router = APIRouter(tags=["referrals"])

NO_STORE = {"Cache-Control": "no-store"}


@router.post("/v1/referrals", operation_id="createReferral", status_code=201)
async def create_referral(
    db_session: SessionDep,
    principal: CurrentOrg,
    engine: PolicyEngineDep,
    node: NodeDep,
    response: Response,
    body: Annotated[Any, Body()],
) -> dict[str, Any]:
    validate_or_422("referral-create.schema.json", body, what="referral")
    referral = await service.create(
        db_session=db_session, principal=principal, body=body, engine=engine, node=node
    )
    response.headers.update(NO_STORE)
    response.headers["Location"] = f"/v1/referrals/{referral.id}"
    return service.referral_document(referral, viewer=principal.org_id)


@router.get("/v1/referrals", operation_id="listReferrals")
async def list_referrals(
    db_session: SessionDep,
    principal: ReadingOrg,
    response: Response,
    box: Literal["inbox", "outbox"] = "inbox",
    state: Annotated[
        Literal[
            "submitted",
            "received",
            "accepted",
            "declined",
            "completed",
            "withdrawn",
            "revoked",
            "expired",
        ]
        | None,
        Query(),
    ] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    before_id = cursor_str(cursor, "id") if cursor is not None else None
    async with read_phase(db_session):
        rows = await service.list_box(
            db_session=db_session,
            principal=principal,
            box=box,
            before_id=before_id,
            limit=limit + 1,
            state=state,
        )
    page = rows[:limit]
    response.headers.update(NO_STORE)
    return {
        "items": [service.referral_document(r, viewer=principal.org_id) for r in page],
        "next_cursor": encode_cursor({"id": page[-1].id}) if len(rows) > limit else None,
    }


@router.get("/v1/referrals/{referral_id}", operation_id="getReferral")
async def get_referral(
    db_session: SessionDep,
    principal: CurrentOrg,
    engine: PolicyEngineDep,
    node: NodeDep,
    response: Response,
    referral_id: str,
) -> dict[str, Any]:
    result = await service.read(
        db_session=db_session,
        principal=principal,
        referral_id=referral_id,
        engine=engine,
        node=node,
    )
    response.headers.update(NO_STORE)
    return service.referral_document(
        result.referral,
        viewer=principal.org_id,
        released=result.released,
        withheld=result.withheld,
    )


@router.post(
    "/v1/referrals/{referral_id}/transitions",
    operation_id="createReferralTransition",
    status_code=201,
)
async def create_referral_transition(
    db_session: SessionDep,
    principal: CurrentOrg,
    node: NodeDep,
    referral_id: str,
    body: Annotated[Any, Body()],
) -> dict[str, Any]:
    if (
        await service.get_for_party(
            db_session=db_session, principal=principal, referral_id=referral_id
        )
        is None
    ):
        raise no_such("referral", referral_id)
    validate_or_422(
        "referral-transition.schema.json", body, what="transition", pointer="/$defs/request"
    )
    transition = await service.transition(
        db_session=db_session, principal=principal, referral_id=referral_id, body=body, node=node
    )
    return service.transition_document(transition)


@router.get("/v1/referrals/{referral_id}/transitions", operation_id="listReferralTransitions")
async def list_referral_transitions(
    db_session: SessionDep,
    principal: CurrentOrg,
    referral_id: str,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    async with read_phase(db_session):
        referral = await service.get_for_party(
            db_session=db_session, principal=principal, referral_id=referral_id
        )
        if referral is None:
            raise no_such("referral", referral_id)
        after_id = cursor_str(cursor, "id") if cursor is not None else None
        rows = await service.list_transitions(
            db_session=db_session, referral=referral, after_id=after_id, limit=limit + 1
        )
    page = rows[:limit]
    return {
        "items": [service.transition_document(t) for t in page],
        "next_cursor": encode_cursor({"id": page[-1].id}) if len(rows) > limit else None,
    }


@router.post(
    "/v1/referrals/{referral_id}/erasure-acknowledgements",
    operation_id="acknowledgeErasure",
    status_code=201,
)
async def acknowledge_erasure(
    db_session: SessionDep,
    principal: CurrentOrg,
    node: NodeDep,
    referral_id: str,
    body: Annotated[Any, Body()],
) -> dict[str, Any]:
    if (
        await service.get_for_party(
            db_session=db_session, principal=principal, referral_id=referral_id
        )
        is None
    ):
        raise no_such("referral", referral_id)
    validate_or_422("erasure-acknowledgement.schema.json", body, what="acknowledgement")
    return await service.acknowledge_erasure(
        db_session=db_session, principal=principal, referral_id=referral_id, body=body, node=node
    )
