"""Pages: iterating walks every page; the cursor goes back as the endpoint's cursor parameter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import saferefer
from saferefer._resources import spec_dir

ORG = "urn:saferefer:org:NL:made-up"
NODE = "urn:saferefer:node:NL:x"
JSON = {"content-type": "application/json"}
ORGANISATION = json.loads(
    next((spec_dir() / "examples" / "valid" / "organisation").glob("*.json")).read_text()
)


def _org(n: int) -> dict[str, Any]:
    return ORGANISATION | {"id": f"urn:saferefer:org:NL:org-{n:02d}"}


def _script(server: Any) -> None:
    server.on(
        "/v1/organisations",
        (200, JSON, {"items": [_org(1), _org(2)], "next_cursor": "p2"}),
        (200, JSON, {"items": [_org(3), _org(4)], "next_cursor": "p3"}),
        (200, JSON, {"items": [_org(5)], "next_cursor": None}),
    )


def test_sync_page_walks_every_page(scripted_server: Any, org_key_file: Path) -> None:
    _script(scripted_server)
    with saferefer.Client(
        base_url=scripted_server.base_url, org_id=ORG, private_key_file=org_key_file, node_id=NODE
    ) as client:
        first = client.organisations.list(role="shelter", limit=2)
        assert len(first) == 2
        assert first.has_next_page()
        assert [o.id[-2:] for o in first] == ["01", "02", "03", "04", "05"]
    paths = [c.path for c in scripted_server.calls("/v1/organisations")]
    assert paths == [
        "/v1/organisations?role=shelter&limit=2",
        "/v1/organisations?role=shelter&limit=2&cursor=p2",
        "/v1/organisations?role=shelter&limit=2&cursor=p3",
    ]


async def test_async_paginator_awaits_first_page_or_walks_all(
    scripted_server: Any, org_key_file: Path
) -> None:
    _script(scripted_server)
    async with saferefer.AsyncClient(
        base_url=scripted_server.base_url, org_id=ORG, private_key_file=org_key_file, node_id=NODE
    ) as client:
        first = await client.organisations.list()
        pages = [page async for page in first.iter_pages()]
        assert [len(p) for p in pages] == [2, 2, 1]
        assert not pages[-1].has_next_page()
    _script(scripted_server)
    async with saferefer.AsyncClient(
        base_url=scripted_server.base_url, org_id=ORG, private_key_file=org_key_file, node_id=NODE
    ) as client:
        assert len([o async for o in client.organisations.list()]) == 5
