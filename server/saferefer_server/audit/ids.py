"""Timestamps on the wire: RFC 3339 UTC with a `Z` (ids come from `core.ids.uuid7`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from saferefer_server.core.cursors import decode_cursor, invalid_cursor
from saferefer_server.core.ids import uuid7
from saferefer_server.core.problems import ProblemError, not_found

__all__ = [
    "cursor_int",
    "cursor_str",
    "no_such",
    "parse_rfc3339",
    "request_time",
    "rfc3339",
    "uuid7",
]

_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def no_such(kind: str, object_id: str) -> ProblemError:
    """404 for an unknown `kind` id; the id is echoed only when it is a canonical UUID.

    A path parameter is client text until it matches: echoing it as-is could put control
    characters or personal data into the problem document and the logs.
    """
    if _CANONICAL_UUID.fullmatch(object_id):
        return not_found(f"no {kind} {object_id}")
    return not_found(f"no {kind} with this id")


def rfc3339(moment: datetime) -> str:
    """`2026-11-28T21:30:00.123Z` — millisecond precision, always UTC."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_rfc3339(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("timestamp without a UTC offset")
    return moment.astimezone(UTC)


def cursor_int(cursor: str, key: str, *, parameter: str = "cursor") -> int:
    """The integer position inside a cursor this node issued (422 problem otherwise)."""
    value = decode_cursor(cursor, keys={key}, parameter=parameter)[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise invalid_cursor(parameter)
    return value


def cursor_str(cursor: str, key: str, *, parameter: str = "cursor") -> str:
    value = decode_cursor(cursor, keys={key}, parameter=parameter)[key]
    if not isinstance(value, str) or len(value) > 200:
        raise invalid_cursor(parameter)
    return value


def request_time(value: str, *, pointer: str) -> datetime:
    """A timestamp from a request body, or a 422 problem naming where it is."""
    try:
        return parse_rfc3339(value)
    except ValueError as exc:
        raise ProblemError(
            422,
            "validation-error",
            "The request is invalid",
            f"{pointer}: not a usable RFC 3339 UTC timestamp",
            errors=[{"pointer": pointer, "detail": "not a usable RFC 3339 UTC timestamp"}],
        ) from exc
