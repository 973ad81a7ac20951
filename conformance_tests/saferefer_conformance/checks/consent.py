"""Consent: the minimum record, its visibility, and what expiry and withdrawal do to disclosures."""

from __future__ import annotations

import base64
import copy
import json
import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx

from .. import _builders as b
from .. import _flows as flows
from .. import _spec
from .._context import Context
from .._failures import FailureCollector
from .._http import b64url, detached_jws_verify
from .._jcs import canonicalize
from .._registry import check
from .policy import expect_denied_for

RECEIPT_TYP = "saferefer-consent-receipt+jws"
#: What a denied read leaves out of the referral and that could carry personal data or let the
#: reader verify (and so infer) the payload (SR-CONSENT-026).
WITHHELD_MEMBERS = ("payload", "language_needs", "payload_signature", "payload_signed_by")

UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")

Mutation = Callable[[dict[str, Any]], None]


def _drop(member: str) -> Mutation:
    return lambda body: body.pop(member, None)


def _set(member: str, value: Any) -> Mutation:
    return lambda body: body.__setitem__(member, value)


def _two_recipients(body: dict[str, Any]) -> None:
    body["grants"][0]["recipient"] = {
        **body["grants"][0]["recipient"],
        "role": "shelter",
        "country": "NL",
    }


def _child_without_guardian(body: dict[str, Any]) -> None:
    body["age_status"] = "unknown_possible_child"
    body["given_by"] = "guardian"


def _expired_before_issued(body: dict[str, Any]) -> None:
    body["valid_until"] = body["issued_at"].replace(
        body["issued_at"][:4], str(int(body["issued_at"][:4]) - 1), 1
    )


INCOMPLETE_CONSENTS: dict[str, tuple[str, Mutation]] = {
    "without valid_until": ("SR-CONSENT-003", _drop("valid_until")),
    "with valid_until before issued_at": ("SR-CONSENT-003", _expired_before_issued),
    "without the language": ("SR-CONSENT-001", _drop("language")),
    "without the interpreter statement": ("SR-CONSENT-001", _drop("interpreter")),
    "without the information sheet version": ("SR-CONSENT-001", _drop("information_sheet_version")),
    "without the evidence hash": ("SR-CONSENT-001", _drop("evidence_hash")),
    "without a withdrawal channel": ("SR-CONSENT-001", _set("withdrawal_channels", [])),
    "without grants": ("SR-CONSENT-002", _set("grants", [])),
    "with a grant naming two recipients": ("SR-CONSENT-002", _two_recipients),
    "stating refusal affects assistance": (
        "SR-CONSENT-010",
        _set("refusal_does_not_affect_assistance", False),
    ),
    "for a possible child without guardian or views": ("SR-CONSENT-009", _child_without_guardian),
    "with an undeclared member": ("SR-MSG-003", _set("conformance_extra_member", True)),
}


@check(
    id="SRC-030",
    name="consent_record_requires_minimum_fields",
    title="A consent lacking any member of the minimum record is refused with 422",
    severity="must",
    requirements=[
        "SR-CONSENT-001",
        "SR-CONSENT-002",
        "SR-CONSENT-003",
        "SR-CONSENT-009",
        "SR-CONSENT-010",
        "SR-MSG-003",
    ],
    profile="core",
)
def consent_record_requires_minimum_fields(ctx: Context) -> None:
    scenario = b.Scenario()
    valid = b.consent_body(
        subject=scenario.subject_ref,
        recipient_org_id=ctx.recipient.org_id,
        recorder_role=flows.recorder_role(ctx.sender),
        purposes=[flows.support_purpose(ctx)],
        categories=list(flows.BASIC_CATEGORIES),
    )
    found = FailureCollector()
    for what, (requirement, mutate) in INCOMPLETE_CONSENTS.items():
        body = copy.deepcopy(valid)
        mutate(body)
        response = ctx.sender.post(flows.CONSENTS, body)
        errors = ctx.problem_errors(response, 422, "validation-error")
        if errors:
            found.add(
                ctx.failure(
                    f"A consent {what} was not refused",
                    "; ".join(errors),
                    expected="422 validation-error",
                    response=response,
                    requirement=requirement,
                )
            )
    found.raise_if_any()


