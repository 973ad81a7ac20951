"""`/healthz`, `/readyz` and `/metrics`."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
from saferefer_server.core import metrics
from saferefer_server.main import create_app
from saferefer_server.policy import OpaProcess, PolicyDecision
from saferefer_server.testing import (
    PostgresCluster,
    TestNode,
    asgi_client,
    assert_matches_schema,
    migrated,
    node_settings,
    started,
)


class UnhealthyEngine:
    """A policy engine whose backend is down: decides fail-closed, reports unhealthy."""

    name = "unhealthy"

    async def decide(self, policy_input: Any) -> PolicyDecision:
        raise AssertionError("not used by these tests")

    async def check_health(self) -> bool:
        return False

    async def aclose(self) -> None:
        return None


async def test_healthz_answers(node: TestNode) -> None:
    response = await node.client.get("/healthz")
    assert response.status_code == 200
    assert_matches_schema(response.json(), "health.schema.json")


async def test_readyz_reports_each_check(node: TestNode) -> None:
    response = await node.client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert_matches_schema(body, "health.schema.json")
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["policy_engine"]["status"] == "ok"


async def test_readyz_unavailable_when_policy_engine_down(tmp_path: Path) -> None:
    app = create_app(migrated(node_settings(tmp_path)), policy_engine=UnhealthyEngine())  # type: ignore[arg-type]
    async with started(app), asgi_client(app) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["retry-after"]
    body = response.json()
    assert_matches_schema(body, "health.schema.json")
    assert body["checks"]["policy_engine"]["status"] == "unavailable"
    assert body["checks"]["database"]["status"] == "ok"


async def test_readyz_unavailable_while_postgres_is_down_then_recovers(
    pg_cluster: PostgresCluster, tmp_path: Path, policy_engine: Any
) -> None:
    url = pg_cluster.create_database("readyz_down")
    app = create_app(migrated(node_settings(tmp_path, url)), policy_engine=policy_engine)
    async with started(app), asgi_client(app) as client:
        assert (await client.get("/readyz")).status_code == 200
        pg_cluster.stop()
        try:
            response = await client.get("/readyz")
            assert response.status_code == 503
            assert response.json()["checks"]["database"]["status"] == "unavailable"
            assert response.json()["checks"]["policy_engine"]["status"] == "ok"
            assert (await client.get("/healthz")).status_code == 200
        finally:
            pg_cluster.start()
        assert (await client.get("/readyz")).status_code == 200


async def test_metrics_count_requests_by_route_and_status(node: TestNode) -> None:
    await node.client.get("/v1/organisations/urn:saferefer:org:NL:demo-ngo")
    text = (await node.client.get("/metrics")).text
    assert (
        'saferefer_http_requests_total{method="GET",route="/v1/organisations/{org_id}",status="401"}'
        in text
    )
    assert 'saferefer_http_request_duration_seconds_bucket{le="0.005",method="GET"' in text


async def test_metrics_expose_decisions_and_outbox_depth(node: TestNode) -> None:
    metrics.record_decision(False, ["r7_purpose_not_consented", "r7_purpose_not_consented"])
    metrics.record_decision(True, [])
    previous = metrics.current().outbox_probe

    async def depth(db_session: Any) -> int:
        return 7

    metrics.register_outbox_depth(depth)
    try:
        text = (await node.client.get("/metrics")).text
    finally:
        metrics.current().outbox_probe = previous
    assert 'saferefer_policy_decisions_total{outcome="deny"}' in text
    assert 'saferefer_policy_decisions_total{outcome="allow"}' in text
    assert 'saferefer_policy_violations_total{code="r7_purpose_not_consented"}' in text
    assert "saferefer_outbox_depth 7.0" in text


async def test_registered_gauge_is_scraped_with_labels(node: TestNode) -> None:
    async def by_status(db_session: Any) -> dict[tuple[str, ...], float]:
        return {("pending",): 3, ("dead",): 1}

    metrics.register_gauge("saferefer_test_depth", "test gauge", by_status, ("status",))
    text = (await node.client.get("/metrics")).text
    assert 'saferefer_test_depth{status="pending"} 3.0' in text
    assert 'saferefer_test_depth{status="dead"} 1.0' in text


async def _ready_within(client: httpx.AsyncClient, seconds: float) -> bool:
    """Whether /readyz turns ok within `seconds` (the first probe starts the policy upload)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if (await client.get("/readyz")).status_code == 200:
            return True
        await asyncio.sleep(0.2)
    return False


async def test_readyz_with_opa_that_requires_the_configured_token(tmp_path: Path) -> None:
    token = "opa-token-of-this-node"
    with OpaProcess(token=token) as opa:
        ready = {}
        for name, configured in (("with_token", token), ("without_token", None)):
            settings = node_settings(
                tmp_path / name, policy_engine="opa", opa_url=opa.url, opa_token=configured
            )
            app = create_app(migrated(settings))
            async with started(app), asgi_client(app) as client:
                ready[name] = await _ready_within(client, 30 if configured else 3)
    assert ready == {"with_token": True, "without_token": False}
