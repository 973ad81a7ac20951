"""The capability document: node identity, spec version, endpoints, code list versions, profiles."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from saferefer_server.core.idempotency import RETENTION as IDEMPOTENCY_RETENTION
from saferefer_server.core.openapi import openapi_document
from saferefer_server.settings import Settings

SUPPORTED_PROFILES = ("core", "events")
MAX_PAGE_SIZE = 200


@lru_cache(maxsize=1)
def policy_bundle_revision() -> str:
    """Digest of the policy set this node decides with (SR-POLICY-023): equal revisions decide alike."""
    from saferefer_server._resources import policy_dir
    from saferefer_server.policy import PolicySet

    return PolicySet.load(policy_dir()).revision


@lru_cache(maxsize=1)
def codelist_versions() -> dict[str, str]:
    from saferefer._resources import spec_dir

    versions: dict[str, str] = {}
    for path in sorted((spec_dir() / "codelists").glob("*.json")):
        document = json.loads(path.read_text())
        versions[str(document["codelist"])] = str(document["version"])
    return versions


def capability_document(
    settings: Settings,
    *,
    federation_endpoint: str | None = None,
    trust_list_sequence: int | None = None,
) -> dict[str, Any]:
    """The capability document; `federation_endpoint` is given while the node federates, and
    `trust_list_sequence` names the trust list in force (operators check a new list arrived)."""
    base = settings.base_url
    endpoints = {
        "token": f"{base}/oauth/token",
        "jwks": f"{base}/jwks.json",
        "openapi": f"{base}/openapi.yaml",
        "api": f"{base}/v1",
        "events": f"{base}/v1/events",
    }
    profiles = list(SUPPORTED_PROFILES)
    if federation_endpoint is not None:
        endpoints["federation"] = federation_endpoint
        profiles.append("federation")
    return {
        "node_id": settings.node_id,
        "country": settings.country,
        "spec_version": str(openapi_document()["info"]["version"]),
        "base_url": base,
        "endpoints": endpoints,
        "codelists": codelist_versions(),
        "profiles": profiles,
        "federation": {
            "enabled": federation_endpoint is not None,
            "trust_list_sequence": trust_list_sequence,
        },
        "signing_algorithms": ["ES256"],
        "token_endpoint_auth_methods": ["private_key_jwt"],
        "policy": {"engine": settings.policy_engine, "bundle_revision": policy_bundle_revision()},
        "limits": {
            "max_request_bytes": settings.max_body_bytes,
            "max_page_size": MAX_PAGE_SIZE,
            "idempotency_key_ttl_seconds": int(IDEMPOTENCY_RETENTION.total_seconds()),
        },
    }
