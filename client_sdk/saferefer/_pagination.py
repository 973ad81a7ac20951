"""Cursor pages that iterate across pages.

A list endpoint answers ``{"items": [...], "next_cursor": "..." | null}``. Iterating a
:class:`SyncPage` yields every item of this page and of every page after it; ``iter_pages()``
yields the pages themselves. The async twins: ``await client.referrals.list()`` gives the first
:class:`AsyncPage`; ``async for item in client.referrals.list()`` walks every item.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from typing import Any, Generic, TypeVar

import pydantic

from ._exceptions import InvalidRequestError

__all__ = ["AsyncPage", "AsyncPaginator", "SyncPage"]

T = TypeVar("T")


class PageBody(pydantic.BaseModel, Generic[T]):
    """The wire shape of one page."""

    model_config = pydantic.ConfigDict(extra="allow")

    items: list[T]
    next_cursor: str | None = None


class _BasePage(Generic[T]):
    def __init__(self, *, items: list[T], next_cursor: str | None) -> None:
        self.items = items
        self.next_cursor = next_cursor

    def has_next_page(self) -> bool:
        """Whether another page may follow. An empty page ends the walk even with a cursor
        (the event feed always returns one, to resume from later)."""
        return self.next_cursor is not None and len(self.items) > 0

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(items={len(self.items)}, next_cursor={self.next_cursor!r})"


class SyncPage(_BasePage[T]):
    """One page of a list, able to fetch the pages after it."""

    def __init__(
        self, *, items: list[T], next_cursor: str | None, fetch: Callable[[str], SyncPage[T]]
    ) -> None:
        super().__init__(items=items, next_cursor=next_cursor)
        self._fetch = fetch

    def get_next_page(self) -> SyncPage[T]:
        if not self.has_next_page():
            raise InvalidRequestError(
                "there is no next page; check has_next_page() first", errors=[]
            )
        assert self.next_cursor is not None
        return self._fetch(self.next_cursor)

    def iter_pages(self) -> Iterator[SyncPage[T]]:
        page: SyncPage[T] = self
        yield page
        while page.has_next_page():
            page = page.get_next_page()
            yield page

    def __iter__(self) -> Iterator[T]:
        for page in self.iter_pages():
            yield from page.items


class AsyncPage(_BasePage[T]):
    """One page of a list, able to fetch the pages after it (async)."""

    def __init__(
        self,
        *,
        items: list[T],
        next_cursor: str | None,
        fetch: Callable[[str], Awaitable[AsyncPage[T]]],
    ) -> None:
        super().__init__(items=items, next_cursor=next_cursor)
        self._fetch = fetch

    async def get_next_page(self) -> AsyncPage[T]:
        if not self.has_next_page():
            raise InvalidRequestError(
                "there is no next page; check has_next_page() first", errors=[]
            )
        assert self.next_cursor is not None
        return await self._fetch(self.next_cursor)

    async def iter_pages(self) -> AsyncIterator[AsyncPage[T]]:
        page: AsyncPage[T] = self
        yield page
        while page.has_next_page():
            page = await page.get_next_page()
            yield page

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.iter_pages():
            for item in page.items:
                yield item


class AsyncPaginator(Generic[T]):
    """What an async ``list()`` returns: await it for the first page, or ``async for`` every item."""

    def __init__(self, first: Callable[[], Awaitable[AsyncPage[T]]]) -> None:
        self._first = first

    def __await__(self) -> Generator[Any, None, AsyncPage[T]]:
        return self._first().__await__()

    async def __aiter__(self) -> AsyncIterator[T]:
        page = await self._first()
        async for item in page:
            yield item
