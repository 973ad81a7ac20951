"""The routers and background tasks of the domain packages, which `create_app()` wires in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI

from saferefer_server.audit.views import router as audit_router
from saferefer_server.consents.views import router as consents_router
from saferefer_server.events.views import router as events_router
from saferefer_server.events.worker import run_delivery_worker
from saferefer_server.federation import runtime as federation_runtime
from saferefer_server.federation import views as federation_views
from saferefer_server.policy_api.views import router as policy_router
from saferefer_server.referrals import federation as referral_federation
from saferefer_server.referrals.views import router as referrals_router
from saferefer_server.referrals.worker import run_lifecycle_sweeper
from saferefer_server.statistics.views import router as statistics_router

ROUTERS: list[APIRouter] = [
    consents_router,
    referrals_router,
    policy_router,
    events_router,
    audit_router,
    statistics_router,
    federation_views.router,  # /federation/v1: 404 problem while the node does not federate
]
# Each is started as an asyncio task when the app starts and cancelled when it stops.
BACKGROUND_TASKS: list[Callable[[FastAPI], Awaitable[None]]] = [
    run_delivery_worker,
    run_lifecycle_sweeper,
    # Trust-list poller and delivery worker; sets app.state.federation (None when not configured).
    federation_runtime.serve,
]

# Cross-border referrals: the egress hooks of referrals.service and the federation inbound handlers.
referral_federation.install()
