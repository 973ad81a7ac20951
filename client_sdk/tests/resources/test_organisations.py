"""organisations.list / retrieve against the real reference node, both twins."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import saferefer

NGO = "urn:saferefer:org:NL:demo-ngo"
SHELTER = "urn:saferefer:org:NL:demo-shelter"


def test_list_and_retrieve_sync(client_for: Callable[..., saferefer.Client]) -> None:
    client = client_for(NGO)
    shelters = list(client.organisations.list(role="shelter", country="NL"))
    assert SHELTER in [o.id for o in shelters]
    assert all("shelter" in o.roles for o in shelters)
    every = list(client.organisations.list(limit=2))  # walks pages of two
    assert len(every) >= 11
    assert len({o.id for o in every}) == len(every)
    shelter = client.organisations.retrieve(SHELTER)
    assert shelter.id == SHELTER
    assert shelter.jwks.keys
    with pytest.raises(saferefer.NotFoundError):
        client.organisations.retrieve("urn:saferefer:org:NL:no-such-org")


def test_node_documents_sync(client_for: Callable[..., saferefer.Client]) -> None:
    client = client_for(NGO)
    capabilities = client.capabilities()
    assert capabilities.node_id == client.credentials.node_id
    assert "ES256" in capabilities.signing_algorithms
    keys = client.jwks()["keys"]
    assert keys
    assert all("d" not in key for key in keys)
    last = client.organisations.list(limit=200)
    assert not last.has_next_page()
    with pytest.raises(saferefer.InvalidRequestError):
        last.get_next_page()


async def test_list_and_retrieve_async(
    async_client_for: Callable[..., saferefer.AsyncClient],
) -> None:
    async with async_client_for(NGO) as client:
        first = await client.organisations.list(limit=2)
        assert len(first.items) == 2
        assert first.has_next_page()
        pages = [page async for page in first.iter_pages()]
        assert sum(len(p.items) for p in pages) >= 11
        shelters = [o.id async for o in client.organisations.list(role="shelter")]
        assert SHELTER in shelters
        shelter = await client.organisations.retrieve(SHELTER)
        assert shelter.name
        with pytest.raises(saferefer.NotFoundError):
            await client.organisations.retrieve("urn:saferefer:org:NL:no-such-org")
        assert (await client.capabilities()).node_id == client.credentials.node_id
        assert (await client.jwks())["keys"]
