"""Contract and fuzz checks: schemathesis over spec/openapi.yaml, with real access tokens.

Every operation of the standard's OpenAPI document that belongs to a profile the server claims
(core always; the event feed and webhook subscriptions only for `events`; the trust list only for
`federation`) is exercised with a bounded number of generated requests (positive and negative),
authenticated as the sender organisation. The example counts are small on purpose: the core
profile must finish in minutes. Deep fuzzing is a separate, longer run
(``SAFEREFER_CONFORMANCE_FUZZ_EXAMPLES``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import httpx
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import HypothesisException, Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import Failure as SchemathesisFailure
from schemathesis.core.failures import FailureGroup

from .. import _spec
from .._context import Context
from .._failures import Failure, FailureCollector, curl_command, mask_text
from .._registry import check

EXAMPLES = int(os.environ.get("SAFEREFER_CONFORMANCE_FUZZ_EXAMPLES", "4"))
MAX_FAILURES = 10
#: Operations whose generated requests would disturb the run rather than test the contract
#: (the token endpoint is covered by the authentication checks; /metrics is not JSON).
SKIPPED_OPERATIONS = {"issueToken", "getMetrics", "receiveFederationMessage"}
#: Operations not fed generated *valid* data: a generated webhook subscription would make the node
#: call arbitrary URLs (webhook_deliveries_signed covers subscriptions with a receiver the suite owns).
POSITIVE_SKIPPED = {"createSubscription"}

#: The OpenAPI tags of the operations each optional profile adds (spec/standard.md §1: `events` is
#: section 12, the feed and webhook subscriptions; `federation` is section 16). A server that does
#: not claim a profile need not serve its operations, so the contract checks leave them out.
PROFILE_TAGS = {"events": ("events", "subscriptions"), "federation": ("federation",)}

CheckFn = Callable[..., Any]


def _schema() -> Any:
    # Loaded from the file, so that its relative `$ref`s into schemas/ resolve.
    return schemathesis.openapi.from_path(str(_spec.spec_dir() / "openapi.yaml"))


def _operations(ctx: Context) -> list[Any]:
    """The operations of the profiles the server claims, less those in ``SKIPPED_OPERATIONS``."""
    unclaimed = {
        tag
        for profile, tags in PROFILE_TAGS.items()
        if not ctx.claims_profile(profile)
        for tag in tags
    }
    operations = []
    for result in _schema().get_all_operations():
        try:
            operation = result.ok()
        except AttributeError:  # an operation schemathesis cannot load: a defect of the spec itself
            raise RuntimeError(f"spec/openapi.yaml cannot be loaded: {result.err()}") from None
        if _operation_id(operation) in SKIPPED_OPERATIONS:
            continue
        if unclaimed & set(operation.definition.raw.get("tags") or []):
            continue
        operations.append(operation)
    return operations


def _operation_id(operation: Any) -> str:
    return str(operation.definition.raw.get("operationId", ""))


def _is_public(operation: Any) -> bool:
    security = operation.definition.raw.get("security", _spec.openapi().get("security", []))
    return security == [] or {} in security


def _fixed(operation: Any) -> dict[str, Any]:
    """Parameters held constant: a long-poll ``wait`` would turn every feed request into a pause."""
    if any(p.name == "wait" for p in operation.query):
        return {"query": {"wait": 0}}
    return {}


def _label(operation: Any) -> str:
    return f"{operation.method.upper()} {operation.path}"


def _curl(prepared: requests.PreparedRequest) -> str:
    """The generated request as curl, masked as every other failure's is (``Bearer ***``)."""
    body = prepared.body
    if isinstance(body, str):
        body = body.encode()
    request = httpx.Request(
        str(prepared.method),
        str(prepared.url),
        headers={
            k: v.decode("latin-1") if isinstance(v, bytes) else v
            for k, v in prepared.headers.items()
        },
        content=body if isinstance(body, bytes) else None,
    )
    return curl_command(request)


def _describe(exc: FailureGroup | SchemathesisFailure) -> str:
    groups = exc.exceptions if isinstance(exc, FailureGroup) else [exc]
    parts = (f"{getattr(f, 'title', '')}: {getattr(f, 'message', f)}".strip(": ") for f in groups)
    return "; ".join(mask_text(part)[:400] for part in parts)


