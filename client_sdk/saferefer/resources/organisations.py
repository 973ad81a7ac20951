"""The node's directory: search organisations by role, country or name, and read one."""

from __future__ import annotations

from .._client import RequestOptions
from .._pagination import AsyncPaginator, SyncPage
from .._types import NOT_GIVEN, Headers, NotGiven, Timeout
from ..types import Organisation
from ._base import AsyncResource, SyncResource, options, path_id

__all__ = ["AsyncOrganisations", "Organisations"]

PATH = "/v1/organisations"
CURSOR_PARAM = "cursor"


def _list_options(
    role: str | None,
    country: str | None,
    name: str | None,
    limit: int | None,
    timeout: Timeout | NotGiven,
    extra_headers: Headers | None,
) -> RequestOptions:
    return options(
        "GET",
        PATH,
        params={"role": role, "country": country, "name": name, "limit": limit},
        timeout=timeout,
        extra_headers=extra_headers,
    )


class Organisations(SyncResource):
    def list(
        self,
        *,
        role: str | None = None,
        country: str | None = None,
        name: str | None = None,
        limit: int | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> SyncPage[Organisation]:
        """Search the directory; iterate the result to walk every page."""
        return self._page(
            _list_options(role, country, name, limit, timeout, extra_headers),
            Organisation,
            CURSOR_PARAM,
        )

    def retrieve(
        self,
        org_id: str,
        *,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> Organisation:
        """One organisation, with its roles and public keys."""
        return self._client.request(
            options(
                "GET", f"{PATH}/{path_id(org_id)}", timeout=timeout, extra_headers=extra_headers
            ),
            Organisation,
        )


class AsyncOrganisations(AsyncResource):
    def list(
        self,
        *,
        role: str | None = None,
        country: str | None = None,
        name: str | None = None,
        limit: int | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> AsyncPaginator[Organisation]:
        """Search the directory; ``await`` for the first page or ``async for`` every organisation."""
        return AsyncPaginator(
            self._first_page(
                _list_options(role, country, name, limit, timeout, extra_headers),
                Organisation,
                CURSOR_PARAM,
            )
        )

    async def retrieve(
        self,
        org_id: str,
        *,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> Organisation:
        """One organisation, with its roles and public keys."""
        return await self._client.request(
            options(
                "GET", f"{PATH}/{path_id(org_id)}", timeout=timeout, extra_headers=extra_headers
            ),
            Organisation,
        )
