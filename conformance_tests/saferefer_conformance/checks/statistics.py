"""Statistics: monitoring bodies get anonymous aggregates, with small cells suppressed (R15)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from .. import _builders as b
from .. import _flows as flows
from .._context import Context
from .._failures import FailureCollector
from .._registry import check

SMALL_CELL_THRESHOLD = 5


def _statistics(ctx: Context, **params: str) -> tuple[httpx.Response, dict[str, Any]]:
    rapporteur = ctx.org("national_rapporteur")
    response = rapporteur.get(flows.STATISTICS, params=params)
    document = ctx.expect_success(response, "A monitoring organisation cannot read statistics")
    ctx.expect_schema(
        document,
        "statistics.schema.json",
        "The statistics document does not match its schema",
        response,
    )
    return response, document


@check(
    id="SRC-080",
    name="statistics_suppress_small_cells",
    title="Cells under the threshold (at least 5) are suppressed, never shown",
    severity="must",
    requirements=["SR-STATS-002"],
    profile="core",
)
def statistics_suppress_small_cells(ctx: Context) -> None:
    started = b.now() - timedelta(seconds=2)
    for _ in range(2):
        flows.consent_and_send(ctx)
    period = {"from": b.timestamp(started), "to": b.timestamp(b.now() + timedelta(seconds=2))}
    response, document = _statistics(ctx, group_by="purpose", **period)
    found = FailureCollector()
    k = document.get("k_threshold")
    if not isinstance(k, int) or k < SMALL_CELL_THRESHOLD:
        found.add(
            ctx.failure(
                "The suppression threshold is below 5",
                "",
                expected="k_threshold ≥ 5",
                actual=str(k),
                response=response,
            )
        )
        k = SMALL_CELL_THRESHOLD
    for cell in document.get("cells", []):
        count = cell.get("count")
        if isinstance(count, int) and 0 < count < k:
            found.add(
                ctx.failure(
                    "A small cell is shown",
                    "Cells with 1 to k-1 referrals are suppressed.",
                    expected="count null, suppressed true",
                    actual=str(cell),
                    response=response,
                )
            )
        if cell.get("suppressed") and count is not None:
            found.add(
                ctx.failure(
                    "A suppressed cell still carries its count",
                    "",
                    actual=str(cell),
                    response=response,
                )
            )
    purpose = flows.support_purpose(ctx)
    ours = [
        c
        for c in document.get("cells", [])
        if (c.get("dimensions") or {}).get("purpose") == purpose
    ]
    if any(c.get("count") == 2 for c in ours):
        found.add(
            ctx.failure(
                "The two referrals of the period are shown as a count of 2", "", response=response
            )
        )
    found.raise_if_any()


@check(
    id="SRC-081",
    name="statistics_contain_aggregates_only",
    title="Statistics carry counts by dimension only: no ids, subject references or payload values",
    severity="must",
    requirements=["SR-STATS-001"],
    profile="core",
)
def statistics_contain_aggregates_only(ctx: Context) -> None:
    sent = flows.consent_and_send(ctx)
    response, _ = _statistics(ctx, group_by="purpose")
    markers = {
        **sent.scenario.canaries,
        "subject_ref": sent.scenario.subject_ref,
        "referral id": sent.referral_id,
        "consent id": sent.consent_id,
    }
    leaked = [name for name, value in markers.items() if value in response.text]
    if leaked:
        ctx.fail(
            "Statistics contain person-level data",
            f"found: {leaked}",
            expected="aggregates only",
            response=response,
        )
