"""Serves the standard's own OpenAPI document (spec/openapi.yaml) at /openapi.yaml and
/openapi.json; FastAPI's generated document is switched off so the two can never disagree."""

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


@router.get("/openapi.json", operation_id="getOpenApiJson", include_in_schema=False)
async def openapi_json() -> Response:
    body = json.dumps(openapi_document(), separators=(",", ":")).encode()
    return Response(body, media_type="application/json")


@router.get("/openapi.yaml", operation_id="getOpenApiYaml", include_in_schema=False)
async def openapi_yaml_view() -> Response:
    return Response(openapi_yaml(), media_type="application/yaml")
