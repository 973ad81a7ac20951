"""Serves the standard's own OpenAPI document (spec/openapi.yaml) at /openapi.yaml and
/openapi.json; FastAPI's generated document is switched off so the two can never disagree.

/openapi.yaml is the file byte for byte. /openapi.json is the same document made self-contained,
as the spec recommends: every schema file it references (transitively) is embedded once under
`components/schemas` with its `$id` (a JSON Schema 2020-12 compound document), and each
`schemas/<file>` reference is rewritten to that `$id`, so a client needs nothing but the node.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from fastapi import APIRouter
from fastapi.responses import Response

router = APIRouter(tags=["openapi"])


def openapi_path() -> Path:
    from saferefer._resources import spec_dir

    return spec_dir() / "openapi.yaml"


@lru_cache(maxsize=1)
def openapi_yaml() -> bytes:
    return openapi_path().read_bytes()


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    document = yaml.safe_load(openapi_yaml())
    if not isinstance(document, dict):
        raise ValueError("spec/openapi.yaml is not a mapping")
    return document


SCHEMA_REF_PREFIX = "schemas/"


def _schema_files() -> dict[str, dict[str, Any]]:
    from saferefer._resources import spec_dir

    return {
        path.name: json.loads(path.read_text())
        for path in sorted((spec_dir() / "schemas").glob("*.schema.json"))
    }


def _external_refs(node: Any) -> set[str]:
    """File names of the non-local `$ref`s in `node` (`x.schema.json#/...` → `x.schema.json`)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and not value.startswith("#"):
                found.add(value.split("#", 1)[0].rsplit("/", 1)[-1])
            else:
                found |= _external_refs(value)
    elif isinstance(node, list):
        for item in node:
            found |= _external_refs(item)
    return found


def _rewrite_refs(node: Any, ids: dict[str, str]) -> Any:
    if isinstance(node, dict):
        rewritten = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(SCHEMA_REF_PREFIX):
                file_name, _, fragment = value.removeprefix(SCHEMA_REF_PREFIX).partition("#")
                rewritten[key] = ids[file_name] + (f"#{fragment}" if fragment else "")
            else:
                rewritten[key] = _rewrite_refs(value, ids)
        return rewritten
    if isinstance(node, list):
        return [_rewrite_refs(item, ids) for item in node]
    return node


@lru_cache(maxsize=1)
def bundled_openapi_document() -> dict[str, Any]:
    """The spec with every referenced schema file embedded (see the module docstring)."""
    files = _schema_files()
    document = openapi_document()
    needed: set[str] = set()
    pending = _external_refs(document)
    while pending:
        name = pending.pop()
        if name in needed:
            continue
        needed.add(name)
        pending |= _external_refs(files[name]) - needed
    ids = {name: str(files[name]["$id"]) for name in needed}
    bundled: dict[str, Any] = _rewrite_refs(document, ids)
    schemas = bundled.setdefault("components", {}).setdefault("schemas", {})
    for name in sorted(needed):
        # Inside an embedded schema, relative refs resolve against its own `$id`: kept as is.
        schemas[name] = files[name]
    return bundled


@router.get("/openapi.json", operation_id="getOpenApiJson", include_in_schema=False)
async def openapi_json() -> Response:
    body = json.dumps(bundled_openapi_document(), separators=(",", ":")).encode()
    return Response(body, media_type="application/json")


@router.get("/openapi.yaml", operation_id="getOpenApiYaml", include_in_schema=False)
async def openapi_yaml_view() -> Response:
    return Response(openapi_yaml(), media_type="application/yaml")
