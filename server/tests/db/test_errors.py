"""Which database failures are "unavailable, retry later" (503) and which stay errors (500)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import psycopg.errors
import pytest
from saferefer_server.db.errors import unavailability
from saferefer_server.testing import free_port
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import create_async_engine

MARKER = "MARKERzq9Vx"  # stands for whatever a driver message could quote


async def failure_of(url: str, statement: str = "SELECT 1") -> Exception:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    except Exception as exc:
        return exc
    finally:
        await engine.dispose()
    raise AssertionError("the statement did not fail")


async def test_postgresql_that_refuses_connections_is_unavailable() -> None:
    exc = await failure_of(f"postgresql+psycopg://saferefer@127.0.0.1:{free_port()}/saferefer")
    cause = unavailability(exc)
    assert cause is not None
    assert (cause.busy, cause.reason) == (False, "cannot connect to the database")
    assert cause.exception == "sqlalchemy.exc.OperationalError (psycopg.OperationalError)"


async def test_sqlite_file_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    exc = await failure_of(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'saferefer.db'}")
    cause = unavailability(exc)
    assert cause is not None
    assert (cause.busy, cause.reason) == (False, "SQLITE_CANTOPEN")


async def test_statement_errors_are_not_unavailability(tmp_path: Path) -> None:
    exc = await failure_of(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", "SELECT * FROM missing")
    assert isinstance(exc, OperationalError)  # SQLite reports a missing table this way too
    assert unavailability(exc) is None


@pytest.mark.parametrize(
    ("exc", "busy", "reason"),
    [
        # The writer queue's own timeout (db.session), worded as SQLite does.
        (
            OperationalError(
                "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")
            ),
            True,
            "SQLITE_BUSY",
        ),
        (
            OperationalError("SELECT 1", None, psycopg.errors.AdminShutdown(MARKER)),
            False,
            "SQLSTATE 57P01",
        ),
        (
            OperationalError(
                "SELECT 1", None, psycopg.OperationalError(MARKER), connection_invalidated=True
            ),
            False,
            "connection to the database lost",
        ),
        (psycopg.InterfaceError(MARKER), False, "connection to the database closed"),
    ],
)
def test_unavailability_of_driver_failures(exc: Exception, busy: bool, reason: str) -> None:
    cause = unavailability(exc)
    assert cause is not None
    assert (cause.busy, cause.reason) == (busy, reason)
    assert MARKER not in cause.exception + cause.reason


@pytest.mark.parametrize(
    "exc",
    [
        IntegrityError("INSERT", None, psycopg.errors.UniqueViolation(MARKER)),
        ProgrammingError("SELECT", None, psycopg.errors.UndefinedTable(MARKER)),
        OperationalError("SELECT", None, sqlite3.OperationalError(f"no such table: {MARKER}")),
        RuntimeError(MARKER),
    ],
)
def test_other_failures_are_not_unavailability(exc: Exception) -> None:
    assert unavailability(exc) is None
