"""The lifecycle sweeper: expires overdue referrals and erases payloads past retain_until.

Reads also apply the lifecycle on access; the sweeper makes sure it happens for referrals nobody
reads. Rows are claimed with `FOR UPDATE SKIP LOCKED`, so several processes share the work.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from saferefer_server.db.base import utcnow
from saferefer_server.referrals import service
from saferefer_server.referrals.node import node_context_of

logger = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 60.0


async def run_lifecycle_sweeper(app: FastAPI) -> None:
    sessionmaker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    node = node_context_of(app.state)
    while True:
        try:
            async with sessionmaker() as db_session:
                handled = await service.sweep(db_session=db_session, node=node, now=utcnow())
                await db_session.commit()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one bad pass must not stop the sweeper
            logger.error("lifecycle sweep failed", extra={"error_type": type(exc).__name__})
            handled = 0
        await asyncio.sleep(1.0 if handled else SWEEP_INTERVAL_S)
