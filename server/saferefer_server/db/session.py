"""Engine and session factory built from the settings; the app keeps them on `app.state`.

SQLite runs in WAL mode (synchronous=NORMAL: a committed write survives a killed process; only
a power cut may lose the last commits). A transaction that may write starts with
`BEGIN IMMEDIATE`: SQLite has one writer at a time, and taking the write lock up front makes
concurrent writers wait (up to the busy timeout) instead of failing half-way with "database is
locked" when a read transaction tries to upgrade. Work that only reads runs in a `read_phase`:
a deferred `BEGIN`, a WAL snapshot that runs alongside the writer and never queues for its lock.
Token checks, listings and a referral's policy input are read that way, so the write lock is held
only for the short transactions that write.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from saferefer_server.settings import Settings

SQLITE_BUSY_TIMEOUT_MS = 15_000

_reading: ContextVar[bool] = ContextVar("saferefer_read_phase", default=False)


def in_read_phase() -> bool:
    """True inside `read_phase`: the transaction being run only reads."""
    return _reading.get()


@asynccontextmanager
async def read_phase(db_session: AsyncSession) -> AsyncIterator[None]:
    """Run a block that only reads in a transaction of its own, then end that transaction.

    On SQLite the transaction is a deferred `BEGIN` (a snapshot, no write lock); on PostgreSQL
    it is an ordinary transaction. If `db_session` is already in a transaction, the block simply
    joins it (and it keeps its mode). Writing inside a read phase is a programming error. The
    phase ends with a commit that marks no idempotency claim (`in_read_phase`), which keeps the
    objects it loaded usable; if the block raises, the transaction is rolled back instead.
    """
    if db_session.in_transaction():
        yield
        return
    token = _reading.set(True)
    try:
        try:
            yield
        except BaseException:
            await db_session.rollback()
            raise
        if db_session.new or db_session.dirty or db_session.deleted:
            await db_session.rollback()
            raise RuntimeError("a read phase must not change anything")
        await db_session.commit()
    finally:
        _reading.reset(token)


def build_engine(settings: Settings) -> AsyncEngine:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite(engine)
        return engine
    return create_async_engine(
        url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
        pool_pre_ping=True,
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN" if _reading.get() else "BEGIN IMMEDIATE")


def build_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: objects stay readable after commit in async code (no lazy IO).
    return async_sessionmaker(engine, expire_on_commit=False)
