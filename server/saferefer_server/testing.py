"""Test support for everyone who tests against a SafeRefer node (this repo's tests, examples,
the conformance suite's self-tests).

* `postgres_cluster()` / `postgres_server()` — a throw-away PostgreSQL from Debian's binaries.
* `node_settings(...)`, `migrated(settings)`, `started(app)` — an in-process app, fresh database.
* `register_test_org(...)`, `seed_demo(...)`, `client_assertion(...)`, `fetch_token(...)` — the
  directory and real OAuth tokens (private_key_jwt through `POST /oauth/token`).
* `running_server(env)` — `saferefer-server serve` as a subprocess on a free port;
  `demo_server(root)` — the same after `seed-demo`, with the demo credentials files.
"""

# Every subprocess here runs a fixed argv of PostgreSQL / saferefer-server binaries, no shell.
# ruff: noqa: S603

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from fastapi import FastAPI
from joserfc import jwt
from joserfc.jwk import ECKey
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from saferefer._resources import spec_dir

from saferefer_server.db.migrate import upgrade
from saferefer_server.organisations import service as organisations
from saferefer_server.organisations.credentials import (
    credentials_document,
    credentials_file_name,
    new_client_key,
)
from saferefer_server.organisations.demo import seed_demo_directory
from saferefer_server.settings import Settings

PG_VERSION_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
SCHEMA_BASE = "https://saferefer.org/spec/v0.1/schemas/"
TEST_PAYLOAD_KEY = "test-1:" + "A" * 43 + "="  # 32 zero-ish bytes; tests only


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- Spec conformance -------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _schema_registry() -> Registry[Any]:
    resources = []
    for path in sorted((spec_dir() / "schemas").glob("*.schema.json")):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


def assert_matches_schema(document: Any, schema_file: str) -> None:
    """Fail with every violation if `document` does not match spec/schemas/`schema_file`."""
    registry = _schema_registry()
    schema = registry[SCHEMA_BASE + schema_file].contents
    validator = Draft202012Validator(schema, registry=registry, format_checker=FormatChecker())
    errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(document)]
    assert not errors, f"{schema_file}: " + "; ".join(errors)


# --- PostgreSQL -------------------------------------------------------------------------------


def _pg_bin(name: str) -> str:
    for bin_dir in PG_VERSION_DIRS:
        if (bin_dir / name).exists():
            return str(bin_dir / name)
    raise RuntimeError(
        "PostgreSQL server binaries not found under /usr/lib/postgresql (run make bootstrap)"
    )


def _as_postgres(*argv: str) -> list[str]:
    # initdb and postgres refuse to run as root; drop to the `postgres` system user.
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else list(argv)


