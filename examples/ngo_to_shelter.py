"""An NGO sends assistance referrals to a shelter, straight from its case-management export.

For every case in ``data/case-export.csv`` whose person agreed to a shelter referral, the NGO
records the consent, asks the node's policy what it may send (a dry-run), keeps only those data
categories (``saferefer.minimal_payload``) and sends the signed referral. A case without that
consent is never sent (R4). Run it against the demo node (``make run``)::

    python examples/ngo_to_shelter.py [--credentials-dir var/demo/credentials]
"""

from __future__ import annotations

import csv
from pathlib import Path

import _demo
import saferefer

NGO = _demo.org("demo-ngo")
SHELTER = _demo.org("demo-shelter")
EXPORT = Path(__file__).with_name("data") / "case-export.csv"

# Which column of the export belongs to which data category; anything unmapped is never sent.
FIELD_CATEGORIES = {
    "given_name": "identity",
    "family_name": "identity",
    "date_of_birth": "identity",
    "phone": "contact",
    "nationality": "nationality",
    "residence_status": "immigration_status",
    "languages": "language_needs",
    "interpreter": "language_needs",
    "health_summary": "health",
    "exploitation_summary": "exploitation_account",
    "safety_summary": "safety_risks",
}
# What the person agreed the shelter may receive (the consent form the NGO uses).
SHELTER_CATEGORIES = ["identity", "contact", "language_needs", "health", "safety_risks"]


def main() -> None:
    args = _demo.parse_args(__doc__ or "")
    ngo = _demo.client(args.credentials_dir, NGO)
    with EXPORT.open(newline="", encoding="utf-8") as export:
        cases = list(csv.DictReader(export))
    for case in cases:
        case_ref = case["case_ref"]
        if case["consent_to_shelter"] != "yes":
            print(f"{case_ref}: no consent to a shelter referral; nothing sent")
            continue
        consent = ngo.consents.record(
            _demo.consent_document(
                recorder_org=NGO,
                recorder_role="ngo_service_provider",
                case_ref=case_ref,
                recipient_org=SHELTER,
                purposes=["shelter", "assistance"],
                categories=SHELTER_CATEGORIES,
                explicit=["health"],
                language=case["consent_language"],
                interpreter=case["interpreter_present"] == "yes",
                withdrawal_channels=case["withdrawal_channels"].split(";"),
            )
        )
        # Everything the export holds, grouped by category; the policy decides what may go.
        everything = saferefer.minimal_payload(
            case, _all_categories(), field_categories=FIELD_CATEGORIES
        )
        draft = _demo.referral_document(
            sender_org=NGO,
            case_ref=case_ref,
            recipient_org=SHELTER,
            purpose="shelter",
            services=["safe_accommodation", "case_management"],
            consent_id=consent.id,
            payload=everything.payload,
            urgency="urgent",
            risk_level="high",
        )
        decision = ngo.policy.check(draft)
        if not decision.allow:
            for violation in decision.violations:
                print(
                    f"{case_ref}: policy: {violation.code} ({violation.rule}) — fix: {violation.fix}"
                )
        minimal = saferefer.minimal_payload(
            case, decision.permitted_categories, field_categories=FIELD_CATEGORIES
        )
        try:
            referral = ngo.referrals.create(draft | {"payload": minimal.payload})
        except saferefer.PolicyViolationError as denied:
            print(f"{case_ref}: refused: {', '.join(denied.codes)}")
            continue
        print(f"{case_ref}: sent referral {referral.id} ({referral.state})")
        print(f"{case_ref}:   sent     {', '.join(referral.data_categories)}")
        print(f"{case_ref}:   withheld {', '.join(minimal.withheld) or '-'}")


def _all_categories() -> list[str]:
    return sorted(set(FIELD_CATEGORIES.values()))


if __name__ == "__main__":
    main()
