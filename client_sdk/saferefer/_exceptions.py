"""Every error the SDK raises, under one root, :class:`SafeReferError`::

    SafeReferError
    ├── APIError                           something went wrong talking to the node
    │   ├── APIStatusError                 the node answered with a 4xx/5xx problem+json
    │   │   ├── BadRequestError                400
    │   │   ├── AuthenticationError            401 (after one token refresh and retry)
    │   │   ├── PermissionDeniedError          403
    │   │   │   └── PolicyViolationError       403 policy-violation: ``violations``: codes, categories, fixes
    │   │   ├── NotFoundError                  404
    │   │   ├── ConflictError                  409: ``allowed_transitions`` for invalid-transition
    │   │   ├── UnsupportedMediaTypeError      415
    │   │   ├── ValidationError                422 (or 400 validation-error): ``errors`` with JSON pointers
    │   │   ├── IdempotencyKeyReuseError       422 idempotency-key-reuse
    │   │   ├── RateLimitError                 429
    │   │   └── InternalServerError            5xx
    │   │       └── PolicyEngineUnavailableError   503 policy-engine-unavailable (fail closed)
    │   ├── APIConnectionError             the node could not be reached
    │   │   └── APITimeoutError            ... or did not answer in time
    │   └── APIResponseValidationError     the node answered something the standard does not allow
    ├── InvalidRequestError                the caller's data fails the standard's JSON schema, locally
    ├── ConfigurationError                 the client is missing a base URL, org id or usable key
    ├── EventGapError                      the event feed skipped a sequence number, even on re-read
    ├── PayloadSignatureError              a referral payload's sender signature does not verify
    └── WebhookVerificationError           a webhook delivery's signature or body is not valid

Foreign exceptions (httpx, joserfc, pydantic, jsonschema) never escape: the client translates
them at the boundary. Messages carry ids, codes and JSON paths, never payload values.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "EventGapError",
    "FieldError",
    "IdempotencyKeyReuseError",
    "InternalServerError",
    "InvalidRequestError",
    "NotFoundError",
    "PayloadSignatureError",
    "PermissionDeniedError",
    "PolicyEngineUnavailableError",
    "PolicyViolationError",
    "RateLimitError",
    "SafeReferError",
    "UnsupportedMediaTypeError",
    "ValidationError",
    "Violation",
    "WebhookVerificationError",
]

PROBLEM_TYPE_PREFIX = "https://saferefer.org/problems/"
#: How far down an exception's causes to look for the operating-system error (a bound, since a
#: chain may loop).
_MAX_CAUSE_DEPTH = 8


@dataclass(frozen=True)
class Violation:
    """One policy rule a disclosure broke, and how to fix it.

    ``categories`` are the data categories to remove to fix it (empty when removing data does
    not help), ``level`` is ``"MUST"`` or ``"SHOULD"``, ``overlay`` the country code of the
    jurisdiction overlay that raised it (``None`` for the base rules).
    """

    code: str
    rule: str | None
    message: str
    fix: str | None
    legal_basis: str | None
    categories: tuple[str, ...] = ()
    level: str | None = None
    overlay: str | None = None

    @classmethod
    def from_document(cls, item: Mapping[str, Any]) -> Violation:
        def text(key: str) -> str | None:
            value = item.get(key)
            if value is None:
                return None
            if isinstance(value, list):
                return "; ".join(str(v) for v in value)
            return str(value)

        categories = item.get("categories")
        return cls(
            code=str(item.get("code", "unknown")),
            rule=text("rule"),
            message=text("message") or "",
            fix=text("fix"),
            legal_basis=text("legal_basis"),
            categories=tuple(str(c) for c in categories) if isinstance(categories, list) else (),
            level=text("level"),
            overlay=text("overlay"),
        )

    def __str__(self) -> str:
        """One line: code, rule and level, the message, the categories to remove, the fix."""
        where = ", ".join(part for part in (self.rule, self.level, self.overlay) if part)
        line = f"{self.code}" + (f" ({where})" if where else "") + f": {self.message}"
        if self.categories:
            line += f" [categories: {', '.join(self.categories)}]"
        if self.fix:
            line += f" Fix: {self.fix}"
        return line


@dataclass(frozen=True)
class FieldError:
    """One schema error: where (an RFC 6901 JSON pointer such as ``#/payload/identity``, or the
    name of a query parameter or header) and what rule it broke."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class SafeReferError(Exception):
    """The root of every error the SDK raises."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigurationError(SafeReferError):
    """The client cannot be built: a base URL, organisation id or usable private key is missing."""


class InvalidRequestError(SafeReferError):
    """The caller's document fails the standard's JSON schema; nothing was sent.

    ``errors`` carries the same JSON paths and messages the node would answer with.
    """

    def __init__(self, message: str, *, errors: Sequence[FieldError]) -> None:
        super().__init__(message)
        self.errors: list[FieldError] = list(errors)


class EventGapError(SafeReferError):
    """The event feed jumped over a ``sequence`` number and re-reading did not fill the gap (SR-EVENT-006)."""

    def __init__(self, message: str, *, expected_sequence: int, received_sequence: int) -> None:
        super().__init__(message)
        self.expected_sequence = expected_sequence
        self.received_sequence = received_sequence


class PayloadSignatureError(SafeReferError):
    """A referral payload's signature does not verify with the sender's keys, or covers other data."""


class WebhookVerificationError(SafeReferError):
    """A webhook delivery is not signed by a key of the node, or its body is not a valid event."""


class APIError(SafeReferError):
    """Something went wrong while talking to the node; ``request`` is the HTTP request."""

    def __init__(self, message: str, *, request: httpx.Request) -> None:
        super().__init__(message)
        self.request = request


class APIConnectionError(APIError):
    """The node could not be reached (refused, reset, DNS, TLS...)."""

    def __init__(self, *, request: httpx.Request, message: str = "Connection error.") -> None:
        super().__init__(message, request=request)


class APITimeoutError(APIConnectionError):
    """The node did not answer within the timeout."""

    def __init__(self, *, request: httpx.Request, message: str = "Request timed out.") -> None:
        super().__init__(request=request, message=message)


class APIResponseValidationError(APIError):
    """The node answered with a body that does not match the standard's schema."""

    def __init__(self, message: str, *, response: httpx.Response) -> None:
        super().__init__(message, request=response.request)
        self.response = response
        self.status_code = response.status_code


