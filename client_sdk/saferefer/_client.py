"""The clients: :class:`Client` (sync) and :class:`AsyncClient` (async), with one shared base.

Each logical call builds one request, then runs the retry loop (:mod:`saferefer._retry`):
get an access token, send, and on a retryable outcome wait and send again — with the same
``Idempotency-Key`` for a POST. A 401 invalidates the token and is retried once with a fresh
one. Every httpx error is translated here into a :class:`~saferefer.SafeReferError`
(``_exceptions._make_transport_error`` says which one).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import httpx
import pydantic

from . import _retry
from ._auth import AsyncTokenProvider, TokenProvider
from ._credentials import ENV_BASE_URL, Credentials, resolve_credentials
from ._exceptions import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    ConfigurationError,
    FieldError,
    InvalidRequestError,
    _make_status_error,
    _make_transport_error,
)
from ._types import NOT_GIVEN, Headers, NotGiven, Query, Timeout
from ._version import __version__
from .types import CapabilityDocument

if TYPE_CHECKING:
    from .resources.audit import AsyncAudit, Audit
    from .resources.consents import AsyncConsents, Consents
    from .resources.events import AsyncEvents, Events
    from .resources.organisations import AsyncOrganisations, Organisations
    from .resources.policy import AsyncPolicy, Policy
    from .resources.referrals import AsyncReferrals, Referrals
    from .resources.statistics import AsyncStatistics, Statistics
    from .resources.subscriptions import AsyncSubscriptions, Subscriptions

__all__ = ["DEFAULT_TIMEOUT", "AsyncClient", "Client"]

T = TypeVar("T")
HttpClientT = TypeVar("HttpClientT", httpx.Client, httpx.AsyncClient)

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
CAPABILITIES_PATH = "/.well-known/saferefer"
JWKS_PATH = "/jwks.json"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: An ``Idempotency-Key`` the standard accepts: 1 to 255 visible ASCII characters
#: (spec/openapi.yaml, ``components.parameters.IdempotencyKey``).
IDEMPOTENCY_KEY_PATTERN = re.compile(r"[\x21-\x7E]{1,255}")


@dataclass(frozen=True)
class RequestOptions:
    """Everything one logical call needs; resources build these."""

    method: str
    path: str
    params: Query | None = None
    json: Any = None
    headers: Headers | None = None
    timeout: Timeout | NotGiven = NOT_GIVEN
    idempotency_key: str | None = None
    authenticated: bool = True


_ADAPTERS: dict[Any, pydantic.TypeAdapter[Any]] = {}


def _adapter(cast_to: Any) -> pydantic.TypeAdapter[Any]:
    adapter = _ADAPTERS.get(cast_to)
    if adapter is None:
        adapter = _ADAPTERS[cast_to] = pydantic.TypeAdapter(cast_to)
    return adapter


class BaseClient(Generic[HttpClientT]):
    """Configuration and the request/response logic both clients share."""

    _http: HttpClientT

    def __init__(
        self,
        *,
        base_url: str | None,
        org_id: str | None,
        private_key: str | bytes | Mapping[str, Any] | None,
        private_key_file: str | os.PathLike[str] | None,
        credentials_file: str | os.PathLike[str] | None,
        key_id: str | None,
        node_id: str | None,
        timeout: Timeout,
        max_retries: int,
        default_headers: Headers | None,
    ) -> None:
        self.credentials: Credentials = resolve_credentials(
            org_id=org_id,
            private_key=private_key,
            private_key_file=private_key_file,
            credentials_file=credentials_file,
            key_id=key_id,
            node_id=node_id,
        )
        resolved = base_url or os.environ.get(ENV_BASE_URL) or self.credentials.base_url
        if not resolved:
            raise ConfigurationError(
                f"no base URL: pass base_url=, set {ENV_BASE_URL}, or use a credentials file that has one."
            )
        if max_retries < 0:
            raise ConfigurationError("max_retries must be 0 or more.")
        try:
            url = httpx.URL(resolved)
        except (httpx.InvalidURL, TypeError):
            raise ConfigurationError("the base URL is not a valid URL.") from None
        if url.scheme not in {"http", "https"} or not url.host:
            raise ConfigurationError("the base URL must be an absolute http(s) URL.")
        self.base_url: str = resolved.rstrip("/")
        self.timeout: Timeout = timeout
        self.max_retries: int = max_retries
        self._default_headers: dict[str, str] = dict(default_headers or {})

    @property
    def org_id(self) -> str:
        return self.credentials.org_id

    def _headers(self, options: RequestOptions, idempotency_key: str | None) -> dict[str, str]:
        headers = {
            "Accept": "application/json, application/problem+json",
            "User-Agent": f"saferefer-python/{__version__}",
            **self._default_headers,
            **(options.headers or {}),
        }
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def _timeout(self, options: RequestOptions) -> httpx.Timeout:
        chosen = self.timeout if isinstance(options.timeout, NotGiven) else options.timeout
        if isinstance(chosen, httpx.Timeout):
            return chosen
        return httpx.Timeout(chosen)

    def _build_request(self, options: RequestOptions, idempotency_key: str | None) -> httpx.Request:
        params: list[tuple[str, str | int | float | bool | None]] = []
        for name, value in (options.params or {}).items():
            if value is None:
                continue
            if isinstance(value, str | int | float | bool):
                params.append((name, _query_value(value)))
            else:
                params.extend((name, _query_value(item)) for item in value)
        kwargs: dict[str, Any] = {}
        if options.json is not None:
            kwargs["json"] = options.json
        try:
            return httpx.Request(
                options.method,
                self.base_url + options.path,
                params=params,
                headers=self._headers(options, idempotency_key),
                extensions={"timeout": self._timeout(options).as_dict()},
                **kwargs,
            )
        except (TypeError, ValueError):
            raise InvalidRequestError(
                f"{options.method} {options.path}: the body or a header is not valid JSON / ASCII data.",
                errors=[FieldError("#", "not JSON-serialisable")],
            ) from None

    @staticmethod
    def _idempotency_key(options: RequestOptions) -> str | None:
        """The key of every attempt of this call: the caller's (checked before anything is
        sent, so a malformed one is not retried as a connection error) or a new UUID."""
        chosen: object = options.idempotency_key
        if chosen is not None and (
            not isinstance(chosen, str) or IDEMPOTENCY_KEY_PATTERN.fullmatch(chosen) is None
        ):
            got = "" if isinstance(chosen, str) else f", not {type(chosen).__name__}"
            raise InvalidRequestError(
                "idempotency_key must be a string of 1 to 255 visible ASCII characters, without "
                f"spaces or line breaks (a UUID is recommended){got}; nothing was sent.",
                errors=[FieldError("idempotency_key", "must be 1 to 255 visible ASCII characters")],
            )
        if options.method.upper() in IDEMPOTENT_METHODS:
            return None
        return options.idempotency_key or str(uuid.uuid4())

    @staticmethod
    def _status_error(response: httpx.Response) -> APIStatusError:
        try:
            body = response.json()
        except ValueError:
            body = None
        problem = body if isinstance(body, dict) else {"title": response.reason_phrase or "error"}
        return _make_status_error(response, problem)

    @staticmethod
    def _parse(response: httpx.Response, cast_to: type[T]) -> T:
        if cast_to is type(None):
            return None
        try:
            body = response.json()
        except ValueError:
            raise APIResponseValidationError(
                f"{response.request.method} {response.request.url.path} answered {response.status_code} "
                "with a body that is not JSON.",
                response=response,
            ) from None
        try:
            return cast(T, _adapter(cast_to).validate_python(body))
        except pydantic.ValidationError as exc:
            where = "; ".join(
                f"$.{'.'.join(str(p) for p in err['loc'])}: {err['type']}"
                for err in exc.errors()[:5]
            )
            raise APIResponseValidationError(
                f"{response.request.method} {response.request.url.path}: the response does not match "
                f"the standard's schema ({where}).",
                response=response,
            ) from None

    @staticmethod
    def _jitter() -> float:
        return random.random()  # noqa: S311 - jitter, not a secret

    def _copy_kwargs(
        self,
        timeout: Timeout | NotGiven,
        max_retries: int | NotGiven,
        default_headers: Headers | NotGiven,
    ) -> dict[str, Any]:
        return {
            "timeout": self.timeout if isinstance(timeout, NotGiven) else timeout,
            "max_retries": self.max_retries if isinstance(max_retries, NotGiven) else max_retries,
            "default_headers": {
                **self._default_headers,
                **({} if isinstance(default_headers, NotGiven) else default_headers),
            },
        }


class Client(BaseClient[httpx.Client]):
    """A synchronous SafeRefer client for one organisation at one node.

    >>> client = Client(credentials_file="var/demo/credentials/NL-demo-ngo.json")  # doctest: +SKIP
    >>> for referral in client.referrals.list(box="inbox"):  # doctest: +SKIP
    ...     print(referral.id, referral.state)

    Arguments left out come from the environment: ``SAFEREFER_BASE_URL``, ``SAFEREFER_ORG_ID``,
    ``SAFEREFER_PRIVATE_KEY_FILE`` or ``SAFEREFER_CREDENTIALS_FILE``.
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        org_id: str | None = None,
        private_key: str | bytes | Mapping[str, Any] | None = None,
        private_key_file: str | os.PathLike[str] | None = None,
        credentials_file: str | os.PathLike[str] | None = None,
        key_id: str | None = None,
        node_id: str | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        max_retries: int = _retry.DEFAULT_MAX_RETRIES,
        default_headers: Headers | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url,
            org_id=org_id,
            private_key=private_key,
            private_key_file=private_key_file,
            credentials_file=credentials_file,
            key_id=key_id,
            node_id=node_id,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
        )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client()
        self._auth = TokenProvider(self.credentials, base_url=self.base_url)

    def with_options(
        self,
        *,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        default_headers: Headers | NotGiven = NOT_GIVEN,
    ) -> Client:
        """A copy of this client with other defaults; it shares the connection pool and token."""
        clone = object.__new__(Client)
        clone.__dict__.update({k: v for k, v in self.__dict__.items() if not _is_resource_cache(k)})
        for name, value in self._copy_kwargs(timeout, max_retries, default_headers).items():
            setattr(clone, "_default_headers" if name == "default_headers" else name, value)
        clone._owns_http = False
        return clone

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def request(self, options: RequestOptions, cast_to: type[T]) -> T:
        """Send one logical call, retrying as :mod:`saferefer._retry` says; parse into ``cast_to``."""
        response = self._send_with_retries(options)
        return self._parse(response, cast_to)

    def _send_with_retries(self, options: RequestOptions) -> httpx.Response:
        idempotency_key = self._idempotency_key(options)
        refreshed = False
        attempt = 0
        while True:
            request = self._build_request(options, idempotency_key)
            try:
                if options.authenticated:
                    request.headers["Authorization"] = "Bearer " + self._auth.token(
                        self._http, self._timeout(options)
                    )
                response = _send(self._http, request, self.base_url)
            except (APIConnectionError, APIStatusError) as error:
                status = error.status_code if isinstance(error, APIStatusError) else None
                headers = error.response.headers if isinstance(error, APIStatusError) else None
                if not _retry._should_retry(
                    attempt=attempt,
                    max_retries=self.max_retries,
                    status_code=status,
                    headers=headers,
                ):
                    raise
                time.sleep(
                    _retry._retry_delay(
                        attempt=attempt,
                        retry_after=_retry_after(headers),
                        random_fraction=self._jitter(),
                    )
                )
                attempt += 1
                continue
            if response.status_code == 401 and options.authenticated and not refreshed:
                self._auth.invalidate()
                refreshed = True
                continue
            if response.is_success:
                return response
            if _retry._should_retry(
                attempt=attempt,
                max_retries=self.max_retries,
                status_code=response.status_code,
                headers=response.headers,
            ):
                time.sleep(
                    _retry._retry_delay(
                        attempt=attempt,
                        retry_after=response.headers.get("retry-after"),
                        random_fraction=self._jitter(),
                    )
                )
                attempt += 1
                continue
            raise self._status_error(response)

    def capabilities(
        self, *, timeout: Timeout | NotGiven = NOT_GIVEN, extra_headers: Headers | None = None
    ) -> CapabilityDocument:
        """The node's capability document (``/.well-known/saferefer``); needs no token."""
        opts = RequestOptions(
            "GET", CAPABILITIES_PATH, headers=extra_headers, timeout=timeout, authenticated=False
        )
        return self.request(opts, CapabilityDocument)

    def jwks(
        self, *, timeout: Timeout | NotGiven = NOT_GIVEN, extra_headers: Headers | None = None
    ) -> dict[str, Any]:
        """The node's public keys (``/jwks.json``): verify webhook deliveries with them."""
        opts = RequestOptions(
            "GET", JWKS_PATH, headers=extra_headers, timeout=timeout, authenticated=False
        )
        return self.request(opts, dict[str, Any])

    @cached_property
    def organisations(self) -> Organisations:
        from .resources.organisations import Organisations

        return Organisations(self)

    @cached_property
    def consents(self) -> Consents:
        from .resources.consents import Consents

        return Consents(self)

    @cached_property
    def referrals(self) -> Referrals:
        from .resources.referrals import Referrals

        return Referrals(self)

    @cached_property
    def policy(self) -> Policy:
        from .resources.policy import Policy

        return Policy(self)

    @cached_property
    def events(self) -> Events:
        from .resources.events import Events

        return Events(self)

    @cached_property
    def subscriptions(self) -> Subscriptions:
        from .resources.subscriptions import Subscriptions

        return Subscriptions(self)

    @cached_property
    def audit(self) -> Audit:
        from .resources.audit import Audit

        return Audit(self)

    @cached_property
    def statistics(self) -> Statistics:
        from .resources.statistics import Statistics

        return Statistics(self)


