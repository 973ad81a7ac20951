"""Fixtures shared by every test directory (see saferefer_server.testing for the helpers).

* `pg_cluster` / `pg_url` (session): one PostgreSQL server for the whole run.
* `database_url` (parametrised `sqlite` / `postgres`): a fresh, migrated database per test;
  `sqlite_database_url` for tests that need only one backend (override `database_url` with it).
* `policy_engine` (session): the embedded engine on the repo's policies, shared by test apps.
* `app_factory`: `await app_factory(**settings_overrides)` → a started in-process app.
* `demo_server` (session) → `DemoServer` (a served node: .base_url, .credentials(org_id),
  .credentials_file(org_id)).
* `node` → `TestNode` (app, client, demo directory credentials, `await node.auth(org_id)`);
  `client` → its httpx.AsyncClient. Both run once per database backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from fastapi import FastAPI
    from saferefer_server.policy import PolicyEngine
    from saferefer_server.testing import DemoServer, PostgresCluster, TestNode

# The server is imported inside the fixtures, so collecting the spec, SDK or policy tests does not
# depend on every server module importing cleanly.

AppFactory = Callable[..., Awaitable["FastAPI"]]
PG_TEMPLATE = "saferefer_template"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    from saferefer_server.testing import postgres_cluster

    with postgres_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def pg_url(pg_cluster: PostgresCluster) -> str:
    """SQLAlchemy URL of the session's PostgreSQL `saferefer` database (not migrated)."""
    return pg_cluster.url


@pytest.fixture(scope="session")
def _pg_template(pg_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory) -> str:
    from saferefer_server.testing import migrated, node_settings

    url = pg_cluster.create_database(PG_TEMPLATE)
    migrated(node_settings(tmp_path_factory.mktemp("pg-template"), url))
    return PG_TEMPLATE


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from saferefer_server.testing import migrated, node_settings

    data_dir = tmp_path_factory.mktemp("sqlite-template")
    migrated(node_settings(data_dir))
    return data_dir / "saferefer.db"


@pytest.fixture
def sqlite_database_url(_sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh migrated SQLite database (for tests that need one backend only)."""
    target = tmp_path / "db" / "saferefer.db"
    target.parent.mkdir()
    shutil.copyfile(_sqlite_template, target)
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database with every migration applied, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        sqlite_url: str = request.getfixturevalue("sqlite_database_url")
        return sqlite_url
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    template_name: str = request.getfixturevalue("_pg_template")
    return cluster.create_database(f"t_{uuid.uuid4().hex[:16]}", template=template_name)


@pytest.fixture(scope="session")
def policy_engine() -> Iterator[PolicyEngine]:
    from saferefer_server._resources import policy_dir
    from saferefer_server.policy import build_engine

    engine = build_engine(kind="embedded", policy_dir=policy_dir())
    yield engine
    asyncio.run(engine.aclose())


@pytest.fixture
async def app_factory(
    database_url: str, tmp_path: Path, policy_engine: PolicyEngine
) -> AsyncIterator[AppFactory]:
    from saferefer_server.main import create_app
    from saferefer_server.testing import node_settings, started

    async with contextlib.AsyncExitStack() as stack:

        async def factory(**overrides: Any) -> FastAPI:
            data_dir = overrides.pop("data_dir", tmp_path / "node")
            settings = node_settings(data_dir, database_url, **overrides)
            app = create_app(settings, policy_engine=policy_engine)
            await stack.enter_async_context(started(app))
            return app

        yield factory


@pytest.fixture
async def node(app_factory: AppFactory) -> AsyncIterator[TestNode]:
    from saferefer_server.testing import TestNode, asgi_client, seed_demo

    app = await app_factory()
    credentials = await seed_demo(app)
    async with asgi_client(app) as client:
        yield TestNode(app=app, client=client, credentials=credentials)


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """One `saferefer-server serve` subprocess (SQLite, demo directory) for the whole run.

    Shared: tests must not suspend its organisations or rotate its keys.
    """
    from saferefer_server.testing import demo_server as start_demo_server

    with start_demo_server(tmp_path_factory.mktemp("demo-server")) as server:
        yield server


@pytest.fixture
def client(node: TestNode) -> httpx.AsyncClient:
    return node.client
