"""Node-to-node HTTP surface under `/federation/v1`.

There is no bearer token here: the envelope's node signature, checked against the trust list,
is the credential. Every refusal is problem+json; an authentication failure is
`federation-rejected` with a machine-readable `reason`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from saferefer_server.core.problems import ProblemError, not_found
from saferefer_server.deps import PolicyEngineDep, SessionDep
from saferefer_server.federation.errors import FederationRejected
from saferefer_server.federation.inbound import ReceiveProblem, receive_message
from saferefer_server.federation.runtime import FederationRuntime, runtime_of

router = APIRouter(prefix="/federation/v1", tags=["federation"])


def _require_runtime(request: Request) -> FederationRuntime:
    runtime = runtime_of(request.app)
    if runtime is None:
        raise not_found("this node is not a member of a federation")
    return runtime


@router.post("/messages", operation_id="receiveFederationMessage")
async def receive_federation_message(
    request: Request, db_session: SessionDep, policy_engine: PolicyEngineDep
) -> Response:
    runtime = _require_runtime(request)
    try:
        signed: Any = await request.json()
    except ValueError as exc:
        raise ProblemError(
            400, "malformed-request", "The request is malformed", "the body is not valid JSON"
        ) from exc
    if not isinstance(signed, dict):
        raise ProblemError(
            400,
            "malformed-request",
            "The request is malformed",
            "the body must be a federation envelope (a JSON object)",
        )
    try:
        receipt = await receive_message(
            db_session=db_session,
            runtime=runtime,
            policy_engine=policy_engine,
            signed=signed,
            app_state=request.app.state,
        )
    except FederationRejected as exc:
        raise ProblemError(
            403,
            "federation-rejected",
            "Federation message rejected",
            exc.detail,
            reason=exc.reason,
        ) from exc
    except ReceiveProblem as exc:
        headers = {"Retry-After": "5"} if exc.status == 503 else None
        raise ProblemError(
            exc.status, exc.slug, exc.title, exc.detail, headers=headers, **exc.extensions
        ) from exc
    return JSONResponse(receipt.document, status_code=receipt.status)


@router.get("/trust-list", operation_id="getFederationTrustList")
async def get_federation_trust_list(request: Request) -> Response:
    runtime = _require_runtime(request)
    trust_list = runtime.trust.current
    if trust_list is None:
        raise not_found("this node has no trust list in force")
    return Response(trust_list.text, media_type="application/json")
