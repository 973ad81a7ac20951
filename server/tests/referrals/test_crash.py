"""`kill -9` of the server during a stream of submissions: every acknowledged referral survives
with its audit entry and event, and nothing half-written is left (a real subprocess)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from saferefer_server.referrals.testing import consent_body, grant, referral_body
from saferefer_server.testing import (
    OrgCredentials,
    client_assertion,
    running_server_process,
    token_form,
)

NGO = "urn:saferefer:org:NL:demo-ngo"
SHELTER = "urn:saferefer:org:NL:demo-shelter"
NODE = "urn:saferefer:node:NL:demo"
ACKNOWLEDGED_BEFORE_KILL = 12


async def token(client: httpx.AsyncClient, credentials: OrgCredentials) -> dict[str, str]:
    assertion = client_assertion(credentials, audience=NODE)
    response = await client.post("/oauth/token", data=token_form(assertion))
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def pages(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": 200, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(path, params=query, headers=headers)).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


# About 15-25 s per backend (two server starts and a seed); both run by default: an acknowledged
# write surviving kill -9 is a must on either database.
@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
async def test_kill_9_loses_no_acknowledged_referral(database_url: str, tmp_path: Path) -> None:
    env = {
        "SAFEREFER_DATA_DIR": str(tmp_path / "node"),
        "SAFEREFER_DATABASE_URL": database_url,
        "SAFEREFER_NODE_ID": NODE,
    }
    credentials_dir = tmp_path / "credentials"
    seeded = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "saferefer_server.cli",
            "seed-demo",
            "--credentials-dir",
            str(credentials_dir),
        ],
        env={**os.environ, **env},
        capture_output=True,
        timeout=120,
    )
    assert seeded.returncode == 0, seeded.stderr
    ngo = OrgCredentials.from_file(credentials_dir / "NL-demo-ngo.json")
    shelter = OrgCredentials.from_file(credentials_dir / "NL-demo-shelter.json")

    acknowledged: list[str] = []
    with running_server_process(env) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            auth = await token(client, ngo)
            consent = await client.post(
                "/v1/consents", json=consent_body(grants=[grant(org_id=SHELTER)]), headers=auth
            )
            assert consent.status_code == 201, consent.text
            consent_id = consent.json()["id"]
            killed = asyncio.Event()

            async def submit_forever() -> None:
                while not killed.is_set():
                    body = referral_body(
                        recipient=SHELTER,
                        consent_ids=[consent_id],
                        signing_key=(ngo.key, ngo.kid),
                    )
                    try:
                        response = await client.post("/v1/referrals", json=body, headers=auth)
                    except httpx.HTTPError:
                        return  # the server died under this request: not acknowledged
                    if response.status_code == 201:
                        acknowledged.append(response.json()["id"])

            async def kill_when_enough() -> None:
                while len(acknowledged) < ACKNOWLEDGED_BEFORE_KILL:
                    await asyncio.sleep(0.01)
                os.killpg(server.process.pid, signal.SIGKILL)
                killed.set()

            await asyncio.gather(kill_when_enough(), *(submit_forever() for _ in range(4)))
            server.process.wait(timeout=10)

    assert len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL
    with running_server_process(env) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            ngo_auth = await token(client, ngo)
            shelter_auth = await token(client, shelter)
            stored = await pages(client, "/v1/referrals", ngo_auth, box="outbox")
            stored_ids = {r["id"] for r in stored}
            assert set(acknowledged) <= stored_ids
            # Nothing half-written: every stored referral has its audit entry and its event.
            events = (
                await client.get("/v1/events", params={"limit": 500}, headers=shelter_auth)
            ).json()["items"]
            assert sorted(e["subject"] for e in events) == sorted(stored_ids)
            assert [int(e["sequence"]) for e in events] == list(range(1, len(events) + 1))
            audit = await pages(client, "/v1/audit", ngo_auth)
            created = {e["object_id"] for e in audit if e["action"] == "referral.created"}
            assert created == stored_ids
            verify = (await client.get("/v1/audit/verify", headers=ngo_auth)).json()
            assert verify["valid"] is True, verify
            for referral in stored[:3]:
                read = await client.get(f"/v1/referrals/{referral['id']}", headers=shelter_auth)
                assert read.status_code == 200
                assert set(read.json()["payload"]) == {"identity", "contact"}
