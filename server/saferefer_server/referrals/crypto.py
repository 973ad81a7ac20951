"""Encryption of referral payloads at rest, and the JWS signatures over them.

Payloads are sealed with AES-256-GCM under the node's current payload key; the key id is stored
beside the ciphertext so older rows stay readable after a rotation, and the referral id is the
associated data, so a ciphertext copied onto another referral does not decrypt.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

NONCE_BYTES = 12


class PayloadKeyMissing(LookupError):
    """A stored payload names a key id the node no longer has."""


def seal(
    *, keyring: Sequence[tuple[str, bytes]], referral_id: str, document: Any
) -> tuple[str, bytes]:
    """(key id, nonce ‖ ciphertext) of the JSON document under the current key."""
    kid, key = keyring[0]
    nonce = os.urandom(NONCE_BYTES)
    plaintext = json.dumps(document, separators=(",", ":")).encode()
    return kid, nonce + AESGCM(key).encrypt(nonce, plaintext, referral_id.encode())


def unseal(*, keyring: Sequence[tuple[str, bytes]], referral_id: str, kid: str, blob: bytes) -> Any:
    keys = dict(keyring)
    if kid not in keys:
        raise PayloadKeyMissing(kid)
    nonce, ciphertext = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
    return json.loads(AESGCM(keys[kid]).decrypt(nonce, ciphertext, referral_id.encode()))


class SignatureInvalid(ValueError):
    """The JWS is malformed or does not verify with any key the organisation holds."""


def verify_detached_jws(*, token: str, jwks: Mapping[str, Any], payload: bytes) -> str:
    """Verify an ES256 detached JWS (`<header>..<signature>`) over `payload`; return its kid."""
    try:
        key_set = KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]
        compact = jws.deserialize_compact(token, key_set, algorithms=["ES256"], payload=payload)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise SignatureInvalid("signature does not verify with the organisation's keys") from exc
    return str(compact.protected.get("kid", ""))


def verify_compact_jws(*, token: str, jwks: Mapping[str, Any], typ: str) -> Any:
    """Verify an ES256 compact JWS with header `typ`; return its payload parsed as JSON."""
    try:
        key_set = KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]
        compact = jws.deserialize_compact(token, key_set, algorithms=["ES256"])
        if compact.protected.get("typ") != typ:
            raise ValueError("unexpected typ")
        return json.loads(compact.payload)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise SignatureInvalid("signature does not verify with the organisation's keys") from exc


def sign_detached(*, key: ECKey, kid: str, payload: bytes) -> str:
    token = jws.serialize_compact({"alg": "ES256", "kid": kid}, payload, key)
    protected, _, signature = token.split(".")
    return f"{protected}..{signature}"


def sign_compact(*, key: ECKey, kid: str, payload: bytes, typ: str) -> str:
    return jws.serialize_compact({"alg": "ES256", "kid": kid, "typ": typ}, payload, key)
