"""Pairwise subject pseudonyms (``subject_ref``), derived as the standard recommends.

``"srp1." + base64url(HMAC-SHA256(secret, recipient org id + "\\n" + local case reference))``:
the same person gets a different reference at every recipient, so two recipients cannot link
their records, while the sender can always recompute it from its own case id. For a consent
record, pass the recording organisation's own id as ``recipient_org``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from ._exceptions import ConfigurationError

__all__ = ["subject_ref"]


def subject_ref(secret: bytes, recipient_org: str, case_reference: str) -> str:
    """The ``subject_ref`` of the case ``case_reference`` for ``recipient_org``.

    ``secret`` is the sender's subject-pseudonym key: at least 32 random bytes, kept in the
    case system and never sent anywhere.
    """
    if len(secret) < 32:
        raise ConfigurationError("the subject-pseudonym secret must be at least 32 bytes")
    digest = hmac.new(
        secret, f"{recipient_org}\n{case_reference}".encode(), hashlib.sha256
    ).digest()
    return "srp1." + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
