"""The organisation's event feed: read pages, iterate from a saved cursor, or follow it live.

The feed is gap-free and ordered by ``sequence`` (SR-EVENT-002). :class:`EventFeed` remembers
the cursor after each page it has fully handed out, so a consumer saves ``feed.cursor`` and
resumes from it later; an event may then come again (at-least-once), so de-duplicate by
``event.id``. A jump in ``sequence`` makes the feed re-read from its last cursor once, then
raise :class:`~saferefer.EventGapError` (SR-EVENT-006).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import httpx

from .._client import RequestOptions
from .._exceptions import EventGapError
from .._pagination import AsyncPage, SyncPage
from .._types import NOT_GIVEN, Headers, NotGiven, Timeout
from ..types import Event
from ._base import AsyncResource, SyncResource, options

if TYPE_CHECKING:
    from .._client import BaseClient

__all__ = ["AsyncEventFeed", "AsyncEvents", "EventFeed", "Events"]

PATH = "/v1/events"
CURSOR_PARAM = "after"
#: The longest long-poll the standard lets a client ask for, in seconds.
MAX_WAIT = 30
#: Extra seconds of read timeout above ``wait`` for a long-poll request.
LONG_POLL_GRACE = 10.0
#: Pause between polls when a node answers an empty page immediately (no long-poll support).
IDLE_POLL_INTERVAL = 1.0


def _list_options(
    client: BaseClient[httpx.Client] | BaseClient[httpx.AsyncClient],
    after: str | None,
    limit: int | None,
    wait: int | None,
    timeout: Timeout | NotGiven,
    extra_headers: Headers | None,
) -> RequestOptions:
    if wait and isinstance(timeout, NotGiven):
        base = client.timeout
        read = base.read if isinstance(base, httpx.Timeout) else base
        if read is not None and read < wait + LONG_POLL_GRACE:
            timeout = httpx.Timeout(wait + LONG_POLL_GRACE, connect=5.0)
    return options(
        "GET",
        PATH,
        params={CURSOR_PARAM: after, "limit": limit, "wait": wait or None},
        timeout=timeout,
        extra_headers=extra_headers,
    )


class _GapCheck:
    """Tracks the last ``sequence`` seen and the ids already handed out on this page run."""

    def __init__(self) -> None:
        self.last: int | None = None

    def first_gap(self, events: list[Event]) -> tuple[int, int] | None:
        expected = None if self.last is None else self.last + 1
        for event in events:
            seq = int(event.sequence)
            if expected is not None and seq > expected:
                return expected, seq
            expected = seq + 1
        return None

    def fresh(self, events: list[Event]) -> list[Event]:
        """The events after the last one handed out (a re-read may repeat earlier ones)."""
        if self.last is None:
            return events
        last = self.last
        return [e for e in events if int(e.sequence) > last]

    def advance(self, events: list[Event]) -> None:
        if events:
            self.last = int(events[-1].sequence)


class EventFeed:
    """Iterate events from ``cursor`` on; ``follow=True`` keeps long-polling for new ones."""

    def __init__(
        self,
        events: Events,
        *,
        cursor: str | None,
        limit: int | None,
        follow: bool,
        wait: int,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> None:
        self._events = events
        self._timeout = timeout
        self._extra_headers = extra_headers
        self.cursor = cursor
        self._limit = limit
        self._follow = follow
        self._wait = wait
        self._gaps = _GapCheck()

    def _read(self) -> SyncPage[Event]:
        page = self._events.list(
            after=self.cursor,
            limit=self._limit,
            wait=self._wait if self._follow else None,
            timeout=self._timeout,
            extra_headers=self._extra_headers,
        )
        gap = self._gaps.first_gap(page.items)
        if gap is not None:
            page = self._events.list(
                after=self.cursor,
                limit=self._limit,
                timeout=self._timeout,
                extra_headers=self._extra_headers,
            )
            gap = self._gaps.first_gap(page.items)
            if gap is not None:
                raise EventGapError(
                    f"the event feed skipped from sequence {gap[0]} to {gap[1]}",
                    expected_sequence=gap[0],
                    received_sequence=gap[1],
                )
        return page

    def __iter__(self) -> Iterator[Event]:
        while True:
            started = time.monotonic()
            page = self._read()
            fresh = self._gaps.fresh(page.items)
            yield from fresh
            self._gaps.advance(fresh)
            if page.next_cursor is not None:
                self.cursor = page.next_cursor
            if not page.items:
                if not self._follow:
                    return
                if time.monotonic() - started < IDLE_POLL_INTERVAL / 2:
                    time.sleep(IDLE_POLL_INTERVAL)


class AsyncEventFeed:
    """The async twin of :class:`EventFeed`."""

    def __init__(
        self,
        events: AsyncEvents,
        *,
        cursor: str | None,
        limit: int | None,
        follow: bool,
        wait: int,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> None:
        self._events = events
        self._timeout = timeout
        self._extra_headers = extra_headers
        self.cursor = cursor
        self._limit = limit
        self._follow = follow
        self._wait = wait
        self._gaps = _GapCheck()

    async def _read(self) -> AsyncPage[Event]:
        page = await self._events.list(
            after=self.cursor,
            limit=self._limit,
            wait=self._wait if self._follow else None,
            timeout=self._timeout,
            extra_headers=self._extra_headers,
        )
        gap = self._gaps.first_gap(page.items)
        if gap is not None:
            page = await self._events.list(
                after=self.cursor,
                limit=self._limit,
                timeout=self._timeout,
                extra_headers=self._extra_headers,
            )
            gap = self._gaps.first_gap(page.items)
            if gap is not None:
                raise EventGapError(
                    f"the event feed skipped from sequence {gap[0]} to {gap[1]}",
                    expected_sequence=gap[0],
                    received_sequence=gap[1],
                )
        return page

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            started = time.monotonic()
            page = await self._read()
            fresh = self._gaps.fresh(page.items)
            for event in fresh:
                yield event
            self._gaps.advance(fresh)
            if page.next_cursor is not None:
                self.cursor = page.next_cursor
            if not page.items:
                if not self._follow:
                    return
                if time.monotonic() - started < IDLE_POLL_INTERVAL / 2:
                    await asyncio.sleep(IDLE_POLL_INTERVAL)


class Events(SyncResource):
    def list(
        self,
        *,
        after: str | None = None,
        limit: int | None = None,
        wait: int | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> SyncPage[Event]:
        """One page of the feed after cursor ``after``; ``wait`` seconds (≤ 30) long-polls an empty feed."""
        return self._page(
            _list_options(self._client, after, limit, wait, timeout, extra_headers),
            Event,
            CURSOR_PARAM,
        )

    def iterate(
        self,
        *,
        after: str | None = None,
        limit: int | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> EventFeed:
        """Every event after cursor ``after`` up to the end of the feed; read ``.cursor`` to resume later."""
        return EventFeed(
            self,
            cursor=after,
            limit=limit,
            follow=False,
            wait=0,
            timeout=timeout,
            extra_headers=extra_headers,
        )

    def follow(
        self,
        *,
        after: str | None = None,
        limit: int | None = None,
        wait: int = MAX_WAIT,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> EventFeed:
        """Like :meth:`iterate`, but never ends: long-polls ``wait`` seconds at a time for new events."""
        return EventFeed(
            self,
            cursor=after,
            limit=limit,
            follow=True,
            wait=wait,
            timeout=timeout,
            extra_headers=extra_headers,
        )


class AsyncEvents(AsyncResource):
    async def list(
        self,
        *,
        after: str | None = None,
        limit: int | None = None,
        wait: int | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> AsyncPage[Event]:
        """One page of the feed after cursor ``after``; ``wait`` seconds (≤ 30) long-polls an empty feed."""
        return await self._page(
            _list_options(self._client, after, limit, wait, timeout, extra_headers),
            Event,
            CURSOR_PARAM,
        )

    def iterate(
        self,
        *,
        after: str | None = None,
        limit: int | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> AsyncEventFeed:
        """Every event after cursor ``after`` up to the end of the feed; read ``.cursor`` to resume later."""
        return AsyncEventFeed(
            self,
            cursor=after,
            limit=limit,
            follow=False,
            wait=0,
            timeout=timeout,
            extra_headers=extra_headers,
        )

    def follow(
        self,
        *,
        after: str | None = None,
        limit: int | None = None,
        wait: int = MAX_WAIT,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
    ) -> AsyncEventFeed:
        """Like :meth:`iterate`, but never ends: long-polls for new events."""
        return AsyncEventFeed(
            self,
            cursor=after,
            limit=limit,
            follow=True,
            wait=wait,
            timeout=timeout,
            extra_headers=extra_headers,
        )
