"""What every resource shares: the client it talks through and the per-call options."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import pydantic

from .._client import RequestOptions
from .._exceptions import FieldError, InvalidRequestError
from .._pagination import AsyncPage, PageBody, SyncPage
from .._types import NOT_GIVEN, Headers, NotGiven, Query, Timeout

if TYPE_CHECKING:
    from .._client import AsyncClient, Client

T = TypeVar("T")

__all__ = ["AsyncResource", "SyncResource", "document", "options", "path_id", "utc_now"]


def document(value: object, *, what: str, model: str) -> dict[str, Any]:
    """A request body as plain JSON data, from a dict or one of the generated models.

    Anything else (JSON text, ``None``...) is refused with an error naming the document
    (``what``) and its class in :mod:`saferefer.types` (``model``); the methods' signatures say
    what they take, but callers without a type checker pass whatever they have.
    """
    if isinstance(value, pydantic.BaseModel):
        dumped: dict[str, Any] = value.model_dump(mode="json", by_alias=True, exclude_none=True)
        return dumped
    if isinstance(value, Mapping):
        return dict(value)
    hint = " (parse JSON text with json.loads first)" if isinstance(value, str | bytes) else ""
    raise InvalidRequestError(
        f"the {what} must be a JSON object: a dict or a saferefer.types.{model}, "
        f"not {type(value).__name__}{hint}; nothing was sent.",
        errors=[FieldError("#", "must be of type object")],
    )


def utc_now() -> str:
    """Now as an RFC 3339 UTC timestamp with the ``Z`` designator, as the standard writes times."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def path_id(value: str) -> str:
    """An id as one URL path segment (ids are URNs or UUIDs; quote anything else)."""
    return quote(str(value), safe=":")


def options(
    method: str,
    path: str,
    *,
    params: Query | None = None,
    json: Any = None,
    timeout: Timeout | NotGiven = NOT_GIVEN,
    extra_headers: Headers | None = None,
    idempotency_key: str | None = None,
    authenticated: bool = True,
) -> RequestOptions:
    return RequestOptions(
        method=method,
        path=path,
        params=params,
        json=json,
        headers=extra_headers,
        timeout=timeout,
        idempotency_key=idempotency_key,
        authenticated=authenticated,
    )


class SyncResource:
    def __init__(self, client: Client) -> None:
        self._client = client

    def _page(
        self, opts: RequestOptions, item: type[T], cursor_param: str = "cursor"
    ) -> SyncPage[T]:
        body = self._client.request(opts, PageBody[item])  # type: ignore[valid-type]

        def fetch(cursor: str) -> SyncPage[T]:
            params = {**(opts.params or {}), cursor_param: cursor}
            return self._page(_with_params(opts, params), item, cursor_param)

        return SyncPage(items=list(body.items), next_cursor=body.next_cursor, fetch=fetch)


class AsyncResource:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def _page(
        self, opts: RequestOptions, item: type[T], cursor_param: str = "cursor"
    ) -> AsyncPage[T]:
        body = await self._client.request(opts, PageBody[item])  # type: ignore[valid-type]

        async def fetch(cursor: str) -> AsyncPage[T]:
            params = {**(opts.params or {}), cursor_param: cursor}
            return await self._page(_with_params(opts, params), item, cursor_param)

        return AsyncPage(items=list(body.items), next_cursor=body.next_cursor, fetch=fetch)

    def _first_page(
        self, opts: RequestOptions, item: type[T], cursor_param: str = "cursor"
    ) -> Callable[[], Awaitable[AsyncPage[T]]]:
        return lambda: self._page(opts, item, cursor_param)


def _with_params(opts: RequestOptions, params: Mapping[str, Any]) -> RequestOptions:
    return replace(opts, params=params)
