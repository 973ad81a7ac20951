"""Verify a webhook delivery from a SafeRefer node and get a typed event.

Each delivery is an HTTP POST of one CloudEvent (``application/cloudevents+json``) with a
``SafeRefer-Signature`` header: a detached JWS (RFC 7515 Appendix F, ES256) over the exact body
bytes, made with a node key published at the node's ``/jwks.json``. Verify before acting on it
(SR-EVENT-014)::

    event = saferefer.webhooks.verify(request.headers, await request.body(), jwks)

Events may arrive more than once: de-duplicate by ``event.id``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pydantic
from joserfc.jwk import KeySet

from ._exceptions import WebhookVerificationError
from ._jose import JoseFailure, public_keys, verify_compact
from ._validation import schema_errors
from .types import Event

__all__ = ["SIGNATURE_HEADER", "verify"]

SIGNATURE_HEADER = "SafeRefer-Signature"


def verify(
    headers: Mapping[str, str],
    body: bytes | str,
    jwks: Mapping[str, Any] | pydantic.BaseModel | KeySet,
) -> Event:
    """Check the delivery's signature against ``jwks`` (the node's ``/jwks.json`` document, as a
    dict, a generated model or a joserfc ``KeySet``) and return the event; raise
    :class:`~saferefer.WebhookVerificationError` otherwise."""
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    signature = _header(headers, SIGNATURE_HEADER)
    if signature is None:
        raise WebhookVerificationError(f"the delivery has no {SIGNATURE_HEADER} header")
    try:
        verify_compact(signature.strip(), public_keys(jwks), detached_payload=raw)
    except JoseFailure as exc:
        raise WebhookVerificationError(f"{SIGNATURE_HEADER}: {exc}") from None
    try:
        document = json.loads(raw)
    except ValueError:
        raise WebhookVerificationError("the delivery body is not JSON") from None
    errors = schema_errors("event.schema.json", document)
    if errors:
        raise WebhookVerificationError(
            f"the delivery is not a valid event: {errors[0].path}: {errors[0].message}"
        )
    try:
        return Event.model_validate(document)
    except pydantic.ValidationError:
        raise WebhookVerificationError("the delivery is not a valid event") from None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None
