"""RFC 9457 problem details: the one shape of every error the node answers with.

Raise `ProblemError` anywhere below a route; `install_problem_handlers` renders it, FastAPI's
request validation errors, Starlette's HTTP errors (404, 405, ...) and anything else as
`application/problem+json`. Unhandled exceptions become a 500 that says nothing about the cause
(the log has the exception type and the request id; never its message, which could carry data).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Match

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://saferefer.org/problems/"

# Status codes Starlette/FastAPI raise by themselves, and the problem type each one becomes.
_STATUS_SLUGS: dict[int, tuple[str, str]] = {
    400: ("malformed-request", "The request is malformed"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Not allowed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "Conflict"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("validation-error", "The request is invalid"),
    429: ("rate-limited", "Too many requests"),
    500: ("internal-error", "Internal error"),
    503: ("service-unavailable", "Service unavailable"),
}


def problem_type(slug: str) -> str:
    return PROBLEM_TYPE_BASE + slug


class ProblemError(Exception):
    """An error the client should see, rendered as problem+json.

    `extensions` become extra members of the problem document (for example `violations`,
    `errors`, `allowed_transitions`); `headers` are sent with the response (`Retry-After`,
    `WWW-Authenticate`, `Allow`). Never put personal data or payload values into `detail`.
    """

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(f"{status} {slug}: {detail}")
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = extensions

    def to_document(
        self, *, instance: str | None = None, request_id: str | None = None
    ) -> dict[str, Any]:
        document: dict[str, Any] = {
            "type": problem_type(self.slug),
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance is not None:
            document["instance"] = instance
        if request_id is not None:
            document["request_id"] = request_id
        document.update(self.extensions)
        return document


def unauthorized(detail: str) -> ProblemError:
    return ProblemError(
        401,
        "unauthorized",
        "Authentication required",
        detail,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def forbidden(detail: str) -> ProblemError:
    return ProblemError(403, "forbidden", "Not allowed", detail)


def not_found(detail: str) -> ProblemError:
    return ProblemError(404, "not-found", "Not found", detail)


def problem_response(
    problem: ProblemError, *, instance: str | None = None, request_id: str | None = None
) -> Response:
    return JSONResponse(
        problem.to_document(instance=instance, request_id=request_id),
        status_code=problem.status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=problem.headers,
    )


def instance_of(scope: Mapping[str, Any]) -> str:
    """The request path as a URI reference (percent-encoded as the client sent it)."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else str(scope.get("path", "/"))
    return quote(path, safe="/:@!$&'()*+,;=-._~%")[:2048]


def _request_id(request: Request) -> str | None:
    value = getattr(request.state, "request_id", None)
    return value if isinstance(value, str) else None


def render(request: Request, problem: ProblemError) -> Response:
    return problem_response(
        problem, instance=instance_of(request.scope), request_id=_request_id(request)
    )


def problem_for_status(status: int, detail: str | None = None, **headers: str) -> ProblemError:
    fallback = "internal-error" if status >= 500 else "malformed-request"
    slug, title = _STATUS_SLUGS.get(status, (fallback, "Error"))
    return ProblemError(status, slug, title, detail or title, headers=headers)


MAX_REPORTED_ERRORS = 100  # problem.schema.json caps `errors`


def json_pointer(parts: Sequence[Any]) -> str:
    """RFC 6901 pointer, URI fragment form: `("grants", 0, "purposes")` → `#/grants/0/purposes`."""
    return "#" + "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def validation_errors(errors: Sequence[Any]) -> list[dict[str, str]]:
    """Pydantic/FastAPI error dicts → problem `errors` entries (problem.schema.json).

    Each entry has a `detail` and exactly one locator, the member names of RFC 9457's example:
    `pointer` (body member, `#/grants/0/purposes`; `#` for the whole body), `parameter` (query or
    path parameter) or `header`. The rejected input value is never echoed back.
    """
    rendered: list[dict[str, str]] = []
    for error in errors[:MAX_REPORTED_ERRORS]:
        loc = [str(part) for part in error.get("loc", ())]
        source, parts = (loc[0], loc[1:]) if loc else ("body", [])
        if error.get("type") == "json_invalid":
            rendered.append({"pointer": "#", "detail": "the body is not valid JSON"})
            continue
        entry: dict[str, str]
        if source in {"query", "path", "cookie"}:
            entry = {"parameter": ".".join(parts)[:64]}
        elif source == "header":
            entry = {"header": ".".join(parts)[:64]}
        else:
            entry = {"pointer": json_pointer(parts)}
        entry["detail"] = str(error.get("msg") or "invalid value")[:1000]
        rendered.append(entry)
    return rendered


def _locator(entry: dict[str, str]) -> str:
    return entry.get("pointer") or entry.get("parameter") or entry.get("header") or "#"


def validation_problem(errors: Sequence[Any], detail: str | None = None) -> ProblemError:
    rendered = validation_errors(errors)
    if all(e.get("type") == "json_invalid" for e in errors):
        return ProblemError(
            400,
            "malformed-request",
            "The request is malformed",
            "the body is not valid JSON",
            errors=rendered,
        )
    if detail is None:
        first = rendered[0]
        detail = f"{len(errors)} invalid value(s); first at {_locator(first)}: {first['detail']}"
    return ProblemError(422, "validation-error", "The request is invalid", detail, errors=rendered)


async def _problem_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return render(request, exc)


async def _validation_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return render(request, validation_problem(exc.errors()))


async def _http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    detail = exc.detail if isinstance(exc.detail, str) and exc.status_code < 500 else None
    if exc.status_code == 404:
        detail = f"no resource at {request.url.path}"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
        headers["Allow"] = _allowed_methods(request) or headers.get("Allow", "")
    return render(request, problem_for_status(exc.status_code, detail, **headers))


_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> str:
    """Every method the path serves (RFC 9110 §15.5.6). Starlette's 405 names only the methods of
    the first route that matched the path, while FastAPI registers one route per operation, so
    each method is tried against the whole routing table (routes' public `matches`)."""
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )
    ]
    return ", ".join(allowed)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _problem_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
