"""Authentication: the token endpoint (private_key_jwt, RFC 7523) and the access tokens it issues.

Each attack check first proves that the organisation *can* get a token with a correct assertion, so
that a server refusing everything does not pass the attack checks by accident.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import httpx

from .. import _spec
from .._context import Context
from .._failures import FailureCollector, Skipped
from .._flows import ORGANISATIONS, REFERRALS, STATISTICS
from .._http import OrgClient, assertion_claims, hmac_jwt, sign_es256, unsigned_jwt
from .._registry import check

MONITORING_ROLES = {"national_rapporteur", "national_coordinator"}


def _claims_of(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    def part(index: int) -> dict[str, Any]:
        raw = token.split(".")[index]
        value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        return value

    return part(0), part(1)


def _expect_refused_assertion(ctx: Context, response: httpx.Response, what: str) -> None:
    if response.status_code in (400, 401):
        ctx.expect_problem(
            response, (400, 401), None, f"The refusal of {what} is not a problem document"
        )
        return
    ctx.fail(
        f"The token endpoint accepted {what}",
        "The node issued (or tried to issue) an access token for an assertion it must reject.",
        expected="400 or 401 problem+json, no access token",
        response=response,
    )


def _directory_roles(ctx: Context, org: OrgClient) -> set[str]:
    """The roles the node's directory lists for ``org``: what its tokens must carry, no more."""
    response = org.get(f"{ORGANISATIONS}/{org.org_id}")
    entry = ctx.expect_success(response, "The directory entry of a test organisation is not served")
    roles = entry.get("roles") if isinstance(entry, dict) else None
    if not isinstance(roles, list) or not roles:
        ctx.fail(
            "The directory entry of a test organisation lists no roles",
            "",
            expected="roles: [role code, …]",
            response=response,
        )
    return {str(role) for role in roles}


def _baseline(ctx: Context) -> None:
    ctx.sender.token()  # fails the check with evidence when valid assertions are refused too


@check(
    id="SRC-010",
    name="token_issued_for_valid_client_assertion",
    title=(
        "A valid private_key_jwt assertion yields a node-signed ES256 access token with role scopes"
    ),
    severity="must",
    requirements=["SR-AUTH-002", "SR-AUTH-009", "SR-AUTH-011"],
    profile="core",
)
def token_issued_for_valid_client_assertion(ctx: Context) -> None:
    org = ctx.sender
    response = org.request_token()
    if response.status_code != 200:
        ctx.fail(
            "A valid client assertion was refused",
            "POST /oauth/token must answer a valid private_key_jwt request with a token."
            + (f" {org.refusal_note}" if org.refusal_note else ""),
            expected="200 with a token-response document",
            response=response,
            requirement="SR-AUTH-002",
        )
    body = ctx.json(response, "The token response is not JSON")
    with ctx.requirement("SR-AUTH-002"):
        ctx.expect_schema(
            body, "token-response.schema.json", "The token response is malformed", response
        )
    found = FailureCollector()
    if body.get("token_type", "").lower() != "bearer":
        found.add(
            ctx.failure(
                "token_type is not Bearer",
                "",
                expected="Bearer",
                actual=str(body.get("token_type")),
                response=response,
                requirement="SR-AUTH-002",
            )
        )
    header, claims = _claims_of(body["access_token"])
    node_id = ctx.capability().get("node_id")
    jwks = ctx.anonymous.get("/jwks.json", authenticated=False).json()
    kids = {k.get("kid") for k in jwks.get("keys", [])}
    checks = {
        "alg is ES256": header.get("alg") == "ES256",
        "kid is published in /jwks.json": header.get("kid") in kids,
        "iss is the node id": claims.get("iss") == node_id,
        "aud is the node id": claims.get("aud") == node_id or claims.get("aud") == [node_id],
        "sub is the organisation id": claims.get("sub") == org.org_id,
        "jti is present": bool(claims.get("jti")),
        "exp is at most 300 s after iat": isinstance(claims.get("exp"), int)
        and isinstance(claims.get("iat"), int)
        and 0 < claims["exp"] - claims["iat"] <= 300,
        "scope is role:<code> for known roles": bool(str(claims.get("scope", "")).split())
        and all(
            s.startswith("role:") and s[5:] in _spec.codes("roles")
            for s in str(claims.get("scope", "")).split()
        ),
    }
    for name, ok in checks.items():
        if not ok:
            found.add(
                ctx.failure(
                    "The access token is not as SR-AUTH-009 requires",
                    f"expected: {name}",
                    expected=name,
                    actual=json.dumps(
                        {"header": header, "claims": {k: v for k, v in claims.items()}}
                    )[:500],
                    response=response,
                    requirement="SR-AUTH-009",
                )
            )
    registered = _directory_roles(ctx, org)
    for where, scope in (
        ("the token response's scope", body.get("scope")),
        ("the access token's scope claim", claims.get("scope")),
    ):
        if {s.removeprefix("role:") for s in str(scope or "").split()} != registered:
            found.add(
                ctx.failure(
                    f"Without a requested scope, {where} is not exactly the organisation's roles",
                    "The organisation's roles are those the node's directory lists for it "
                    "(GET /v1/organisations/{org_id}).",
                    expected=" ".join(sorted(f"role:{r}" for r in registered)),
                    actual=str(scope),
                    response=response,
                    requirement="SR-AUTH-011",
                )
            )
    found.raise_if_any()


