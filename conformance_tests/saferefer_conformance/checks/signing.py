"""Message signing and response hygiene: signatures travel intact; personal data is not cached."""

from __future__ import annotations

from joserfc import jws

from .. import _builders as b
from .. import _flows as flows
from .._context import Context
from .._failures import FailureCollector
from .._http import detached_jws_verify
from .._jcs import canonicalize
from .._registry import check


def sign_payload(ctx: Context, payload: dict) -> str:  # type: ignore[type-arg]
    creds = ctx.credentials("sender")
    compact = jws.serialize_compact(
        {"alg": "ES256", "kid": creds.kid}, canonicalize(payload), creds.key, algorithms=["ES256"]
    )
    header, _, signature = compact.split(".")
    return f"{header}..{signature}"


@check(
    id="SRC-057",
    name="referral_payload_signature_verified",
    title=(
        "A sender's payload signature is verified on receipt and handed to the recipient unchanged"
    ),
    severity="must",
    requirements=["SR-SIGN-002", "SR-SIGN-003"],
    profile="core",
)
def referral_payload_signature_verified(ctx: Context) -> None:
    scenario = b.Scenario()
    consent = flows.consent_for(ctx, scenario)
    purpose = flows.support_purpose(ctx)
    body = b.referral_body(
        scenario=scenario,
        recipient_org_id=ctx.recipient.org_id,
        purpose=purpose,
        consent_ids=[consent["id"]],
        categories=list(flows.BASIC_CATEGORIES),
    )
    tampered = dict(
        body,
        payload_signature=sign_payload(ctx, {**body["payload"], "identity": {"note": "other"}}),
    )
    response = ctx.sender.post(flows.REFERRALS, tampered)
    with ctx.requirement("SR-SIGN-002"):
        ctx.expect_problem(
            response,
            422,
            "validation-error",
            "A referral whose payload signature does not verify was accepted",
        )
    body["payload_signature"] = sign_payload(ctx, body["payload"])
    created = ctx.expect_success(
        ctx.sender.post(flows.REFERRALS, body), "A correctly signed referral was refused"
    )
    read = ctx.recipient.get(flows.referral_path(created["id"]))
    referral = ctx.expect_success(read, "The recipient cannot read the referral")
    found = FailureCollector()
    if (
        referral.get("payload_signature") != body["payload_signature"]
        or referral.get("payload_signed_by") != "sender"
    ):
        found.add(
            ctx.failure(
                "The recipient does not get the sender's signature unchanged",
                "",
                expected="payload_signature as sent, payload_signed_by sender",
                response=read,
                requirement="SR-SIGN-003",
            )
        )
    jwks = {"keys": [ctx.credentials("sender").public_jwk]}
    if referral.get("payload") and (
        problem := detached_jws_verify(
            str(referral.get("payload_signature")), canonicalize(referral["payload"]), jwks
        )
    ):
        found.add(
            ctx.failure(
                "The payload the recipient reads does not match the sender's signature",
                problem,
                response=read,
                requirement="SR-SIGN-003",
            )
        )
    unsigned = ctx.expect_success(
        flows.send(ctx, scenario, [consent["id"]]), "An unsigned covered referral was refused"
    )
    read = ctx.recipient.get(flows.referral_path(unsigned["id"]))
    referral = ctx.expect_success(read, "The recipient cannot read the referral")
    node_jwks = ctx.anonymous.get(flows.JWKS, authenticated=False).json()
    if referral.get("payload_signed_by") != "node" or (
        referral.get("payload")
        and detached_jws_verify(
            str(referral.get("payload_signature")), canonicalize(referral["payload"]), node_jwks
        )
    ):
        found.add(
            ctx.failure(
                "An unsigned referral is not signed by the node",
                "",
                expected="payload_signed_by node, signature verifying with /jwks.json",
                response=read,
                requirement="SR-SIGN-002",
            )
        )
    found.raise_if_any()


@check(
    id="SRC-058",
    name="personal_data_responses_not_cacheable",
    title="Responses carrying referrals and consents are marked Cache-Control: no-store",
    severity="must",
    requirements=["SR-SEC-006"],
    profile="core",
)
def personal_data_responses_not_cacheable(ctx: Context) -> None:
    sent = flows.consent_and_send(ctx)
    found = FailureCollector()
    for org, path in (
        (ctx.recipient, flows.referral_path(sent.referral_id)),
        (ctx.sender, flows.consent_path(sent.consent_id)),
        (ctx.recipient, flows.REFERRALS),
    ):
        response = org.get(path)
        if "no-store" not in response.headers.get("cache-control", "").lower():
            found.add(
                ctx.failure(
                    f"GET {path.split('/')[2]} may be cached",
                    "",
                    expected="Cache-Control: no-store",
                    actual=f"Cache-Control: {response.headers.get('cache-control')}",
                    response=response,
                )
            )
    found.raise_if_any()


@check(
    id="SRC-059",
    name="security_headers_present",
    title="Responses carry X-Content-Type-Options: nosniff",
    severity="should",
    requirements=["SR-SEC-007"],
    profile="core",
)
def security_headers_present(ctx: Context) -> None:
    response = ctx.sender.get(flows.REFERRALS, params={"box": "inbox"})
    if response.headers.get("x-content-type-options", "").lower() != "nosniff":
        ctx.fail("X-Content-Type-Options is missing", "", expected="nosniff", response=response)
