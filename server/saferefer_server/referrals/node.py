"""The `NodeContext` dependency: node id, engine name, payload keys and signing keys of this app."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from saferefer_server.referrals.service import NodeContext
from saferefer_server.settings import Settings


def node_context_of(app_state: object) -> NodeContext:
    cached = getattr(app_state, "domain_node_context", None)
    if isinstance(cached, NodeContext):
        return cached
    settings: Settings = app_state.settings  # type: ignore[attr-defined]
    context = NodeContext(
        node_id=settings.node_id,
        engine_name=settings.policy_engine,
        keyring=tuple(settings.payload_keyring()),
        keys=app_state.node_keys,  # type: ignore[attr-defined]
        app_state=app_state,
    )
    app_state.domain_node_context = context  # type: ignore[attr-defined]
    return context


async def get_node_context(request: Request) -> NodeContext:
    """Async, so FastAPI resolves it on the event loop instead of in the thread pool."""
    return node_context_of(request.app.state)


NodeDep = Annotated[NodeContext, Depends(get_node_context)]
