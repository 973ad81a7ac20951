"""Directory services: look up, search and register organisations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from saferefer_server import domain_spec
from saferefer_server.organisations.models import Organisation, OrganisationStatus

ROLES_CODELIST = "spec/codelists/roles.json"
COUNTRIES_CODELIST = "spec/codelists/countries.json"


class InvalidOrganisation(ValueError):
    """A registration the directory refuses: its entry would not match organisation.schema.json,
    and every client that checks the directory against the standard would then refuse the whole
    listing it appears in. `problems` are (member, what is wrong) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{member}: {detail}" for member, detail in problems))
        self.problems = problems


def role_codes() -> list[str]:
    """The role codes of the standard, in the code list's order."""
    return [str(item["code"]) for item in domain_spec.codelist("roles")["entries"]]


def registration_problems(
    *,
    org_id: str,
    name: str,
    country: str,
    roles: Sequence[str],
    node_id: str,
    jwks: dict[str, Any],
) -> list[tuple[str, str]]:
    """What makes this entry invalid for the directory, by member; empty when it is valid.

    Codes are checked against the code lists, with the valid codes in the message; everything
    else against organisation.schema.json itself.
    """
    problems: list[tuple[str, str]] = []
    unknown = [role for role in roles if role not in domain_spec.codes("roles")]
    if unknown:
        problems.append(
            (
                "roles",
                f"unknown role code(s) {', '.join(unknown)}; the role codes "
                f"({ROLES_CODELIST}) are {', '.join(role_codes())}",
            )
        )
    if country not in domain_spec.codes("countries"):
        problems.append(
            (
                "country",
                f"{country} is not a country code of {COUNTRIES_CODELIST} "
                "(ISO 3166-1 alpha-2, e.g. NL, plus XK)",
            )
        )
    entry = {
        "id": org_id,
        "name": name,
        "country": country,
        "roles": list(roles),
        "node_id": node_id,
        "jwks": jwks,
        "status": OrganisationStatus.ACTIVE.value,
    }
    for error in domain_spec.schema_errors("organisation.schema.json", entry):
        pointer = error["pointer"]
        if pointer == "#/country" or pointer.startswith("#/roles/"):
            continue  # an unknown code, reported above with the valid ones
        problems.append(
            (pointer.split("/")[1] if "/" in pointer else "organisation", error["detail"])
        )
    return problems


async def get(*, db_session: AsyncSession, org_id: str) -> Organisation | None:
    return await db_session.get(Organisation, org_id)


async def search(
    *,
    db_session: AsyncSession,
    role: str | None = None,
    country: str | None = None,
    name: str | None = None,
    after_id: str | None = None,
    limit: int = 50,
) -> tuple[Sequence[Organisation], bool]:
    """Active organisations matching every given filter, by id; (page, more pages exist)."""
    query = select(Organisation).where(Organisation.status == OrganisationStatus.ACTIVE.value)
    if country is not None:
        query = query.where(Organisation.country == country)
    if name is not None:
        escaped = name.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(func.lower(Organisation.name).like(f"%{escaped}%", escape="\\"))
    if after_id is not None:
        query = query.where(Organisation.id > after_id)
    query = query.order_by(Organisation.id)
    if role is None:
        rows = (await db_session.scalars(query.limit(limit + 1))).all()
        return rows[:limit], len(rows) > limit
    # Roles are a JSON list; the directory is small, so filter in Python rather than per dialect.
    matched: list[Organisation] = []
    for org in (await db_session.scalars(query)).all():
        if role in org.roles:
            matched.append(org)
            if len(matched) > limit:
                break
    return matched[:limit], len(matched) > limit


async def register(
    *,
    db_session: AsyncSession,
    org_id: str,
    name: str,
    country: str,
    roles: list[str],
    node_id: str,
    jwks: dict[str, Any],
    nrm_contact_point: bool = False,
    is_demo: bool = False,
) -> Organisation:
    """Add an organisation (the caller commits); `InvalidOrganisation` if the directory could not
    publish it as it is."""
    problems = registration_problems(
        org_id=org_id, name=name, country=country, roles=roles, node_id=node_id, jwks=jwks
    )
    if problems:
        raise InvalidOrganisation(problems)
    org = Organisation(
        id=org_id,
        name=name,
        country=country,
        roles=list(roles),
        node_id=node_id,
        jwks=jwks,
        status=OrganisationStatus.ACTIVE.value,
        nrm_contact_point=nrm_contact_point,
        is_demo=is_demo,
    )
    db_session.add(org)
    await db_session.flush()
    return org


async def set_status(
    *, db_session: AsyncSession, org_id: str, status: OrganisationStatus
) -> Organisation | None:
    org = await db_session.get(Organisation, org_id)
    if org is not None:
        org.status = status.value
        await db_session.flush()
    return org
