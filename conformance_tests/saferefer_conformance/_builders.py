"""Valid request bodies for the scenarios the checks play out, built fresh for every use.

Every body carries a fresh subject reference and marker values ("canaries") in its payload, so a
check can tell whether personal data leaked into an event, an audit entry or an error, and so that
repeated runs against one server never collide.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

SUPPORT_PURPOSE_BY_ROLE = {
    "shelter": "shelter",
    "ngo_service_provider": "assistance",
    "social_services": "assistance",
    "legal_aid": "legal_aid",
    "health_provider": "medical_care",
    "child_protection": "assistance",
}
WORKER_REF = "worker-conformance"


def timestamp(moment: datetime) -> str:
    """RFC 3339 UTC with ``Z`` and whole seconds."""
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def now() -> datetime:
    return datetime.now(UTC)


def subject_ref() -> str:
    """A fresh pairwise pseudonym in the standard's format (``srp1.`` + 256 random bits)."""
    return "srp1." + base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def canary() -> str:
    """A marker value that must never appear outside the referral payload."""
    return "Canary" + secrets.token_hex(8)


def support_purpose(recipient_roles: Sequence[str]) -> str:
    for role in recipient_roles:
        if role in SUPPORT_PURPOSE_BY_ROLE:
            return SUPPORT_PURPOSE_BY_ROLE[role]
    return "assistance"


@dataclass
class Scenario:
    """One person's case as the sender holds it: subject reference, canaries, purpose."""

    subject_ref: str = field(default_factory=subject_ref)
    canaries: dict[str, str] = field(default_factory=dict)

    def payload(self, categories: Sequence[str]) -> dict[str, dict[str, str]]:
        body = {}
        for category in categories:
            marker = self.canaries.setdefault(category, canary())
            body[category] = {"note": marker}
        return body


def consent_body(
    *,
    subject: str,
    recipient_org_id: str | None = None,
    recipient_role: tuple[str, str] | None = None,
    recorder_role: str,
    purposes: Sequence[str],
    categories: Sequence[str],
    explicit_categories: Sequence[str] = (),
    valid_for: timedelta = timedelta(days=30),
    issued: datetime | None = None,
    withdrawal_channels: Sequence[str] = ("in_person",),
) -> dict[str, Any]:
    """A complete ``consent-create`` body for one grant (an organisation, or a role + country)."""
    issued = issued or now() - timedelta(minutes=1)
    if recipient_org_id is not None:
        recipient: dict[str, str] = {"org_id": recipient_org_id}
    elif recipient_role is not None:
        recipient = {"role": recipient_role[0], "country": recipient_role[1]}
    else:
        raise ValueError("a grant names an organisation or a role and country")
    grant: dict[str, Any] = {
        "recipient": recipient,
        "purposes": list(purposes),
        "data_categories": list(categories),
    }
    if explicit_categories:
        grant["explicit_categories"] = list(explicit_categories)
    return {
        "subject_ref": subject,
        "age_status": "adult",
        "given_by": "subject",
        "recorder": {"role": recorder_role, "worker_ref": WORKER_REF},
        "grants": [grant],
        "issued_at": timestamp(issued),
        "valid_from": timestamp(issued),
        "valid_until": timestamp(issued + valid_for),
        "language": "en",
        "interpreter": {"present": False},
        "information_sheet_version": "conformance-1",
        "risks_informed": [],
        "method": "written_signature",
        "evidence_hash": "sha256:" + secrets.token_hex(32),
        "refusal_does_not_affect_assistance": True,
        "withdrawal_channels": list(withdrawal_channels),
        "reflection_period": {"active": False},
        "decision_to_cooperate": {"recorded": False},
    }


def referral_body(
    *,
    scenario: Scenario,
    recipient_org_id: str,
    purpose: str,
    consent_ids: Sequence[str],
    categories: Sequence[str],
    payload_flags: dict[str, bool] | None = None,
    subject: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    based_on: str | None = None,
) -> dict[str, Any]:
    """A complete ``referral-create`` body disclosing exactly ``categories``."""
    body: dict[str, Any] = {
        "recipient": recipient_org_id,
        "purpose": purpose,
        "requested_services": [],
        "urgency": "routine",
        "consent_ids": list(consent_ids),
        "subject_ref": scenario.subject_ref,
        "subject": subject
        or {"age_status": "adult", "identification_status": "reasonable_grounds"},
        "payload": scenario.payload(categories),
        "safety_notes": {"risk_level": "low", "contact_constraints": []},
        "retain_until": timestamp(now() + timedelta(days=90)),
    }
    if payload_flags:
        body["payload_flags"] = payload_flags
    if context:
        body["context"] = context
    if based_on:
        body["based_on"] = based_on
    return body


def withdrawal_body(channel: str = "in_person") -> dict[str, Any]:
    return {
        "channel": channel,
        "withdrawn_at": timestamp(now() - timedelta(seconds=5)),
        "received_by": WORKER_REF,
    }
