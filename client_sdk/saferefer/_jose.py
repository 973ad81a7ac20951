"""JOSE functions shared by webhook verification and payload signatures (ES256 only)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

__all__ = ["decode_protected_header", "find_public_key", "public_keys", "verify_compact"]


class JoseFailure(Exception):
    """Internal: a signature problem, translated by the callers into a SafeReferError."""


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def decode_protected_header(compact: str) -> dict[str, Any]:
    parts = compact.split(".")
    if len(parts) != 3:
        raise JoseFailure("not a compact JWS (expected three dot-separated parts)")
    try:
        header = json.loads(_b64decode(parts[0]))
    except ValueError:
        raise JoseFailure("the JWS protected header is not base64url JSON") from None
    if not isinstance(header, dict):
        raise JoseFailure("the JWS protected header is not a JSON object")
    if header.get("alg") != "ES256":
        raise JoseFailure("the JWS must use alg ES256")
    if not isinstance(header.get("kid"), str):
        raise JoseFailure("the JWS protected header names no kid")
    return header


def public_keys(jwks: Mapping[str, Any] | KeySet) -> KeySet:
    if isinstance(jwks, KeySet):
        return jwks
    keys = jwks.get("keys")
    if not isinstance(keys, list):
        raise JoseFailure('the JWKS has no "keys" list')
    usable = [
        k
        for k in keys
        if isinstance(k, Mapping) and k.get("kty") == "EC" and k.get("crv") == "P-256"
    ]
    try:
        return KeySet.import_key_set(
            {"keys": [{m: v for m, v in k.items() if m != "d"} for k in usable]}
        )
    except (JoseError, ValueError, TypeError):
        raise JoseFailure("the JWKS holds a key that cannot be imported") from None


def find_public_key(keys: KeySet, kid: str) -> ECKey:
    for key in keys.keys:
        if key.kid == kid and isinstance(key, ECKey):
            return key
    raise JoseFailure(f"no key with kid {kid!r} in the JWKS")


def verify_compact(compact: str, keys: KeySet, *, detached_payload: bytes | None = None) -> bytes:
    """Verify an ES256 compact JWS (detached when ``detached_payload`` is given); return its payload."""
    header = decode_protected_header(compact)
    key = find_public_key(keys, header["kid"])
    if detached_payload is not None and compact.split(".")[1] != "":
        raise JoseFailure("expected a detached JWS (empty payload part)")
    try:
        result = jws.deserialize_compact(
            compact, key, algorithms=["ES256"], payload=detached_payload
        )
    except (JoseError, ValueError, TypeError):
        raise JoseFailure("the signature does not verify") from None
    return result.payload
