"""Engine and session factory built from the settings; the app keeps them on `app.state`.

SQLite runs in WAL mode (synchronous=NORMAL: a committed write survives a killed process; only
a power cut may lose the last commits). A transaction that may write starts with
`BEGIN IMMEDIATE`: SQLite has one writer at a time, and taking the write lock up front makes
concurrent writers wait (up to the busy timeout) instead of failing half-way with "database is
locked" when a read transaction tries to upgrade. Work that only reads runs in a `read_phase`:
a deferred `BEGIN`, a WAL snapshot that runs alongside the writer and never queues for its lock.
Token checks, listings and a referral's policy input are read that way, so the write lock is held
only for the short transactions that write.

Writers of one process also queue in turn before `BEGIN IMMEDIATE` (`_WriterQueue`), first come
first served. SQLite's own busy handler only sleeps and retries (up to 100 ms at a time): under
load a waiting writer sleeps through the moments the lock is free and can lose to newer ones
again and again, so some requests waited seconds while most waited a fraction of that. The busy
handler stays for writers in other processes (several workers, the command line).
"""

from __future__ import annotations

import asyncio
import sqlite3
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util.concurrency import await_only, in_greenlet

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


class _WriterQueue:
    """The write transactions of one engine in this process, admitted one at a time in order.

    A connection takes its turn just before its `BEGIN IMMEDIATE` and gives it back when it
    returns to the pool, after its commit or rollback has run. A connection that already holds
    the turn (several transactions before it goes back) does not queue again. Each event loop has
    its own queue: asyncio locks belong to one loop. Waiting is bounded by the busy timeout and
    then fails as SQLite itself would, "database is locked" (a retryable 503, nothing written).
    """

    _HOLDS_TURN = "saferefer_writer_turn"

    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def _lock(self, loop: asyncio.AbstractEventLoop) -> asyncio.Lock:
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    async def _acquire(self, lock: asyncio.Lock) -> None:
        # Not `asyncio.wait_for`: on Python 3.11 it can swallow a cancellation that arrives as
        # the lock is granted, and a worker cancelled at shutdown then runs on, holding the turn.
        async with asyncio.timeout(self._timeout_s):
            await lock.acquire()

    def take_turn(self, info: dict[str, Any]) -> None:
        """Wait for this connection's turn (inside SQLAlchemy's async bridge only)."""
        if info.get(self._HOLDS_TURN) is not None or not in_greenlet():
            return
        loop = asyncio.get_running_loop()
        lock = self._lock(loop)
        try:
            await_only(self._acquire(lock))
        except TimeoutError as exc:
            raise OperationalError(
                "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")
            ) from exc
        info[self._HOLDS_TURN] = (loop, lock)

    def give_back(self, info: dict[str, Any]) -> None:
        """End this connection's turn, if it has one (the next writer in line goes ahead)."""
        held = info.pop(self._HOLDS_TURN, None)
        if held is None:
            return
        loop, lock = held
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            lock.release()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(lock.release)


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine
    writers = _WriterQueue(SQLITE_BUSY_TIMEOUT_MS / 1000)

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
        if _reading.get():
            connection.exec_driver_sql("BEGIN")
            return
        writers.take_turn(connection.info)
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            writers.give_back(connection.info)
            raise

    @event.listens_for(sync_engine, "checkin")
    def _on_checkin(dbapi_connection: Any, connection_record: Any) -> None:
        writers.give_back(connection_record.info)

    @event.listens_for(sync_engine, "close")
    def _on_close(dbapi_connection: Any, connection_record: Any) -> None:
        writers.give_back(connection_record.info)


def build_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: objects stay readable after commit in async code (no lazy IO).
    return async_sessionmaker(engine, expire_on_commit=False)