def _exercise_operation(
    ctx: Context,
    operation: Any,
    *,
    mode: GenerationMode,
    checks: list[CheckFn],
    title: str,
    headers: dict[str, str],
    examples: int,
) -> list[Failure]:
    """Generate up to ``examples`` requests for one operation; the first failure, if any."""
    failures: list[Failure] = []

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, **_fixed(operation)))
    def exercise(case: Any) -> None:
        if failures:
            return
        response = case.call(
            base_url=ctx.base_url, headers=headers, timeout=ctx.config.timeout_seconds
        )
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except (FailureGroup, SchemathesisFailure) as exc:
            failures.append(
                Failure(
                    title=f"{title}: {_label(operation)}",
                    message=_describe(exc),
                    actual=f"{response.status_code} {mask_text(response.text[:300])}",
                    curl=_curl(response.request),
                    status_code=response.status_code,
                )
            )

    try:
        exercise()
    except Unsatisfiable:
        pass  # no request can violate the schema of an operation without inputs: nothing to test
    except HypothesisException as exc:  # a schema no request satisfies: a defect of the spec
        failures.append(
            Failure(
                title=f"No request could be generated for {_label(operation)}",
                message=str(exc)[:300],
            )
        )
    except requests.RequestException as exc:
        failures.append(
            Failure(
                title=f"{_label(operation)}: the exchange failed", message=mask_text(str(exc))[:300]
            )
        )
    return failures


def _exercise(
    ctx: Context,
    *,
    mode: GenerationMode,
    checks: list[CheckFn],
    title: str,
    authenticated: bool = True,
    examples: int = EXAMPLES,
) -> None:
    found = FailureCollector()
    for operation in _operations(ctx):
        if len(found.failures) >= MAX_FAILURES:
            break
        if mode == GenerationMode.POSITIVE and _operation_id(operation) in POSITIVE_SKIPPED:
            continue
        headers = {}
        if authenticated and not _is_public(operation):
            headers["Authorization"] = f"Bearer {ctx.sender.token()}"
        for failure in _exercise_operation(
            ctx,
            operation,
            mode=mode,
            checks=checks,
            title=title,
            headers=headers,
            examples=examples,
        ):
            found.add(failure)
    found.raise_if_any()


@check(
    id="SRC-100",
    name="openapi_no_server_errors",
    title="No generated request, valid or invalid, makes the server answer 5xx",
    severity="must",
    requirements=["SR-ERR-005"],
    profile="core",
)
def openapi_no_server_errors(ctx: Context) -> None:
    _exercise(ctx, mode=GenerationMode.POSITIVE, checks=[not_a_server_error], title="Server error")
    _exercise(
        ctx,
        mode=GenerationMode.NEGATIVE,
        checks=[not_a_server_error],
        title="Server error on invalid input",
    )


@check(
    id="SRC-101",
    name="openapi_responses_conform",
    title="Responses to generated valid requests use documented statuses, media types and schemas",
    severity="must",
    requirements=["SR-MSG-001", "SR-ERR-001"],
    profile="core",
)
def openapi_responses_conform(ctx: Context) -> None:
    _exercise(
        ctx,
        mode=GenerationMode.POSITIVE,
        checks=[status_code_conformance, content_type_conformance, response_schema_conformance],
        title="Response does not conform to spec/openapi.yaml",
    )


@check(
    id="SRC-102",
    name="openapi_invalid_data_rejected",
    title="Generated requests that violate the schemas are rejected with 4xx",
    severity="must",
    requirements=["SR-MSG-002"],
    profile="core",
)
def openapi_invalid_data_rejected(ctx: Context) -> None:
    _exercise(
        ctx,
        mode=GenerationMode.NEGATIVE,
        checks=[negative_data_rejection],
        title="Invalid request accepted",
    )


@check(
    id="SRC-103",
    name="openapi_authentication_not_ignored",
    title="Every protected operation answers 401 to a request without credentials",
    severity="must",
    requirements=["SR-AUTH-001"],
    profile="core",
)
def openapi_authentication_not_ignored(ctx: Context) -> None:
    found = FailureCollector()
    for operation in _operations(ctx):
        if _is_public(operation):
            continue
        path = operation.path
        for name in operation.path_parameters:
            path = path.replace("{" + name.name + "}", "01936f5e-8a7b-7c3d-9e4f-0a1b2c3d4e5f")
        response = ctx.http.request(
            operation.method.upper(),
            path,
            headers={"Accept": "application/json"},
            json={} if operation.method.lower() == "post" else None,
        )
        if errors := ctx.problem_errors(response, 401, "unauthorized"):
            found.add(
                ctx.failure(
                    f"{_label(operation)} without credentials was not refused",
                    "; ".join(errors),
                    expected="401 unauthorized problem",
                    response=response,
                )
            )
    found.raise_if_any()
