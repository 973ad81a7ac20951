"""In-process federation nodes on one event loop, joined by an in-memory network.

Each node has its own SQLite database, node key and federation runtime, serves the real
`/federation/v1` router, and delivers through the real worker. The network can take a node
down (connection refused) and bring it back, which is what the delivery tests need; the
multi-process tests in test_multinode.py do the same with real servers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from joserfc.jwk import ECKey
from saferefer_server.core.problems import install_problem_handlers
from saferefer_server.db.session import build_engine, build_sessionmaker
from saferefer_server.federation import views
from saferefer_server.federation.inbound import InboundMessage
from saferefer_server.federation.models import FederationInboxMessage, FederationOutboxMessage
from saferefer_server.federation.runtime import (
    FederationRuntime,
    build_runtime,
    refresh_trust_list,
)
from saferefer_server.federation.settings import FederationSettings
from saferefer_server.federation.trustlist import write_atomically
from saferefer_server.federation.worker import DeliveryWorker
from saferefer_server.organisations.models import Organisation
from saferefer_server.policy import PolicyDecision
from saferefer_server.settings import Settings
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from .factories import entry, new_key, public, trust_list_token

# The effect of a received message, written by the test handler in the receiving transaction.
effects_metadata = MetaData()
effects = Table(
    "test_federation_effects",
    effects_metadata,
    Column("id", Integer, primary_key=True),
    Column("message_id", String(36)),
    Column("message_type", String(40)),
    Column("referral_id", String(36)),
)


async def record_effect(
    *, db_session: AsyncSession, message: InboundMessage, app_state: Any
) -> None:
    assert app_state.federation is not None  # handlers get the receiving app's state
    await db_session.execute(
        insert(effects).values(
            message_id=message.message_id,
            message_type=message.message_type,
            referral_id=message.referral_id,
        )
    )


@dataclass
class ScriptedPolicy:
    """Decides ingress from a per-purpose table: unit tests of the transport, not of policy."""

    denied_purposes: set[str] = field(default_factory=set)
    failing: bool = False
    inputs: list[dict[str, Any]] = field(default_factory=list)

    async def decide(self, policy_input: Mapping[str, Any]) -> PolicyDecision:
        self.inputs.append(dict(policy_input))
        if self.failing:
            return PolicyDecision(
                allow=False,
                violations=[{"code": "policy_engine_unavailable", "rule": "R30"}],
                permitted_categories=[],
                obligations=[],
                engine_failure=True,
            )
        if policy_input["purpose"] in self.denied_purposes:
            return PolicyDecision(
                allow=False,
                violations=[{"code": "purpose_not_permitted", "rule": "R11"}],
                permitted_categories=[],
                obligations=[],
            )
        return PolicyDecision(
            allow=True,
            violations=[],
            permitted_categories=list(policy_input["data_categories"]),
            obligations=[],
        )


class LoopbackNetwork(httpx.AsyncBaseTransport):
    """Routes requests to in-process apps by host:port; a node in `down` refuses connections."""

    def __init__(self) -> None:
        self.apps: dict[str, httpx.ASGITransport] = {}
        self.down: set[str] = set()
        self.requests: list[str] = []

    def attach(self, base_url: str, app: FastAPI) -> None:
        self.apps[httpx.URL(base_url).netloc.decode()] = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        netloc = request.url.netloc.decode()
        self.requests.append(netloc)
        if netloc in self.down or netloc not in self.apps:
            raise httpx.ConnectError("connection refused", request=request)
        return await self.apps[netloc].handle_async_request(request)


@dataclass
class Node:
    node_id: str
    base_url: str
    key: ECKey
    settings: Settings
    db: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    runtime: FederationRuntime
    app: FastAPI
    policy: ScriptedPolicy
    worker: DeliveryWorker

    @property
    def netloc(self) -> str:
        return httpx.URL(self.base_url).netloc.decode()

    async def count(self, model: Any, **where: Any) -> int:
        async with self.sessionmaker() as session:
            query = select(func.count()).select_from(model)
            for name, value in where.items():
                query = query.where(getattr(model, name) == value)
            return int((await session.execute(query)).scalar_one())

    async def effects(self) -> list[tuple[str, str, str]]:
        async with self.sessionmaker() as session:
            rows = await session.execute(
                select(
                    effects.c.message_id, effects.c.message_type, effects.c.referral_id
                ).order_by(effects.c.id)
            )
            return [tuple(r) for r in rows.all()]

    async def outbox(self, message_id: str) -> FederationOutboxMessage:
        async with self.sessionmaker() as session:
            row = await session.get(FederationOutboxMessage, message_id)
            assert row is not None
            return row

    async def inbox_count(self) -> int:
        return await self.count(FederationInboxMessage)


@dataclass
class Federation:
    """An authority, its trust list file, and the member nodes."""

    root: Path
    authority: ECKey
    network: LoopbackNetwork
    nodes: dict[str, Node] = field(default_factory=dict)
    sequence: int = 0

    @property
    def trust_list_path(self) -> Path:
        return self.root / "trust-list.jws"

    @property
    def anchor_path(self) -> Path:
        return self.root / "anchor.jwks"

    def publish(self, entries: list[dict[str, Any]]) -> None:
        self.sequence += 1
        write_atomically(
            self.trust_list_path, trust_list_token(self.authority, entries, sequence=self.sequence)
        )

    def entries(self) -> list[dict[str, Any]]:
        return [entry(n.node_id, n.key, base_url=n.base_url) for n in self.nodes.values()]

    async def add_node(
        self,
        node_id: str,
        *,
        port: int,
        orgs: Mapping[str, list[str]],
        database_url: str | None = None,
        **federation: Any,
    ) -> Node:
        """A node on its own database: SQLite in its data folder, or `database_url`."""
        country = node_id.split(":")[3]
        base_url = f"http://127.0.0.1:{port}"
        data_dir = self.root / country
        database: dict[str, Any] = {"database_url": database_url} if database_url else {}
        settings = Settings(
            data_dir=data_dir, node_id=node_id, country=country, base_url=base_url, **database
        )
        db = build_engine(settings)
        async with db.begin() as conn:
            await conn.run_sync(
                lambda sync: Organisation.metadata.create_all(
                    sync,
                    tables=[
                        Organisation.__table__,  # type: ignore[list-item]
                        FederationOutboxMessage.__table__,  # type: ignore[list-item]
                        FederationInboxMessage.__table__,  # type: ignore[list-item]
                    ],
                )
            )
            await conn.run_sync(effects_metadata.create_all)
        sessionmaker = build_sessionmaker(db)
        async with sessionmaker() as session:
            for org_id, roles in orgs.items():
                session.add(
                    Organisation(
                        id=org_id,
                        name=org_id,
                        country=org_id.split(":")[3],
                        roles=roles,
                        node_id=node_id,
                        jwks={"keys": [public(new_key())]},
                    )
                )
            await session.commit()
        key = new_key()
        fed_settings = FederationSettings(
            trust_list=str(self.trust_list_path),
            trust_anchor=self.anchor_path,
            retry_base_s=0.05,
            retry_cap_s=0.2,
            lease_s=5.0,
            **federation,
        )
        runtime = build_runtime(
            node_id=node_id, country=country, settings=fed_settings, signing_key=lambda: key
        )
        policy = ScriptedPolicy()
        app = FastAPI()
        install_problem_handlers(app)
        app.include_router(views.router)
        app.state.settings = settings
        app.state.sessionmaker = sessionmaker
        app.state.policy_engine = policy
        app.state.federation = runtime
        worker = DeliveryWorker(
            runtime=runtime,
            sessionmaker=sessionmaker,
            http_client=httpx.AsyncClient(transport=self.network),
        )
        node = Node(
            node_id, base_url, key, settings, db, sessionmaker, runtime, app, policy, worker
        )
        self.nodes[node_id] = node
        self.network.attach(base_url, app)
        return node

    @classmethod
    def create(cls, root: Path) -> Federation:
        federation = cls(root=root, authority=new_key(), network=LoopbackNetwork())
        federation.anchor_path.write_text(json.dumps({"keys": [public(federation.authority)]}))
        return federation

    async def start(self) -> None:
        """Publish a trust list naming every node, and have each node load it."""
        self.publish(self.entries())
        for node in self.nodes.values():
            await refresh_trust_list(node.runtime)
            assert node.runtime.trust.current is not None

    async def aclose(self) -> None:
        for node in self.nodes.values():
            await node.worker.aclose()
            await node.db.dispose()


def later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)
