"""The sender's signature over a referral payload (SR-SIGN-001..004).

A sender signs the payload it sends with its organisation key: a detached JWS (RFC 7515
Appendix F, ES256, carrying the key's ``kid``) over the RFC 8785 (JCS) canonical JSON of the
payload. It travels in the referral's ``payload_signature`` member; the node verifies it before
storing the referral and hands it unchanged to the recipient, who can check it with
:func:`verify_payload_signature` against the sender's keys in the directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from joserfc import jws
from joserfc.jwk import KeySet

from ._credentials import Credentials
from ._exceptions import FieldError, InvalidRequestError, PayloadSignatureError
from ._jcs import canonicalize
from ._jose import JoseFailure, public_keys, verify_compact

__all__ = ["sign_consent", "sign_payload", "verify_payload_signature"]

CONSENT_JWS_TYP = "saferefer-consent+jws"


def sign_payload(payload: Mapping[str, Any], credentials: Credentials) -> str:
    """``<protected>..<signature>``: the detached JWS of ``payload`` by the organisation in ``credentials``."""
    try:
        body = canonicalize(dict(payload))
    except TypeError:
        raise InvalidRequestError(
            "the payload is not JSON data", errors=[FieldError("#/payload", "must be JSON data")]
        ) from None
    token = jws.serialize_compact(
        {"alg": "ES256", "kid": credentials.kid}, body, credentials.key, algorithms=["ES256"]
    )
    protected, _, signature = token.split(".")
    return f"{protected}..{signature}"


def sign_consent(consent: Mapping[str, Any], credentials: Credentials) -> str:
    """The recording organisation's compact JWS over a consent-create document (``recorder_jws``).

    ES256 with header ``{alg, kid, typ: "saferefer-consent+jws"}``; the JWS payload is the RFC 8785
    form of the document without its ``recorder_jws`` member.
    """
    unsigned = {key: value for key, value in consent.items() if key != "recorder_jws"}
    try:
        body = canonicalize(unsigned)
    except TypeError:
        raise InvalidRequestError(
            "the consent is not JSON data", errors=[FieldError("#", "must be JSON data")]
        ) from None
    return jws.serialize_compact(
        {"alg": "ES256", "kid": credentials.kid, "typ": CONSENT_JWS_TYP},
        body,
        credentials.key,
        algorithms=["ES256"],
    )


def verify_payload_signature(
    signature: str, payload: Mapping[str, Any], jwks: Mapping[str, Any] | KeySet
) -> None:
    """Check that ``signature`` is the sender's detached JWS over exactly ``payload``.

    ``jwks`` is the sender organisation's key set (the ``jwks`` of its directory entry).
    """
    try:
        verify_compact(signature, public_keys(jwks), detached_payload=canonicalize(dict(payload)))
    except JoseFailure as exc:
        raise PayloadSignatureError(f"payload signature: {exc}") from None
    except TypeError:
        raise PayloadSignatureError("payload signature: the payload is not JSON data") from None
