"""Statistics: monitoring bodies get anonymous aggregates, with small cells suppressed (R15)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from .. import _flows as flows
from .._context import Context
from .._failures import FailureCollector, Skipped
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


def _created_at(ctx: Context, referral: dict[str, Any], response: httpx.Response) -> datetime:
    value = referral.get("created_at")
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        ctx.fail(
            "The created referral has no valid created_at",
            "",
            expected="an RFC 3339 timestamp",
            actual=repr(value),
            response=response,
        )


def _millis(moment: datetime) -> str:
    """RFC 3339 UTC with milliseconds, truncated (never rounded up past the moment)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@check(
    id="SRC-080",
    name="statistics_suppress_small_cells",
    title="Cells under the threshold (at least 5) are suppressed, never shown",
    severity="must",
    requirements=["SR-STATS-002"],
    profile="core",
)
def statistics_suppress_small_cells(ctx: Context) -> None:
    sent = [flows.consent_and_send(ctx) for _ in range(2)]
    # The period spans exactly the two referrals, by the server's own clock: a wider one would
    # also count other referrals (earlier checks', other clients') and could leave no small cell.
    created = sorted(_created_at(ctx, s.referral, s.response) for s in sent)
    period = {"from": _millis(created[0]), "to": _millis(created[-1] + timedelta(milliseconds=1))}
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
        c for c in document.get("cells", []) if (c.get("dimensions") or {}) == {"purpose": purpose}
    ]
    if any(isinstance(c.get("count"), int) and c["count"] >= k for c in ours):
        # Other referrals (another client of the node) fell within the period: it holds no small
        # cell this check can judge.
        found.raise_if_any()
        raise Skipped(
            f"other referrals for purpose {purpose} fell within the period of this check's two; "
            "run it again when the node is quieter"
        )
    if not any(c.get("suppressed") is True and c.get("count") is None for c in ours):
        found.add(
            ctx.failure(
                "The period's small cell is not reported as suppressed",
                f"The period holds the two referrals this check sent, for purpose {purpose}: a "
                "count under the threshold is reported as a suppressed cell, neither shown nor "
                "left out.",
                expected=f"a cell for purpose {purpose} with count null and suppressed true",
                actual=json.dumps(ours) if ours else f"no cell for purpose {purpose}",
                response=response,
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
