"""The one status → exception mapping, and what each error carries."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import saferefer
from saferefer._exceptions import _make_status_error

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


def test_every_error_is_a_safe_refer_error() -> None:
    for name in saferefer.__all__:
        value = getattr(saferefer, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, saferefer.SafeReferError), name
