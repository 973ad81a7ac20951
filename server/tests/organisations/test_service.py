"""Directory services: the directory only takes entries it can publish as the standard says."""

from __future__ import annotations

from typing import Any

import pytest
from saferefer_server.organisations import service
from saferefer_server.organisations.credentials import new_client_key
from saferefer_server.organisations.models import Organisation
from saferefer_server.testing import TestNode, assert_matches_schema
from sqlalchemy import func, select

NGO = "urn:saferefer:org:NL:demo-ngo"


@pytest.fixture
def database_url(sqlite_database_url: str) -> str:
    """Registration checks happen before anything is written: one backend is enough."""
    return sqlite_database_url


@pytest.mark.parametrize(
    ("changes", "member"),
    [
        ({"roles": ["policeman"]}, "roles"),
        ({"roles": []}, "roles"),
        ({"country": "ZZ"}, "country"),
        ({"name": ""}, "name"),
        ({"name": "line\u0007break"}, "name"),
        ({"node_id": "node-1"}, "node_id"),
    ],
)
async def test_register_refuses_an_entry_the_directory_cannot_publish(
    node: TestNode, changes: dict[str, Any], member: str
) -> None:
    entry: dict[str, Any] = {
        "org_id": "urn:saferefer:org:NL:new-shelter",
        "name": "New Shelter",
        "country": "NL",
        "roles": ["shelter"],
        "node_id": node.settings.node_id,
        "jwks": new_client_key()[1],
    }
    async with node.app.state.sessionmaker() as db_session:
        before = await db_session.scalar(select(func.count()).select_from(Organisation))
        with pytest.raises(service.InvalidOrganisation) as refused:
            await service.register(db_session=db_session, **{**entry, **changes})
        await db_session.commit()
        after = await db_session.scalar(select(func.count()).select_from(Organisation))
    assert [m for m, _ in refused.value.problems] == [member]
    assert after == before
    # The entry as given is one the listing can carry.
    async with node.app.state.sessionmaker() as db_session:
        await service.register(db_session=db_session, **entry)
        await db_session.commit()
    listed = await node.client.get(
        "/v1/organisations", params={"name": "New Shelter"}, headers=await node.auth(NGO)
    )
    assert_matches_schema(listed.json()["items"][0], "organisation.schema.json")


def test_unknown_role_problem_lists_every_valid_code() -> None:
    problems = service.registration_problems(
        org_id="urn:saferefer:org:NL:x-ngo",
        name="X",
        country="NL",
        roles=["shelter", "policeman"],
        node_id="urn:saferefer:node:NL:demo",
        jwks=new_client_key()[1],
    )
    assert len(problems) == 1
    member, detail = problems[0]
    assert member == "roles"
    assert detail.startswith("unknown role code(s) policeman; the role codes")
    assert all(code in detail for code in service.role_codes())
    assert len(service.role_codes()) == 13
