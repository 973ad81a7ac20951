"""OAuth2 client credentials with ``private_key_jwt`` (RFC 7523), and the access-token cache.

The organisation signs a short client assertion (ES256, ``iss = sub = org id``, ``aud`` = the
node id — from the credentials file or, failing that, the node's capability document — or the
token endpoint URL when neither says) and trades it at
``POST /oauth/token`` for an access token. The token is cached and refreshed
:data:`REFRESH_MARGIN` seconds before it expires; the client calls :meth:`invalidate` on a 401 so
that the next attempt fetches a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc import jwt

from ._credentials import Credentials
from ._exceptions import AuthenticationError, _make_status_error, _make_transport_error

__all__ = ["ASSERTION_LIFETIME", "REFRESH_MARGIN", "AsyncTokenProvider", "TokenProvider"]

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CAPABILITIES_PATH = "/.well-known/saferefer"
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a secret
#: Seconds a client assertion is valid (the standard allows at most 300).
ASSERTION_LIFETIME = 60
#: A cached token is replaced this many seconds before it expires (at most half its lifetime).
REFRESH_MARGIN = 30.0


@dataclass(frozen=True)
class AccessToken:
    value: str
    scope: str
    #: ``time.monotonic()`` after which the token is no longer used.
    refresh_at: float


def build_client_assertion(
    credentials: Credentials, *, audience: str, now: float | None = None
) -> str:
    """The signed JWT that proves the organisation holds its private key."""
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": credentials.org_id,
        "sub": credentials.org_id,
        "aud": audience,
        "jti": str(uuid.uuid4()),
        "iat": issued,
        "exp": issued + ASSERTION_LIFETIME,
    }
    header = {"alg": "ES256", "kid": credentials.kid, "typ": "JWT"}
    return jwt.encode(header, claims, credentials.key, algorithms=["ES256"])


class _BaseTokenProvider:
    def __init__(
        self,
        credentials: Credentials,
        *,
        base_url: str,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._credentials = credentials
        self._base_url = base_url
        self._token_url = base_url.rstrip("/") + TOKEN_PATH
        self._capabilities_url = base_url.rstrip("/") + CAPABILITIES_PATH
        self._clock = clock
        self._token: AccessToken | None = None
        self._node_id: str | None = credentials.node_id

    @property
    def audience(self) -> str:
        """The node id when known (credentials file, or the node's capability document), else
        the token endpoint URL; the standard accepts both."""
        return self._node_id or self._token_url

    def _discovery_request(self, timeout: httpx.Timeout) -> httpx.Request | None:
        if self._node_id is not None:
            return None
        return httpx.Request(
            "GET",
            self._capabilities_url,
            headers={"Accept": "application/json"},
            extensions={"timeout": timeout.as_dict()},
        )

    def _learn_node_id(self, response: httpx.Response) -> None:
        node_id = _json_or_empty(response).get("node_id") if response.is_success else None
        if isinstance(node_id, str):
            self._node_id = node_id

    def invalidate(self) -> None:
        self._token = None

    def _cached(self) -> str | None:
        token = self._token
        if token is not None and self._clock() < token.refresh_at:
            return token.value
        return None

    def _request(self, timeout: httpx.Timeout) -> httpx.Request:
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": build_client_assertion(self._credentials, audience=self.audience),
        }
        return httpx.Request(
            "POST",
            self._token_url,
            data=form,
            headers={"Accept": "application/json"},
            extensions={"timeout": timeout.as_dict()},
        )

    def _accept(self, response: httpx.Response, started: float) -> str:
        body = _json_or_empty(response)
        if response.status_code >= 400:
            error = _make_status_error(response, _as_problem(body, response.status_code))
            if response.status_code in {400, 401} and not isinstance(error, AuthenticationError):
                # The token endpoint refuses credentials with 400 invalid_client (RFC 6749 5.2).
                error = AuthenticationError(error.message, response=response, problem=error.problem)
            raise error
        value = body.get("access_token")
        expires_in = body.get("expires_in")
        if not isinstance(value, str) or not isinstance(expires_in, int | float):
            raise _make_status_error(
                response,
                {
                    "title": "invalid token response",
                    "detail": "the node's token response lacks access_token or expires_in",
                },
            )
        margin = min(REFRESH_MARGIN, float(expires_in) / 2)
        self._token = AccessToken(
            value, str(body.get("scope", "")), started + float(expires_in) - margin
        )
        return value


class TokenProvider(_BaseTokenProvider):
    """Access tokens for a sync :class:`~saferefer.Client`; thread-safe."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        base_url: str,
        clock: Callable[[], float] = time.monotonic,
    ):
        super().__init__(credentials, base_url=base_url, clock=clock)
        self._lock = threading.Lock()

    def token(self, http: httpx.Client, timeout: httpx.Timeout) -> str:
        cached = self._cached()
        if cached is not None:
            return cached
        with self._lock:
            cached = self._cached()
            if cached is not None:
                return cached
            discovery = self._discovery_request(timeout)
            if discovery is not None:
                with contextlib.suppress(httpx.HTTPError):  # unknown node id: the token URL will do
                    self._learn_node_id(http.send(discovery))
            request = self._request(timeout)
            started = self._clock()
            try:
                response = http.send(request)
            except httpx.HTTPError as exc:
                raise _make_transport_error(exc, request=request, base_url=self._base_url) from None
            return self._accept(response, started)


class AsyncTokenProvider(_BaseTokenProvider):
    """Access tokens for an :class:`~saferefer.AsyncClient`; one fetch at a time per event loop."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        base_url: str,
        clock: Callable[[], float] = time.monotonic,
    ):
        super().__init__(credentials, base_url=base_url, clock=clock)
        self._lock: asyncio.Lock | None = None

    async def token(self, http: httpx.AsyncClient, timeout: httpx.Timeout) -> str:
        cached = self._cached()
        if cached is not None:
            return cached
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            cached = self._cached()
            if cached is not None:
                return cached
            discovery = self._discovery_request(timeout)
            if discovery is not None:
                with contextlib.suppress(httpx.HTTPError):  # unknown node id: the token URL will do
                    self._learn_node_id(await http.send(discovery))
            request = self._request(timeout)
            started = self._clock()
            try:
                response = await http.send(request)
            except httpx.HTTPError as exc:
                raise _make_transport_error(exc, request=request, base_url=self._base_url) from None
            return self._accept(response, started)


def _json_or_empty(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _as_problem(body: dict[str, Any], status: int) -> dict[str, Any]:
    """A problem document from an RFC 9457 body, or from an RFC 6749 ``{error, error_description}``."""
    if "type" in body or "title" in body:
        return body
    if "error" in body:
        return {
            "type": "https://saferefer.org/problems/unauthorized",
            "title": str(body["error"]),
            "detail": str(body.get("error_description", "")),
            "status": status,
        }
    return {"title": "token request failed", "status": status}
