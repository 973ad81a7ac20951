"""Shared types of the SDK: the ``NOT_GIVEN`` sentinel and the per-call option aliases.

``NOT_GIVEN`` separates "the caller did not pass this argument" from an explicit ``None``
(for example ``timeout=None`` disables the timeout, ``timeout=NOT_GIVEN`` keeps the client's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, Literal, TypeAlias, TypeVar, final

import httpx

__all__ = [
    "NOT_GIVEN",
    "Headers",
    "NotGiven",
    "Query",
    "Timeout",
]


@final
class NotGiven:
    """The type of ``NOT_GIVEN``: an argument the caller left out.

    It is falsy so that ``if timeout:``-style code does the obvious thing, and there is exactly
    one instance of it.
    """

    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven()

T = TypeVar("T")

#: A timeout for one call: seconds, an :class:`httpx.Timeout`, or ``None`` for no timeout.
Timeout: TypeAlias = float | httpx.Timeout | None
Headers: TypeAlias = Mapping[str, str]
Scalar: TypeAlias = str | int | float | bool
#: Query parameters; a sequence becomes a repeated parameter (OpenAPI ``style: form, explode: true``).
Query: TypeAlias = Mapping[str, Scalar | Sequence[Scalar] | None]