class APIStatusError(APIError):
    """The node answered with an error status and (normally) an RFC 9457 problem document."""

    def __init__(
        self, message: str, *, response: httpx.Response, problem: Mapping[str, Any]
    ) -> None:
        super().__init__(message, request=response.request)
        self.response = response
        self.status_code: int = response.status_code
        self.request_id: str | None = response.headers.get("x-request-id")
        self.problem: dict[str, Any] = dict(problem)
        problem_type = str(problem.get("type", ""))
        self.type: str = problem_type
        self.slug: str | None = (
            problem_type.removeprefix(PROBLEM_TYPE_PREFIX)
            if problem_type.startswith(PROBLEM_TYPE_PREFIX)
            else None
        )
        self.title: str | None = _optional_str(problem.get("title"))
        self.detail: str | None = _optional_str(problem.get("detail"))


class BadRequestError(APIStatusError):
    """400: the request is malformed."""


class AuthenticationError(APIStatusError):
    """401: the node refused the organisation's credentials, even after a fresh token."""


class PermissionDeniedError(APIStatusError):
    """403: the organisation may not do this."""


class PolicyViolationError(PermissionDeniedError):
    """403 policy-violation: the policy refused the disclosure.

    ``violations`` lists every rule broken, each with its code, level, message, legal basis, fix
    and the data categories to remove.
    """

    def __init__(
        self, message: str, *, response: httpx.Response, problem: Mapping[str, Any]
    ) -> None:
        super().__init__(message, response=response, problem=problem)
        raw = problem.get("violations")
        self.violations: list[Violation] = [
            Violation.from_document(v)
            for v in (raw if isinstance(raw, list) else [])
            if isinstance(v, Mapping)
        ]
        decision_id = problem.get("decision_id")
        self.decision_id: str | None = decision_id if isinstance(decision_id, str) else None

    @property
    def codes(self) -> list[str]:
        return [v.code for v in self.violations]


