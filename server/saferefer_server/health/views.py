"""`/healthz` (the process answers), `/readyz` (it can serve: database and policy engine reachable),
`/metrics` (Prometheus text format)."""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import time
from collections.abc import Awaitable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from saferefer_server.core import metrics

router = APIRouter(tags=["health"])
log = logging.getLogger("saferefer.health")

CHECK_TIMEOUT_S = 2.0
RETRY_AFTER_S = 5


def node_version() -> str:
    try:
        return importlib.metadata.version("saferefer")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


@router.get("/healthz", operation_id="getHealth")
async def healthz() -> dict[str, Any]:
    return {"status": "ok", "version": node_version()}


async def _timed(check: Awaitable[bool]) -> dict[str, Any]:
    started = time.perf_counter()
    ok = await check
    latency_ms = round((time.perf_counter() - started) * 1000, 3)
    return {"status": "ok" if ok else "unavailable", "latency_ms": latency_ms}


async def _database_ok(request: Request) -> bool:
    try:
        async with request.app.state.sessionmaker() as db_session:
            await asyncio.wait_for(db_session.execute(text("SELECT 1")), CHECK_TIMEOUT_S)
    except Exception as exc:  # any failure means "not ready"; the type goes to the log
        log.warning("readiness: database check failed", extra={"exception": type(exc).__name__})
        return False
    return True


async def _policy_engine_ok(request: Request) -> bool:
    try:
        healthy = await asyncio.wait_for(
            request.app.state.policy_engine.check_health(), CHECK_TIMEOUT_S
        )
    except Exception as exc:
        log.warning(
            "readiness: policy engine check failed", extra={"exception": type(exc).__name__}
        )
        return False
    return bool(healthy)


@router.get("/readyz", operation_id="getReadiness")
async def readyz(request: Request) -> JSONResponse:
    database, policy_engine = await asyncio.gather(
        _timed(_database_ok(request)), _timed(_policy_engine_ok(request))
    )
    ready = database["status"] == policy_engine["status"] == "ok"
    body = {
        "status": "ok" if ready else "unavailable",
        "version": node_version(),
        "checks": {"database": database, "policy_engine": policy_engine},
    }
    headers = {"Cache-Control": "no-store"}
    if not ready:
        headers["Retry-After"] = str(RETRY_AFTER_S)
    return JSONResponse(body, status_code=200 if ready else 503, headers=headers)


@router.get("/metrics", operation_id="getMetrics")
async def prometheus_metrics(request: Request) -> Response:
    async with request.app.state.sessionmaker() as db_session:
        payload = await metrics.current().render(db_session)
    return Response(payload, media_type=CONTENT_TYPE_LATEST)
