"""The webhook delivery worker, run as a background task inside each server process.

Workers share nothing but the database: each pass claims due deliveries with
`FOR UPDATE SKIP LOCKED` and a lease, so any number of processes deliver each attempt once.
"""

from __future__ import annotations

import asyncio
import logging

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from saferefer_server.auth.keys import NodeKeyStore
from saferefer_server.events import service
from saferefer_server.events.signing import sign_detached

logger = logging.getLogger(__name__)

IDLE_POLL_S = 1.0
ERROR_BACKOFF_S = 5.0


async def run_delivery_worker(app: FastAPI) -> None:
    sessionmaker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    keys: NodeKeyStore = app.state.node_keys

    async def sign(body: bytes) -> str:
        return sign_detached(keys, body)

    async with httpx.AsyncClient(follow_redirects=False) as network:
        while True:
            if getattr(app.state, "webhook_worker_paused", False):
                await asyncio.sleep(IDLE_POLL_S)
                continue
            try:
                attempted = await _pass(app, sessionmaker, network, sign)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bad pass must not stop delivery for good
                logger.error(
                    "webhook delivery pass failed", extra={"error_type": type(exc).__name__}
                )
                await asyncio.sleep(ERROR_BACKOFF_S)
                continue
            if attempted == 0:
                await asyncio.sleep(IDLE_POLL_S)


async def _pass(
    app: FastAPI,
    sessionmaker: async_sessionmaker[AsyncSession],
    network: httpx.AsyncClient,
    sign: service.Signer,
) -> int:
    # `webhook_transport` on app.state replaces the network (an in-process receiver in tests).
    transport: httpx.AsyncBaseTransport | None = getattr(app.state, "webhook_transport", None)
    if transport is None:
        return await service.deliver_due(sessionmaker=sessionmaker, http=network, sign=sign)
    async with httpx.AsyncClient(transport=transport) as http:
        return await service.deliver_due(sessionmaker=sessionmaker, http=http, sign=sign)