class NotFoundError(APIStatusError):
    """404: no such object, or not one this organisation may see."""


class ConflictError(APIStatusError):
    """409: the object is in a state that forbids this; ``allowed_transitions`` says what is allowed."""

    def __init__(
        self, message: str, *, response: httpx.Response, problem: Mapping[str, Any]
    ) -> None:
        super().__init__(message, response=response, problem=problem)
        self.current_state: str | None = _optional_str(problem.get("current_state"))
        raw = problem.get("allowed_transitions")
        self.allowed_transitions: list[str] = (
            [t if isinstance(t, str) else str(t.get("to", t)) for t in raw]
            if isinstance(raw, list)
            else []
        )


class UnsupportedMediaTypeError(APIStatusError):
    """415: the body was not JSON."""


class ValidationError(APIStatusError):
    """422 (or 400 validation-error): the body fails the schema; ``errors`` has JSON paths."""

    def __init__(
        self, message: str, *, response: httpx.Response, problem: Mapping[str, Any]
    ) -> None:
        super().__init__(message, response=response, problem=problem)
        self.errors: list[FieldError] = _field_errors(problem.get("errors"))


class IdempotencyKeyReuseError(APIStatusError):
    """422 idempotency-key-reuse: the same Idempotency-Key was sent earlier with another body."""


class RateLimitError(APIStatusError):
    """429: too many requests (retried automatically before this is raised)."""


class InternalServerError(APIStatusError):
    """5xx: the node failed (retried automatically before this is raised)."""


class PolicyEngineUnavailableError(InternalServerError):
    """503 policy-engine-unavailable: the node could not reach its policy engine and refused (fail closed)."""


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _field_errors(raw: object) -> list[FieldError]:
    if not isinstance(raw, list):
        return []
    out: list[FieldError] = []
    for item in raw:
        if not isinstance(item, Mapping):
            continue
        where = item.get("pointer") or item.get("parameter") or item.get("header") or "#"
        out.append(FieldError(path=str(where), message=str(item.get("detail", ""))))
    return out


_BY_SLUG: dict[str, type[APIStatusError]] = {
    "policy-violation": PolicyViolationError,
    "policy-engine-unavailable": PolicyEngineUnavailableError,
    "invalid-transition": ConflictError,
    "validation-error": ValidationError,
    "idempotency-key-reuse": IdempotencyKeyReuseError,
}

_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    415: UnsupportedMediaTypeError,
    422: ValidationError,
    429: RateLimitError,
}


def _make_status_error(response: httpx.Response, problem: Mapping[str, Any]) -> APIStatusError:
    """The one place that maps an error response to its exception class.

    The problem ``type`` wins over the status code (a 403 may be a plain refusal or a policy
    violation; a 400 may carry validation errors); unknown 4xx are :class:`APIStatusError`.
    """
    problem_type = str(problem.get("type", ""))
    slug = (
        problem_type.removeprefix(PROBLEM_TYPE_PREFIX)
        if problem_type.startswith(PROBLEM_TYPE_PREFIX)
        else ""
    )
    status = response.status_code
    cls = _BY_SLUG.get(slug) or _BY_STATUS.get(status)
    if cls is None:
        cls = InternalServerError if status >= 500 else APIStatusError
    return cls(_status_message(status, problem, cls), response=response, problem=problem)


