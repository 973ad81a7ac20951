"""Two server processes on one PostgreSQL behave as one node: no state lives in a process.

Tokens, client-assertion replay protection and Idempotency-Key records are all in the database,
so a client balanced across workers sees exactly what it would see from one.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
from saferefer_server.testing import (
    TEST_PAYLOAD_KEY,
    OrgCredentials,
    PostgresCluster,
    RunningServer,
    client_assertion,
    running_server_process,
    server_command,
    token_form,
)

pytestmark = pytest.mark.postgres

NGO = "urn:saferefer:org:NL:demo-ngo"
SUBSCRIPTION = {
    "url": "https://hooks.example.org/saferefer",
    "event_types": ["org.saferefer.referral.received"],
}


@pytest.fixture(scope="module")
def two_workers(
    pg_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningServer, RunningServer, OrgCredentials]]:
    root = tmp_path_factory.mktemp("two-workers")
    env = {
        "SAFEREFER_DATABASE_URL": pg_cluster.create_database("two_workers"),
        "SAFEREFER_DATA_DIR": str(root / "data"),
        "SAFEREFER_PAYLOAD_KEYS": TEST_PAYLOAD_KEY,
    }
    credentials_dir = root / "credentials"
    subprocess.run(
        [*server_command(), "seed-demo", "--credentials-dir", str(credentials_dir)],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    ngo = OrgCredentials.from_file(credentials_dir / "NL-demo-ngo.json")
    with running_server_process(env) as first, running_server_process(env) as second:
        yield first, second, ngo


def node_audience_assertion(credentials: OrgCredentials) -> str:
    return client_assertion(credentials, audience=credentials.node_id)


def test_token_from_one_worker_works_on_the_other(
    two_workers: tuple[RunningServer, RunningServer, OrgCredentials],
) -> None:
    first, second, ngo = two_workers
    response = httpx.post(
        f"{first.base_url}/oauth/token", data=token_form(node_audience_assertion(ngo))
    )
    assert response.status_code == 200
    token = response.json()["access_token"]
    listed = httpx.get(
        f"{second.base_url}/v1/organisations", headers={"Authorization": f"Bearer {token}"}
    )
    assert listed.status_code == 200
    assert len(listed.json()["items"]) == 11


def test_assertion_replayed_on_the_other_worker_is_rejected(
    two_workers: tuple[RunningServer, RunningServer, OrgCredentials],
) -> None:
    first, second, ngo = two_workers
    assertion = node_audience_assertion(ngo)
    assert (
        httpx.post(f"{first.base_url}/oauth/token", data=token_form(assertion)).status_code == 200
    )
    replay = httpx.post(f"{second.base_url}/oauth/token", data=token_form(assertion))
    assert replay.status_code == 401
    assert "replay" in replay.json()["detail"]


def test_idempotent_post_replays_across_workers(
    two_workers: tuple[RunningServer, RunningServer, OrgCredentials],
) -> None:
    first, second, ngo = two_workers
    token = httpx.post(
        f"{first.base_url}/oauth/token", data=token_form(node_audience_assertion(ngo))
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "cross-worker-1"}
    created = httpx.post(f"{first.base_url}/v1/subscriptions", json=SUBSCRIPTION, headers=headers)
    assert created.status_code == 201, created.text
    replayed = httpx.post(f"{second.base_url}/v1/subscriptions", json=SUBSCRIPTION, headers=headers)
    assert replayed.status_code == 201
    assert replayed.json() == created.json()
    assert replayed.headers["idempotent-replayed"] == "true"
    other_body = {**SUBSCRIPTION, "description": "different"}
    reused = httpx.post(f"{second.base_url}/v1/subscriptions", json=other_body, headers=headers)
    assert reused.status_code == 422
    assert reused.json()["type"] == "https://saferefer.org/problems/idempotency-key-reuse"


async def test_concurrent_duplicates_on_both_workers_create_one(
    two_workers: tuple[RunningServer, RunningServer, OrgCredentials],
) -> None:
    first, second, ngo = two_workers
    async with httpx.AsyncClient(timeout=30) as client:
        token = (
            await client.post(
                f"{first.base_url}/oauth/token", data=token_form(node_audience_assertion(ngo))
            )
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        before = await _subscription_ids(client, first.base_url, auth)
        headers = {**auth, "Idempotency-Key": "cross-worker-race"}
        body = {**SUBSCRIPTION, "description": "race"}
        responses = await asyncio.gather(
            *(
                client.post(f"{server.base_url}/v1/subscriptions", json=body, headers=headers)
                for server in [first, second] * 8
            )
        )
        after = await _subscription_ids(client, second.base_url, auth)
    assert {r.status_code for r in responses} == {201}, [
        r.text for r in responses if r.status_code != 201
    ]
    assert len({r.json()["id"] for r in responses}) == 1
    assert len(after - before) == 1


async def _subscription_ids(
    client: httpx.AsyncClient, base_url: str, auth: dict[str, str]
) -> set[str]:
    response = await client.get(f"{base_url}/v1/subscriptions", params={"limit": 200}, headers=auth)
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


def test_logs_of_both_workers_are_json_with_request_ids(
    two_workers: tuple[RunningServer, RunningServer, OrgCredentials],
) -> None:
    first, second, _ = two_workers
    httpx.get(f"{first.base_url}/healthz", headers={"X-Request-ID": "trace-both-workers-1"})
    httpx.get(f"{second.base_url}/healthz", headers={"X-Request-ID": "trace-both-workers-2"})
    for server, request_id in ((first, "trace-both-workers-1"), (second, "trace-both-workers-2")):
        assert _access_logged(server, request_id)


def _access_logged(server: RunningServer, request_id: str, within_s: float = 10.0) -> bool:
    """The worker's JSON access-log entry for `request_id` appears. It is written once the
    response has gone out, so the client may see the answer a moment before the log line."""
    deadline = time.monotonic() + within_s
    while True:
        entries = [json.loads(line) for line in server.log_lines() if line.strip()]
        if any(e.get("request_id") == request_id and e["event"] == "request" for e in entries):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
