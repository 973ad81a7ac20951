from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Query
from pydantic import BaseModel
from saferefer_server.core.problems import PROBLEM_CONTENT_TYPE, ProblemError, validation_errors
from saferefer_server.testing import TestNode, asgi_client, assert_matches_schema


@pytest.fixture
def database_url(sqlite_database_url: str) -> str:
    """Routing and error rendering do not touch the database: one backend is enough here."""
    return sqlite_database_url


router = APIRouter()


class Grant(BaseModel):
    purposes: list[str]


class Body(BaseModel):
    grants: list[Grant]


@router.post("/_test/validate")
async def validate(body: Body, limit: Annotated[int, Query(ge=1)] = 1) -> dict[str, Any]:
    return {}


@router.get("/_test/problem")
async def problem() -> None:
    raise ProblemError(409, "invalid-transition", "Illegal transition", "cannot go", allowed=["a"])


@router.get("/_test/crash")
async def crash() -> None:
    raise RuntimeError("secret-marker-value")


@pytest.fixture
async def app(node: TestNode) -> FastAPI:
    node.app.include_router(router)
    return node.app


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    body: dict[str, Any] = response.json()
    assert body["type"] == f"https://saferefer.org/problems/{slug}"
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def test_unknown_path_is_not_found_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/nothing-here"), 404, "not-found")


async def test_wrong_method_is_method_not_allowed_problem(client: httpx.AsyncClient) -> None:
    response = await client.put("/healthz")
    assert_problem(response, 405, "method-not-allowed")
    assert response.headers["allow"] == "GET"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("OPTIONS", "/v1/referrals", "GET, POST"),
        ("PUT", "/v1/referrals", "GET, POST"),
        ("PUT", "/v1/subscriptions/01937a2e-0000-7000-8000-000000000001", "DELETE, GET"),
        ("DELETE", "/v1/referrals/01937a2e-0000-7000-8000-000000000001/transitions", "GET, POST"),
    ],
)
async def test_method_not_allowed_lists_every_method_of_the_path(
    client: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    response = await client.request(method, path)
    assert_problem(response, 405, "method-not-allowed")
    assert response.headers["allow"] == allowed


async def test_body_validation_error_points_at_the_field(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.post("/_test/validate", json={"grants": [{"purposes": "x"}]})
    body = assert_problem(response, 422, "validation-error")
    assert body["errors"] == [
        {"pointer": "#/grants/0/purposes", "detail": "Input should be a valid list"}
    ]


async def test_query_validation_error_names_the_parameter(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.post("/_test/validate?limit=0", json={"grants": []})
    body = assert_problem(response, 422, "validation-error")
    assert body["errors"][0]["parameter"] == "limit"


async def test_malformed_json_is_malformed_request_problem(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.post(
        "/_test/validate", content=b"{not json", headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 400, "malformed-request")
    assert body["errors"] == [{"pointer": "#", "detail": "the body is not valid JSON"}]


async def test_problem_error_keeps_extensions(app: FastAPI, client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/_test/problem"), 409, "invalid-transition")
    assert body["allowed"] == ["a"]
    assert body["instance"] == "/_test/problem"


async def test_unhandled_exception_is_500_without_details(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    response = await client.get("/_test/crash")
    body = assert_problem(response, 500, "internal-error")
    assert "secret-marker-value" not in response.text
    assert "RuntimeError" not in response.text
    assert set(body) == {"type", "title", "status", "detail", "instance", "request_id"}


async def test_oversized_body_is_payload_too_large(node: TestNode) -> None:
    response = await node.client.post(
        "/v1/organisations", content=b"x" * (node.settings.max_body_bytes + 1)
    )
    assert_problem(response, 413, "payload-too-large")


async def test_oversized_chunked_body_is_payload_too_large(node: TestNode, app: FastAPI) -> None:
    async def chunks() -> Any:
        for _ in range(node.settings.max_body_bytes // 1024 + 2):
            yield b"x" * 1024

    response = await node.client.post(
        "/_test/validate", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_problem(response, 413, "payload-too-large")


def test_validation_errors_escape_pointer_tokens() -> None:
    rendered = validation_errors([{"loc": ("body", "a/b", "c~d"), "msg": "bad", "input": "secret"}])
    assert rendered == [{"pointer": "#/a~1b/c~0d", "detail": "bad"}]


async def test_request_id_is_echoed_when_safe(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "client-req-12345"})
    assert response.headers["x-request-id"] == "client-req-12345"
    hostile = await client.get("/healthz", headers={"X-Request-ID": "a b\tc<script>"})
    assert hostile.headers["x-request-id"] != "a b\tc<script>"


async def test_problem_rendering_without_node(tmp_path: Any) -> None:
    # A bare app from create_app renders problems even before any org exists.
    from saferefer_server.main import create_app
    from saferefer_server.testing import migrated, node_settings, started

    app = create_app(migrated(node_settings(tmp_path)))
    async with started(app), asgi_client(app) as client:
        assert_problem(await client.get("/v1/organisations"), 401, "unauthorized")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_non_json_body_is_unsupported_media_type(
    app: FastAPI, client: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await client.post("/_test/validate", content=b'{"grants": []}', headers=headers)
    assert_problem(response, 415, "unsupported-media-type")


async def test_json_suffix_media_type_is_accepted(app: FastAPI, client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/_test/validate",
        content=b'{"grants": []}',
        headers={"content-type": "application/merge-patch+json; charset=utf-8"},
    )
    assert response.status_code == 200


async def test_every_problem_matches_the_problem_schema(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    responses = [
        await client.get("/nowhere"),
        await client.put("/healthz"),
        await client.post("/_test/validate", json={"grants": [{"purposes": 1}]}),
        await client.get("/_test/problem"),
        await client.get("/_test/crash"),
        await client.post("/_test/validate", content=b"x", headers={"content-type": "text/plain"}),
        await client.get("/v1/organisations"),
    ]
    for response in responses:
        assert_matches_schema(response.json(), "problem.schema.json")


async def test_security_headers_on_every_response(node: TestNode) -> None:
    for response in (
        await node.client.get("/healthz"),
        await node.client.get(
            "/v1/organisations", headers=await node.auth("urn:saferefer:org:NL:demo-ngo")
        ),
        await node.client.get("/nowhere"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
    api = await node.client.get(
        "/v1/organisations", headers=await node.auth("urn:saferefer:org:NL:demo-ngo")
    )
    assert api.headers["cache-control"] == "no-store"
    assert (await node.client.get("/jwks.json")).headers["cache-control"].startswith("public")


async def test_problem_instance_is_a_uri_reference(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/organisations/%C2%84")
    assert response.json()["instance"] == "/v1/organisations/%C2%84"
    assert_matches_schema(response.json(), "problem.schema.json")
