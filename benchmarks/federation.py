"""Cross-border delivery between two local nodes, against same-node delivery in the same run.

    .venv/bin/python benchmarks/federation.py [--latency-samples 50] [--referrals 200]
                                              [--concurrency 8] [--json results.json]

Two `saferefer-server serve` processes (Moldova, the Netherlands), each with its own SQLite
database, federate through a signed trust list. A Moldovan NGO sends referrals

* to a Dutch NGO — cross-border: egress policy, outbox, signed envelope, delivery worker, the
  Dutch node's signature checks, ingress policy and store. Latency is from the moment the client
  sends `POST /v1/referrals` to the moment the Dutch node has recorded the message
  (`federation_inbox.received_at`);
* to a Moldovan shelter on the same node — the baseline: the referral is in the recipient's
  inbox when `POST /v1/referrals` answers 201, so latency is that round trip.

Latency is measured one referral at a time (p50 / p99 / max); throughput with `--concurrency`
senders until `--referrals` referrals have reached their recipient. Consents are recorded before
the clock starts. Numbers depend on the machine; compare the two rows, which share everything but
the border.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from joserfc.jwk import ECKey
from saferefer_server.auth.keys import NodeKeyStore
from saferefer_server.db.session import build_engine, build_sessionmaker
from saferefer_server.federation.trustlist import node_entry, sign_trust_list, write_atomically
from saferefer_server.organisations import service as organisations
from saferefer_server.organisations.credentials import new_client_key
from saferefer_server.referrals.testing import consent_body, grant, referral_body
from saferefer_server.settings import Settings
from saferefer_server.testing import (
    TEST_PAYLOAD_KEY,
    OrgCredentials,
    fetch_token,
    free_port,
    migrated,
    server_command,
)

MD_NODE, NL_NODE = "urn:saferefer:node:MD:bench", "urn:saferefer:node:NL:bench"
MD_NGO, MD_SHELTER = "urn:saferefer:org:MD:bench-ngo", "urn:saferefer:org:MD:bench-shelter"
NL_NGO = "urn:saferefer:org:NL:bench-ngo"


@dataclass
class BenchNode:
    node_id: str
    root: Path
    trust_list: Path
    anchor: Path
    port: int = field(default_factory=free_port)
    credentials: dict[str, OrgCredentials] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    roles: dict[str, list[str]] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def country(self) -> str:
        return self.node_id.split(":")[3]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.root / self.country

    def settings(self) -> Settings:
        return Settings(
            data_dir=self.data_dir,
            node_id=self.node_id,
            country=self.country,
            base_url=self.base_url,
            payload_keys=TEST_PAYLOAD_KEY,
        )

    def public_keys(self) -> list[dict[str, Any]]:
        settings = self.settings()
        store = NodeKeyStore.open(
            settings.resolved_node_key_file, token_ttl_s=settings.access_token_ttl_s, create=True
        )
        keys: list[dict[str, Any]] = store.jwks()["keys"]
        return keys

    async def register(self, orgs: dict[str, list[str]]) -> None:
        settings = migrated(self.settings())
        engine = build_engine(settings)
        try:
            async with build_sessionmaker(engine)() as db_session:
                for org_id, roles in orgs.items():
                    private_jwk, jwks = new_client_key()
                    await organisations.register(
                        db_session=db_session,
                        org_id=org_id,
                        name=org_id.rsplit(":", 1)[-1],
                        country=self.country,
                        roles=roles,
                        node_id=self.node_id,
                        jwks=jwks,
                        nrm_contact_point=True,
                    )
                    self.credentials[org_id] = OrgCredentials(
                        org_id, private_jwk, self.node_id, self.base_url
                    )
                    self.roles[org_id] = roles
                await db_session.commit()
        finally:
            await engine.dispose()

    def start(self) -> None:
        env = {
            **os.environ,
            "SAFEREFER_NODE_ID": self.node_id,
            "SAFEREFER_COUNTRY": self.country,
            "SAFEREFER_BASE_URL": self.base_url,
            "SAFEREFER_DATA_DIR": str(self.data_dir),
            "SAFEREFER_PAYLOAD_KEYS": TEST_PAYLOAD_KEY,
            "SAFEREFER_LOG_LEVEL": "WARNING",
            "SAFEREFER_FEDERATION_TRUST_LIST": str(self.trust_list),
            "SAFEREFER_FEDERATION_TRUST_ANCHOR": str(self.anchor),
        }
        log = (self.data_dir / "server.log").open("ab")
        self.process = subprocess.Popen(
            [*server_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.node_id} exited; see {self.data_dir / 'server.log'}")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.node_id} not ready")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)

    def received_at(self, referral_ids: Sequence[str]) -> dict[str, datetime]:
        """When this node recorded each federation message about these referrals."""
        if not referral_ids:
            return {}
        marks = ",".join("?" * len(referral_ids))
        with sqlite3.connect(f"file:{self.data_dir / 'saferefer.db'}?mode=ro", uri=True) as db:
            rows = db.execute(
                f"SELECT referral_id, received_at FROM federation_inbox "
                f"WHERE message_type = 'referral.deliver' AND referral_id IN ({marks})",
                list(referral_ids),
            ).fetchall()
        return {row[0]: _parse_time(row[1]) for row in rows}


def _parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Sender:
    node: BenchNode
    client: httpx.AsyncClient

    async def headers(self, org_id: str) -> dict[str, str]:
        if org_id not in self.node.tokens:
            self.node.tokens[org_id] = await fetch_token(self.client, self.node.credentials[org_id])
        return {"Authorization": f"Bearer {self.node.tokens[org_id]}"}

    async def consents(self, recipient: str, count: int) -> list[str]:
        ids = []
        for _ in range(count):
            response = await self.client.post(
                "/v1/consents",
                json=consent_body(grants=[grant(org_id=recipient)]),
                headers=await self.headers(MD_NGO),
            )
            if response.status_code != 201:
                raise RuntimeError(f"consent refused: {response.status_code} {response.text}")
            ids.append(response.json()["id"])
        return ids

    async def send(self, recipient: str, consent_id: str) -> tuple[str, datetime, float]:
        """(referral id, when the request left, round-trip seconds)."""
        credentials = self.node.credentials[MD_NGO]
        body = referral_body(
            recipient=recipient,
            consent_ids=[consent_id],
            signing_key=(credentials.key, credentials.kid),
        )
        headers = await self.headers(MD_NGO)
        sent_at = datetime.now(UTC)
        started = time.perf_counter()
        response = await self.client.post("/v1/referrals", json=body, headers=headers)
        elapsed = time.perf_counter() - started
        if response.status_code != 201:
            raise RuntimeError(f"referral refused: {response.status_code} {response.text}")
        return response.json()["id"], sent_at, elapsed


async def wait_until_received(
    node: BenchNode, referral_ids: Sequence[str], timeout_s: float = 300.0
) -> dict[str, datetime]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        seen = node.received_at(referral_ids)
        if len(seen) == len(referral_ids):
            return seen
        await asyncio.sleep(0.002)
    raise TimeoutError(f"{len(referral_ids) - len(node.received_at(referral_ids))} never arrived")


async def run_concurrently(
    jobs: Sequence[Callable[[], Awaitable[Any]]], concurrency: int
) -> list[Any]:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(jobs)):
        queue.put_nowait(index)
    results: list[Any] = [None] * len(jobs)

    async def worker() -> None:
        while not queue.empty():
            index = queue.get_nowait()
            results[index] = await jobs[index]()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


async def measure(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    authority = ECKey.generate_key("P-256", auto_kid=True, private=True)
    trust_list, anchor = root / "trust-list.json", root / "anchor.jwks"
    anchor.write_text(json.dumps({"keys": [authority.as_dict(private=False)]}))
    md = BenchNode(MD_NODE, root, trust_list, anchor)
    nl = BenchNode(NL_NODE, root, trust_list, anchor)
    for node in (md, nl):
        node.data_dir.mkdir(parents=True)
    await md.register({MD_NGO: ["ngo_service_provider"], MD_SHELTER: ["shelter"]})
    await nl.register({NL_NGO: ["ngo_service_provider"]})
    now = datetime.now(UTC)
    write_atomically(
        trust_list,
        sign_trust_list(
            nodes=[
                node_entry(
                    node_id=node.node_id,
                    base_url=node.base_url,
                    public_keys=node.public_keys(),
                    valid_from=now - timedelta(minutes=1),
                    valid_until=now + timedelta(days=1),
                    contact_points=[
                        {"org_id": org_id, "name": org_id.rsplit(":", 1)[-1], "roles": roles}
                        for org_id, roles in node.roles.items()
                    ],
                )
                for node in (md, nl)
            ],
            authority_key=authority,
            sequence=1,
            issuer="benchmark authority",
        ),
    )
    md.start()
    nl.start()
    try:
        async with httpx.AsyncClient(base_url=md.base_url, timeout=60) as client:
            sender = Sender(md, client)
            samples, total, concurrency = args.latency_samples, args.referrals, args.concurrency
            local_consents = await sender.consents(MD_SHELTER, samples + total)
            remote_consents = await sender.consents(NL_NGO, samples + total)

            # Latency, one at a time (alternating, so both see the same machine state).
            local_latency, remote_latency = [], []
            for index in range(samples):
                _, _, elapsed = await sender.send(MD_SHELTER, local_consents[index])
                local_latency.append(elapsed)
                referral_id, sent_at, _ = await sender.send(NL_NGO, remote_consents[index])
                arrived = await wait_until_received(nl, [referral_id])
                remote_latency.append((arrived[referral_id] - sent_at).total_seconds())

            # Throughput with `concurrency` senders.
            started = time.perf_counter()
            await run_concurrently(
                [
                    (lambda c=c: sender.send(MD_SHELTER, c))  # type: ignore[misc]
                    for c in local_consents[samples:]
                ],
                concurrency,
            )
            local_seconds = time.perf_counter() - started

            first_sent = datetime.now(UTC)
            sent = await run_concurrently(
                [
                    (lambda c=c: sender.send(NL_NGO, c))  # type: ignore[misc]
                    for c in remote_consents[samples:]
                ],
                concurrency,
            )
            arrivals = await wait_until_received(nl, [item[0] for item in sent])
            remote_seconds = (max(arrivals.values()) - first_sent).total_seconds()
    finally:
        md.stop()
        nl.stop()

    def row(latency: list[float], seconds: float) -> dict[str, float]:
        return {
            "latency_p50_ms": round(statistics.median(latency) * 1000, 2),
            "latency_p99_ms": round(percentile(latency, 0.99) * 1000, 2),
            "latency_max_ms": round(max(latency) * 1000, 2),
            "throughput_per_s": round(total / seconds, 1),
        }

    return {
        "latency_samples": samples,
        "referrals": total,
        "concurrency": concurrency,
        "same_node": row(local_latency, local_seconds),
        "cross_border": row(remote_latency, remote_seconds),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--latency-samples", type=int, default=50)
    parser.add_argument("--referrals", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="saferefer-bench-federation-") as tmp:
        results = asyncio.run(measure(args, Path(tmp)))
    print("| delivery | p50 ms | p99 ms | max ms | referrals/s |")
    print("|---|---:|---:|---:|---:|")
    for name in ("same_node", "cross_border"):
        r = results[name]
        print(
            f"| {name.replace('_', '-')} | {r['latency_p50_ms']} | {r['latency_p99_ms']} "
            f"| {r['latency_max_ms']} | {r['throughput_per_s']} |"
        )
    print(
        f"\n{results['latency_samples']} latency samples each; throughput over "
        f"{results['referrals']} referrals with {results['concurrency']} concurrent senders."
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