class AsyncClient(BaseClient[httpx.AsyncClient]):
    """The asynchronous twin of :class:`Client`: same arguments, same resources, awaited calls."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        org_id: str | None = None,
        private_key: str | bytes | Mapping[str, Any] | None = None,
        private_key_file: str | os.PathLike[str] | None = None,
        credentials_file: str | os.PathLike[str] | None = None,
        key_id: str | None = None,
        node_id: str | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        max_retries: int = _retry.DEFAULT_MAX_RETRIES,
        default_headers: Headers | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url,
            org_id=org_id,
            private_key=private_key,
            private_key_file=private_key_file,
            credentials_file=credentials_file,
            key_id=key_id,
            node_id=node_id,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
        )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient()
        self._auth = AsyncTokenProvider(self.credentials, base_url=self.base_url)

    def with_options(
        self,
        *,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        default_headers: Headers | NotGiven = NOT_GIVEN,
    ) -> AsyncClient:
        """A copy of this client with other defaults; it shares the connection pool and token."""
        clone = object.__new__(AsyncClient)
        clone.__dict__.update({k: v for k, v in self.__dict__.items() if not _is_resource_cache(k)})
        for name, value in self._copy_kwargs(timeout, max_retries, default_headers).items():
            setattr(clone, "_default_headers" if name == "default_headers" else name, value)
        clone._owns_http = False
        return clone

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def request(self, options: RequestOptions, cast_to: type[T]) -> T:
        """Send one logical call, retrying as :mod:`saferefer._retry` says; parse into ``cast_to``."""
        response = await self._send_with_retries(options)
        return self._parse(response, cast_to)

    async def _send_with_retries(self, options: RequestOptions) -> httpx.Response:
        idempotency_key = self._idempotency_key(options)
        refreshed = False
        attempt = 0
        while True:
            request = self._build_request(options, idempotency_key)
            try:
                if options.authenticated:
                    token = await self._auth.token(self._http, self._timeout(options))
                    request.headers["Authorization"] = "Bearer " + token
                response = await _asend(self._http, request, self.base_url)
            except (APIConnectionError, APIStatusError) as error:
                status = error.status_code if isinstance(error, APIStatusError) else None
                headers = error.response.headers if isinstance(error, APIStatusError) else None
                if not _retry._should_retry(
                    attempt=attempt,
                    max_retries=self.max_retries,
                    status_code=status,
                    headers=headers,
                ):
                    raise
                await asyncio.sleep(
                    _retry._retry_delay(
                        attempt=attempt,
                        retry_after=_retry_after(headers),
                        random_fraction=self._jitter(),
                    )
                )
                attempt += 1
                continue
            if response.status_code == 401 and options.authenticated and not refreshed:
                self._auth.invalidate()
                refreshed = True
                continue
            if response.is_success:
                return response
            if _retry._should_retry(
                attempt=attempt,
                max_retries=self.max_retries,
                status_code=response.status_code,
                headers=response.headers,
            ):
                await asyncio.sleep(
                    _retry._retry_delay(
                        attempt=attempt,
                        retry_after=response.headers.get("retry-after"),
                        random_fraction=self._jitter(),
                    )
                )
                attempt += 1
                continue
            raise self._status_error(response)

    async def capabilities(
        self, *, timeout: Timeout | NotGiven = NOT_GIVEN, extra_headers: Headers | None = None
    ) -> CapabilityDocument:
        """The node's capability document (``/.well-known/saferefer``); needs no token."""
        opts = RequestOptions(
            "GET", CAPABILITIES_PATH, headers=extra_headers, timeout=timeout, authenticated=False
        )
        return await self.request(opts, CapabilityDocument)

    async def jwks(
        self, *, timeout: Timeout | NotGiven = NOT_GIVEN, extra_headers: Headers | None = None
    ) -> dict[str, Any]:
        """The node's public keys (``/jwks.json``): verify webhook deliveries with them."""
        opts = RequestOptions(
            "GET", JWKS_PATH, headers=extra_headers, timeout=timeout, authenticated=False
        )
        return await self.request(opts, dict[str, Any])

    @cached_property
    def organisations(self) -> AsyncOrganisations:
        from .resources.organisations import AsyncOrganisations

        return AsyncOrganisations(self)

    @cached_property
    def consents(self) -> AsyncConsents:
        from .resources.consents import AsyncConsents

        return AsyncConsents(self)

    @cached_property
    def referrals(self) -> AsyncReferrals:
        from .resources.referrals import AsyncReferrals

        return AsyncReferrals(self)

    @cached_property
    def policy(self) -> AsyncPolicy:
        from .resources.policy import AsyncPolicy

        return AsyncPolicy(self)

    @cached_property
    def events(self) -> AsyncEvents:
        from .resources.events import AsyncEvents

        return AsyncEvents(self)

    @cached_property
    def subscriptions(self) -> AsyncSubscriptions:
        from .resources.subscriptions import AsyncSubscriptions

        return AsyncSubscriptions(self)

    @cached_property
    def audit(self) -> AsyncAudit:
        from .resources.audit import AsyncAudit

        return AsyncAudit(self)

    @cached_property
    def statistics(self) -> AsyncStatistics:
        from .resources.statistics import AsyncStatistics

        return AsyncStatistics(self)


_RESOURCE_NAMES = frozenset(
    {
        "organisations",
        "consents",
        "referrals",
        "policy",
        "events",
        "subscriptions",
        "audit",
        "statistics",
    }
)


def _is_resource_cache(name: str) -> bool:
    return name in _RESOURCE_NAMES


def _query_value(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _retry_after(headers: httpx.Headers | None) -> str | None:
    return headers.get("retry-after") if headers is not None else None


def _send(http: httpx.Client, request: httpx.Request, base_url: str) -> httpx.Response:
    try:
        return http.send(request)
    except httpx.HTTPError as exc:
        raise _make_transport_error(exc, request=request, base_url=base_url) from None


async def _asend(http: httpx.AsyncClient, request: httpx.Request, base_url: str) -> httpx.Response:
    try:
        return await http.send(request)
    except httpx.HTTPError as exc:
        raise _make_transport_error(exc, request=request, base_url=base_url) from None
