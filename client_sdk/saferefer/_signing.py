"""The sender's signature over a referral payload (SR-SIGN-001..004).

A sender signs the payload it sends with its organisation key: a detached JWS (RFC 7515
Appendix F, ES256, carrying the key's ``kid``) over the RFC 8785 (JCS) canonical JSON of the
payload. It travels in the referral's ``payload_signature`` member; the node verifies it before
storing the referral and hands it unchanged to the recipient, who can check it with
:func:`verify_payload_signature` against the sender's keys in the directory.

Signing is deterministic (RFC 6979): the same key over the same document gives the same JWS, so
a document re-sent under the same ``Idempotency-Key`` is the same request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic
from joserfc.jwk import KeySet

from ._credentials import Credentials
from ._exceptions import ConfigurationError, FieldError, InvalidRequestError, PayloadSignatureError
from ._jcs import canonicalize
from ._jose import JoseFailure, public_keys, sign_compact, verify_compact

__all__ = ["sign_consent", "sign_payload", "verify_payload_signature"]

CONSENT_JWS_TYP = "saferefer-consent+jws"


def sign_payload(payload: Mapping[str, Any], credentials: Credentials) -> str:
    """``<protected>..<signature>``: the detached JWS of ``payload`` by the organisation in ``credentials``."""
    body = _json_object_bytes(payload, what="payload", pointer="#/payload")
    header = {"alg": "ES256", "kid": credentials.kid}
    protected, _, signature = _sign(header, body, credentials).split(".")
    return f"{protected}..{signature}"


def sign_consent(consent: Mapping[str, Any], credentials: Credentials) -> str:
    """The recording organisation's compact JWS over a consent-create document (``recorder_jws``).

    ES256 with header ``{alg, kid, typ: "saferefer-consent+jws"}``; the JWS payload is the RFC 8785
    form of the document without its ``recorder_jws`` member.
    """
    unsigned = (
        {key: value for key, value in consent.items() if key != "recorder_jws"}
        if isinstance(consent, Mapping)
        else consent
    )
    body = _json_object_bytes(unsigned, what="consent", pointer="#")
    return _sign(
        {"alg": "ES256", "kid": credentials.kid, "typ": CONSENT_JWS_TYP}, body, credentials
    )


def _json_object_bytes(document: object, *, what: str, pointer: str) -> bytes:
    """The RFC 8785 form of a JSON object; anything else is the caller's mistake."""
    if not isinstance(document, Mapping):
        raise InvalidRequestError(
            f"the {what} must be a JSON object (dict), not {type(document).__name__}",
            errors=[FieldError(pointer, "must be of type object")],
        )
    try:
        return canonicalize(dict(document))
    except TypeError:
        raise InvalidRequestError(
            f"the {what} is not JSON data", errors=[FieldError(pointer, "must be JSON data")]
        ) from None


def _sign(header: Mapping[str, str], body: bytes, credentials: Credentials) -> str:
    try:
        return sign_compact(header, body, credentials.key)
    except JoseFailure as exc:
        raise ConfigurationError(f"cannot sign for {credentials.org_id}: {exc}") from None


def verify_payload_signature(
    signature: str,
    payload: Mapping[str, Any],
    jwks: Mapping[str, Any] | pydantic.BaseModel | KeySet,
) -> None:
    """Check that ``signature`` is the sender's detached JWS over exactly ``payload``.

    ``jwks`` is the sender organisation's key set: the ``jwks`` of its directory entry as
    returned (``client.organisations.retrieve(sender).jwks``), the same as a dict, or a joserfc
    ``KeySet``.
    """
    if not isinstance(signature, str):
        raise PayloadSignatureError(
            f"payload signature: expected a compact JWS string, not {type(signature).__name__}"
        )
    if not isinstance(payload, Mapping):
        raise PayloadSignatureError(
            f"payload signature: expected the payload as a JSON object (dict), "
            f"not {type(payload).__name__}"
        )
    try:
        verify_compact(signature, public_keys(jwks), detached_payload=canonicalize(dict(payload)))
    except JoseFailure as exc:
        raise PayloadSignatureError(f"payload signature: {exc}") from None
    except TypeError:
        raise PayloadSignatureError("payload signature: the payload is not JSON data") from None
