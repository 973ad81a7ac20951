"""Start federated SafeRefer nodes on this machine, the way an operator would.

Each node is `saferefer-server serve` with its own data directory (SQLite database, node keys) and
the `SAFEREFER_FEDERATION_*` settings pointing at a shared trust list. The trust-list authority is
played by this script: it creates its key, collects every node's public keys from `/jwks.json`,
and signs the list the nodes load.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from saferefer_server.db.migrate import upgrade
from saferefer_server.db.session import build_engine, build_sessionmaker
from saferefer_server.federation.trustlist import (
    new_authority_key_files,
    node_entry,
    sign_trust_list_file,
)
from saferefer_server.organisations import service as organisations
from saferefer_server.organisations.credentials import (
    credentials_document,
    new_client_key,
    write_credentials,
)
from saferefer_server.settings import Settings

SERVER = [str(Path(sys.executable).with_name("saferefer-server"))]
PAYLOAD_KEY = "example-1:" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="  # example only


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Node:
    node_id: str
    root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    # Organisations registered on this node, which it names as cross-border contact points.
    contact_points: list[dict[str, object]] = field(default_factory=list)

    @property
    def country(self) -> str:
        return self.node_id.split(":")[3]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.root / self.country

    def env(self, federation: Federation) -> dict[str, str]:
        return {
            **os.environ,
            "SAFEREFER_NODE_ID": self.node_id,
            "SAFEREFER_COUNTRY": self.country,
            "SAFEREFER_BASE_URL": self.base_url,
            "SAFEREFER_DATA_DIR": str(self.data_dir),
            "SAFEREFER_PAYLOAD_KEYS": PAYLOAD_KEY,
            "SAFEREFER_LOG_LEVEL": "WARNING",
            "SAFEREFER_FEDERATION_TRUST_LIST": str(federation.trust_list),
            "SAFEREFER_FEDERATION_TRUST_ANCHOR": str(federation.anchor),
            "SAFEREFER_FEDERATION_POLL_INTERVAL_S": "0.5",
            "SAFEREFER_FEDERATION_RETRY_BASE_S": "0.2",
            "SAFEREFER_FEDERATION_RETRY_CAP_S": "2",
            "SAFEREFER_FEDERATION_WORKER_POLL_S": "0.2",
        }

    def add_org(self, federation: Federation, org_id: str, name: str, roles: str) -> Path:
        """Register a cross-border contact point of this node's mechanism (R24) and write its
        credentials file, as `saferefer-server org add` does."""
        return asyncio.run(self._register(org_id, name, roles.split(",")))

    async def _register(self, org_id: str, name: str, roles: list[str]) -> Path:
        settings = Settings(
            data_dir=self.data_dir,
            node_id=self.node_id,
            country=self.country,
            base_url=self.base_url,
            payload_keys=PAYLOAD_KEY,  # type: ignore[arg-type]
        )
        upgrade(settings)
        engine = build_engine(settings)
        private_jwk, jwks = new_client_key()
        try:
            async with build_sessionmaker(engine)() as db_session:
                await organisations.register(
                    db_session=db_session,
                    org_id=org_id,
                    name=name,
                    country=self.country,
                    roles=roles,
                    node_id=self.node_id,
                    jwks=jwks,
                    nrm_contact_point=True,
                )
                await db_session.commit()
        finally:
            await engine.dispose()
        self.contact_points.append({"org_id": org_id, "name": name, "roles": roles})
        document = credentials_document(
            base_url=self.base_url, node_id=self.node_id, org_id=org_id, private_jwk=private_jwk
        )
        return write_credentials(self.root / "credentials", document)

    def start(self, federation: Federation) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / "server.log").open("ab")
        self.process = subprocess.Popen(
            [*SERVER, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env(federation),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.node_id} did not start; see {self.data_dir}/server.log")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.node_id} not ready; see {self.data_dir}/server.log")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)

    def trust_list_sequence(self) -> int | None:
        response = httpx.get(f"{self.base_url}/federation/v1/trust-list", timeout=5)
        if response.status_code != 200:
            return None
        sequence: int = response.json()["sequence_number"]
        return sequence


@dataclass
class Federation:
    root: Path
    nodes: list[Node] = field(default_factory=list)

    @property
    def trust_list(self) -> Path:
        return self.root / "trust-list.json"

    @property
    def anchor(self) -> Path:
        return self.root / "authority" / "anchor.jwks"

    @property
    def authority_key(self) -> Path:
        return self.root / "authority" / "authority.jwk"

    def create_authority(self) -> None:
        new_authority_key_files(private_out=self.authority_key, public_out=self.anchor)

    def publish_trust_list(self, sequence: int = 1) -> None:
        """Collect each running node's /jwks.json and sign the list that names them all."""
        now = datetime.now(UTC)
        entries = [
            node_entry(
                node_id=node.node_id,
                base_url=node.base_url,
                public_keys=httpx.get(f"{node.base_url}/jwks.json", timeout=5).json()["keys"],
                valid_from=now - timedelta(minutes=1),
                valid_until=now + timedelta(days=365),
                contact_points=node.contact_points,
            )
            for node in self.nodes
        ]
        nodes_file = self.root / "authority" / "nodes.json"
        nodes_file.write_text(json.dumps(entries, indent=2))
        sign_trust_list_file(
            nodes_file=nodes_file,
            authority_key_file=self.authority_key,
            out_file=self.trust_list,
            sequence=sequence,
            issuer="Example TRM trust-list authority",
        )
        deadline = time.monotonic() + 30
        while any(node.trust_list_sequence() != sequence for node in self.nodes):
            if time.monotonic() > deadline:
                raise TimeoutError("nodes did not load the trust list")
            time.sleep(0.2)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
