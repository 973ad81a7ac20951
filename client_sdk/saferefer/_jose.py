"""JOSE functions shared by webhook verification and payload signatures (ES256 only).

The SDK's own signatures are deterministic ECDSA (RFC 6979): the same key and the same document
always give the same JWS, so re-sending a signed document under the same ``Idempotency-Key``
sends the same bytes and the node replays its first answer. They are ordinary ES256 signatures
(raw ``r || s``) that any JOSE library verifies.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

import pydantic
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

__all__ = [
    "decode_protected_header",
    "find_public_key",
    "public_keys",
    "sign_compact",
    "verify_compact",
]

#: Bytes of each of ``r`` and ``s`` in an ES256 signature (RFC 7518 section 3.4).
ES256_COORDINATE_SIZE = 32


class JoseFailure(Exception):
    """Internal: a signature problem, translated by the callers into a SafeReferError."""


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign_compact(header: Mapping[str, str], payload: bytes, key: ECKey) -> str:
    """The ES256 compact JWS of ``payload`` under the protected ``header``, signed
    deterministically (RFC 6979) with the private ``key``.

    The header is serialised as joserfc serialises it (compact JSON, members in the given
    order), so the protected part is the same as when joserfc signed.
    """
    private_key = key.private_key
    if private_key is None:
        raise JoseFailure("the signing key is not a private key")
    protected = _b64encode(
        json.dumps(dict(header), ensure_ascii=True, separators=(",", ":")).encode("ascii")
    )
    signing_input = f"{protected}.{_b64encode(payload)}"
    der = private_key.sign(
        signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
    )
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(ES256_COORDINATE_SIZE, "big") + s.to_bytes(ES256_COORDINATE_SIZE, "big")
    return f"{signing_input}.{_b64encode(raw)}"


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


def public_keys(jwks: Mapping[str, Any] | pydantic.BaseModel | KeySet) -> KeySet:
    """The usable public keys of a JWK Set given as a dict, a generated model (such as
    ``organisations.retrieve(org_id).jwks``) or a joserfc ``KeySet``."""
    if isinstance(jwks, KeySet):
        return jwks
    if isinstance(jwks, pydantic.BaseModel):
        jwks = jwks.model_dump(mode="json", by_alias=True, exclude_none=True)
    if not isinstance(jwks, Mapping):
        raise JoseFailure(
            "the JWKS must be a JWK Set: a dict, an organisation's jwks model or a joserfc "
            f"KeySet, not {type(jwks).__name__}"
        )
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
