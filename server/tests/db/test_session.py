"""SQLite transactions: reads never queue for the write lock; a lock not had in time is a 503.

A second, plain sqlite3 connection holds the write lock (`BEGIN IMMEDIATE`), as a long write of
another worker would.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import pytest
from saferefer_server.consents.models import Consent
from saferefer_server.db import session as db_session_module
from saferefer_server.referrals.testing import consent_body, grant
from saferefer_server.testing import TestNode, asgi_client, seed_demo
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url

NGO = "urn:saferefer:org:NL:demo-ngo"
SHELTER = "urn:saferefer:org:NL:demo-shelter"


@pytest.fixture
def database_url(sqlite_database_url: str) -> str:
    return sqlite_database_url


@contextlib.asynccontextmanager
async def write_lock_held(database_url: str) -> AsyncIterator[None]:
    # Taken in a thread: the node's own tasks (workers) may hold the lock for a moment and need
    # the event loop to release it.
    holder = sqlite3.connect(
        str(make_url(database_url).database), isolation_level=None, check_same_thread=False
    )
    await asyncio.to_thread(holder.execute, "BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


async def test_reads_answer_while_another_connection_holds_the_write_lock(
    node: TestNode, database_url: str
) -> None:
    ngo, shelter = await node.auth(NGO), await node.auth(SHELTER)  # tokens are written
    async with write_lock_held(database_url):
        reads = [
            node.client.get("/v1/referrals", params={"box": "inbox"}, headers=shelter),
            node.client.get("/v1/consents", headers=ngo),
            node.client.get("/v1/organisations", headers=ngo),
            node.client.get("/v1/events", headers=shelter),
            node.client.get("/v1/audit", headers=ngo),
        ]
        # The busy timeout is 15 s: a read that queued for the lock would not answer in 5.
        responses = await asyncio.wait_for(asyncio.gather(*reads), timeout=5)
    assert [r.status_code for r in responses] == [200] * len(reads)


@contextlib.asynccontextmanager
async def write_turn_held(app: Any) -> AsyncIterator[None]:
    """This process's write turn, held by an open write transaction of the node's own engine."""
    async with app.state.sessionmaker() as holder:
        await holder.execute(text("SELECT 1"))
        try:
            yield
        finally:
            await holder.rollback()


@pytest.mark.parametrize("holder", ["another_process", "this_process"])
async def test_write_that_cannot_get_the_lock_answers_503_and_changes_nothing(
    app_factory: Any, database_url: str, monkeypatch: pytest.MonkeyPatch, holder: str
) -> None:
    # Another process holds SQLite's own lock; in this process a writer waits for its turn
    # first. Either wait is bounded by the busy timeout.
    monkeypatch.setattr(db_session_module, "SQLITE_BUSY_TIMEOUT_MS", 200)
    app = await app_factory()
    credentials = await seed_demo(app)
    async with asgi_client(app) as client:
        node = TestNode(app=app, client=client, credentials=credentials)
        ngo = await node.auth(NGO)
        body = consent_body(grants=[grant(org_id=SHELTER)])
        held = (
            write_lock_held(database_url) if holder == "another_process" else write_turn_held(app)
        )
        async with held:
            response = await client.post("/v1/consents", json=body, headers=ngo)
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"] == "1"
        assert response.json()["type"] == "https://saferefer.org/problems/service-unavailable"
        async with app.state.sessionmaker() as db_session:
            assert await db_session.scalar(select(func.count()).select_from(Consent)) == 0
        # Once the lock is free, the same request goes through.
        retried = await client.post("/v1/consents", json=body, headers=ngo)
        assert retried.status_code == 201, retried.text


async def test_writers_of_one_process_take_turns_in_arrival_order(app_factory: Any) -> None:
    app = await app_factory()
    begins: list[str] = []

    def count_begins(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement == "BEGIN IMMEDIATE":
            begins.append(statement)

    event.listen(app.state.engine.sync_engine, "before_cursor_execute", count_begins)
    admitted: list[str] = []

    async def writer(name: str) -> None:
        async with app.state.sessionmaker() as db_session:
            await db_session.execute(text("SELECT 1"))
            admitted.append(name)
            await db_session.commit()

    async with app.state.sessionmaker() as holder:
        await holder.execute(text("SELECT 1"))  # a write transaction: this one has the turn
        waiting = []
        for name in ("first", "second", "third"):
            waiting.append(asyncio.create_task(writer(name)))
            await asyncio.sleep(0.05)
        # The others wait for their turn in the process, not inside SQLite's busy handler
        # (which sleeps and retries in no particular order).
        assert admitted == []
        assert len(begins) == 1
        await holder.commit()
    await asyncio.wait_for(asyncio.gather(*waiting), timeout=5)
    assert admitted == ["first", "second", "third"]


@pytest.mark.parametrize("turns_before_cancel", [0, 1, 2, 3])
async def test_a_writer_cancelled_as_its_turn_comes_stays_cancelled(
    turns_before_cancel: int,
) -> None:
    # Shutdown cancels the workers; one that was waiting for its turn as the turn came must still
    # end, not carry on with the turn (asyncio.wait_for on Python 3.11 can swallow the cancel).
    queue = db_session_module._WriterQueue(timeout_s=5)
    lock = asyncio.Lock()
    await lock.acquire()

    async def writer() -> None:
        await queue._acquire(lock)
        await asyncio.sleep(30)  # a worker carrying on with its turn

    task = asyncio.create_task(writer())
    await asyncio.sleep(0)
    lock.release()
    for _ in range(turns_before_cancel):
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(task), timeout=2)
