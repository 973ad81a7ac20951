"""Detached JWS (RFC 7515 appendix F) over webhook bodies, signed with the node's current key."""

from __future__ import annotations

from joserfc import jws

from saferefer_server.auth.keys import NodeKeyStore

WEBHOOK_JWS_TYP = "saferefer-webhook+jws"


def sign_detached(keys: NodeKeyStore, body: bytes) -> str:
    """`<protected>..<signature>`: verify with the node's /jwks.json key named by `kid`."""
    node_key = keys.signing_key()
    token = jws.serialize_compact(
        {"alg": "ES256", "kid": node_key.kid, "typ": WEBHOOK_JWS_TYP}, body, node_key.key
    )
    protected, _, signature = token.split(".")
    return f"{protected}..{signature}"
