"""`GET /v1/organisations` (search, cursor-paginated) and `GET /v1/organisations/{org_id}`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from saferefer_server.core.cursors import decode_cursor, encode_cursor
from saferefer_server.core.problems import ProblemError, not_found
from saferefer_server.db.session import read_phase
from saferefer_server.deps import CurrentOrg, SessionDep
from saferefer_server.domain_spec import codes
from saferefer_server.organisations import service
from saferefer_server.organisations.models import ORG_ID_PATTERN, OrganisationPublic

router = APIRouter(prefix="/v1/organisations", tags=["organisations"])

NAME_PATTERN = r"^[^\x00-\x1F]+$"
CURSOR_PATTERN = r"^[A-Za-z0-9_.~-]+$"


def _require_code(parameter: str, value: str | None, codelist: str) -> None:
    if value is not None and value not in codes(codelist):
        raise ProblemError(
            422,
            "validation-error",
            "The request is invalid",
            f"{parameter} must be a code of the {codelist} code list",
            errors=[{"parameter": parameter, "detail": f"not in code list {codelist}"}],
        )


@router.get("", operation_id="listOrganisations")
async def list_organisations(
    db_session: SessionDep,
    _caller: CurrentOrg,
    role: Annotated[str | None, Query(max_length=64)] = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
    name: Annotated[str | None, Query(min_length=1, max_length=200, pattern=NAME_PATTERN)] = None,
    cursor: Annotated[str | None, Query(max_length=512, pattern=CURSOR_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    _require_code("role", role, "roles")
    _require_code("country", country, "countries")
    after_id = decode_cursor(cursor, keys={"id"})["id"] if cursor else None
    async with read_phase(db_session):
        page, more = await service.search(
            db_session=db_session,
            role=role,
            country=country,
            name=name,
            after_id=after_id,
            limit=limit,
        )
    return {
        "items": [OrganisationPublic.model_validate(org).model_dump(mode="json") for org in page],
        "next_cursor": encode_cursor({"id": page[-1].id}) if more and page else None,
    }


@router.get("/{org_id}", operation_id="getOrganisation")
async def get_organisation(
    db_session: SessionDep,
    _caller: CurrentOrg,
    org_id: Annotated[str, Path(pattern=ORG_ID_PATTERN)],
) -> dict[str, Any]:
    async with read_phase(db_session):
        org = await service.get(db_session=db_session, org_id=org_id)
    if org is None:
        raise not_found(f"no organisation {org_id} in this node's directory")
    return OrganisationPublic.model_validate(org).model_dump(mode="json")
