"""Errors: every error is an RFC 9457 problem document with a registered type, and leaks nothing."""

from __future__ import annotations

import uuid

import httpx

from .. import _builders as b
from .. import _flows as flows
from .._context import Context
from .._failures import FailureCollector
from .._registry import check


@check(
    id="SRC-020",
    name="every_error_is_problem_json",
    title=(
        "Every error answer is application/problem+json with a registered type and matching status"
    ),
    severity="must",
    requirements=["SR-ERR-001", "SR-ERR-002", "SR-ERR-007", "SR-MSG-002", "SR-MSG-008"],
    profile="core",
)
def every_error_is_problem_json(ctx: Context) -> None:
    org = ctx.sender
    missing = str(uuid.UUID(int=uuid.uuid4().int & ~(0xF << 76) | (0x7 << 76)))
    cases: list[tuple[str, httpx.Response, int | tuple[int, ...], str | tuple[str, ...]]] = [
        ("an unknown path", org.get("/v1/conformance-no-such-path"), 404, "not-found"),
        ("an unknown referral id", org.get(flows.referral_path(missing)), 404, "not-found"),
        ("an unsupported method", org.request("DELETE", flows.CONSENTS), 405, "method-not-allowed"),
        (
            "a body that is not JSON",
            org.request(
                "POST",
                flows.CONSENTS,
                content=b"{not json",
                headers={"Content-Type": "application/json"},
            ),
            (400, 422),
            ("malformed-request", "validation-error"),
        ),
        (
            "a non-JSON media type",
            org.request(
                "POST", flows.CONSENTS, content=b"subject=x", headers={"Content-Type": "text/plain"}
            ),
            415,
            "unsupported-media-type",
        ),
        (
            "a schema-invalid consent",
            org.post(flows.CONSENTS, {"subject_ref": "x"}),
            422,
            "validation-error",
        ),
        (
            "a schema-invalid referral",
            org.post(flows.REFERRALS, {"recipient": "nobody"}),
            422,
            "validation-error",
        ),
        ("no access token", org.get(flows.REFERRALS, authenticated=False), 401, "unauthorized"),
    ]
    found = FailureCollector()
    for what, response, status, slug in cases:
        errors = ctx.problem_errors(response, status, slug)
        if errors:
            found.add(
                ctx.failure(
                    f"The answer to {what} is not the right problem",
                    "; ".join(errors),
                    expected=f"{status} application/problem+json {slug}",
                    response=response,
                )
            )
    found.raise_if_any()


@check(
    id="SRC-021",
    name="errors_do_not_echo_personal_data",
    title="Validation and policy errors never repeat payload values",
    severity="must",
    requirements=["SR-ERR-003"],
    profile="core",
)
def errors_do_not_echo_personal_data(ctx: Context) -> None:
    scenario = b.Scenario()
    consent = flows.consent_for(ctx, scenario, categories=["identity"])
    marker = b.canary()
    # Schema-invalid: the marker sits where a data category belongs and inside a wrong-typed value.
    body = b.referral_body(
        scenario=scenario,
        recipient_org_id=ctx.recipient.org_id,
        purpose=flows.support_purpose(ctx),
        consent_ids=[consent["id"]],
        categories=["identity"],
    )
    body["payload"][marker] = {"note": marker}
    body["urgency"] = marker
    invalid = ctx.sender.post(flows.REFERRALS, body)
    # Policy denial: a category the consent does not cover, whose value is the marker.
    denied_body = b.referral_body(
        scenario=scenario,
        recipient_org_id=ctx.recipient.org_id,
        purpose=flows.support_purpose(ctx),
        consent_ids=[consent["id"]],
        categories=["identity", "contact"],
    )
    denied_body["payload"]["contact"] = {"note": marker}
    denied = ctx.sender.post(flows.REFERRALS, denied_body)
    found = FailureCollector()
    for what, response in (("a schema-invalid referral", invalid), ("a denied referral", denied)):
        if response.status_code < 400:
            found.add(
                ctx.failure(
                    f"{what} was accepted",
                    "The check needs it refused.",
                    expected="4xx",
                    response=response,
                )
            )
        elif marker in response.text or scenario.canaries.get("identity", "\0") in response.text:
            found.add(
                ctx.failure(
                    f"The error for {what} repeats a payload value",
                    "Problems name JSON pointers and rules, never the rejected personal data.",
                    expected=f"no occurrence of {marker}",
                    response=response,
                )
            )
    found.raise_if_any()


@check(
    id="SRC-022",
    name="validation_errors_name_locations",
    title="A validation error names each failing location as a JSON Pointer",
    severity="should",
    requirements=["SR-ERR-004"],
    profile="core",
)
def validation_errors_name_locations(ctx: Context) -> None:
    body = b.consent_body(
        subject=b.subject_ref(),
        recipient_org_id=ctx.recipient.org_id,
        recorder_role=flows.recorder_role(ctx.sender),
        purposes=[flows.support_purpose(ctx)],
        categories=["identity"],
    )
    body["grants"][0]["purposes"] = ["conformance_unknown_purpose"]
    response = ctx.sender.post(flows.CONSENTS, body)
    problem = ctx.expect_problem(
        response, 422, "validation-error", "An invalid consent was not refused"
    )
    errors = problem.get("errors")
    pointers = [e.get("path") or e.get("pointer") for e in errors or [] if isinstance(e, dict)]
    if not pointers or not any(
        str(p).lstrip("#").startswith("/grants/0/purposes") for p in pointers
    ):
        ctx.fail(
            "The validation error does not point at the failing member",
            "Each error names a JSON Pointer into the request.",
            expected="an error at /grants/0/purposes/0",
            actual=str(errors)[:300],
            response=response,
        )
