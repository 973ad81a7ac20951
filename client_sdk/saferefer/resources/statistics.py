"""Aggregate statistics for monitoring bodies (national coordinator, national rapporteur).

Counts below the node's ``k_threshold`` come back suppressed (``count`` null); nothing
person-level is ever returned (R15).
"""

from __future__ import annotations

from collections.abc import Sequence

from .._client import RequestOptions
from .._types import NOT_GIVEN, Headers, NotGiven, Timeout
from ..types import Statistics as StatisticsDocument
from ._base import AsyncResource, SyncResource, options

__all__ = ["AsyncStatistics", "Statistics"]

PATH = "/v1/statistics"


def _retrieve_options(
    group_by: Sequence[str],
    period_from: str | None,
    period_to: str | None,
    timeout: Timeout | NotGiven,
    extra_headers: Headers | None,
) -> RequestOptions:
    return options(
        "GET",
        PATH,
        params={"group_by": list(group_by), "from": period_from, "to": period_to},
        timeout=timeout,
        extra_headers=extra_headers,
    )


class Statistics(SyncResource):
    def retrieve(
        self,
        *,
        group_by: Sequence[str] = ("purpose",),
        period_from: str | None = None,
        period_to: str | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> StatisticsDocument:
        """Counts of referrals grouped by up to three dimensions (purpose, recipient_role, month...).

        ``period_from`` (inclusive; default 30 days before ``period_to``) and ``period_to``
        (exclusive; default now) are RFC 3339 UTC timestamps with the ``Z`` designator, such as
        ``"2026-11-01T00:00:00Z"``; a date alone is refused.
        """
        return self._client.request(
            _retrieve_options(group_by, period_from, period_to, timeout, extra_headers),
            StatisticsDocument,
        )


class AsyncStatistics(AsyncResource):
    async def retrieve(
        self,
        *,
        group_by: Sequence[str] = ("purpose",),
        period_from: str | None = None,
        period_to: str | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> StatisticsDocument:
        """Counts of referrals grouped by up to three dimensions; see :meth:`Statistics.retrieve`."""
        return await self._client.request(
            _retrieve_options(group_by, period_from, period_to, timeout, extra_headers),
            StatisticsDocument,
        )