@check(
    id="SRC-011",
    name="token_rejects_alg_none_assertion",
    title="Unsigned (alg none) and HMAC-with-public-key client assertions are rejected",
    severity="must",
    requirements=["SR-AUTH-003"],
    profile="core",
)
def token_rejects_alg_none_assertion(ctx: Context) -> None:
    _baseline(ctx)
    org = ctx.sender
    creds = ctx.credentials("sender")
    claims = assertion_claims(org.org_id, ctx.audience)
    _expect_refused_assertion(
        ctx, org.request_token(unsigned_jwt(claims, creds.kid)), "an alg=none assertion"
    )
    public_pem = creds.key.as_pem(private=False)
    claims = assertion_claims(org.org_id, ctx.audience)
    _expect_refused_assertion(
        ctx,
        org.request_token(hmac_jwt(claims, public_pem, creds.kid)),
        "an HS256 assertion keyed with the public key",
    )


@check(
    id="SRC-012",
    name="token_rejects_wrong_audience_assertion",
    title="A client assertion for another audience is rejected",
    severity="must",
    requirements=["SR-AUTH-004"],
    profile="core",
)
def token_rejects_wrong_audience_assertion(ctx: Context) -> None:
    _baseline(ctx)
    org = ctx.sender
    assertion = org.fresh_assertion(aud="https://other-node.example.org/oauth/token")
    _expect_refused_assertion(
        ctx, org.request_token(assertion), "an assertion for another audience"
    )


@check(
    id="SRC-013",
    name="token_rejects_unknown_or_mismatched_issuer",
    title="A client assertion from an unknown organisation, or with iss ≠ sub, is rejected",
    severity="must",
    requirements=["SR-AUTH-005"],
    profile="core",
)
def token_rejects_unknown_or_mismatched_issuer(ctx: Context) -> None:
    _baseline(ctx)
    org = ctx.sender
    creds = ctx.credentials("sender")
    stranger = f"urn:saferefer:org:{org.country}:conformance-unknown-{uuid.uuid4().hex[:8]}"
    forged = sign_es256(assertion_claims(stranger, ctx.audience), creds.key, creds.kid)
    _expect_refused_assertion(
        ctx, org.request_token(forged), "an assertion from an unregistered organisation"
    )
    other = ctx.recipient.org_id
    mismatched = sign_es256(
        assertion_claims(org.org_id, ctx.audience, sub=other), creds.key, creds.kid
    )
    _expect_refused_assertion(
        ctx, org.request_token(mismatched), "an assertion whose sub differs from iss"
    )
    impersonation = sign_es256(assertion_claims(other, ctx.audience), creds.key, creds.kid)
    _expect_refused_assertion(
        ctx,
        org.request_token(impersonation),
        "an assertion for another organisation signed with this organisation's key",
    )


@check(
    id="SRC-014",
    name="token_rejects_expired_assertion",
    title="Expired, exp-less and over-long client assertions are rejected",
    severity="must",
    requirements=["SR-AUTH-006"],
    profile="core",
)
def token_rejects_expired_assertion(ctx: Context) -> None:
    _baseline(ctx)
    org = ctx.sender
    past = int(time.time()) - 900
    _expect_refused_assertion(
        ctx, org.request_token(org.fresh_assertion(now=past, lifetime=120)), "an expired assertion"
    )
    _expect_refused_assertion(
        ctx, org.request_token(org.fresh_assertion(exp=None)), "an assertion without exp"
    )
    _expect_refused_assertion(
        ctx,
        org.request_token(org.fresh_assertion(lifetime=3600)),
        "an assertion valid for one hour",
    )


@check(
    id="SRC-015",
    name="token_rejects_replayed_assertion",
    title="A client assertion cannot be used twice",
    severity="must",
    requirements=["SR-AUTH-007"],
    profile="core",
)
def token_rejects_replayed_assertion(ctx: Context) -> None:
    org = ctx.sender
    assertion = org.fresh_assertion()
    first = org.request_token(assertion)
    ctx.expect_success(first, "A valid client assertion was refused")
    _expect_refused_assertion(ctx, org.request_token(assertion), "a replayed assertion (same jti)")