@check(
    id="SRC-031",
    name="consent_record_roundtrip",
    title=(
        "A recorded consent is returned active, attributed to the caller, with UUIDv7 id and UTC "
        "times"
    ),
    severity="must",
    requirements=["SR-CONSENT-014", "SR-ID-003", "SR-MSG-001", "SR-MSG-004"],
    profile="core",
)
def consent_record_roundtrip(ctx: Context) -> None:
    scenario = b.Scenario()
    record = flows.consent_for(ctx, scenario)
    response = ctx.sender.get(flows.consent_path(record["id"]))
    stored = ctx.expect_success(response, "The recording organisation cannot read its consent")
    with ctx.requirement("SR-MSG-001"):
        ctx.expect_schema(
            stored,
            "consent-record.schema.json",
            "The consent record does not match its schema",
            response,
        )
    found = FailureCollector()
    if not UUID7.match(str(stored.get("id"))):
        found.add(
            ctx.failure(
                "The consent id is not a lowercase UUIDv7",
                "",
                actual=str(stored.get("id")),
                response=response,
                requirement="SR-ID-003",
            )
        )
    for member in ("recorded_at", "issued_at", "valid_until"):
        if not TIMESTAMP.match(str(stored.get(member))):
            found.add(
                ctx.failure(
                    f"{member} is not RFC 3339 UTC with Z",
                    "",
                    actual=str(stored.get(member)),
                    response=response,
                    requirement="SR-MSG-004",
                )
            )
    if stored.get("status") != "active":
        found.add(
            ctx.failure(
                "A fresh consent is not active",
                "",
                expected="active",
                actual=str(stored.get("status")),
                response=response,
                requirement="SR-CONSENT-014",
            )
        )
    if (stored.get("recorder") or {}).get("org_id") != ctx.sender.org_id:
        found.add(
            ctx.failure(
                "The consent is not attributed to the organisation that recorded it",
                "",
                expected=ctx.sender.org_id,
                actual=str(stored.get("recorder")),
                response=response,
                requirement="SR-CONSENT-014",
            )
        )
    if stored.get("subject_ref") != scenario.subject_ref:
        found.add(
            ctx.failure(
                "The consent's subject reference changed",
                "",
                expected=scenario.subject_ref,
                actual=str(stored.get("subject_ref")),
                response=response,
            )
        )
    found.raise_if_any()


@check(
    id="SRC-029",
    name="withdrawal_accepted_through_every_channel",
    title=(
        "A consent names the channels to withdraw it, and a withdrawal through any channel of the "
        "code list is accepted"
    ),
    severity="must",
    requirements=["SR-CONSENT-023"],
    profile="core",
)
def withdrawal_accepted_through_every_channel(ctx: Context) -> None:
    channels = _spec.codes("withdrawal-channels")
    found = FailureCollector()
    refused: dict[str, httpx.Response] = {}
    for channel in channels:
        # One consent per channel (a consent is withdrawn once), each offering every channel.
        consent = flows.consent_for(ctx, b.Scenario(), withdrawal_channels=channels)
        if sorted(consent.get("withdrawal_channels") or []) != sorted(channels):
            found.add(
                ctx.failure(
                    "The consent record does not name the withdrawal channels it was given",
                    "",
                    expected=str(channels),
                    actual=str(consent.get("withdrawal_channels")),
                )
            )
        response = flows.withdraw(ctx, consent["id"], channel=channel)
        if not 200 <= response.status_code < 300:
            refused[channel] = response
            continue
        read = ctx.sender.get(flows.consent_path(consent["id"]))
        stored = ctx.expect_success(read, "The recording organisation cannot read its consent")
        recorded = (stored.get("withdrawal") or {}).get("channel")
        if stored.get("status") != "withdrawn" or recorded != channel:
            found.add(
                ctx.failure(
                    f"A withdrawal through the channel {channel} is not recorded as such",
                    "",
                    expected=f"status withdrawn, withdrawal.channel {channel}",
                    actual=f"status {stored.get('status')}, withdrawal.channel {recorded}",
                    response=read,
                )
            )
    if refused:
        found.add(
            ctx.failure(
                f"Withdrawals through {len(refused)} of {len(channels)} channels were refused: "
                + ", ".join(refused),
                "Withdrawing is as easy as consenting: a withdrawal through any channel of the "
                "withdrawal-channels code list is accepted. The answer to the first is shown.",
                expected="a 2xx status for every channel",
                response=next(iter(refused.values())),
            )
        )
    found.raise_if_any()


