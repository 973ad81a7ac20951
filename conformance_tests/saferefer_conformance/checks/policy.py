"""Minimisation and the policy decision contract: denials name the right violations, dry-runs agree.

The scenario checks exercise representative rules of the rights catalogue end to end — consent
coverage (R5, R6, R8), unconditional support (R1), the immigration firewall (R17), the minimisation
matrix (R11, R32), origin-country protection (R21, R22), onward sharing (R14). The full rule set is
verified by the decision vectors published with the reference policy; the suite checks that a server
wires the policy into every disclosure and reports its decisions as the standard says.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import httpx

from .. import _builders as b
from .. import _flows as flows
from .. import _spec
from .._context import Context
from .._failures import FailureCollector
from .._registry import check

VIOLATION_MEMBERS = ("code", "rule", "message", "legal_basis", "fix")


def violation_codes() -> set[str]:
    return set(_spec.codes("violation-codes"))


def expect_denied_for(
    ctx: Context, response: httpx.Response, codes: Collection[str], title: str
) -> list[dict[str, Any]]:
    """A 403 policy-violation naming at least one of ``codes``, every violation complete."""
    if response.status_code < 300:
        ctx.fail(
            title,
            "The server allowed a disclosure the policy must deny.",
            expected=f"403 policy-violation with one of {sorted(codes)}",
            response=response,
        )
    problem = ctx.expect_problem(response, 403, "policy-violation", title)
    violations = problem.get("violations")
    if not isinstance(violations, list) or not violations:
        ctx.fail(
            title,
            "A policy denial lists its violations.",
            expected="a non-empty violations list",
            response=response,
            requirement="SR-POLICY-007",
        )
    known = violation_codes()
    for violation in violations:
        missing = [m for m in VIOLATION_MEMBERS if not violation.get(m)]
        if missing:
            ctx.fail(
                "A violation is incomplete",
                f"members missing: {missing}",
                expected=str(VIOLATION_MEMBERS),
                actual=str(violation)[:300],
                response=response,
                requirement="SR-POLICY-007",
            )
        if violation.get("code") not in known:
            ctx.fail(
                "A violation code is not registered",
                "Codes come from the violation-codes code list.",
                expected="a code of spec/codelists/violation-codes.json",
                actual=str(violation.get("code")),
                response=response,
                requirement="SR-POLICY-008",
            )
    returned = {str(v.get("code")) for v in violations}
    if not returned & set(codes):
        ctx.fail(
            title,
            "The denial does not name the rule that was broken.",
            expected=f"a violation with code in {sorted(codes)}",
            actual=f"codes {sorted(returned)}",
            response=response,
        )
    return list(violations)


def _dry_run(ctx: Context, body: dict[str, Any]) -> tuple[httpx.Response, dict[str, Any]]:
    response = ctx.sender.post(flows.DECISIONS, body)
    decision = ctx.expect_success(response, "The policy dry-run (POST /v1/policy/decisions) failed")
    ctx.expect_schema(
        decision,
        "policy-decision.schema.json",
        "The dry-run decision does not match its schema",
        response,
    )
    return response, decision


@check(
    id="SRC-040",
    name="referral_without_covering_consent_refused",
    title=(
        "A referral whose consents do not cover recipient or purpose is refused with R5 violations"
    ),
    severity="must",
    requirements=["SR-CONSENT-006", "SR-POLICY-001", "SR-POLICY-007", "SR-POLICY-008"],
    profile="core",
)
def referral_without_covering_consent_refused(ctx: Context) -> None:
    outsider = ctx.outsider()
    # A consent naming another recipient.
    scenario = b.Scenario()
    elsewhere = flows.consent_for(ctx, scenario, recipient=outsider)
    expect_denied_for(
        ctx,
        flows.send(ctx, scenario, [elsewhere["id"]]),
        {"consent_missing"},
        "A referral under a consent naming another recipient was not refused",
    )
    # A consent for another purpose.
    scenario = b.Scenario()
    other_purpose = "legal_aid" if flows.support_purpose(ctx) != "legal_aid" else "assistance"
    wrong_purpose = flows.consent_for(ctx, scenario, purposes=[other_purpose])
    expect_denied_for(
        ctx,
        flows.send(ctx, scenario, [wrong_purpose["id"]]),
        {"consent_missing"},
        "A referral under a consent for another purpose was not refused",
    )
    # No consent at all.
    expect_denied_for(
        ctx,
        flows.send(ctx, b.Scenario(), []),
        {"consent_missing"},
        "A referral citing no consent was not refused",
    )


@check(
    id="SRC-041",
    name="uncovered_category_refused",
    title=(
        "A category the consent does not cover — or a special category without explicit consent "
        "— is refused"
    ),
    severity="must",
    requirements=["SR-CONSENT-006", "SR-CONSENT-007", "SR-POLICY-009"],
    profile="core",
)
def uncovered_category_refused(ctx: Context) -> None:
    scenario = b.Scenario()
    narrow = flows.consent_for(ctx, scenario, categories=["identity"])
    response = flows.send(ctx, scenario, [narrow["id"]], categories=["identity", "contact"])
    expect_denied_for(
        ctx,
        response,
        {"consent_categories_not_covered", "consent_missing"},
        "A referral with a category the consent does not cover was not refused",
    )
    scenario = b.Scenario()
    implicit = flows.consent_for(ctx, scenario, categories=["identity", "health"])
    response = flows.send(ctx, scenario, [implicit["id"]], categories=["identity", "health"])
    expect_denied_for(
        ctx,
        response,
        {"special_category_not_explicit"},
        "Health data without explicit consent for it was not refused",
    )


@check(
    id="SRC-042",
    name="policy_dry_run_agrees_with_submission",
    title="The policy dry-run returns the decision the real send gets, and sends nothing",
    severity="must",
    requirements=["SR-POLICY-020", "SR-POLICY-003"],
    profile="core",
)
def policy_dry_run_agrees_with_submission(ctx: Context) -> None:
    scenario = b.Scenario()
    consent = flows.consent_for(ctx, scenario, categories=["identity"])
    purpose = flows.support_purpose(ctx)
    allowed = b.referral_body(
        scenario=scenario,
        recipient_org_id=ctx.recipient.org_id,
        purpose=purpose,
        consent_ids=[consent["id"]],
        categories=["identity"],
    )
    denied = b.referral_body(
        scenario=scenario,
        recipient_org_id=ctx.recipient.org_id,
        purpose=purpose,
        consent_ids=[consent["id"]],
        categories=["identity", "contact"],
    )
    response, decision = _dry_run(ctx, allowed)
    if decision.get("allow") is not True:
        ctx.fail(
            "The dry-run denies a covered referral", "", expected="allow: true", response=response
        )
    response, decision = _dry_run(ctx, denied)
    if decision.get("allow") is not False:
        ctx.fail(
            "The dry-run allows an uncovered category",
            "",
            expected="allow: false",
            response=response,
        )
    dry_codes = {v.get("code") for v in decision.get("violations", [])}
    inbox = flows.list_all(
        ctx, ctx.recipient, flows.REFERRALS, {"box": "inbox", "limit": flows.PAGE}
    )
    if any(item.get("subject_ref") == scenario.subject_ref for item in inbox):
        ctx.fail(
            "The dry-run delivered a referral",
            "A dry-run never stores or sends.",
            expected="nothing in the inbox",
        )
    real_denied = ctx.sender.post(flows.REFERRALS, denied)
    real = expect_denied_for(
        ctx,
        real_denied,
        dry_codes or {"consent_categories_not_covered"},
        "The real send of a body the dry-run denied was not refused",
    )
    if {v.get("code") for v in real} != dry_codes:
        ctx.fail(
            "The dry-run and the real send name different violations",
            "",
            expected=str(sorted(map(str, dry_codes))),
            actual=str(sorted(str(v.get("code")) for v in real)),
            response=real_denied,
        )
    ctx.expect_success(
        ctx.sender.post(flows.REFERRALS, allowed),
        "The real send of a body the dry-run allowed was refused",
    )


@check(
    id="SRC-043",
    name="unknown_codes_refused",
    title="Unknown purposes and categories are refused, never allowed (deny by default)",
    severity="must",
    requirements=["SR-TERM-001", "SR-POLICY-005"],
    profile="core",
)
def unknown_codes_refused(ctx: Context) -> None:
    scenario = b.Scenario()
    consent = flows.consent_for(ctx, scenario)
    found = FailureCollector()
    mutations: dict[str, Callable[[dict[str, Any]], None]] = {
        "an unknown purpose": lambda body: body.__setitem__(
            "purpose", "conformance_unknown_purpose"
        ),
        "an unknown data category": lambda body: body["payload"].__setitem__(
            "conformance_unknown_category", {"note": "x"}
        ),
    }
    for what, mutate in mutations.items():
        body = b.referral_body(
            scenario=scenario,
            recipient_org_id=ctx.recipient.org_id,
            purpose=flows.support_purpose(ctx),
            consent_ids=[consent["id"]],
            categories=list(flows.BASIC_CATEGORIES),
        )
        mutate(body)
        response = ctx.sender.post(flows.REFERRALS, body)
        if errors := ctx.problem_errors(
            response, (403, 422), ("validation-error", "policy-violation")
        ):
            found.add(
                ctx.failure(
                    f"A referral with {what} was not refused",
                    "; ".join(errors),
                    expected="422 validation-error or 403 policy-violation",
                    response=response,
                )
            )
    found.raise_if_any()


@check(
    id="SRC-044",
    name="undeclared_payload_category_refused",
    title="A payload member that is not a data-category code is refused with 422",
    severity="must",
    requirements=["SR-MSG-007"],
    profile="core",
)
def undeclared_payload_category_refused(ctx: Context) -> None:
    scenario = b.Scenario()
    consent = flows.consent_for(ctx, scenario)
    body = b.referral_body(
        scenario=scenario,
        recipient_org_id=ctx.recipient.org_id,
        purpose=flows.support_purpose(ctx),
        consent_ids=[consent["id"]],
        categories=["identity"],
    )
    body["payload"]["passport_scan"] = {"note": b.canary()}
    ctx.expect_problem(
        ctx.sender.post(flows.REFERRALS, body),
        422,
        "validation-error",
        "A payload member outside the data-category code list was not refused",
    )


@check(
    id="SRC-045",
    name="support_conditional_on_cooperation_refused",
    title="A support referral conditional on cooperating with the authorities is refused (R1)",
    severity="must",
    requirements=["SR-POLICY-011"],
    profile="core",
)
def support_conditional_on_cooperation_refused(ctx: Context) -> None:
    scenario = b.Scenario()
    consent = flows.consent_for(ctx, scenario)
    response = flows.send(
        ctx, scenario, [consent["id"]], payload_flags={"support_conditional_on_cooperation": True}
    )
    expect_denied_for(
        ctx,
        response,
        {"support_conditional_on_cooperation"},
        "Support conditional on cooperation was not refused",
    )


@check(
    id="SRC-046",
    name="immigration_firewall_enforced",
    title=(
        "Data revealing irregular status never flows from an NGO to immigration enforcement (R17)"
    ),
    severity="must",
    requirements=["SR-POLICY-012"],
    profile="core",
)
def immigration_firewall_enforced(ctx: Context) -> None:
    immigration = ctx.org("immigration_authority")
    scenario = b.Scenario()
    categories = ["identity", "immigration_status"]
    consent = flows.consent_for(
        ctx, scenario, recipient=immigration, purposes=["residence_permit"], categories=categories
    )
    response = flows.send(
        ctx,
        scenario,
        [consent["id"]],
        categories=categories,
        purpose="residence_permit",
        recipient=immigration,
        payload_flags={"reveals_irregular_status": True, "for_immigration_enforcement": True},
    )
    expect_denied_for(
        ctx,
        response,
        {"firewall_immigration_status", "assistance_data_used_against_subject"},
        "Irregular-status data went from an NGO to an immigration authority",
    )


@check(
    id="SRC-047",
    name="minimisation_matrix_enforced",
    title=(
        "A 'never' cell of the minimisation matrix and a role not permitted for the purpose are "
        "refused"
    ),
    severity="must",
    requirements=["SR-POLICY-010", "SR-POLICY-018"],
    profile="core",
)
def minimisation_matrix_enforced(ctx: Context) -> None:
    police = ctx.org("police")
    scenario = b.Scenario()
    categories = ["identity", "immigration_status"]
    consent = flows.consent_for(
        ctx, scenario, recipient=police, purposes=["criminal_investigation"], categories=categories
    )
    response = flows.send(
        ctx,
        scenario,
        [consent["id"]],
        categories=categories,
        purpose="criminal_investigation",
        recipient=police,
    )
    with ctx.requirement("SR-POLICY-010"):
        expect_denied_for(
            ctx,
            response,
            {
                "category_not_permitted",
                "categories_not_allowed_for_action",
                "firewall_immigration_status",
            },
            "Immigration status (a 'never' cell) reached the police",
        )
    scenario = b.Scenario()
    consent = flows.consent_for(
        ctx, scenario, recipient=police, purposes=["shelter"], categories=["identity"]
    )
    response = flows.send(
        ctx, scenario, [consent["id"]], categories=["identity"], purpose="shelter", recipient=police
    )
    with ctx.requirement("SR-POLICY-018"):
        expect_denied_for(
            ctx,
            response,
            {"recipient_role_not_permitted"},
            "A shelter referral to the police was not refused",
        )


@check(
    id="SRC-048",
    name="origin_country_disclosure_refused",
    title=(
        "Origin-country authorities get nothing without a risk assessment, nor while asylum is "
        "pending"
    ),
    severity="must",
    requirements=["SR-POLICY-013", "SR-POLICY-014"],
    profile="core",
)
def origin_country_disclosure_refused(ctx: Context) -> None:
    embassy = ctx.org("embassy_of_origin")
    origin = embassy.country
    categories = ["identity"]
    scenario = b.Scenario()
    consent = flows.consent_for(
        ctx, scenario, recipient=embassy, purposes=["safe_return"], categories=categories
    )
    subject = {
        "age_status": "adult",
        "origin_country": origin,
        "identification_status": "reasonable_grounds",
    }
    response = flows.send(
        ctx,
        scenario,
        [consent["id"]],
        categories=categories,
        purpose="safe_return",
        recipient=embassy,
        subject=subject,
        context={"return": {"kind": "voluntary"}},
    )
    with ctx.requirement("SR-POLICY-013"):
        expect_denied_for(
            ctx,
            response,
            {"origin_risk_assessment_missing", "return_safeguards_missing"},
            "Identity went to the origin country's embassy without a risk assessment",
        )
    scenario = b.Scenario()
    consent = flows.consent_for(
        ctx, scenario, recipient=embassy, purposes=["safe_return"], categories=categories
    )
    response = flows.send(
        ctx,
        scenario,
        [consent["id"]],
        categories=categories,
        purpose="safe_return",
        recipient=embassy,
        subject={**subject, "asylum_pending": True},
        context={
            "return": {"kind": "voluntary"},
            "risk_assessment": {"done": True, "finding": "no_risk"},
        },
    )
    with ctx.requirement("SR-POLICY-014"):
        expect_denied_for(
            ctx,
            response,
            {"origin_disclosure_asylum", "asylum_application_disclosed"},
            "Identity went to the origin country's embassy while asylum is pending",
        )


@check(
    id="SRC-049",
    name="onward_forward_under_original_grant_refused",
    title="A recipient cannot forward onward under the grant it received the data under (R14)",
    severity="must",
    requirements=["SR-POLICY-017"],
    profile="core",
)
def onward_forward_under_original_grant_refused(ctx: Context) -> None:
    outsider = ctx.outsider()
    sent = flows.consent_and_send(ctx, categories=["identity"])
    response = flows.send(
        ctx,
        sent.scenario,
        [sent.consent_id],
        categories=["identity"],
        sender=ctx.recipient,
        recipient=outsider,
        based_on=sent.referral_id,
    )
    if response.status_code < 300:
        ctx.fail(
            "A recipient forwarded onward under the original grant",
            "Each onward disclosure needs its own consent.",
            expected="403 policy-violation",
            response=response,
        )
    if response.status_code in (404, 422):
        # The recipient cannot even cite a consent it did not record: also a refusal.
        ctx.expect_problem(
            response, (404, 422), None, "The refused onward referral is not a problem document"
        )
        return
    expect_denied_for(
        ctx,
        response,
        {
            "consent_missing",
            "onward_chain_broken",
            "onward_chain_missing",
            "onward_requires_forward",
        },
        "An onward referral under the original grant was not refused",
    )


@check(
    id="SRC-038",
    name="possible_child_treated_as_child",
    title=(
        "A person who may be a child gets the child rules: no referral without a recorded "
        "guardian (R26, R27)"
    ),
    severity="must",
    requirements=["SR-TERM-002"],
    profile="core",
)
def possible_child_treated_as_child(ctx: Context) -> None:
    scenario = b.Scenario()
    consent = flows.consent_for(ctx, scenario)
    response = flows.send(
        ctx, scenario, [consent["id"]], subject={"age_status": "unknown_possible_child"}
    )
    expect_denied_for(
        ctx,
        response,
        {"child_guardian_missing", "child_views_missing"},
        "A referral about a possible child without a guardian was not refused",
    )


@check(
    id="SRC-039",
    name="prosecution_of_subject_refused",
    title=(
        "Nothing is disclosed to prosecute the person for offences they were compelled to commit "
        "(R19)"
    ),
    severity="must",
    requirements=["SR-POLICY-016"],
    profile="core",
)
def prosecution_of_subject_refused(ctx: Context) -> None:
    police = ctx.org("police")
    scenario = b.Scenario()
    consent = flows.consent_for(
        ctx,
        scenario,
        recipient=police,
        purposes=["criminal_investigation"],
        categories=["identity"],
    )
    response = flows.send(
        ctx,
        scenario,
        [consent["id"]],
        categories=["identity"],
        purpose="criminal_investigation",
        recipient=police,
        payload_flags={"for_prosecution_of_subject": True},
    )
    expect_denied_for(
        ctx,
        response,
        {"prosecution_of_subject", "assistance_data_used_against_subject"},
        "A disclosure to prosecute the person was not refused",
    )
