"""`GET /v1/statistics`: aggregate counts for national coordinators and rapporteurs (R15)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from saferefer_server.audit import service as audit
from saferefer_server.audit.ids import parse_rfc3339, rfc3339
from saferefer_server.core.problems import ProblemError, forbidden
from saferefer_server.db.base import utcnow
from saferefer_server.deps import CurrentOrg, PolicyEngineDep, SessionDep
from saferefer_server.organisations.models import Organisation
from saferefer_server.referrals import policy_input
from saferefer_server.referrals import service as referrals
from saferefer_server.referrals.node import NodeDep
from saferefer_server.statistics import service

router = APIRouter(tags=["statistics"])

MONITORING_ROLES = ("national_coordinator", "national_rapporteur")
DEFAULT_PERIOD = timedelta(days=30)


def _invalid(parameter: str, detail: str) -> ProblemError:
    return ProblemError(
        422,
        "validation-error",
        "The request is invalid",
        f"{parameter}: {detail}",
        errors=[{"parameter": parameter, "detail": detail}],
    )


def _time(parameter: str, value: str) -> datetime:
    try:
        return parse_rfc3339(value)
    except (ValueError, OverflowError) as exc:
        raise _invalid(parameter, "must be an RFC 3339 UTC timestamp") from exc


@router.get("/v1/statistics", operation_id="getStatistics")
async def get_statistics(
    db_session: SessionDep,
    principal: CurrentOrg,
    engine: PolicyEngineDep,
    node: NodeDep,
    group_by: Annotated[list[str] | None, Query()] = None,
    period_from: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    period_to: Annotated[str | None, Query(alias="to", max_length=40)] = None,
) -> dict[str, Any]:
    if not principal.has_role(*MONITORING_ROLES):
        raise forbidden("statistics are for national coordinators and rapporteurs (R15)")
    dimensions = [d for item in group_by or ["purpose"] for d in item.split(",") if d]
    if not 1 <= len(dimensions) <= 3 or len(set(dimensions)) != len(dimensions):
        raise _invalid("group_by", "name one to three different dimensions")
    unknown = [d for d in dimensions if d not in service.DIMENSIONS]
    if unknown:
        raise _invalid("group_by", "allowed: " + ", ".join(service.DIMENSIONS))
    now = utcnow()
    end = now if period_to is None else _time("to", period_to)
    if period_from is not None:
        start = _time("from", period_from)
    elif end - datetime.min.replace(tzinfo=end.tzinfo) < DEFAULT_PERIOD:
        # The default period would start before year 1 (datetime cannot represent it).
        raise _invalid("to", "is too early for the default 30-day period; give `from` as well")
    else:
        start = end - DEFAULT_PERIOD
    if start >= end:
        raise _invalid("from", "must be earlier than to")

    caller = await db_session.get(Organisation, principal.org_id)
    if caller is None:
        raise forbidden("the calling organisation is not in this node's directory")
    document = {
        "action": "statistics.read",
        "recipient": policy_input.party(caller),
        "purpose": "statistics",
        "data_categories": [],
        "context": {
            "now": rfc3339(now),
            "statistics": {
                "aggregation": "aggregate",
                "min_cell_size": service.K_THRESHOLD,
                "suppression_applied": True,
            },
        },
    }
    decision, decision_id = await referrals.decide_and_audit(
        db_session=db_session,
        engine=engine,
        node=node,
        document=document,
        actor_org=principal.org_id,
        counterparty_org=None,
        object_type="statistics",
        object_id=None,
    )
    if not decision.allow:
        await referrals.commit_decision(db_session, decision)
        raise referrals.problem_for(decision, decision_id)
    cells = await service.count(
        db_session=db_session, group_by=dimensions, period_from=start, period_to=end
    )
    hidden = service.suppress(cells, dimensions=len(dimensions))
    await audit.append(
        db_session=db_session,
        node_id=node.node_id,
        actor_org=principal.org_id,
        action="statistics.read",
        object_type="statistics",
        object_id=None,
    )
    await db_session.commit()
    return {
        "generated_at": rfc3339(now),
        "period": {"from": rfc3339(start), "to": rfc3339(end)},
        "k_threshold": service.K_THRESHOLD,
        "group_by": dimensions,
        "cells": [
            {
                "dimensions": dict(zip(dimensions, cell, strict=True)),
                "count": None if cell in hidden else n,
                "suppressed": cell in hidden,
            }
            for cell, n in sorted(cells.items(), key=lambda item: repr(item[0]))
        ],
    }