@check(
    id="SRC-032",
    name="expired_consent_blocks_disclosure",
    title="A consent past its valid_until covers no referral and reads as expired",
    severity="must",
    requirements=["SR-CONSENT-005"],
    profile="core",
)
def expired_consent_blocks_disclosure(ctx: Context) -> None:
    scenario = b.Scenario()
    consent = flows.consent_for(ctx, scenario, valid_for=timedelta(minutes=1, seconds=3))
    # Issued a minute ago, so it lapses three seconds after recording.
    time.sleep(5)
    response = flows.send(ctx, scenario, [consent["id"]])
    expect_denied_for(
        ctx, response, {"consent_not_valid"}, "A referral under an expired consent was not refused"
    )
    read = ctx.sender.get(flows.consent_path(consent["id"]))
    stored = ctx.expect_success(read, "The recording organisation cannot read its consent")
    if stored.get("status") != "expired":
        ctx.fail(
            "A consent past valid_until does not read as expired",
            "",
            expected="status expired",
            actual=str(stored.get("status")),
            response=read,
        )


@check(
    id="SRC-033",
    name="withdrawn_consent_blocks_disclosure",
    title="Once a consent is withdrawn, no referral under it is allowed",
    severity="must",
    requirements=["SR-CONSENT-004", "SR-CONSENT-015", "SR-CONSENT-016"],
    profile="core",
)
def withdrawn_consent_blocks_disclosure(ctx: Context) -> None:
    scenario = b.Scenario()
    consent = flows.consent_for(ctx, scenario)
    withdrawal = flows.withdraw(ctx, consent["id"])
    with ctx.requirement("SR-CONSENT-015"):
        ctx.expect_success(withdrawal, "The recording organisation could not withdraw its consent")
    response = flows.send(ctx, scenario, [consent["id"]])
    with ctx.requirement("SR-CONSENT-004"):
        expect_denied_for(
            ctx,
            response,
            {"consent_not_valid"},
            "A referral under a withdrawn consent was not refused",
        )
    dry_run = ctx.sender.post(
        flows.DECISIONS,
        b.referral_body(
            scenario=scenario,
            recipient_org_id=ctx.recipient.org_id,
            purpose=flows.support_purpose(ctx),
            consent_ids=[consent["id"]],
            categories=list(flows.BASIC_CATEGORIES),
        ),
    )
    decision = ctx.expect_success(dry_run, "The policy dry-run failed")
    if decision.get("allow") is not False:
        ctx.fail(
            "The dry-run allows a disclosure under a withdrawn consent",
            "",
            expected="allow: false",
            response=dry_run,
            requirement="SR-CONSENT-004",
        )


