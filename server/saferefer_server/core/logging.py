"""Structured JSON logs: one object per line, with the request id of the request being served.

Log records carry ids and counts only. The formatter never renders exception messages or
tracebacks' local values (they could hold personal data): only the exception type and where it
was raised.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("saferefer_request_id", default=None)

# Attributes every LogRecord has; anything else passed with `extra=` becomes a JSON field.
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "taskName"}
    # uvicorn's terminal-coloured duplicate of the message
    | {"color_message"}
)


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            frames = traceback.extract_tb(exc.__traceback__)
            entry["exception"] = type(exc).__qualname__
            entry["exception_at"] = [f"{f.filename}:{f.lineno} in {f.name}" for f in frames[-5:]]
        return json.dumps(entry, default=str, separators=(",", ":"))


# Libraries that log SQL parameters, request bodies or URLs at DEBUG or INFO. Those values can be
# personal data, so these loggers stay at WARNING whatever SAFEREFER_LOG_LEVEL says.
VALUE_LOGGERS = ("aiosqlite", "sqlalchemy", "psycopg", "httpx", "httpcore", "opa_client", "aiohttp")


def configure_logging(level: str = "INFO") -> None:
    """Route the node's, uvicorn's and SQLAlchemy's loggers through the JSON formatter."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in VALUE_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # The access log is ours (see core.middleware): uvicorn's would log raw query strings.
    access = logging.getLogger("uvicorn.access")
    access.handlers[:] = []
    access.propagate = False
    access.disabled = True
