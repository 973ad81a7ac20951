"""`POST /oauth/token` (client_credentials + private_key_jwt, RFC 7523) and `GET /jwks.json`."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from saferefer_server.auth.keys import JWKS_MAX_AGE_S
from saferefer_server.auth.service import exchange_client_assertion
from saferefer_server.auth.tokens import TokenError
from saferefer_server.core import ratelimit
from saferefer_server.core.problems import ProblemError
from saferefer_server.deps import NodeKeysDep, SessionDep, SettingsDep

router = APIRouter(tags=["auth"])

GRANT_TYPE = "client_credentials"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# The parameters this endpoint reads; only these names ever appear in an error, because any other
# name is raw client input (it may carry control characters or personal data).
TOKEN_PARAMETERS = frozenset({"grant_type", "client_assertion_type", "client_assertion", "scope"})
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _oauth_problem(status: int, error: str, detail: str) -> ProblemError:
    """A problem document that is also an RFC 6749 §5.2 error response (`error` member)."""
    if status == 401:
        return ProblemError(
            401,
            "unauthorized",
            "Client authentication failed",
            detail,
            headers={"WWW-Authenticate": 'Bearer error="invalid_client"', **NO_STORE},
            error=error,
            error_description=detail,
        )
    return ProblemError(
        400,
        "malformed-request",
        "Invalid token request",
        detail,
        headers=NO_STORE,
        error=error,
        error_description=detail,
    )


def _repeated(name: str) -> str:
    """Why a form with a repeated parameter is refused (RFC 6749 §3.2), naming the parameter only
    when it is one of this endpoint's own."""
    if name in TOKEN_PARAMETERS:
        return f"parameter {name} is repeated; send it once"
    return "a parameter is repeated; send each parameter once"


async def _form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_CONTENT_TYPE:
        raise ProblemError(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            f"the token request body must be {FORM_CONTENT_TYPE}",
        )
    try:
        parsed = parse_qs((await request.body()).decode("ascii"), strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise _oauth_problem(400, "invalid_request", "the form body is not ASCII") from exc
    form: dict[str, str] = {}
    for name, values in parsed.items():
        if len(values) != 1:
            raise _oauth_problem(400, "invalid_request", _repeated(name))
        form[name] = values[0]
    return form


@router.post("/oauth/token", operation_id="issueToken")
async def issue_token(
    request: Request, db_session: SessionDep, settings: SettingsDep, keys: NodeKeysDep
) -> JSONResponse:
    address = request.client.host if request.client else "unknown"
    await ratelimit.hit(
        request.app.state.sessionmaker,
        ratelimit.Quota(f"token:addr:{address}", settings.token_rate_per_address),
    )
    form = await _form(request)
    if form.get("grant_type") != GRANT_TYPE:
        raise _oauth_problem(400, "unsupported_grant_type", f"grant_type must be {GRANT_TYPE}")
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise _oauth_problem(
            401, "invalid_client", f"client_assertion_type must be {ASSERTION_TYPE}"
        )
    assertion = form.get("client_assertion")
    if not assertion:
        raise _oauth_problem(401, "invalid_client", "client_assertion is missing")
    try:
        issued = await exchange_client_assertion(
            db_session=db_session, settings=settings, keys=keys, assertion=assertion
        )
    except TokenError as exc:
        raise _oauth_problem(401, "invalid_client", str(exc)) from exc
    # Counted once the organisation is proven, so nobody can exhaust another's quota.
    await ratelimit.hit(
        request.app.state.sessionmaker,
        ratelimit.Quota(f"token:org:{issued.org_id}", settings.token_rate_per_org),
    )
    requested = form.get("scope")
    if requested is not None:
        unknown = set(requested.split()) - set(issued.scope.split())
        if unknown:
            raise _oauth_problem(
                400, "invalid_scope", "requested scopes are not roles of this organisation"
            )
    body: dict[str, Any] = {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": settings.access_token_ttl_s,
        "scope": issued.scope,
    }
    return JSONResponse(body, headers=NO_STORE)


@router.get("/jwks.json", operation_id="getJwks")
async def jwks(keys: NodeKeysDep) -> JSONResponse:
    return JSONResponse(keys.jwks(), headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE_S}"})
