"""Opaque list cursors: base64url JSON the client hands back unchanged.

The cursor holds only the sort key of the last item returned; the query that consumes it is
always filtered by the caller's permissions again, so a forged cursor reveals nothing more.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from saferefer_server.core.problems import ProblemError


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, *, keys: set[str], parameter: str = "cursor") -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeError) as exc:
        raise invalid_cursor(parameter) from exc
    if not isinstance(position, dict) or set(position) != keys:
        raise invalid_cursor(parameter)
    return position


def invalid_cursor(parameter: str = "cursor") -> ProblemError:
    return ProblemError(
        422,
        "validation-error",
        "The request is invalid",
        "the cursor is not one this node issued; start again without it",
        errors=[{"parameter": parameter, "detail": "unknown cursor"}],
    )
