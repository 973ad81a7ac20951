"""Client assertions in, access tokens out, and the bearer-token check of every API call.

Every JWT is parsed in two steps: the protected header is read without trusting it and must say
`alg: ES256` with a `kid`; only then is the signature verified with that one key and only ES256
allowed. That closes `alg: none`, HMAC-signed-with-the-public-key and algorithm-confusion tricks
before any crypto library sees the token.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from saferefer_server.auth.keys import NodeKeyStore

ALGORITHM = "ES256"
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - RFC 9068 media type, not a secret
# RFC 7523 assertions carry `typ: JWT` or none; an access token (or any other typed JWS the node
# signs) is never accepted as an assertion, and vice versa (RFC 8725 §3.11 explicit typing).
ASSERTION_TYPES = frozenset({None, "JWT", "jwt"})
CLOCK_SKEW_S = 30
MAX_JWT_BYTES = 8192


class TokenError(Exception):
    """The token is not acceptable; the message says why and is safe to show to its bearer."""


@dataclass(frozen=True)
class UnverifiedJWT:
    header: dict[str, Any]
    claims: dict[str, Any]


def read_unverified(token: str) -> UnverifiedJWT:
    """Header and claims of a compact JWS, with the header checked for ES256 + kid."""
    if len(token) > MAX_JWT_BYTES:
        raise TokenError("the token is too long")
    try:
        compact = jws.extract_compact(token.encode("ascii"))
        claims = json.loads(compact.payload)
    except (JoseError, ValueError, UnicodeError) as exc:
        raise TokenError("the token is not a compact JWS") from exc
    header = dict(compact.protected)
    if header.get("alg") != ALGORITHM:
        raise TokenError(f"the token must be signed with {ALGORITHM}")
    if not isinstance(header.get("kid"), str) or not header["kid"]:
        raise TokenError("the token header has no kid")
    if not isinstance(claims, dict):
        raise TokenError("the token claims are not a JSON object")
    return UnverifiedJWT(header=header, claims=claims)


def verify_signature(token: str, key: ECKey) -> None:
    try:
        jwt.decode(token, key, algorithms=[ALGORITHM])
    except (JoseError, ValueError) as exc:
        raise TokenError("the token signature does not verify") from exc


def _require_str(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise TokenError(f"the token has no {name} claim")
    return value


def _require_int(claims: Mapping[str, Any], name: str) -> int:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenError(f"the token has no numeric {name} claim")
    return int(value)


def _audiences(claims: Mapping[str, Any]) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list) and all(isinstance(a, str) for a in aud):
        return list(aud)
    raise TokenError("the token has no aud claim")


def check_lifetime(
    claims: Mapping[str, Any], *, max_lifetime_s: int, now: float | None = None
) -> None:
    now = time.time() if now is None else now
    exp = _require_int(claims, "exp")
    iat = _require_int(claims, "iat")
    if exp <= now - CLOCK_SKEW_S:
        raise TokenError("the token has expired")
    if iat > now + CLOCK_SKEW_S:
        raise TokenError("the token was issued in the future")
    if exp - iat > max_lifetime_s:
        raise TokenError(f"the token lifetime exceeds {max_lifetime_s} s")
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and nbf > now + CLOCK_SKEW_S:
        raise TokenError("the token is not valid yet")


def require_assertion_typ(unverified: UnverifiedJWT) -> None:
    if unverified.header.get("typ") not in ASSERTION_TYPES:
        raise TokenError("the assertion typ must be JWT")


@dataclass(frozen=True)
class AccessToken:
    org_id: str
    roles: tuple[str, ...]
    token_id: str


@dataclass(frozen=True)
class ClientAssertion:
    org_id: str
    jti: str
    expires_at: int


def check_client_assertion(
    token: str, *, org_jwks: Mapping[str, Any], accepted_audiences: set[str], max_lifetime_s: int
) -> ClientAssertion:
    """Verify an RFC 7523 client assertion against the organisation's registered keys.

    The caller has already found the organisation named by `iss` in the directory and checked it
    is enabled; the jti replay check happens in the database (see `auth.service`).
    """
    unverified = read_unverified(token)
    require_assertion_typ(unverified)
    key = _key_from_jwks(org_jwks, unverified.header["kid"])
    if key is None:
        raise TokenError("the assertion kid is not a registered key of this organisation")
    verify_signature(token, key)
    claims = unverified.claims
    iss = _require_str(claims, "iss")
    if _require_str(claims, "sub") != iss:
        raise TokenError("the assertion sub must equal iss (the organisation id)")
    if not accepted_audiences.intersection(_audiences(claims)):
        raise TokenError("the assertion audience is not this node's token endpoint or node id")
    check_lifetime(claims, max_lifetime_s=max_lifetime_s)
    return ClientAssertion(
        org_id=iss, jti=_require_str(claims, "jti"), expires_at=_require_int(claims, "exp")
    )


def _key_from_jwks(jwks: Mapping[str, Any], kid: str) -> ECKey | None:
    for entry in jwks.get("keys", []):
        if isinstance(entry, dict) and entry.get("kid") == kid:
            if entry.get("kty") != "EC" or entry.get("crv") != "P-256" or "d" in entry:
                return None
            try:
                return ECKey.import_key(entry)
            except (JoseError, ValueError):
                return None
    return None


def role_scopes(roles: tuple[str, ...] | list[str]) -> str:
    return " ".join(f"role:{role}" for role in roles)


def issue_access_token(
    *, keys: NodeKeyStore, node_id: str, org_id: str, roles: list[str], ttl_s: int
) -> tuple[str, str]:
    """A signed access token for `org_id`, and its scope string."""
    signing = keys.signing_key()
    now = int(time.time())
    scope = role_scopes(roles)
    claims = {
        "iss": node_id,
        "aud": node_id,
        "sub": org_id,
        "scope": scope,
        "iat": now,
        "exp": now + ttl_s,
        "jti": str(uuid.uuid4()),
    }
    token = jwt.encode(
        {"alg": ALGORITHM, "kid": signing.kid, "typ": ACCESS_TOKEN_TYPE}, claims, signing.key
    )
    return token, scope


def check_access_token(token: str, *, keys: NodeKeyStore, node_id: str, ttl_s: int) -> AccessToken:
    """What a bearer token issued by this node says (the organisation is checked apart)."""
    unverified = read_unverified(token)
    if unverified.header.get("typ") != ACCESS_TOKEN_TYPE:
        raise TokenError(f"the token typ must be {ACCESS_TOKEN_TYPE}")
    key = keys.verification_key(unverified.header["kid"])
    if key is None:
        raise TokenError("the token was not signed by a current key of this node")
    verify_signature(token, key)
    claims = unverified.claims
    if _require_str(claims, "iss") != node_id:
        raise TokenError("the token was not issued by this node")
    if node_id not in _audiences(claims):
        raise TokenError("the token audience is not this node")
    check_lifetime(claims, max_lifetime_s=ttl_s)
    scope = claims.get("scope", "")
    if not isinstance(scope, str):
        raise TokenError("the token scope is not a string")
    roles = tuple(s.removeprefix("role:") for s in scope.split() if s.startswith("role:"))
    return AccessToken(
        org_id=_require_str(claims, "sub"), roles=roles, token_id=_require_str(claims, "jti")
    )
