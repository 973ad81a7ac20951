"""HTTP as an organisation: client assertions, access tokens and authenticated requests.

The suite speaks HTTP only (httpx), so it judges any server the same way. It builds its own client
assertions — rather than going through the SDK — because several checks must send assertions that a
well-behaved client never would (``alg: none``, a wrong audience, an expired or replayed one).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

import httpx
from joserfc import jws, jwt
from joserfc.jwk import ECKey

from ._config import OrgCredentials
from ._failures import CheckFailed, Failure, curl_command, describe_response

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: A cached access token is replaced this many seconds before it expires.
TOKEN_REFRESH_MARGIN = 30.0


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: Mapping[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def assertion_claims(
    org_id: str, audience: str, *, now: int | None = None, lifetime: int = 60, **overrides: Any
) -> dict[str, Any]:
    issued = int(time.time()) if now is None else now
    claims: dict[str, Any] = {
        "iss": org_id,
        "sub": org_id,
        "aud": audience,
        "jti": str(uuid.uuid4()),
        "iat": issued,
        "exp": issued + lifetime,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def sign_es256(claims: Mapping[str, Any], key: ECKey, kid: str) -> str:
    header = {"alg": "ES256", "kid": kid, "typ": "JWT"}
    return jwt.encode(header, dict(claims), key, algorithms=["ES256"])


def unsigned_jwt(claims: Mapping[str, Any], kid: str | None = None) -> str:
    """A JWT with ``alg: none`` and an empty signature (an attack, never a valid token)."""
    header: dict[str, Any] = {"alg": "none", "typ": "JWT"}
    if kid:
        header["kid"] = kid
    return f"{b64url_json(header)}.{b64url_json(claims)}."


def hmac_jwt(claims: Mapping[str, Any], secret: bytes, kid: str | None = None) -> str:
    """An HS256 JWT keyed with ``secret`` (the public-key-as-HMAC-secret confusion attack)."""
    header: dict[str, Any] = {"alg": "HS256", "typ": "JWT"}
    if kid:
        header["kid"] = kid
    signing_input = f"{b64url_json(header)}.{b64url_json(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def detached_jws_verify(signature: str, body: bytes, jwks: Mapping[str, Any]) -> str | None:
    """Verify an RFC 7515 Appendix F detached JWS over ``body``; returns the problem or ``None``."""
    parts = signature.split(".")
    if len(parts) != 3 or parts[1]:
        return "the signature is not a detached compact JWS (header..signature)"
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except ValueError:
        return "the JWS header is not base64url JSON"
    if header.get("alg") != "ES256":
        return f"the JWS alg is {header.get('alg')!r}, not ES256"
    keys = [k for k in jwks.get("keys", []) if k.get("kid") == header.get("kid")]
    if not keys:
        return f"no key with kid {header.get('kid')!r} in the node's JWKS"
    compact = f"{parts[0]}.{b64url(body)}.{parts[2]}"
    try:
        jws.deserialize_compact(compact, ECKey.import_key(keys[0]), algorithms=["ES256"])
    except Exception as exc:  # joserfc raises several error types for a bad signature
        return f"the signature does not verify ({type(exc).__name__})"
    return None


class OrgClient:
    """Requests made as one organisation (or anonymously when ``credentials`` is ``None``)."""

    def __init__(
        self,
        http: httpx.Client,
        credentials: OrgCredentials | None,
        *,
        token_endpoint: str,
        audience: str,
        refusal_note: str = "",
    ) -> None:
        self.http = http
        self.credentials = credentials
        self.token_endpoint = token_endpoint
        self.audience = audience
        #: Added to the failure when the node refuses a valid assertion (a likely cause).
        self.refusal_note = refusal_note
        self._token: str | None = None
        self._refresh_at = 0.0
        self._scope = ""
        self._lock = threading.Lock()

    @property
    def org_id(self) -> str:
        if self.credentials is None:
            raise AttributeError("an anonymous client has no organisation id")
        return self.credentials.org_id

    @property
    def country(self) -> str:
        return self.org_id.split(":")[3]

    def request_token(self, assertion: str | None = None, **form: str) -> httpx.Response:
        """``POST /oauth/token`` with a client assertion (a fresh valid one unless given)."""
        if assertion is None:
            assertion = self.fresh_assertion()
        data = {
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion,
            **form,
        }
        return self.http.post(
            self.token_endpoint, data=data, headers={"Accept": "application/json"}
        )

    def fresh_assertion(self, **overrides: Any) -> str:
        if self.credentials is None:
            raise AttributeError("an anonymous client cannot sign")
        claims = assertion_claims(self.credentials.org_id, self.audience, **overrides)
        return sign_es256(claims, self.credentials.key, self.credentials.kid)

    def token(self) -> str:
        with self._lock:
            if self._token is not None and time.monotonic() < self._refresh_at:
                return self._token
            response = self.request_token()
            body: Any = None
            if response.status_code == 200:
                try:
                    body = response.json()
                except ValueError:
                    body = None
            if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
                raise CheckFailed(
                    [
                        Failure(
                            title="Could not obtain an access token",
                            message=(
                                f"The token endpoint refused a valid client assertion for "
                                f"{self.org_id}; every authenticated check depends on it."
                                + (f" {self.refusal_note}" if self.refusal_note else "")
                            ),
                            expected="200 with a token-response document",
                            actual=describe_response(response),
                            curl=curl_command(response.request),
                            status_code=response.status_code,
                            requirement="SR-AUTH-002",
                        )
                    ]
                )
            self._token = str(body["access_token"])
            lifetime = float(body.get("expires_in", 60))
            self._refresh_at = time.monotonic() + max(lifetime - TOKEN_REFRESH_MARGIN, lifetime / 2)
            self._scope = str(body.get("scope", ""))
            return self._token

    @property
    def roles(self) -> list[str]:
        """The roles the node granted this organisation (from the token's ``scope``)."""
        self.token()
        return [s.removeprefix("role:") for s in self._scope.split() if s.startswith("role:")]

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        idempotency_key: str | bool | None = True,
        token: str | None = None,
        authenticated: bool = True,
    ) -> httpx.Response:
        """Send a request; a POST gets a fresh ``Idempotency-Key`` unless given or ``False``."""
        sent_headers: dict[str, str] = {"Accept": "application/json"}
        if authenticated and self.credentials is not None:
            sent_headers["Authorization"] = f"Bearer {token or self.token()}"
        elif token is not None:
            sent_headers["Authorization"] = f"Bearer {token}"
        if method.upper() == "POST" and idempotency_key is not False:
            key = str(uuid.uuid4()) if idempotency_key is True else idempotency_key
            if key:
                sent_headers["Idempotency-Key"] = key
        if headers:
            sent_headers.update(headers)
        if json_body is not None:
            return self.http.request(
                method, path, json=json_body, params=params, headers=sent_headers
            )
        return self.http.request(method, path, params=params, headers=sent_headers, content=content)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, json_body=body, **kwargs)
