"""Counting referrals by up to three dimensions, then suppressing small cells.

Primary suppression hides every count from 1 to k-1. Secondary suppression then makes sure no
hidden count can be recovered by subtraction: in every line of the table (cells that agree on all
dimensions but one, whose sum another query would reveal), a lone hidden cell takes the smallest
visible cell of that line with it, until no line has exactly one hidden cell.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from saferefer_server.referrals.models import Referral

K_THRESHOLD = 5
DIMENSIONS = (
    "purpose",
    "recipient_role",
    "sender_role",
    "state",
    "outcome",
    "decline_reason",
    "age_status",
    "cross_border",
    "recipient_country",
    "month",
)

Cell = tuple[Any, ...]


def _column(dimension: str, dialect: str) -> Any:
    if dimension == "month":
        if dialect == "postgresql":
            return func.to_char(func.timezone("UTC", Referral.created_at), "YYYY-MM")
        return func.strftime("%Y-%m", Referral.created_at)
    if dimension in {"outcome", "decline_reason"}:
        return Referral.state_reason
    return getattr(Referral, dimension)


async def count(
    *,
    db_session: AsyncSession,
    group_by: Sequence[str],
    period_from: datetime,
    period_to: datetime,
) -> dict[Cell, int]:
    dialect = db_session.get_bind().dialect.name
    columns = [_column(d, dialect).label(d) for d in group_by]
    query = (
        select(*columns, func.count().label("n"))
        .where(Referral.created_at >= period_from, Referral.created_at < period_to)
        .group_by(*columns)
    )
    # Outcome and decline reason exist only for completed and declined referrals.
    if "outcome" in group_by:
        query = query.where(Referral.state == "completed")
    if "decline_reason" in group_by:
        query = query.where(Referral.state == "declined")
    rows = (await db_session.execute(query)).all()
    cells: dict[Cell, int] = {}
    for row in rows:
        key = tuple(
            bool(value) if dimension == "cross_border" else value
            for dimension, value in zip(group_by, row[:-1], strict=True)
        )
        if any(value is None for value in key):
            continue
        cells[key] = int(row[-1])
    return cells


def suppress(cells: dict[Cell, int], *, dimensions: int, k: int = K_THRESHOLD) -> set[Cell]:
    """The cells to hide: primary (1..k-1) plus secondary (no lone hidden cell in any line)."""
    hidden = {cell for cell, n in cells.items() if 0 < n < k}
    changed = True
    while changed:
        changed = False
        for free in range(dimensions):
            lines: dict[Cell, list[Cell]] = defaultdict(list)
            for cell in cells:
                lines[cell[:free] + cell[free + 1 :]].append(cell)
            for line in lines.values():
                line_hidden = [c for c in line if c in hidden]
                visible = [c for c in line if c not in hidden and cells[c] > 0]
                if len(line_hidden) == 1 and visible:
                    hidden.add(min(visible, key=lambda c: (cells[c], repr(c))))
                    changed = True
    return hidden
