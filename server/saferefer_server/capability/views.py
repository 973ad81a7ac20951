"""`GET /.well-known/saferefer`: what this node is and what it supports."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from saferefer_server.capability.service import capability_document
from saferefer_server.deps import SettingsDep

router = APIRouter(tags=["capability"])

FEDERATION_MESSAGES_PATH = "/federation/v1/messages"


@router.get("/.well-known/saferefer", operation_id="getCapabilities")
async def capabilities(request: Request, settings: SettingsDep) -> dict[str, Any]:
    # The federation runtime is on app.state only while a trust list is configured and loaded.
    runtime = getattr(request.app.state, "federation", None)
    trust_list = runtime.trust.current if runtime is not None else None
    return capability_document(
        settings,
        federation_endpoint=None
        if runtime is None
        else settings.base_url + FEDERATION_MESSAGES_PATH,
        trust_list_sequence=None if trust_list is None else trust_list.sequence,
    )
