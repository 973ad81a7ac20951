"""Real federated nodes: `saferefer-server serve` processes on loopback, one SQLite each.

A `ProcessFederation` owns a trust-list authority and a directory per node. Each node's data
directory, node key file and port are fixed before it first starts, so the trust list can name
it, and a node can be stopped (SIGTERM), killed (SIGKILL) and started again on the same URL with
the same database — which is what the store-and-forward tests need.
"""

# Fixed argv of the project's own server binary, no shell.

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Mapping
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
from saferefer_server.settings import Settings
from saferefer_server.testing import (
    TEST_PAYLOAD_KEY,
    OrgCredentials,
    fetch_token,
    free_port,
    migrated,
    server_command,
)

from .factories import public

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
FAR_AHEAD = datetime(2099, 1, 1, tzinfo=UTC)
# Fast retries so a test sees a peer come back within seconds.
FAST_FEDERATION = {
    "SAFEREFER_FEDERATION_POLL_INTERVAL_S": "0.5",
    "SAFEREFER_FEDERATION_RETRY_BASE_S": "0.2",
    "SAFEREFER_FEDERATION_RETRY_CAP_S": "1.0",
    "SAFEREFER_FEDERATION_WORKER_POLL_S": "0.2",
    "SAFEREFER_FEDERATION_LEASE_S": "3",
}


@dataclass
class ProcessNode:
    node_id: str
    data_dir: Path
    port: int
    env: dict[str, str]
    credentials: dict[str, OrgCredentials] = field(default_factory=dict)
    roles: dict[str, list[str]] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    _tokens: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def country(self) -> str:
        return self.node_id.split(":")[3]

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    @property
    def database(self) -> Path:
        return self.data_dir / "saferefer.db"

    def settings(self) -> Settings:
        return Settings(
            data_dir=self.data_dir,
            node_id=self.node_id,
            country=self.country,
            base_url=self.base_url,
            payload_keys=TEST_PAYLOAD_KEY,
        )

    def node_keys(self) -> NodeKeyStore:
        settings = self.settings()
        return NodeKeyStore.open(
            settings.resolved_node_key_file, token_ttl_s=settings.access_token_ttl_s, create=True
        )

    def start(self, *, timeout_s: float = 60.0) -> None:
        assert self.process is None or self.process.poll() is not None
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*server_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.node_id} exited:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.node_id} not ready:\n{self.log_tail()}")

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """`kill -9`: no shutdown handler runs, in-flight work is simply gone."""
        self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signum)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=20)
        self._tokens.clear()

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read this node's database directly (read-only), whatever its process is doing."""
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=15) as conn:
            return list(conn.execute(sql, params).fetchall())

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=30.0)

    async def auth(self, org_id: str) -> dict[str, str]:
        if org_id not in self._tokens:
            async with self.client() as client:
                self._tokens[org_id] = await fetch_token(client, self.credentials[org_id])
        return {"Authorization": f"Bearer {self._tokens[org_id]}"}

    async def post(self, org_id: str, path: str, body: Any) -> httpx.Response:
        async with self.client() as client:
            return await client.post(path, json=body, headers=await self.auth(org_id))

    async def get(self, org_id: str, path: str, **params: Any) -> httpx.Response:
        async with self.client() as client:
            return await client.get(path, params=params, headers=await self.auth(org_id))


@dataclass
class ProcessFederation:
    root: Path
    authority: ECKey = field(
        default_factory=lambda: ECKey.generate_key("P-256", auto_kid=True, private=True)
    )
    nodes: dict[str, ProcessNode] = field(default_factory=dict)
    sequence: int = 0

    @property
    def trust_list_path(self) -> Path:
        return self.root / "trust-list.json"

    @property
    def anchor_path(self) -> Path:
        return self.root / "anchor.jwks"

    async def add_node(
        self, node_id: str, orgs: Mapping[str, list[str]], **env: str
    ) -> ProcessNode:
        country = node_id.split(":")[3]
        data_dir = self.root / country
        data_dir.mkdir(parents=True)
        port = free_port()
        node = ProcessNode(
            node_id=node_id,
            data_dir=data_dir,
            port=port,
            env={
                "SAFEREFER_NODE_ID": node_id,
                "SAFEREFER_COUNTRY": country,
                "SAFEREFER_DATA_DIR": str(data_dir),
                "SAFEREFER_BASE_URL": f"http://127.0.0.1:{port}",
                "SAFEREFER_DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'saferefer.db'}",
                "SAFEREFER_PAYLOAD_KEYS": TEST_PAYLOAD_KEY,
                "SAFEREFER_FEDERATION_TRUST_LIST": str(self.trust_list_path),
                "SAFEREFER_FEDERATION_TRUST_ANCHOR": str(self.anchor_path),
                **FAST_FEDERATION,
                **env,
            },
        )
        node.node_keys()  # create the key file now, so the trust list can name its key
        settings = migrated(node.settings())
        engine = build_engine(settings)
        try:
            async with build_sessionmaker(engine)() as db_session:
                for org_id, roles in orgs.items():
                    private_jwk, jwks = new_client_key()
                    await organisations.register(
                        db_session=db_session,
                        org_id=org_id,
                        name=org_id.rsplit(":", 1)[-1],
                        country=org_id.split(":")[3],
                        roles=roles,
                        node_id=node_id,
                        jwks=jwks,
                        nrm_contact_point=True,  # named as a contact point in the trust list
                    )
                    node.credentials[org_id] = OrgCredentials(
                        org_id, private_jwk, node_id, node.base_url
                    )
                    node.roles[org_id] = roles
                await db_session.commit()
        finally:
            await engine.dispose()
        self.nodes[node_id] = node
        return node

    def entry(self, node: ProcessNode, **overrides: Any) -> dict[str, Any]:
        """The node's peer entry; every organisation it hosts is a cross-border contact point."""
        document = node_entry(
            node_id=node.node_id,
            base_url=node.base_url,
            public_keys=node.node_keys().jwks()["keys"],
            valid_from=LONG_AGO,
            valid_until=FAR_AHEAD,
            contact_points=[
                {"org_id": org_id, "name": org_id.rsplit(":", 1)[-1], "roles": roles}
                for org_id, roles in node.roles.items()
            ],
        )
        document.update(overrides)
        return document

    def publish(self, entries: list[dict[str, Any]] | None = None) -> None:
        """Sign and publish a new trust list (every node by default); nodes poll for it."""
        self.sequence += 1
        text = sign_trust_list(
            nodes=entries if entries is not None else [self.entry(n) for n in self.nodes.values()],
            authority_key=self.authority,
            sequence=self.sequence,
            issuer="test trust-list authority",
            valid_for=timedelta(days=1),
        )
        write_atomically(self.trust_list_path, text)

    def start(self) -> None:
        self.anchor_path.write_text(json.dumps({"keys": [public(self.authority)]}))
        self.publish()
        for node in self.nodes.values():
            node.start()

    def stop(self) -> None:
        for node in self.nodes.values():
            node.stop()


async def eventually(
    check: Any, *, timeout_s: float = 30.0, interval_s: float = 0.2, what: str = "condition"
) -> Any:
    """Poll `check()` (sync or async) until it returns a truthy value; that value."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what} (last: {last!r})")
