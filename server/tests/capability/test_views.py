from __future__ import annotations

from saferefer_server.testing import TestNode, assert_matches_schema


async def test_capability_document_matches_schema(node: TestNode) -> None:
    response = await node.client.get("/.well-known/saferefer")
    assert response.status_code == 200
    body = response.json()
    assert_matches_schema(body, "capability.schema.json")
    assert body["node_id"] == node.settings.node_id
    assert body["endpoints"]["token"] == f"{node.settings.base_url}/oauth/token"
    assert body["codelists"]["roles"] == "0.1.0" or body["codelists"]["roles"]
    assert "federation" not in body["endpoints"]
    assert body["federation"] == {"enabled": False, "trust_list_sequence": None}
