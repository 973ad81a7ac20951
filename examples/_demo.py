"""What the examples share: where the demo credentials are, and how a case system turns its own
records into SafeRefer documents (consents, referrals). Nothing here is part of the SDK."""

from __future__ import annotations

import argparse
import hashlib
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import saferefer

DEMO_CREDENTIALS = Path("var/demo/credentials")
NODE_COUNTRY = "NL"
# A real case system keeps this secret in its own key store; the demo derives it from the org id.
PSEUDONYM_SECRET_PREFIX = b"demo subject-pseudonym secret, never use in production: "


def org(code: str, country: str = NODE_COUNTRY) -> str:
    return f"urn:saferefer:org:{country}:{code}"


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--credentials-dir",
        type=Path,
        default=Path(os.environ.get("SAFEREFER_DEMO_CREDENTIALS", DEMO_CREDENTIALS)),
        help="where `saferefer-server seed-demo` wrote the demo organisations' credentials",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path("var/demo/examples"),
        help="where examples keep cursors",
    )
    return parser.parse_args()


def client(credentials_dir: Path, org_id: str) -> saferefer.Client:
    _, _, _, country, code = org_id.split(":")
    return saferefer.Client(credentials_file=credentials_dir / f"{country}-{code}.json")


def pseudonym_secret(org_id: str) -> bytes:
    return hashlib.sha256(PSEUDONYM_SECRET_PREFIX + org_id.encode()).digest()


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def consent_document(
    *,
    recorder_org: str,
    recorder_role: str,
    case_ref: str,
    recipient_org: str,
    purposes: Sequence[str],
    categories: Sequence[str],
    explicit: Sequence[str] = (),
    language: str = "en",
    interpreter: bool = False,
    withdrawal_channels: Sequence[str] = ("in_person", "phone"),
    valid_for: timedelta = timedelta(days=180),
) -> dict[str, Any]:
    """The consent the person gave, as the case system recorded it, for one recipient."""
    now = datetime.now(UTC)
    return {
        "subject_ref": saferefer.subject_ref(
            pseudonym_secret(recorder_org), recorder_org, case_ref
        ),
        "age_status": "adult",
        "given_by": "subject",
        "recorder": {"role": recorder_role, "worker_ref": "worker-7f3a"},
        "grants": [
            {
                "recipient": {"org_id": recipient_org},
                "purposes": list(purposes),
                "data_categories": list(categories),
                "explicit_categories": list(explicit),
                "onward_sharing": False,
            }
        ],
        "issued_at": timestamp(now - timedelta(minutes=10)),
        "valid_from": timestamp(now - timedelta(minutes=10)),
        "valid_until": timestamp(now + valid_for),
        "language": language,
        "interpreter": {"present": True, "independence": "independent_professional"}
        if interpreter
        else {"present": False},
        "information_sheet_version": "nl-2026.2",
        "risks_informed": ["disclosure_to_authorities", "retention_by_recipient"],
        "method": "written_signature",
        "evidence_hash": "sha256:" + hashlib.sha256(f"signed form {case_ref}".encode()).hexdigest(),
        "refusal_does_not_affect_assistance": True,
        "withdrawal_channels": list(withdrawal_channels),
        "reflection_period": {"active": False},
        "decision_to_cooperate": {"recorded": False},
    }


def referral_document(
    *,
    sender_org: str,
    case_ref: str,
    recipient_org: str,
    purpose: str,
    services: Sequence[str],
    consent_id: str,
    payload: dict[str, Any],
    urgency: str = "routine",
    risk_level: str = "medium",
) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "recipient": recipient_org,
        "purpose": purpose,
        "requested_services": list(services),
        "urgency": urgency,
        "consent_ids": [consent_id],
        "subject_ref": saferefer.subject_ref(pseudonym_secret(sender_org), recipient_org, case_ref),
        "subject": {
            "age_status": "adult",
            "asylum_pending": False,
            "identification_status": "reasonable_grounds",
        },
        "payload": payload,
        "payload_flags": {"support_conditional_on_cooperation": False},
        "safety_notes": {
            "risk_level": risk_level,
            "contact_constraints": ["no_contact_via_employer"],
        },
        "retain_until": timestamp(now + timedelta(days=365)),
    }
