"""`GET /v1/organisations` (search + cursor pages) and `GET /v1/organisations/{org_id}`."""

from __future__ import annotations

from typing import Any

import pytest
from saferefer_server.organisations import service as organisations
from saferefer_server.organisations.demo import DEMO_ORGANISATIONS
from saferefer_server.organisations.models import OrganisationStatus
from saferefer_server.testing import TestNode, assert_matches_schema

NGO = "urn:saferefer:org:NL:demo-ngo"


async def list_page(node: TestNode, **params: Any) -> dict[str, Any]:
    response = await node.client.get(
        "/v1/organisations", params=params, headers=await node.auth(NGO)
    )
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    assert set(page) == {"items", "next_cursor"}
    for item in page["items"]:
        assert_matches_schema(item, "organisation.schema.json")
    return page


async def test_list_walks_every_page_once(node: TestNode) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        page = await list_page(node, limit=4, **({"cursor": cursor} if cursor else {}))
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(org.org_id for org in DEMO_ORGANISATIONS)


async def test_list_filters_by_role_country_and_name(node: TestNode) -> None:
    by_role = await list_page(node, role="ngo_service_provider")
    assert [o["id"] for o in by_role["items"]] == [
        "urn:saferefer:org:MD:demo-ngo",
        "urn:saferefer:org:NL:demo-ngo",
    ]
    by_country = await list_page(node, country="MD")
    assert {o["country"] for o in by_country["items"]} == {"MD"}
    assert len(by_country["items"]) == 2
    by_name = await list_page(node, name="EMBASSY")
    assert [o["id"] for o in by_name["items"]] == ["urn:saferefer:org:MD:demo-embassy"]
    assert (await list_page(node, name="100%"))["items"] == []


async def test_role_filter_pages_by_cursor(node: TestNode) -> None:
    first = await list_page(node, role="ngo_service_provider", limit=1)
    assert first["next_cursor"] is not None
    second = await list_page(
        node, role="ngo_service_provider", limit=1, cursor=first["next_cursor"]
    )
    assert second["next_cursor"] is None
    assert first["items"][0]["id"] != second["items"][0]["id"]


async def test_suspended_organisations_are_not_listed(node: TestNode) -> None:
    async with node.app.state.sessionmaker() as db_session:
        await organisations.set_status(
            db_session=db_session,
            org_id="urn:saferefer:org:NL:demo-police",
            status=OrganisationStatus.SUSPENDED,
        )
        await db_session.commit()
    ids = [o["id"] for o in (await list_page(node, limit=200))["items"]]
    assert "urn:saferefer:org:NL:demo-police" not in ids


async def test_get_returns_public_keys_only(node: TestNode) -> None:
    response = await node.client.get(f"/v1/organisations/{NGO}", headers=await node.auth(NGO))
    assert response.status_code == 200
    body = response.json()
    assert_matches_schema(body, "organisation.schema.json")
    assert body["status"] == "active"
    assert all("d" not in key for key in body["jwks"]["keys"])
    assert body["jwks"]["keys"][0]["kid"] == node.credentials[NGO].kid


async def test_get_unknown_is_not_found_problem(node: TestNode) -> None:
    response = await node.client.get(
        "/v1/organisations/urn:saferefer:org:NL:nobody", headers=await node.auth(NGO)
    )
    assert response.status_code == 404
    assert_matches_schema(response.json(), "problem.schema.json")


async def test_malformed_id_is_validation_error(node: TestNode) -> None:
    response = await node.client.get("/v1/organisations/not-an-urn", headers=await node.auth(NGO))
    assert response.status_code == 422
    assert response.json()["errors"][0]["parameter"] == "org_id"


async def test_forged_cursor_is_validation_error(node: TestNode) -> None:
    response = await node.client.get(
        "/v1/organisations", params={"cursor": "bm90LWpzb24"}, headers=await node.auth(NGO)
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [{"parameter": "cursor", "detail": "unknown cursor"}]


async def test_directory_needs_a_token(node: TestNode) -> None:
    assert (await node.client.get("/v1/organisations")).status_code == 401
    assert (await node.client.get(f"/v1/organisations/{NGO}")).status_code == 401


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"role": "wizard"}, "role"),
        ({"country": "ZZ"}, "country"),
        ({"name": "a\x01b"}, "name"),
        ({"cursor": "abc def"}, "cursor"),
        ({"limit": 201}, "limit"),
    ],
)
async def test_invalid_filters_are_validation_errors(
    node: TestNode, params: dict[str, Any], parameter: str
) -> None:
    response = await node.client.get(
        "/v1/organisations", params=params, headers=await node.auth(NGO)
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["parameter"] == parameter
    assert_matches_schema(response.json(), "problem.schema.json")
