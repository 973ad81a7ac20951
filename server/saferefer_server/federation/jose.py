"""Detached JWS over RFC 8785 canonical JSON: how trust lists, envelopes and payloads are signed.

A signature is `<protected header>..<signature>` (RFC 7515 appendix F) whose payload is the JCS
form of the signed document without its `signature` member, so the document travels as plain
JSON and anyone can re-derive the signed bytes. ES256 only; the header names the key (`kid`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from saferefer_server.audit.jcs import canonicalize

ALGORITHMS = ["ES256"]


class SignatureInvalid(ValueError):
    """The detached JWS is malformed or does not verify (no detail: nothing to leak)."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signed_bytes(
    document: Mapping[str, Any], *, exclude: tuple[str, ...] = ("signature",)
) -> bytes:
    return canonicalize({k: v for k, v in document.items() if k not in exclude})


def sign_detached(payload: bytes, key: ECKey, *, typ: str | None = None) -> str:
    if not key.kid:
        raise ValueError("a signing key needs a kid")
    header: dict[str, str] = {"alg": "ES256", "kid": key.kid}
    if typ:
        header["typ"] = typ
    compact = jws.serialize_compact(header, payload, key, algorithms=ALGORITHMS)
    protected, _, signature = compact.split(".")
    return f"{protected}..{signature}"


def detached_header(signature: str) -> dict[str, Any]:
    """The protected header of a detached JWS, unverified (to pick the key by `kid`)."""
    parts = signature.split(".")
    if len(parts) != 3 or parts[1] != "":
        raise SignatureInvalid("not a detached JWS")
    try:
        header = json.loads(b64url_decode(parts[0]))
    except (ValueError, binascii.Error) as exc:
        raise SignatureInvalid("protected header is not JSON") from exc
    if not isinstance(header, dict) or header.get("alg") != "ES256":
        raise SignatureInvalid("protected header must say alg ES256")
    if not isinstance(header.get("kid"), str):
        raise SignatureInvalid("protected header needs a kid")
    if header.get("crit") is not None or header.get("b64") is not None:
        raise SignatureInvalid("unsupported protected header members")
    return header


def verify_detached(signature: str, payload: bytes, key: ECKey) -> None:
    protected, _, sig = signature.partition("..")
    try:
        jws.deserialize_compact(f"{protected}.{b64url(payload)}.{sig}", key, algorithms=ALGORITHMS)
    except (JoseError, ValueError) as exc:
        raise SignatureInvalid("signature does not verify") from exc
