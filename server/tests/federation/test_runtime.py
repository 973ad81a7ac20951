"""The lifespan part: federation on, off, or refused for a bad configuration."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from saferefer_server.auth.keys import NodeKeyStore
from saferefer_server.capability import views as capability_views
from saferefer_server.db.session import build_engine, build_sessionmaker
from saferefer_server.federation import routing, runtime
from saferefer_server.federation.settings import FederationSettings
from saferefer_server.settings import Settings
from saferefer_server.testing import asgi_client, assert_matches_schema

from .factories import MD_NODE, NL_NGO, NL_NODE, entry, new_key, public, trust_list_token


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    """What `create_app()` puts on app.state before background tasks start."""
    app = FastAPI()
    app.state.settings = Settings(data_dir=tmp_path, node_id=MD_NODE, country="MD")
    engine = build_engine(app.state.settings)
    app.state.sessionmaker = build_sessionmaker(engine)
    app.state.node_keys = NodeKeyStore.open(
        tmp_path / "node-keys.json", token_ttl_s=300, create=True
    )
    yield app
    await engine.dispose()


async def capabilities_of(app: FastAPI) -> dict[str, Any]:
    """The capability document as the node serves it with this app's state."""
    app.include_router(capability_views.router)
    async with asgi_client(app) as client:
        response = await client.get("/.well-known/saferefer")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    assert_matches_schema(document, "capability.schema.json")
    return document


async def test_run_without_trust_list_leaves_federation_off(app: FastAPI) -> None:
    async with runtime.run(app, FederationSettings()):
        assert runtime.runtime_of(app) is None
        assert routing.remote_node_for(runtime.runtime_of(app), NL_NGO) is None


async def test_run_with_missing_anchor_logs_and_stays_off(
    app: FastAPI, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = FederationSettings(
        trust_list=str(tmp_path / "tl.json"), trust_anchor=tmp_path / "missing.jwks"
    )
    with caplog.at_level(logging.ERROR, logger="saferefer.federation"):
        async with runtime.run(app, settings):
            assert runtime.runtime_of(app) is None
    assert any("missing.jwks" in getattr(r, "reason", "") for r in caplog.records)


async def test_run_refuses_plain_http_trust_list_in_production(
    app: FastAPI, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app.state.settings = app.state.settings.model_copy(update={"production": True})
    settings = FederationSettings(
        trust_list="http://authority.example/tl.json", trust_anchor=tmp_path / "a.jwks"
    )
    with caplog.at_level(logging.ERROR, logger="saferefer.federation"):
        async with runtime.run(app, settings):
            assert runtime.runtime_of(app) is None
    assert any("plain http" in getattr(r, "reason", "") for r in caplog.records)


async def test_run_loads_trust_list_routes_and_signs_with_node_key(
    app: FastAPI, tmp_path: Path
) -> None:
    authority, nl_key = new_key(), new_key()
    node_key = app.state.node_keys.signing_key()
    md_entry = entry(MD_NODE, node_key.key)
    (tmp_path / "anchor.jwks").write_text(json.dumps({"keys": [public(authority)]}))
    nl_entry = entry(
        NL_NODE,
        nl_key,
        base_url="https://nl.example",
        contact_points=[{"org_id": NL_NGO, "name": "NGO", "roles": ["ngo_service_provider"]}],
    )
    (tmp_path / "tl.json").write_text(trust_list_token(authority, [md_entry, nl_entry]))
    settings = FederationSettings(
        trust_list=str(tmp_path / "tl.json"), trust_anchor=tmp_path / "anchor.jwks"
    )
    async with runtime.run(app, settings):
        federation = runtime.runtime_of(app)
        assert federation is not None
        assert federation.trust.current is not None
        recipient = routing.remote_recipient(federation, NL_NGO)
        assert recipient is not None
        assert (recipient.node_id, recipient.country, recipient.roles) == (
            NL_NODE,
            "NL",
            ["ngo_service_provider"],
        )
        assert recipient.base_url == "https://nl.example"
        # Not a contact point, our own country, or a country without a member node:
        for org_id in (
            "urn:saferefer:org:NL:police",
            "urn:saferefer:org:MD:local",
            "urn:saferefer:org:DE:nobody",
        ):
            assert routing.remote_recipient(federation, org_id) is None
        assert routing.remote_node_for(federation, "urn:saferefer:org:NL:police") is not None
        assert federation.signing_key().kid == node_key.kid
        document = await capabilities_of(app)
        assert document["federation"] == {
            "enabled": True,
            "trust_list_sequence": federation.trust.current.sequence,
        }
        assert "federation" in document["profiles"]
        await asyncio.sleep(0)  # the worker and poller tasks are running
    assert runtime.runtime_of(app) is None