@check(
    id="SRC-016",
    name="token_scope_limited_to_registered_roles",
    title="A token request for a role the organisation does not hold is refused",
    severity="must",
    requirements=["SR-AUTH-011"],
    profile="core",
)
def token_scope_limited_to_registered_roles(ctx: Context) -> None:
    org = ctx.sender
    # From the directory, not from the token: a node granting every role would otherwise make
    # every role look held.
    held = _directory_roles(ctx, org)
    candidates = ("national_rapporteur", "immigration_authority", "police", "embassy_of_origin")
    foreign = next((r for r in candidates if r not in held), None)
    if foreign is None:
        raise Skipped("the sender holds every role this check could ask for")
    response = org.request_token(scope=f"role:{foreign}")
    if response.status_code == 200:
        granted = str(response.json().get("scope", "")).split()
        if f"role:{foreign}" in granted:
            ctx.fail(
                "The node granted a role the organisation does not hold",
                "",
                expected=f"no role:{foreign} in the token",
                actual=" ".join(granted),
                response=response,
            )
        ctx.fail(
            "A token request for a role the organisation does not hold was not refused",
            "SR-AUTH-011 requires refusing it (invalid_scope).",
            expected="400 problem+json",
            response=response,
        )
    ctx.expect_problem(
        response, (400, 401, 403), None, "The refusal of an unheld scope is not a problem document"
    )


@check(
    id="SRC-017",
    name="api_requires_valid_access_token",
    title=(
        "The API refuses missing, unsigned, self-signed and garbage access tokens with 401 problems"
    ),
    severity="must",
    requirements=["SR-AUTH-001", "SR-AUTH-010"],
    profile="core",
)
def api_requires_valid_access_token(ctx: Context) -> None:
    org = ctx.sender
    genuine = org.token()
    header, claims = _claims_of(genuine)
    creds = ctx.credentials("sender")
    forged_claims = {**claims, "jti": str(uuid.uuid4())}
    attempts = {
        "no token": None,
        "an alg=none copy of a genuine token": unsigned_jwt(forged_claims, header.get("kid")),
        "a token signed by the organisation's own key": sign_es256(
            forged_claims, creds.key, str(header.get("kid"))
        ),
        "a token for another audience": sign_es256(
            {**forged_claims, "aud": "urn:saferefer:node:ZZ:elsewhere"}, creds.key, creds.kid
        ),
        "an expired token": sign_es256(
            {**forged_claims, "exp": int(time.time()) - 600, "iat": int(time.time()) - 900},
            creds.key,
            str(header.get("kid")),
        ),
        "garbage": "not-a-token",
    }
    found = FailureCollector()
    for what, token in attempts.items():
        response = org.get(REFERRALS, params={"box": "outbox"}, authenticated=False, token=token)
        errors = ctx.problem_errors(response, 401, "unauthorized")
        if (
            not errors
            and token is None
            and "bearer" not in response.headers.get("www-authenticate", "").lower()
        ):
            errors.append("no WWW-Authenticate: Bearer header")
        if errors:
            found.add(
                ctx.failure(
                    f"GET /v1/referrals with {what} was not refused properly",
                    "; ".join(errors),
                    expected="401 problem+json unauthorized",
                    response=response,
                    # SR-AUTH-010 names the forgeries; any other invalid token is SR-AUTH-001.
                    requirement="SR-AUTH-001" if what in ("no token", "garbage") else "SR-AUTH-010",
                )
            )
    found.raise_if_any()


@check(
    id="SRC-018",
    name="statistics_restricted_to_monitoring_roles",
    title="Statistics are refused to organisations without a monitoring role",
    severity="must",
    requirements=["SR-AUTH-014", "SR-STATS-004"],
    profile="core",
)
def statistics_restricted_to_monitoring_roles(ctx: Context) -> None:
    org = ctx.sender
    if MONITORING_ROLES & set(org.roles):
        org = ctx.recipient
    if MONITORING_ROLES & set(org.roles):
        raise Skipped("both sender and recipient hold monitoring roles")
    response = org.get(STATISTICS, params={"group_by": "purpose"})
    ctx.expect_problem(
        response,
        403,
        ("forbidden", "policy-violation"),
        "Statistics were not refused to an organisation without a monitoring role",
    )


@check(
    id="SRC-019",
    name="token_errors_carry_oauth_error_code",
    title="Token endpoint problems also carry the RFC 6749 error code",
    severity="should",
    requirements=["SR-AUTH-012"],
    profile="core",
)
def token_errors_carry_oauth_error_code(ctx: Context) -> None:
    org = ctx.sender
    response = org.request_token(
        org.fresh_assertion(aud="https://elsewhere.example.org/oauth/token")
    )
    body = (
        response.json()
        if response.headers.get("content-type", "").split(";")[0].endswith("json")
        else {}
    )
    if body.get("error") not in {
        "invalid_client",
        "invalid_grant",
        "invalid_request",
        "unauthorized_client",
    }:
        ctx.fail(
            "The token error has no RFC 6749 error code",
            "",
            expected='"error": "invalid_client"',
            response=response,
        )