def _make_transport_error(
    error: httpx.HTTPError, *, request: httpx.Request, base_url: str
) -> SafeReferError:
    """The one place that maps an httpx failure to send a request or read its answer.

    httpx refusing to write the request (``LocalProtocolError``: a header value with a line
    break...) is the caller's mistake: :class:`InvalidRequestError`, never retried. Anything else
    means the node was not reached or did not answer: :class:`APITimeoutError` or
    :class:`APIConnectionError`, saying what failed, at which base URL (configuration; never the
    path or query, which can hold ids), and what to check.
    """
    if isinstance(error, httpx.LocalProtocolError):
        return InvalidRequestError(
            f"{request.method} {request.url.path}: httpx refused to send the request, a header "
            "name or value is not valid HTTP (a line break or control character?); nothing was "
            "sent. Check extra_headers and default_headers.",
            errors=[FieldError("headers", "must be valid HTTP header names and values")],
        )
    node = _node_address(base_url)
    running = f"Is the node running at {node}? Check base_url"
    if isinstance(error, httpx.TimeoutException):
        what = {
            httpx.ConnectTimeout: f"no connection to {node} within the connect timeout",
            httpx.WriteTimeout: f"sending the request to {node} took longer than the timeout",
            httpx.PoolTimeout: "no free connection in the client's pool within the timeout",
        }.get(type(error), f"{node} did not answer within the timeout")
        return APITimeoutError(
            request=request,
            message=f"Request timed out: {what}. {running}, or pass a longer timeout=.",
        )
    cause = _os_error(error)
    if isinstance(cause, ssl.SSLError):
        message = (
            f"the TLS handshake with {node} failed. Check base_url: https:// needs a node that "
            "serves TLS with a certificate this machine trusts (a local demo node serves http://)."
        )
    elif isinstance(cause, socket.gaierror):
        message = f"the host name of {node} could not be resolved. Check the host in base_url."
    elif isinstance(cause, ConnectionRefusedError):
        message = f"{node} refused the connection. {running} (host and port)."
    elif isinstance(error, httpx.RemoteProtocolError):
        message = (
            f"{node} closed the connection without a valid HTTP answer. Is a SafeRefer node "
            f"running at {node}? Check base_url."
        )
    elif isinstance(cause, ConnectionResetError | BrokenPipeError):
        message = (
            f"{node} closed the connection (reset) before answering. Is a SafeRefer node "
            f"running at {node}? Check base_url."
        )
    elif isinstance(error, httpx.ConnectError):
        reason = f" ({cause.strerror})" if cause is not None and cause.strerror else ""
        message = f"could not connect to {node}{reason}. {running}."
    else:
        message = f"the connection to {node} failed while sending or reading. {running}."
    return APIConnectionError(request=request, message=f"Connection error: {message}")


def _node_address(base_url: str) -> str:
    """``scheme://host[:port][/prefix]`` of the base URL, without user information."""
    url = httpx.URL(base_url)
    return f"{url.scheme}://{url.netloc.decode('ascii')}{url.path}".rstrip("/")


def _os_error(error: BaseException) -> OSError | None:
    """The operating-system error behind an httpx error, if any: httpx wraps httpcore's error,
    which wraps it (an async connect adds an errno-less "All connection attempts failed")."""
    cause = error.__cause__ or error.__context__
    for _ in range(_MAX_CAUSE_DEPTH):
        if cause is None:
            return None
        if isinstance(cause, ssl.SSLError | socket.gaierror) or (
            isinstance(cause, OSError) and cause.errno is not None
        ):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def _status_message(status: int, problem: Mapping[str, Any], cls: type[APIStatusError]) -> str:
    title = _optional_str(problem.get("title")) or "error"
    detail = _optional_str(problem.get("detail"))
    message = f"{status} {title}" + (f": {detail}" if detail else "")
    if cls is PolicyViolationError:
        lines = [
            f"  - {Violation.from_document(raw)}"
            for raw in problem.get("violations") or []
            if isinstance(raw, Mapping)
        ]
        if lines:
            message += "\n" + "\n".join(lines)
    elif issubclass(cls, ValidationError):
        errors = _field_errors(problem.get("errors"))
        if errors:
            message += "\n" + "\n".join(f"  - {e}" for e in errors)
    elif cls is ConflictError:
        allowed = problem.get("allowed_transitions")
        if isinstance(allowed, list):
            names = [t if isinstance(t, str) else str(t.get("to", t)) for t in allowed]
            message += f" (allowed: {', '.join(names) if names else 'none'})"
    return message
