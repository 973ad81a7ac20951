"""The ASGI application of a SafeRefer node: `create_app(settings)`.

`saferefer-server serve` runs the migrations, then uvicorn with the `create_served_app` factory
(JSON logs, settings from the environment) in each worker. The app keeps what requests share on
`app.state`: `settings`, `engine`, `sessionmaker`, `idempotency`, `node_keys`, `policy_engine`
(and `federation` when the federation package runs). Nothing else lives in the process: tokens,
replay caches, idempotency records, rate-limit counters and cursors are all in the database, so
any number of workers on one PostgreSQL behave as one node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from sqlalchemy import select

from saferefer_server import domain_routers, policy
from saferefer_server._resources import policy_dir
from saferefer_server.auth.keys import node_key_store
from saferefer_server.auth.views import router as auth_router
from saferefer_server.capability.views import router as capability_router
from saferefer_server.core.idempotency import IdempotencyMiddleware, IdempotencyStore
from saferefer_server.core.logging import configure_logging
from saferefer_server.core.middleware import RequestContextMiddleware
from saferefer_server.core.openapi import router as openapi_router
from saferefer_server.core.problems import install_problem_handlers
from saferefer_server.db.session import build_engine, build_sessionmaker
from saferefer_server.health.views import router as health_router
from saferefer_server.organisations.models import Organisation
from saferefer_server.organisations.views import router as organisations_router
from saferefer_server.policy import PolicyEngine
from saferefer_server.settings import Settings, SettingsError, get_settings

log = logging.getLogger("saferefer.app")

PLATFORM_ROUTERS = (
    health_router,
    openapi_router,
    capability_router,
    auth_router,
    organisations_router,
)


def create_app(
    settings: Settings | None = None, *, policy_engine: PolicyEngine | None = None
) -> FastAPI:
    """The node's app. `policy_engine` replaces the one the settings describe (tests share one
    across apps); the app closes only an engine it built itself."""
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = build_engine(settings)
        app.state.engine = engine
        app.state.sessionmaker = build_sessionmaker(engine)
        app.state.idempotency = IdempotencyStore(app.state.sessionmaker, settings)
        app.state.node_keys = node_key_store(settings)
        if settings.production:
            await _refuse_demo_directory(app)
        own_engine = policy_engine is None
        app.state.policy_engine = policy_engine or _build_policy_engine(settings)
        tasks = [asyncio.ensure_future(task(app)) for task in domain_routers.BACKGROUND_TASKS]
        log.info("node started", extra={"node_id": settings.node_id})
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if own_engine:
                await app.state.policy_engine.aclose()
            await engine.dispose()

    app = FastAPI(
        title="SafeRefer node",
        lifespan=lifespan,
        # The served OpenAPI document is spec/openapi.yaml (core.openapi), never a generated one.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    install_problem_handlers(app)
    # Outermost last: request context (id, size limit, last-resort 500) wraps idempotency.
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)
    for router in (*PLATFORM_ROUTERS, *domain_routers.ROUTERS):
        app.include_router(router)
    return app


def create_served_app() -> FastAPI:
    """The factory `saferefer-server serve` hands to uvicorn: JSON logs, settings from the
    environment (run in every worker process)."""
    settings = get_settings()
    configure_logging(settings.log_level)
    return create_app(settings)


def _build_policy_engine(settings: Settings) -> PolicyEngine:
    return policy.build_engine(
        kind=settings.policy_engine,
        policy_dir=policy_dir(),
        opa_url=settings.opa_url,
        opa_token=settings.opa_token.get_secret_value() if settings.opa_token else None,
        timeout_s=settings.policy_timeout_ms / 1000,
    )


async def _refuse_demo_directory(app: FastAPI) -> None:
    async with app.state.sessionmaker() as db_session:
        demo = await db_session.scalar(select(Organisation.id).where(Organisation.is_demo).limit(1))
    if demo is not None:
        raise SettingsError(
            "production mode refuses the demo directory: remove the demo organisations "
            "(or use a fresh database) before starting"
        )
