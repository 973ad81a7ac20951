"""The request middleware: a database out of reach is a 503 with `Retry-After`, logged with the
exception class, a safe reason and the route template, also when the request never reached the
router (the idempotency middleware answers or fails first)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from saferefer_server.core.problems import PROBLEM_CONTENT_TYPE
from saferefer_server.main import create_app
from saferefer_server.policy import PolicyEngine
from saferefer_server.referrals.testing import DomainFlows, referral_body
from saferefer_server.testing import (
    PostgresCluster,
    TestNode,
    asgi_client,
    migrated,
    node_settings,
    postgres_cluster,
    seed_demo,
    started,
)

NGO = "urn:saferefer:org:NL:demo-ngo"
SHELTER = "urn:saferefer:org:NL:demo-shelter"


@pytest.fixture
def own_pg_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster of this test alone: it is stopped in the middle of the test."""
    with postgres_cluster() as cluster:
        yield cluster


@contextlib.asynccontextmanager
async def demo_flows(
    data_dir: Path, database_url: str, policy_engine: PolicyEngine
) -> AsyncIterator[DomainFlows]:
    app = create_app(migrated(node_settings(data_dir, database_url)), policy_engine=policy_engine)
    async with started(app):
        credentials = await seed_demo(app)
        async with asgi_client(app) as client:
            yield DomainFlows(TestNode(app=app, client=client, credentials=credentials))


def referral(flows: DomainFlows, consent_id: str) -> dict[str, Any]:
    return referral_body(
        recipient=SHELTER, consent_ids=[consent_id], signing_key=flows.signing_key(NGO)
    )


async def send(flows: DomainFlows, body: dict[str, Any], **headers: str) -> httpx.Response:
    response: httpx.Response = await flows.post(NGO, "/v1/referrals", body, **headers)
    return response


async def logged(
    caplog: pytest.LogCaptureFixture, request: Awaitable[httpx.Response]
) -> tuple[httpx.Response, list[Any]]:
    """The response to `request` and the middleware's log records of it."""
    caplog.clear()
    response = await request
    return response, [r for r in caplog.records if r.name == "saferefer.access"]


def assert_unavailable(
    answer: tuple[httpx.Response, list[Any]], *, route: str, reason: str
) -> None:
    response, records = answer
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    assert response.headers["retry-after"] == "5"
    assert response.json()["type"] == "https://saferefer.org/problems/service-unavailable"
    warning, request = records
    assert warning.getMessage() == "database unavailable"
    assert warning.route == route
    assert warning.reason == reason
    assert "OperationalError" in warning.exception
    assert (request.getMessage(), request.route, request.status) == ("request", route, 503)


@pytest.mark.postgres
async def test_send_answers_503_while_postgresql_is_stopped(
    own_pg_cluster: PostgresCluster,
    tmp_path: Path,
    policy_engine: PolicyEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="saferefer.access")
    async with demo_flows(tmp_path, own_pg_cluster.url, policy_engine) as flows:
        body = referral(flows, (await flows.consent_for(NGO, SHELTER))["id"])
        await flows.node.auth(SHELTER)  # tokens are fetched while the database is there
        own_pg_cluster.stop()
        try:
            plain = await logged(caplog, send(flows, body))
            # With a key, the idempotency middleware needs the database before the router runs.
            keyed = await logged(caplog, send(flows, body, **{"Idempotency-Key": "k1"}))
            listing = await logged(caplog, flows.get(SHELTER, "/v1/referrals", box="inbox"))
        finally:
            own_pg_cluster.start()
        for answer in (plain, keyed, listing):
            assert_unavailable(
                answer, route="/v1/referrals", reason="cannot connect to the database"
            )
        assert "Idempotency-Key" in keyed[0].json()["detail"]
        assert "Idempotency-Key" not in listing[0].json()["detail"]

        retried = await send(flows, body, **{"Idempotency-Key": "k1"})
        assert retried.status_code == 201, retried.text


@pytest.fixture
def database_url(sqlite_database_url: str) -> str:
    return sqlite_database_url


async def test_request_answers_503_when_the_sqlite_file_cannot_be_opened(
    node: TestNode, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="saferefer.access")
    headers = await node.auth(NGO)
    database_dir = Path(database_url.removeprefix("sqlite+aiosqlite:///")).parent
    moved = database_dir.with_name("moved")
    database_dir.rename(moved)  # the volume went away
    await node.app.state.engine.dispose()  # pooled connections would still hold the old file
    try:
        answer = await logged(caplog, node.client.get("/v1/consents", headers=headers))
    finally:
        moved.rename(database_dir)
    assert_unavailable(answer, route="/v1/consents", reason="SQLITE_CANTOPEN")
    assert (await node.client.get("/v1/consents", headers=headers)).status_code == 200


async def test_access_log_names_the_route_of_a_replayed_response(
    node: TestNode, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="saferefer.access")
    flows = DomainFlows(node)
    body = referral(flows, (await flows.consent_for(NGO, SHELTER))["id"])
    key = {"Idempotency-Key": "replayed-1"}
    for replayed in (False, True):
        response, (request,) = await logged(caplog, send(flows, body, **key))
        assert ("idempotent-replayed" in response.headers) is replayed
        assert (request.route, request.status) == ("/v1/referrals", 201)


async def test_access_log_keeps_unmatched_for_a_path_no_route_serves(
    node: TestNode, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="saferefer.access")
    _, (missing,) = await logged(caplog, node.client.get("/v1/no-such-resource/123"))
    _, (wrong_method,) = await logged(caplog, node.client.put("/v1/referrals", json={}))
    assert (missing.route, missing.status) == ("<unmatched>", 404)
    assert (wrong_method.route, wrong_method.status) == ("/v1/referrals", 405)