@check(
    id="SRC-034",
    name="read_after_withdrawal_refused",
    title=(
        "After withdrawal the recipient can no longer read the payload, and the referral is revoked"
    ),
    severity="must",
    requirements=["SR-CONSENT-017", "SR-CONSENT-018", "SR-CONSENT-026"],
    profile="core",
)
def read_after_withdrawal_refused(ctx: Context) -> None:
    sent = flows.consent_and_send(ctx)
    before = ctx.recipient.get(flows.referral_path(sent.referral_id))
    referral = ctx.expect_success(before, "The recipient cannot read a referral addressed to it")
    if not referral.get("payload"):
        ctx.fail(
            "The recipient gets no payload even before withdrawal",
            "The check needs a readable payload first.",
            expected="payload present",
            response=before,
        )
    ctx.expect_success(
        flows.withdraw(ctx, sent.consent_id),
        "The recording organisation could not withdraw its consent",
    )
    after = ctx.recipient.get(flows.referral_path(sent.referral_id))
    leaked = [c for c, v in sent.scenario.canaries.items() if v in after.text]
    if leaked:
        ctx.fail(
            "The payload is still disclosed after the consent was withdrawn",
            "A read is decided again at read time (SR-CONSENT-017).",
            expected="403 policy-violation, or the referral without payload",
            actual=f"payload categories still returned: {leaked}",
            response=after,
            requirement="SR-CONSENT-017",
        )
    with ctx.requirement("SR-CONSENT-026"):
        ctx.expect_status(
            after,
            200,
            "The recipient no longer sees the referral's state after the withdrawal",
            "A denied read still returns the state and codes, without the payload.",
        )
        document = ctx.json(after, "The referral is not JSON")
        kept = sorted(m for m in WITHHELD_MEMBERS if m in document)
        withheld = set(document.get("withheld_categories") or [])
        unlisted = sorted(set(referral.get("data_categories") or []) - withheld)
        if kept or unlisted:
            ctx.fail(
                "The denied read does not say what it withholds",
                f"still present: {kept}; disclosed categories not in withheld_categories: "
                f"{unlisted}",
                expected="no " + ", ".join(WITHHELD_MEMBERS) + "; every disclosed category "
                "in withheld_categories",
                response=after,
            )
    state = document.get("state")
    if state != "revoked":
        ctx.fail(
            "An open referral under a withdrawn consent was not revoked",
            "",
            expected="state revoked",
            actual=str(state),
            requirement="SR-CONSENT-018",
        )


@check(
    id="SRC-035",
    name="organisation_cannot_reach_foreign_consent",
    title=(
        "An organisation that neither recorded nor is named in a consent cannot read or withdraw it"
    ),
    severity="must",
    requirements=["SR-CONSENT-013", "SR-CONSENT-015"],
    profile="core",
)
def organisation_cannot_reach_foreign_consent(ctx: Context) -> None:
    outsider = ctx.outsider()
    consent = flows.consent_for(ctx, b.Scenario())
    found = FailureCollector()
    read = outsider.get(flows.consent_path(consent["id"]))
    if errors := ctx.problem_errors(read, 404, "not-found"):
        found.add(
            ctx.failure(
                "Another organisation can see a consent it has no part in",
                "; ".join(errors),
                expected="404 not-found",
                response=read,
                requirement="SR-CONSENT-013",
            )
        )
    listed = flows.list_all(ctx, outsider, flows.CONSENTS, {"limit": flows.PAGE})
    if any(item.get("id") == consent["id"] for item in listed):
        found.add(
            ctx.failure(
                "Another organisation's consent list contains the consent",
                "",
                expected="absent",
                actual=consent["id"],
                requirement="SR-CONSENT-013",
            )
        )
    withdraw = flows.withdraw(ctx, consent["id"], org=outsider)
    if errors := ctx.problem_errors(withdraw, (403, 404), ("forbidden", "not-found")):
        found.add(
            ctx.failure(
                "Another organisation could withdraw the consent",
                "; ".join(errors),
                expected="403 or 404 problem",
                response=withdraw,
                requirement="SR-CONSENT-015",
            )
        )
    by_recipient = flows.withdraw(ctx, consent["id"], org=ctx.recipient)
    if errors := ctx.problem_errors(by_recipient, (403, 404), ("forbidden", "not-found")):
        found.add(
            ctx.failure(
                "The recipient named in a grant could withdraw the consent",
                "; ".join(errors),
                expected="403 or 404 problem",
                response=by_recipient,
                requirement="SR-CONSENT-015",
            )
        )
    found.raise_if_any()