@dataclass
class PostgresCluster:
    """A PostgreSQL cluster in a temporary directory, listening on one loopback port."""

    root: Path
    port: int
    database: str = "saferefer"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return self.database_url(self.database)

    def database_url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def libpq_dsn(self, database: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c synchronous_commit=off "
            "-c max_connections=300"
        )
        subprocess.run(
            _as_postgres(
                _pg_bin("pg_ctl"),
                "-D",
                str(self.data_dir),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "-l",
                str(self.root / "server.log"),
                "start",
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        subprocess.run(
            _as_postgres(_pg_bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"),
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create database `name` (optionally a copy of `template`); its SQLAlchemy URL."""
        statement = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
        with psycopg.connect(self.libpq_dsn(), autocommit=True) as conn:
            conn.execute(statement.encode())
        return self.database_url(name)


@contextlib.contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    """Start a PostgreSQL cluster with an empty `saferefer` database; remove it all on exit."""
    root = Path(tempfile.mkdtemp(prefix="saferefer-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    root.chmod(0o700)
    cluster = PostgresCluster(root=root, port=free_port())
    try:
        subprocess.run(
            _as_postgres(
                _pg_bin("initdb"),
                "-D",
                str(cluster.data_dir),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        cluster.start()
        cluster.create_database(cluster.database)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """`postgres_cluster()`, yielding only the SQLAlchemy URL of its `saferefer` database."""
    with postgres_cluster() as cluster:
        yield cluster.url


# --- In-process apps --------------------------------------------------------------------------


def node_settings(data_dir: Path, database_url: str | None = None, **overrides: Any) -> Settings:
    """Development settings for a test node whose files live in `data_dir`."""
    values: dict[str, Any] = {"data_dir": data_dir, "payload_keys": TEST_PAYLOAD_KEY}
    if database_url:
        values["database_url"] = database_url
    values.update(overrides)
    return Settings(**values)


def migrated(settings: Settings) -> Settings:
    """Run every migration head against the settings' database; returns the settings."""
    upgrade(settings)
    return settings


@contextlib.asynccontextmanager
async def started(app: FastAPI) -> AsyncIterator[FastAPI]:
    """Run the app's lifespan (engine, keys, policy engine, background tasks) around a block."""
    async with app.router.lifespan_context(app):
        yield app


def asgi_client(app: FastAPI, base_url: str | None = None) -> httpx.AsyncClient:
    """An httpx client calling the app in process. Server errors come back as 500 responses."""
    settings: Settings = app.state.settings
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url=base_url or settings.base_url)


# --- Directory and tokens ---------------------------------------------------------------------


@dataclass(frozen=True)
class OrgCredentials:
    """What an organisation holds: its id and private client key (the credentials file)."""

    org_id: str
    private_jwk: dict[str, Any]
    node_id: str
    base_url: str

    @property
    def key(self) -> ECKey:
        return ECKey.import_key(self.private_jwk)

    @property
    def kid(self) -> str:
        return str(self.private_jwk["kid"])

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> OrgCredentials:
        return cls(
            org_id=document["org_id"],
            private_jwk=dict(document["private_key_jwk"]),
            node_id=document["node_id"],
            base_url=document["base_url"],
        )

    @classmethod
    def from_file(cls, path: Path) -> OrgCredentials:
        return cls.from_document(json.loads(path.read_text()))

    def document(self) -> dict[str, Any]:
        return credentials_document(
            base_url=self.base_url,
            node_id=self.node_id,
            org_id=self.org_id,
            private_jwk=self.private_jwk,
        )


async def register_test_org(
    app: FastAPI,
    org_id: str,
    roles: list[str],
    *,
    name: str | None = None,
    country: str | None = None,
    node_id: str | None = None,
) -> OrgCredentials:
    """Register an organisation in a started app's directory; its credentials."""
    settings: Settings = app.state.settings
    private_jwk, jwks = new_client_key()
    async with app.state.sessionmaker() as db_session:
        await organisations.register(
            db_session=db_session,
            org_id=org_id,
            name=name or org_id.rsplit(":", 1)[-1],
            country=country or org_id.split(":")[3],
            roles=roles,
            node_id=node_id or settings.node_id,
            jwks=jwks,
        )
        await db_session.commit()
    return OrgCredentials(org_id, private_jwk, settings.node_id, settings.base_url)


async def seed_demo(app: FastAPI) -> dict[str, OrgCredentials]:
    """Register the demo directory in a started app; credentials by org id."""
    settings: Settings = app.state.settings
    async with app.state.sessionmaker() as db_session:
        documents = await seed_demo_directory(
            db_session=db_session, node_id=settings.node_id, base_url=settings.base_url
        )
        await db_session.commit()
    return {doc["org_id"]: OrgCredentials.from_document(doc) for doc in documents}


def client_assertion(
    credentials: OrgCredentials,
    *,
    audience: str | None = None,
    lifetime_s: int = 60,
    claims: Mapping[str, Any] | None = None,
    header: Mapping[str, Any] | None = None,
) -> str:
    """An RFC 7523 client assertion signed with the organisation's key.

    `claims` / `header` override or add members (tests of malformed assertions use them).
    """
    now = int(time.time())
    body: dict[str, Any] = {
        "iss": credentials.org_id,
        "sub": credentials.org_id,
        "aud": audience or f"{credentials.base_url}/oauth/token",
        "iat": now,
        "exp": now + lifetime_s,
        "jti": str(uuid.uuid4()),
    }
    body.update(claims or {})
    protected: dict[str, Any] = {"alg": "ES256", "kid": credentials.kid, "typ": "JWT"}
    protected.update(header or {})
    return jwt.encode(protected, body, credentials.key)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_jwt(header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
    """A JWT with an empty signature (for `alg: none` attacks)."""
    return f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}."


def hmac_jwt(header: Mapping[str, Any], claims: Mapping[str, Any], secret: bytes) -> str:
    """A JWT MACed with HS256 under `secret` (for HMAC-with-the-public-key attacks)."""
    signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


def token_form(assertion: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    }


async def fetch_token(client: httpx.AsyncClient, credentials: OrgCredentials) -> str:
    """A real access token from the node's `POST /oauth/token`."""
    response = await client.post("/oauth/token", data=token_form(client_assertion(credentials)))
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


@dataclass
class TestNode:
    """A started in-process node with the demo directory: the `node` fixture's value."""

    app: FastAPI
    client: httpx.AsyncClient
    credentials: dict[str, OrgCredentials]
    _tokens: dict[str, str] = field(default_factory=dict)

    __test__ = False  # not a pytest test class

    @property
    def settings(self) -> Settings:
        settings: Settings = self.app.state.settings
        return settings

    async def token(self, org_id: str) -> str:
        if org_id not in self._tokens:
            self._tokens[org_id] = await fetch_token(self.client, self.credentials[org_id])
        return self._tokens[org_id]

    async def auth(self, org_id: str) -> dict[str, str]:
        """`Authorization` header for `org_id` (a real token, cached per org)."""
        return {"Authorization": f"Bearer {await self.token(org_id)}"}

    async def register_org(self, org_id: str, roles: list[str], **kwargs: Any) -> OrgCredentials:
        credentials = await register_test_org(self.app, org_id, roles, **kwargs)
        self.credentials[org_id] = credentials
        return credentials


# --- Subprocess servers -----------------------------------------------------------------------


@dataclass(frozen=True)
class RunningServer:
    base_url: str
    process: subprocess.Popen[bytes]
    log_file: Path

    def log_lines(self) -> list[str]:
        return self.log_file.read_text(errors="replace").splitlines()


def server_command() -> list[str]:
    script = Path(sys.executable).with_name("saferefer-server")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "saferefer_server.cli"]


@contextlib.contextmanager
def running_server_process(
    env: Mapping[str, str],
    *,
    startup_timeout_s: float = 60.0,
    log_file: Path | None = None,
    port: int | None = None,
) -> Iterator[RunningServer]:
    """`saferefer-server serve` in a subprocess on a free loopback port, ready when yielded.

    `env` is added to this process's environment (SAFEREFER_* settings). SAFEREFER_BASE_URL
    defaults to the server's own URL. Logs (JSON lines) go to `log_file` or a temporary file.
    """
    port = port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    full_env = {**os.environ, "SAFEREFER_BASE_URL": base_url, **env}
    own_log = log_file is None
    log_path = log_file or Path(tempfile.mkstemp(prefix="saferefer-server-", suffix=".log")[1])
    with log_path.open("ab") as log_handle:
        process = subprocess.Popen(
            [*server_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=full_env,
            stdout=log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = RunningServer(base_url=base_url, process=process, log_file=log_path)
    try:
        _wait_ready(server, startup_timeout_s)
        yield server
    finally:
        _terminate(process)
        if own_log:
            log_path.unlink(missing_ok=True)


@contextlib.contextmanager
def running_server(env: Mapping[str, str], **kwargs: Any) -> Iterator[str]:
    """`running_server_process`, yielding only the base URL."""
    with running_server_process(env, **kwargs) as server:
        yield server.base_url


@dataclass(frozen=True)
class DemoServer:
    """A served node with the demo directory: `credentials_dir/<CC>-<code>.json` per org."""

    base_url: str
    credentials_dir: Path
    server: RunningServer

    def credentials(self, org_id: str) -> OrgCredentials:
        return OrgCredentials.from_file(self.credentials_dir / credentials_file_name(org_id))

    def credentials_file(self, org_id: str) -> Path:
        return self.credentials_dir / credentials_file_name(org_id)


@contextlib.contextmanager
def demo_server(root: Path, env: Mapping[str, str] | None = None) -> Iterator[DemoServer]:
    """`seed-demo` then `serve` with data in `root` (SQLite unless `env` names a database).

    The credentials files carry the server's real base URL, as `make run` writes them.
    """
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    full_env = {
        "SAFEREFER_DATA_DIR": str(root / "data"),
        "SAFEREFER_PAYLOAD_KEYS": TEST_PAYLOAD_KEY,
        "SAFEREFER_BASE_URL": base_url,
        **(env or {}),
    }
    credentials_dir = root / "credentials"
    subprocess.run(
        [*server_command(), "seed-demo", "--credentials-dir", str(credentials_dir)],
        env={**os.environ, **full_env},
        check=True,
        capture_output=True,
    )
    with running_server_process(full_env, port=port) as server:
        yield DemoServer(base_url=base_url, credentials_dir=credentials_dir, server=server)


def _wait_ready(server: RunningServer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = "\n".join(server.log_lines()[-20:])
            raise RuntimeError(f"saferefer-server exited with {server.process.returncode}:\n{tail}")
        try:
            if httpx.get(f"{server.base_url}/readyz", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    tail = "\n".join(server.log_lines()[-20:])
    raise TimeoutError(f"saferefer-server not ready after {timeout_s} s:\n{tail}")


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)
