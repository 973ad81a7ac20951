"""What a failing check reports: a :class:`Failure` with expected vs actual and a reproducing curl.

Following schemathesis' failure objects, a failure is data, not a string: reporters render it for a
console, JUnit XML or JSON. Every failure built from an HTTP exchange carries a ``curl``
command that reproduces the request, with bearer tokens, client assertions and private keys
masked, so a report can
be shared with the implementer's team without leaking credentials.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

import httpx

MASK = "***"
#: Headers whose values are secrets.
SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "dpop"})
#: Form or JSON members whose values are secrets.
SECRET_FIELDS = frozenset(
    {"client_assertion", "access_token", "refresh_token", "client_secret", "private_key_jwk", "d"}
)
#: Headers curl adds itself; repeating them only adds noise.
_NOISE_HEADERS = frozenset(
    {"host", "content-length", "accept-encoding", "connection", "user-agent"}
)
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")


@dataclass(frozen=True)
class Failure:
    """One way a server failed a check."""

    title: str
    message: str
    expected: str = ""
    actual: str = ""
    severity: str = "must"
    curl: str | None = None
    status_code: int | None = None
    requirement: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "message": self.message,
            "expected": self.expected,
            "actual": self.actual,
            "severity": self.severity,
            "curl": self.curl,
            "status_code": self.status_code,
            "requirement": self.requirement,
        }


class CheckFailed(Exception):
    """Raised by a check to report one or more failures."""

    def __init__(self, failures: list[Failure]) -> None:
        super().__init__("; ".join(f.title for f in failures))
        self.failures = failures


class Skipped(Exception):
    """Raised by a check that cannot run against this server or configuration (with the reason)."""


@dataclass
class FailureCollector:
    """Gathers several failures in one check before raising them together."""

    failures: list[Failure] = field(default_factory=list)

    def add(self, failure: Failure) -> None:
        self.failures.append(failure)

    def raise_if_any(self) -> None:
        if self.failures:
            raise CheckFailed(list(self.failures))


def mask_text(text: str) -> str:
    """Mask bearer tokens and anything shaped like a compact JWS in free text."""
    return _JWT.sub(MASK, _BEARER.sub(r"\1 " + MASK, text))


def _mask_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (MASK if k in SECRET_FIELDS else _mask_json(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_json(v) for v in value]
    return value


def _masked_body(request: httpx.Request) -> str | None:
    content = request.content
    if not content:
        return None
    text = content.decode("utf-8", errors="replace")
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        pairs = httpx.QueryParams(text)
        return "&".join(f"{k}={MASK if k in SECRET_FIELDS else v}" for k, v in pairs.multi_items())
    if "json" in content_type:
        try:
            return json.dumps(_mask_json(json.loads(text)), separators=(",", ":"))
        except ValueError:
            return mask_text(text)
    return mask_text(text)


def curl_command(request: httpx.Request) -> str:
    """A curl command line reproducing ``request``, with every secret masked."""
    parts = ["curl", "-X", request.method]
    for name, value in request.headers.items():
        lowered = name.lower()
        if lowered in _NOISE_HEADERS:
            continue
        if lowered in SECRET_HEADERS:
            scheme = value.split(" ", 1)[0] if " " in value else ""
            value = f"{scheme} {MASK}".strip()
        parts += ["-H", f"{name}: {value}"]
    body = _masked_body(request)
    if body is not None:
        parts += ["--data-raw", body]
    parts.append(str(request.url))
    return " ".join(shlex.quote(p) for p in parts)


def describe_response(response: httpx.Response, limit: int = 600) -> str:
    """Status, media type and the start of the body (secrets masked), for ``actual``."""
    text = mask_text(response.text)
    if len(text) > limit:
        text = text[:limit] + "…"
    media = response.headers.get("content-type", "-")
    return f"{response.status_code} ({media}) {text}"
