"""Directory services: look up, search and register organisations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from saferefer_server.organisations.models import Organisation, OrganisationStatus


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
    """Add an organisation (the caller commits)."""
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
