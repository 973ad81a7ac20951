"""The served API is exactly spec/openapi.yaml: every operation routed, nothing else exposed."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from referencing import Registry, Resource
from saferefer._resources import spec_dir
from saferefer_server.testing import TestNode


@pytest.fixture
def database_url(sqlite_database_url: str) -> str:
    """Routing and error rendering do not touch the database: one backend is enough here."""
    return sqlite_database_url


HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


def spec_document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((spec_dir() / "openapi.yaml").read_text())
    return document


def spec_operations() -> dict[tuple[str, str], str]:
    """(METHOD, path template) → operationId, for every operation in the spec."""
    return {
        (method.upper(), path): operation["operationId"]
        for path, item in spec_document()["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def routed_operations(app: FastAPI) -> dict[tuple[str, str], str | None]:
    routed: dict[tuple[str, str], str | None] = {}
    for route in iter_route_contexts(app.routes):
        assert route.path is not None
        for method in route.methods or ():
            routed[(method, route.path)] = getattr(route, "operation_id", None)
    return routed


async def test_every_spec_operation_is_routed(node: TestNode) -> None:
    missing = sorted(set(spec_operations()) - set(routed_operations(node.app)))
    assert not missing, f"operations in spec/openapi.yaml without a route: {missing}"


async def test_no_route_outside_the_spec(node: TestNode) -> None:
    extra = sorted(set(routed_operations(node.app)) - set(spec_operations()))
    assert not extra, f"routes not described by spec/openapi.yaml: {extra}"


async def test_operation_ids_equal_the_specs(node: TestNode) -> None:
    routed = routed_operations(node.app)
    wrong = {
        op: (routed[op], spec_id)
        for op, spec_id in spec_operations().items()
        if op in routed and routed[op] != spec_id
    }
    assert not wrong, f"operationId differs from the spec (route, spec): {wrong}"


async def test_served_openapi_is_the_spec_file(node: TestNode) -> None:
    as_yaml = await node.client.get("/openapi.yaml")
    assert as_yaml.status_code == 200
    assert as_yaml.content == (spec_dir() / "openapi.yaml").read_bytes()


async def test_served_openapi_json_is_the_spec_made_self_contained(node: TestNode) -> None:
    response = await node.client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    bundled = json.loads(response.content)
    spec = spec_document()
    assert bundled["paths"].keys() == spec["paths"].keys()
    assert bundled["info"] == spec["info"]
    embedded = {
        schema["$id"]: schema
        for schema in bundled["components"]["schemas"].values()
        if isinstance(schema, dict) and "$id" in schema
    }
    registry = Registry().with_resources(
        (schema_id, Resource.from_contents(schema)) for schema_id, schema in embedded.items()
    )
    refs = list(all_refs(bundled["paths"])) + list(all_refs(bundled["components"]))
    external = [ref for ref in refs if not ref.startswith("#")]
    assert external, "expected the spec to reference its schema files"
    assert not [ref for ref in external if ref.startswith("schemas/")]
    for ref in external:
        if ref.startswith("https://"):
            registry.resolver().lookup(ref)  # raises if the bundle cannot resolve it
    for schema_id, schema in embedded.items():
        for ref in all_refs(schema):
            registry.resolver(base_uri=schema_id).lookup(ref)


def all_refs(node: Any) -> Any:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from all_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from all_refs(item)


async def test_generated_docs_are_switched_off(node: TestNode) -> None:
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert (await node.client.get(path)).status_code == 404
