"""The audit log: this organisation's entries, and verification of the hash chain."""

from __future__ import annotations

from .._client import RequestOptions
from .._pagination import AsyncPaginator, SyncPage
from .._types import NOT_GIVEN, Headers, NotGiven, Timeout
from ..types import AuditEntry, AuditVerificationResult
from ._base import AsyncResource, SyncResource, options

__all__ = ["AsyncAudit", "Audit"]

PATH = "/v1/audit"
CURSOR_PARAM = "cursor"


def _list_options(
    limit: int | None, timeout: Timeout | NotGiven, extra_headers: Headers | None
) -> RequestOptions:
    return options(
        "GET", PATH, params={"limit": limit}, timeout=timeout, extra_headers=extra_headers
    )


class Audit(SyncResource):
    def list(
        self,
        *,
        limit: int | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> SyncPage[AuditEntry]:
        """Audit entries about this organisation's own objects, oldest first."""
        return self._page(_list_options(limit, timeout, extra_headers), AuditEntry, CURSOR_PARAM)

    def verify(
        self, *, timeout: Timeout | NotGiven = NOT_GIVEN, extra_headers: Headers | None = None
    ) -> AuditVerificationResult:
        """Ask the node to recompute the hash chain; ``valid`` false names the first broken entry."""
        return self._client.request(
            options("GET", f"{PATH}/verify", timeout=timeout, extra_headers=extra_headers),
            AuditVerificationResult,
        )


class AsyncAudit(AsyncResource):
    def list(
        self,
        *,
        limit: int | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> AsyncPaginator[AuditEntry]:
        """Audit entries about this organisation's own objects, oldest first."""
        return AsyncPaginator(
            self._first_page(_list_options(limit, timeout, extra_headers), AuditEntry, CURSOR_PARAM)
        )

    async def verify(
        self, *, timeout: Timeout | NotGiven = NOT_GIVEN, extra_headers: Headers | None = None
    ) -> AuditVerificationResult:
        """Ask the node to recompute the hash chain."""
        return await self._client.request(
            options("GET", f"{PATH}/verify", timeout=timeout, extra_headers=extra_headers),
            AuditVerificationResult,
        )
