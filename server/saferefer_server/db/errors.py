"""Which database failures mean "the database cannot be used right now, retry later".

A request that fails because the database is busy (SQLite's write lock not had in time) or out of
reach (PostgreSQL stopped, restarting, refusing connections, a dropped connection; a SQLite file
that cannot be opened or read) is answered 503 with `Retry-After` by the request middleware, not
500: nothing is wrong with the request or the code, and the client should simply retry (POSTs
with the same `Idempotency-Key`). Any other database error stays a 500.

`unavailability(exc)` classifies from exception types and the drivers' error codes only, never
from messages, which can quote the statement and its parameters. What it returns is safe to log.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import psycopg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

# SQLite primary result codes (the low byte of an extended code, sqlite.org/rescode.html).
_SQLITE_BUSY = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED: another writer holds the lock
_SQLITE_UNREACHABLE = {
    10,
    13,
    14,
    15,
}  # SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_PROTOCOL
# SQLSTATE classes of PostgreSQL errors that are about the server or the connection, not the
# statement: 08 connection exception, 28 invalid authorisation (the node's own login refused),
# 53 insufficient resources (too many connections, disk full), 57 operator intervention (shutdown,
# restart, statement cancelled). A client-side connection failure has no SQLSTATE at all.
_POSTGRES_UNREACHABLE_CLASSES = {"08", "28", "53", "57"}


@dataclass(frozen=True)
class Unavailability:
    """Why the database could not be used: `busy` (locked, retry at once) or out of reach."""

    busy: bool
    exception: str  # the exception class, and the driver's class it wraps
    reason: str  # a fixed description or a driver error code: no message text


def _class_name(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__}"


def unavailability(exc: BaseException) -> Unavailability | None:
    """An `Unavailability` when `exc` means the database is busy or out of reach, else None."""
    if isinstance(exc, PoolTimeoutError):
        return Unavailability(False, _class_name(exc), "no pooled connection free in time")
    if isinstance(exc, DBAPIError):
        orig = exc.orig
        exception = f"{_class_name(exc)} ({_class_name(orig)})" if orig else _class_name(exc)
        if exc.connection_invalidated:
            return Unavailability(False, exception, "connection to the database lost")
    elif isinstance(exc, sqlite3.Error | psycopg.Error):
        orig, exception = exc, _class_name(exc)
    else:
        return None
    if isinstance(orig, sqlite3.OperationalError):
        code = getattr(orig, "sqlite_errorcode", None)
        if code is None:
            # Raised by the node itself (db.session's writer queue), worded as SQLite does.
            return (
                Unavailability(True, exception, "SQLITE_BUSY") if _is_lock_timeout(orig) else None
            )
        name = str(getattr(orig, "sqlite_errorname", code))
        if code & 0xFF in _SQLITE_BUSY:
            return Unavailability(True, exception, name)
        if code & 0xFF in _SQLITE_UNREACHABLE:
            return Unavailability(False, exception, name)
        return None
    if isinstance(orig, psycopg.InterfaceError):
        return Unavailability(False, exception, "connection to the database closed")
    if isinstance(orig, psycopg.OperationalError):
        sqlstate = orig.sqlstate
        if sqlstate is None:
            return Unavailability(False, exception, "cannot connect to the database")
        if sqlstate[:2] in _POSTGRES_UNREACHABLE_CLASSES:
            return Unavailability(False, exception, f"SQLSTATE {sqlstate}")
    return None


def _is_lock_timeout(exc: sqlite3.OperationalError) -> bool:
    # SQLite's own fixed wording for SQLITE_BUSY (sqlite3_errstr), not free text.
    return exc.args == ("database is locked",)
