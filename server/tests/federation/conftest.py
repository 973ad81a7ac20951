from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from saferefer_server.federation import inbound

from .factories import MD_NGO, MD_NODE, NL_NGO, NL_NODE
from .nodes import Federation, record_effect


@pytest.fixture
def handlers(monkeypatch: pytest.MonkeyPatch) -> dict[str, inbound.InboundHandler]:
    """A fresh handler registry per test, with the recording handler for every type."""
    registry: dict[str, inbound.InboundHandler] = {}
    monkeypatch.setattr(inbound, "_handlers", registry)
    monkeypatch.setattr(inbound, "_denial_recorders", [])
    for message_type in (
        "referral.deliver",
        "referral.transition",
        "erasure.request",
        "erasure.acknowledgement",
    ):
        inbound.register_inbound_handler(message_type, record_effect)
    return registry


@pytest.fixture
async def federation(
    tmp_path: Path, handlers: dict[str, inbound.InboundHandler]
) -> AsyncIterator[Federation]:
    """Two in-process nodes, Moldova and the Netherlands, each with one NGO."""
    fed = Federation.create(tmp_path)
    await fed.add_node(MD_NODE, port=18001, orgs={MD_NGO: ["ngo_service_provider"]})
    await fed.add_node(NL_NODE, port=18002, orgs={NL_NGO: ["ngo_service_provider"]})
    await fed.start()
    yield fed
    await fed.aclose()
