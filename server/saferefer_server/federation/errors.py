"""Why a federation message or a trust list was refused; texts carry ids, never personal data."""

from __future__ import annotations

from typing import Literal

RejectionReason = Literal[
    "malformed",
    "unknown_node",
    "node_suspended",
    "unknown_key",
    "key_not_yet_valid",
    "key_expired",
    "bad_signature",
    "wrong_recipient_node",
    "org_signature_invalid",
    "org_country_mismatch",
    "trust_list_unavailable",
    "trust_list_stale",
    "clock_skew",
    "stale_message",
    "unknown_recipient",
    "ingress_policy_denied",
]


class FederationError(Exception):
    """Root of the federation package's errors."""


class TrustListError(FederationError):
    """A trust list could not be loaded, verified or accepted (the previous one stays in force)."""


class FederationRejected(FederationError):
    """A peer's message fails authentication against the trust list.

    Answered as 403 problem+json `federation-rejected` with `reason` set to one of
    `RejectionReason`, so the peer's operators can tell a rotation lag from an attack.
    """

    def __init__(self, reason: RejectionReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: RejectionReason = reason
        self.detail = detail
