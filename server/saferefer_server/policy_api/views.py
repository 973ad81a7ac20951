"""The policy dry run: the decision a referral-create body would get now, without sending it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from saferefer_server.db.base import utcnow
from saferefer_server.deps import CurrentOrg, PolicyEngineDep, SessionDep
from saferefer_server.domain_spec import validate_or_422
from saferefer_server.referrals import service as referrals
from saferefer_server.referrals.node import NodeDep

router = APIRouter(tags=["policy"])


@router.post("/v1/policy/decisions", operation_id="createPolicyDecision")
async def create_policy_decision(
    db_session: SessionDep,
    principal: CurrentOrg,
    engine: PolicyEngineDep,
    node: NodeDep,
    response: Response,
    body: Annotated[Any, Body()],
) -> dict[str, Any]:
    """Same lookups and input as a real send (SR-POLICY-020); audited; nothing is stored or sent.

    A deny is a 200 answer here (the decision is the result); only an engine failure is 503.
    """
    validate_or_422("referral-create.schema.json", body, what="referral")
    plan = await referrals.plan_send(
        db_session=db_session, principal=principal, body=body, now=utcnow(), node=node
    )
    decision, decision_id = await referrals.decide_and_audit(
        db_session=db_session,
        engine=engine,
        node=node,
        document=plan.policy_input,
        actor_org=principal.org_id,
        counterparty_org=plan.recipient.id,
        object_type="policy_decision",
        object_id=None,
    )
    await referrals.commit_decision(db_session, decision)
    if decision.engine_failure:
        raise referrals.problem_for(decision, decision_id)
    # The body is exactly the policy-decision document; the audit entry id travels in a header.
    response.headers["SafeRefer-Decision-Id"] = decision_id
    return decision.to_document()
