"""Idempotency-Key on POST: replay, reuse detection, concurrent duplicates, crash windows."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from saferefer_server.core.idempotency import LEASE_S
from saferefer_server.core.models import IdempotencyRecord
from saferefer_server.deps import CurrentOrg, SessionDep
from saferefer_server.organisations import service as organisations
from saferefer_server.organisations.credentials import new_client_key
from saferefer_server.organisations.models import Organisation
from saferefer_server.testing import TestNode
from sqlalchemy import func, select, update

NGO = "urn:saferefer:org:NL:demo-ngo"
SHELTER = "urn:saferefer:org:NL:demo-shelter"
MARKER = "marker-Xq7-payload-value"
THING_JWKS = new_client_key()[1]  # a thing is a directory entry: a valid one

router = APIRouter()
failures: dict[str, int] = {}


@router.post("/_test/things", status_code=201)
async def create_thing(request: Request, db_session: SessionDep, org: CurrentOrg) -> JSONResponse:
    body = await request.json()
    if failures.get(body.get("fail_key", ""), 0) > 0:
        failures[body["fail_key"]] -= 1
        raise RuntimeError("transient failure")
    code = uuid.uuid4().hex[:12]
    await organisations.register(
        db_session=db_session,
        org_id=f"urn:saferefer:org:NL:t-{code}",
        name=body.get("name", "thing"),
        country="NL",
        roles=["shelter"],
        node_id=org.node_id,
        jwks=THING_JWKS,
    )
    await asyncio.sleep(body.get("delay", 0))
    await db_session.commit()
    return JSONResponse(
        {"id": code, "by": org.org_id, "echo": body.get("name")},
        status_code=201,
        headers={"Location": f"/_test/things/{code}"},
    )


@pytest.fixture
def things(node: TestNode) -> TestNode:
    node.app.include_router(router)
    return node


async def count_things(node: TestNode) -> int:
    async with node.app.state.sessionmaker() as db_session:
        count = await db_session.scalar(
            select(func.count()).select_from(Organisation).where(Organisation.id.like("%:t-%"))
        )
        return int(count or 0)


async def post(node: TestNode, org: str, body: dict[str, Any], key: str | None) -> Any:
    headers = await node.auth(org)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await node.client.post("/_test/things", json=body, headers=headers)


async def test_retry_returns_first_response(things: TestNode) -> None:
    first = await post(things, NGO, {"name": "a"}, "key-1")
    second = await post(things, NGO, {"name": "a"}, "key-1")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["location"] == first.headers["location"]
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert second.headers["x-request-id"] != first.headers["x-request-id"]
    assert await count_things(things) == 1


async def test_without_key_each_post_executes(things: TestNode) -> None:
    await post(things, NGO, {"name": "a"}, None)
    await post(things, NGO, {"name": "a"}, None)
    assert await count_things(things) == 2


async def test_same_key_different_body_is_key_reuse(things: TestNode) -> None:
    await post(things, NGO, {"name": "a"}, "key-2")
    response = await post(things, NGO, {"name": "b"}, "key-2")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "https://saferefer.org/problems/idempotency-key-reuse"
    assert await count_things(things) == 1


async def test_keys_are_scoped_per_organisation(things: TestNode) -> None:
    mine = await post(things, NGO, {"name": "a"}, "shared-key")
    theirs = await post(things, SHELTER, {"name": "a"}, "shared-key")
    assert mine.json()["by"] == NGO
    assert theirs.json()["by"] == SHELTER
    assert await count_things(things) == 2


async def test_invalid_key_is_validation_error(things: TestNode) -> None:
    response = await post(things, NGO, {"name": "a"}, "x" * 256)
    assert response.status_code == 422
    assert response.json()["errors"] == [{"header": "Idempotency-Key", "detail": "invalid key"}]


async def test_server_error_releases_the_key_for_a_retry(things: TestNode) -> None:
    failures["flaky"] = 1
    body = {"name": "a", "fail_key": "flaky"}
    assert (await post(things, NGO, body, "key-3")).status_code == 500
    retried = await post(things, NGO, body, "key-3")
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers
    assert await count_things(things) == 1


async def test_unauthenticated_post_is_not_recorded(things: TestNode) -> None:
    response = await things.client.post(
        "/_test/things", json={}, headers={"Idempotency-Key": "k", "Authorization": "Bearer x"}
    )
    assert response.status_code == 401
    async with things.app.state.sessionmaker() as db_session:
        assert await db_session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 0


async def test_stored_response_is_encrypted(things: TestNode) -> None:
    await post(things, NGO, {"name": MARKER}, "key-4")
    async with things.app.state.sessionmaker() as db_session:
        record = await db_session.scalar(select(IdempotencyRecord))
    assert record is not None
    assert record.response_body is not None
    assert MARKER.encode() not in record.response_body
    assert record.response_key_id == things.settings.payload_keyring()[0][0]


async def test_concurrent_duplicates_execute_exactly_once(things: TestNode) -> None:
    await things.auth(NGO)  # fetch the token before the race
    responses = await asyncio.gather(
        *(post(things, NGO, {"name": "race", "delay": 0.3}, "race-key") for _ in range(12))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum("idempotent-replayed" in r.headers for r in responses) == 11
    assert await count_things(things) == 1


async def _age_claim(node: TestNode, *, effects_committed: bool) -> None:
    async with node.app.state.sessionmaker() as db_session:
        await db_session.execute(
            update(IdempotencyRecord).values(
                state="in_progress",
                effects_committed=effects_committed,
                claimed_at=datetime.now(UTC) - timedelta(seconds=LEASE_S + 5),
                response_status=None,
                response_body=None,
            )
        )
        await db_session.commit()


async def test_claim_abandoned_before_commit_is_taken_over(things: TestNode) -> None:
    await post(things, NGO, {"name": "a"}, "key-5")
    await _age_claim(things, effects_committed=False)
    retried = await post(things, NGO, {"name": "a"}, "key-5")
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers


async def test_claim_abandoned_after_commit_never_executes_again(things: TestNode) -> None:
    await post(things, NGO, {"name": "a"}, "key-6")
    await _age_claim(things, effects_committed=True)
    retried = await post(things, NGO, {"name": "a"}, "key-6")
    assert retried.status_code == 409
    assert retried.json()["type"] == "https://saferefer.org/problems/conflict"
    assert await count_things(things) == 1


async def test_request_commit_marks_effects_in_same_transaction(things: TestNode) -> None:
    await post(things, NGO, {"name": "a"}, "key-7")
    async with things.app.state.sessionmaker() as db_session:
        record = await db_session.scalar(select(IdempotencyRecord))
    assert record is not None
    assert record.effects_committed is True
    assert record.state == "completed"