@check(
    id="SRC-036",
    name="enforcement_recorded_consent_not_a_basis",
    title="A consent recorded by the police is no basis for the police's own disclosures",
    severity="must",
    requirements=["SR-CONSENT-008"],
    profile="core",
)
def enforcement_recorded_consent_not_a_basis(ctx: Context) -> None:
    police = ctx.org("police")
    scenario = b.Scenario()
    body = b.consent_body(
        subject=scenario.subject_ref,
        recipient_org_id=ctx.recipient.org_id,
        recorder_role=flows.recorder_role(police),
        purposes=[flows.support_purpose(ctx)],
        categories=["identity"],
    )
    recorded = police.post(flows.CONSENTS, body)
    if recorded.status_code >= 400:
        # Refusing to record it at all is a stricter way of keeping the rule.
        ctx.expect_problem(
            recorded,
            (403, 422),
            None,
            "The refusal of an enforcement-recorded consent is not a problem",
        )
        return
    consent = recorded.json()
    response = flows.send(ctx, scenario, [consent["id"]], categories=["identity"], sender=police)
    expect_denied_for(
        ctx,
        response,
        {"consent_recorded_by_enforcement"},
        "A disclosure under a consent the police recorded was allowed",
    )


@check(
    id="SRC-037",
    name="consent_receipt_available",
    title="The recording organisation can obtain a portable consent receipt; a signed one verifies",
    severity="should",
    requirements=["SR-CONSENT-024", "SR-CONSENT-025"],
    profile="core",
)
def consent_receipt_available(ctx: Context) -> None:
    consent = flows.consent_for(ctx, b.Scenario())
    response = ctx.sender.get(f"{flows.consent_path(consent['id'])}/receipt")
    receipt = ctx.expect_success(response, "No consent receipt is available")
    ctx.expect_schema(
        receipt,
        "consent-receipt.schema.json",
        "The consent receipt does not match its schema",
        response,
    )
    if isinstance(receipt, dict) and "signature" in receipt:
        with ctx.requirement("SR-CONSENT-025"):
            _expect_receipt_signature(ctx, receipt, response)


def _expect_receipt_signature(
    ctx: Context, receipt: dict[str, Any], response: httpx.Response
) -> None:
    """A node-signed receipt: compact JWS by a /jwks.json key over the JCS form of the rest."""
    signed = canonicalize({k: v for k, v in receipt.items() if k != "signature"})
    jwks = ctx.json(ctx.anonymous.get("/jwks.json", authenticated=False), "/jwks.json is not JSON")
    parts = str(receipt["signature"]).split(".")
    problem: str | None
    if len(parts) != 3:
        problem = "the signature is not a compact JWS"
    elif parts[1] != b64url(signed):
        problem = "the JWS payload is not the RFC 8785 form of the receipt without signature"
    else:
        # Verified as its detached form: the payload was compared above.
        problem = detached_jws_verify(f"{parts[0]}..{parts[2]}", signed, jwks)
    if problem is None:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
        if header.get("typ") != RECEIPT_TYP:
            problem = f"the JWS typ is {header.get('typ')!r}, not {RECEIPT_TYP}"
    if problem is not None:
        ctx.fail(
            "The consent receipt's signature does not verify",
            problem,
            expected=f"compact JWS (ES256, typ {RECEIPT_TYP}) by a key of /jwks.json over the "
            "RFC 8785 form of the receipt without signature",
            response=response,
        )
