"""Fixed-window request quotas kept in the database, so every worker of a node counts together.

Used for the token endpoint (SR-SEC-008: per organisation and per client address). One upsert per
counted request; rows of past windows are purged now and then.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from saferefer_server.core.models import RateLimitWindow
from saferefer_server.core.problems import ProblemError

WINDOW_S = 60
PURGE_PROBABILITY = 0.02


@dataclass(frozen=True)
class Quota:
    bucket: str
    limit: int


async def hit(
    sessionmaker: async_sessionmaker[AsyncSession], quota: Quota, *, now: float | None = None
) -> None:
    """Count one request against `quota`; raise 429 `rate-limited` when it is exhausted."""
    if quota.limit <= 0:
        return
    now = time.time() if now is None else now
    window = int(now // WINDOW_S) * WINDOW_S
    async with sessionmaker() as db_session:
        values = {"bucket": quota.bucket, "window_start": window, "count": 1}
        keys = [RateLimitWindow.bucket, RateLimitWindow.window_start]
        increment = {"count": RateLimitWindow.count + 1}
        if db_session.get_bind().dialect.name == "postgresql":
            upsert: Any = postgresql.insert(RateLimitWindow).values(values)
        else:
            upsert = sqlite.insert(RateLimitWindow).values(values)
        upsert = upsert.on_conflict_do_update(index_elements=keys, set_=increment)
        statement = upsert.returning(RateLimitWindow.count)
        count = (await db_session.execute(statement)).scalar_one()
        if random.random() < PURGE_PROBABILITY:  # noqa: S311 - load spreading, not security
            await db_session.execute(
                delete(RateLimitWindow).where(RateLimitWindow.window_start < window - WINDOW_S)
            )
        await db_session.commit()
    if count > quota.limit:
        retry_after = max(1, window + WINDOW_S - int(now))
        raise ProblemError(
            429,
            "rate-limited",
            "Too many requests",
            f"more than {quota.limit} requests a minute; retry after {retry_after} s",
            headers={"Retry-After": str(retry_after)},
            retry_after=retry_after,
        )
