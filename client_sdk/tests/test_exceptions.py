"""The one status → exception mapping, and what each error carries."""

from __future__ import annotations

import socket
import ssl
from typing import Any

import httpx
import pytest
import saferefer
from saferefer._exceptions import _make_status_error, _make_transport_error

P = "https://saferefer.org/problems/"


def _response(
    status: int, problem: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    request = httpx.Request("POST", "https://node.example/v1/referrals")
    return httpx.Response(status, json=problem, headers=headers, request=request)


@pytest.mark.parametrize(
    ("status", "slug", "expected"),
    [
        (400, "validation-error", saferefer.ValidationError),
        (400, "malformed-request", saferefer.BadRequestError),
        (401, "unauthorized", saferefer.AuthenticationError),
        (403, "forbidden", saferefer.PermissionDeniedError),
        (403, "policy-violation", saferefer.PolicyViolationError),
        (404, "not-found", saferefer.NotFoundError),
        (409, "invalid-transition", saferefer.ConflictError),
        (409, "conflict", saferefer.ConflictError),
        (413, "payload-too-large", saferefer.APIStatusError),
        (415, "unsupported-media-type", saferefer.UnsupportedMediaTypeError),
        (422, "validation-error", saferefer.ValidationError),
        (422, "idempotency-key-reuse", saferefer.IdempotencyKeyReuseError),
        (429, "rate-limited", saferefer.RateLimitError),
        (500, "internal-error", saferefer.InternalServerError),
        (503, "policy-engine-unavailable", saferefer.PolicyEngineUnavailableError),
        (503, "service-unavailable", saferefer.InternalServerError),
        (418, None, saferefer.APIStatusError),
    ],
)
def test_make_status_error_maps_type_then_status(
    status: int, slug: str | None, expected: type[Exception]
) -> None:
    problem = {"title": "t", "status": status} | ({"type": P + slug} if slug else {})
    error = _make_status_error(_response(status, problem, {"x-request-id": "req-1"}), problem)
    assert type(error) is expected
    assert isinstance(error, saferefer.APIStatusError)
    assert error.status_code == status
    assert error.request_id == "req-1"
    assert error.slug == slug


def test_policy_violation_carries_codes_and_fixes() -> None:
    problem = {
        "type": P + "policy-violation",
        "title": "Denied by policy",
        "status": 403,
        "detail": "2 violations",
        "decision_id": "01936f5e-8a7b-7c3d-9e4f-0a1b2c3d4e5f",
        "violations": [
            {
                "code": "firewall_immigration_status",
                "rule": "R17",
                "message": "m1",
                "legal_basis": "b",
                "fix": "remove immigration_status",
            },
            {
                "code": "consent_missing",
                "rule": "R5",
                "message": "m2",
                "legal_basis": "b",
                "fix": "record a consent",
            },
        ],
    }
    error = _make_status_error(_response(403, problem), problem)
    assert isinstance(error, saferefer.PolicyViolationError)
    assert error.codes == ["firewall_immigration_status", "consent_missing"]
    assert error.violations[0].fix == "remove immigration_status"
    assert error.decision_id == "01936f5e-8a7b-7c3d-9e4f-0a1b2c3d4e5f"
    assert "Fix: remove immigration_status" in str(error)


def test_policy_violation_keeps_categories_and_level() -> None:
    problem = {
        "type": P + "policy-violation",
        "title": "Denied by policy",
        "status": 403,
        "violations": [
            {
                "code": "consent_categories_not_covered",
                "rule": "R5",
                "level": "MUST",
                "message": "Data categories not covered by the consent grant",
                "legal_basis": "b",
                "fix": "Remove the listed categories.",
                "categories": ["exploitation_account", "immigration_status"],
            },
            {
                "code": "nl_extra_rule",
                "rule": "NL-3",
                "level": "SHOULD",
                "message": "m",
                "legal_basis": "b",
                "fix": "f",
                "overlay": "NL",
            },
        ],
    }
    error = _make_status_error(_response(403, problem), problem)
    assert isinstance(error, saferefer.PolicyViolationError)
    covered, overlay = error.violations
    assert covered.categories == ("exploitation_account", "immigration_status")
    assert covered.level == "MUST"
    assert (overlay.categories, overlay.level, overlay.overlay) == ((), "SHOULD", "NL")
    assert (
        "  - consent_categories_not_covered (R5, MUST): Data categories not covered by the "
        "consent grant [categories: exploitation_account, immigration_status] "
        "Fix: Remove the listed categories."
    ) in str(error).splitlines()
    assert "  - nl_extra_rule (NL-3, SHOULD, NL): m Fix: f" in str(error).splitlines()


def test_conflict_names_allowed_transitions() -> None:
    problem = {
        "type": P + "invalid-transition",
        "title": "t",
        "status": 409,
        "allowed_transitions": ["accepted", "declined"],
    }
    error = _make_status_error(_response(409, problem), problem)
    assert isinstance(error, saferefer.ConflictError)
    assert error.allowed_transitions == ["accepted", "declined"]
    assert "allowed: accepted, declined" in str(error)


def test_validation_error_lists_pointers() -> None:
    problem = {
        "type": P + "validation-error",
        "title": "The request is invalid",
        "status": 422,
        "errors": [
            {"pointer": "#/payload/identity", "detail": "must be of type object"},
            {"parameter": "limit", "detail": "too big"},
        ],
    }
    error = _make_status_error(_response(422, problem), problem)
    assert isinstance(error, saferefer.ValidationError)
    assert [(e.path, e.message) for e in error.errors] == [
        ("#/payload/identity", "must be of type object"),
        ("limit", "too big"),
    ]
    assert "#/payload/identity: must be of type object" in str(error)


def _caused(error: httpx.HTTPError, cause: BaseException) -> httpx.HTTPError:
    error.__cause__ = cause  # as httpx raises it: from httpcore's error, from the OS error
    return error


NODE = "https://node.example:8443/prefix"


@pytest.mark.parametrize(
    ("error", "expected", "message"),
    [
        (
            httpx.ConnectTimeout("t"),
            saferefer.APITimeoutError,
            f"Request timed out: no connection to {NODE} within the connect timeout. "
            f"Is the node running at {NODE}? Check base_url, or pass a longer timeout=.",
        ),
        (httpx.ReadTimeout("t"), saferefer.APITimeoutError, f"{NODE} did not answer within"),
        (httpx.PoolTimeout("t"), saferefer.APITimeoutError, "no free connection in the client's"),
        (
            _caused(httpx.ConnectError("c"), ConnectionRefusedError(111, "Connection refused")),
            saferefer.APIConnectionError,
            f"Connection error: {NODE} refused the connection. Is the node running at {NODE}? "
            "Check base_url (host and port).",
        ),
        (
            _caused(httpx.ConnectError("c"), socket.gaierror(-2, "Name or service not known")),
            saferefer.APIConnectionError,
            f"Connection error: the host name of {NODE} could not be resolved.",
        ),
        (
            _caused(httpx.ConnectError("c"), ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER]")),
            saferefer.APIConnectionError,
            f"Connection error: the TLS handshake with {NODE} failed. Check base_url: https://",
        ),
        (
            _caused(httpx.ConnectError("c"), OSError(113, "No route to host")),
            saferefer.APIConnectionError,
            f"Connection error: could not connect to {NODE} (No route to host).",
        ),
        (
            httpx.RemoteProtocolError("Server disconnected"),
            saferefer.APIConnectionError,
            f"Connection error: {NODE} closed the connection without a valid HTTP answer.",
        ),
        (
            _caused(httpx.ReadError("r"), ConnectionResetError(104, "Connection reset by peer")),
            saferefer.APIConnectionError,
            f"Connection error: {NODE} closed the connection (reset) before answering.",
        ),
        (httpx.ReadError("r"), saferefer.APIConnectionError, "failed while sending or reading"),
        (
            httpx.LocalProtocolError("Illegal header value b'Zanetta'"),
            saferefer.InvalidRequestError,
            "GET /prefix/v1/referrals/ref-1: httpx refused to send the request, a header",
        ),
    ],
    ids=[
        "connect timeout",
        "read timeout",
        "pool timeout",
        "refused",
        "name not resolved",
        "TLS",
        "unreachable",
        "hung up",
        "reset",
        "read error",
        "invalid header",
    ],
)
def test_make_transport_error_says_what_failed_where(
    error: httpx.HTTPError, expected: type[saferefer.SafeReferError], message: str
) -> None:
    request = httpx.Request("GET", "https://node.example:8443/prefix/v1/referrals/ref-1?x=secret")
    translated = _make_transport_error(
        error, request=request, base_url="https://user:pw@node.example:8443/prefix/"
    )
    assert type(translated) is expected
    assert message in str(translated)
    for private in ("pw", "secret", "Zanetta"):
        assert private not in str(translated)
    if isinstance(translated, saferefer.APIConnectionError):
        assert "ref-1" not in str(translated)  # the base URL, never the request's path


def test_every_error_is_a_safe_refer_error() -> None:
    for name in saferefer.__all__:
        value = getattr(saferefer, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, saferefer.SafeReferError), name
