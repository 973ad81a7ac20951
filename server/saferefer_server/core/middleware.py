"""The outermost layer of every request: request id, body-size limit, access log, metrics, the
503 when the database is busy or out of reach, and the last-resort 500.

Written as plain ASGI (not `BaseHTTPMiddleware`) because it wraps every request, including the
latency-critical referral submission.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from fastapi.routing import iter_route_contexts
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from saferefer_server.core import metrics
from saferefer_server.core.logging import request_id_var
from saferefer_server.core.problems import ProblemError, instance_of, problem_response
from saferefer_server.db.errors import Unavailability, unavailability

log = logging.getLogger("saferefer.access")

REQUEST_ID_HEADER = b"x-request-id"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
NO_STORE_PREFIXES = ("/v1/", "/federation/", "/oauth/")
FORM_PATHS = frozenset({"/oauth/token"})  # RFC 6749 token requests are form-encoded
# A client-chosen request id is echoed only when it is short and harmless.
_SAFE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{8,128}$")


RETRY_AFTER_BUSY_S = 1
RETRY_AFTER_UNREACHABLE_S = 5


def _route_template(scope: Scope) -> str:
    """The path template of the route that serves the request (a log field and metric label).

    Some answers are given before the router has run: the idempotency middleware replays a
    stored response, or fails to reach the database to look one up. The template is then found
    the way the router would find it; only a path that no route serves is `<unmatched>`.
    """
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    router = getattr(scope.get("app"), "router", None)
    partial: str | None = None
    for route in iter_route_contexts(getattr(router, "routes", ())):
        match, _ = route.matches(scope)
        if match is Match.FULL and isinstance(route.path, str):
            return route.path
        if match is Match.PARTIAL and partial is None and isinstance(route.path, str):
            partial = route.path  # the path is served, not with this method (405)
    return partial or "<unmatched>"


def _unavailable_problem(cause: Unavailability, method: str) -> ProblemError:
    if cause.busy:
        # SQLite's write lock was not had in time: the transaction rolled back, nothing written.
        return ProblemError(
            503,
            "service-unavailable",
            "Service unavailable",
            "the node's database is busy; nothing was changed, retry after the indicated delay",
            headers={"Retry-After": str(RETRY_AFTER_BUSY_S)},
        )
    # The connection may have gone during a commit, so whether anything was written is unknown:
    # the same Idempotency-Key makes the retry safe either way.
    return ProblemError(
        503,
        "service-unavailable",
        "Service unavailable",
        "the node cannot reach its database; retry after the indicated delay"
        + (" with the same Idempotency-Key" if method == "POST" else ""),
        headers={"Retry-After": str(RETRY_AFTER_UNREACHABLE_S)},
    )


def _internal_problem() -> ProblemError:
    return ProblemError(
        500,
        "internal-error",
        "Internal error",
        "the node failed to answer this request; the failure is logged",
    )


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(REQUEST_ID_HEADER)
        request_id = (
            given.decode() if given and _SAFE_REQUEST_ID.match(given) else str(uuid.uuid4())
        )
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status_holder: dict[str, int] = {"status": 500}
        response_started = False
        encoded_id = request_id.encode()

        async def send_with_id(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                status_holder["status"] = message["status"]
                message["headers"] = self._security_headers(scope, message, encoded_id)
            await send(message)

        try:
            refused = self._declared_too_large(headers) or self._unsupported_media_type(
                scope, headers
            )
            if refused is not None:
                await self._send_problem(scope, receive, send_with_id, refused, request_id)
            else:
                await self._call_limited(scope, receive, send_with_id, request_id)
        except Exception as exc:
            cause = unavailability(exc)
            if cause is not None:
                log.warning(
                    "database busy" if cause.busy else "database unavailable",
                    extra={
                        "route": _route_template(scope),
                        "exception": cause.exception,
                        "reason": cause.reason,
                    },
                )
            else:
                log.error("unhandled exception", exc_info=exc, extra={"path": scope.get("path")})
            if not response_started:
                await self._send_problem(
                    scope,
                    receive,
                    send_with_id,
                    _internal_problem()
                    if cause is None
                    else _unavailable_problem(cause, scope["method"]),
                    request_id,
                )
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            status = status_holder["status"]
            metrics.observe_request(scope["method"], route, status, elapsed)
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                },
            )
            request_id_var.reset(token)

    def _declared_too_large(self, headers: dict[bytes, bytes]) -> ProblemError | None:
        declared = headers.get(b"content-length")
        if declared is None:
            return None
        try:
            length = int(declared)
        except ValueError:
            return ProblemError(
                400, "malformed-request", "The request is malformed", "invalid Content-Length"
            )
        return self._too_large() if length > self.max_body_bytes else None

    @staticmethod
    def _security_headers(scope: Scope, message: Message, request_id: bytes) -> list[Any]:
        """Request id, `nosniff` everywhere (SR-SEC-007), and `no-store` on API responses that
        did not choose a cache policy (they can carry personal data, SR-SEC-006)."""
        headers = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id)]
        headers.append((b"x-content-type-options", b"nosniff"))
        if scope["path"].startswith(NO_STORE_PREFIXES) and not any(
            name.lower() == b"cache-control" for name, _ in headers
        ):
            headers.append((b"cache-control", b"no-store"))
        return headers

    @staticmethod
    def _unsupported_media_type(scope: Scope, headers: dict[bytes, bytes]) -> ProblemError | None:
        """Request bodies are JSON (`application/json` or `+json`), except the OAuth form."""
        if scope["method"] not in BODY_METHODS or scope["path"] in FORM_PATHS:
            return None
        content_type = headers.get(b"content-type")
        if content_type is None:
            has_body = (
                headers.get(b"content-length", b"0") != b"0" or b"transfer-encoding" in headers
            )
            if not has_body:
                return None
            media_type = ""
        else:
            media_type = content_type.split(b";")[0].strip().lower().decode("latin-1")
        if media_type == "application/json" or media_type.endswith("+json"):
            return None
        return ProblemError(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            "the request body must be JSON (Content-Type: application/json)",
        )

    def _too_large(self) -> ProblemError:
        return ProblemError(
            413,
            "payload-too-large",
            "Payload too large",
            f"the request body exceeds {self.max_body_bytes} bytes",
        )

    async def _call_limited(
        self, scope: Scope, receive: Receive, send: Send, request_id: str
    ) -> None:
        """Run the app; if a streamed body grows past the limit, answer 413 at once and tell the
        app the client went away (raising instead would be turned into a 400 by FastAPI)."""
        received = 0
        answered = False

        async def limited_receive() -> Message:
            nonlocal received, answered
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    answered = True
                    await self._send_problem(scope, receive, send, self._too_large(), request_id)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not answered:
                await send(message)

        await self.app(scope, limited_receive, guarded_send)

    async def _send_problem(
        self, scope: Scope, receive: Receive, send: Send, problem: ProblemError, request_id: str
    ) -> None:
        response = problem_response(problem, instance=instance_of(scope), request_id=request_id)
        await response(scope, receive, send)
