"""A labour inspectorate, after an inspection, refers a worker to an NGO for assistance.

The inspector obtained the worker's consent to an NGO referral: identity, contact, the labour
facts (exploitation account) and the unpaid wages (financial) go to the NGO. The worker's
immigration status can never reach the immigration authority from a labour inspection, whatever
a consent form says: the dry-run shows the firewall (R17) refusing it, with the fix. Run it against the demo node::

    python examples/labour_inspectorate_to_ngo.py [--credentials-dir var/demo/credentials]
"""

from __future__ import annotations

import _demo
import saferefer

LABOUR = _demo.org("demo-labour")
NGO = _demo.org("demo-ngo")
IMMIGRATION = _demo.org("demo-immigration")
CASE = "LI-2026-0077"
PAYLOAD = {
    "identity": {"given_name": "R.", "family_name": "D."},
    "contact": {"phone": "+31 6 0000 0077"},
    "language_needs": {"languages": ["ro"], "interpreter": True},
    "exploitation_account": {
        "summary": "Worked 14-hour days in a greenhouse; wages withheld for 5 months."
    },
    "financial": {"unpaid_wages_eur": 6400},
}


def main() -> None:
    args = _demo.parse_args(__doc__ or "")
    inspectorate = _demo.client(args.credentials_dir, LABOUR)
    consent = inspectorate.consents.record(
        _demo.consent_document(
            recorder_org=LABOUR,
            recorder_role="labour_inspectorate",
            case_ref=CASE,
            recipient_org=NGO,
            purposes=["assistance", "labour_rights_claim"],
            categories=sorted(PAYLOAD),
            language="ro",
            interpreter=True,
        )
    )
    referral = _demo.referral_document(
        sender_org=LABOUR,
        case_ref=CASE,
        recipient_org=NGO,
        purpose="assistance",
        services=["case_management", "labour_claim_support", "legal_counselling"],
        consent_id=consent.id,
        payload=PAYLOAD,
    )
    sent = inspectorate.referrals.create(referral)
    print(
        f"sent referral {sent.id} to {NGO}: {sent.state}, categories {', '.join(sent.data_categories)}"
    )

    # The firewall: even with a signed form naming the immigration authority, a labour inspection
    # never passes the worker's immigration status to immigration enforcement.
    form = inspectorate.consents.record(
        _demo.consent_document(
            recorder_org=LABOUR,
            recorder_role="labour_inspectorate",
            case_ref=CASE,
            recipient_org=IMMIGRATION,
            purposes=["risk_assessment"],
            categories=["identity", "immigration_status"],
        )
    )
    to_immigration = _demo.referral_document(
        sender_org=LABOUR,
        case_ref=CASE,
        recipient_org=IMMIGRATION,
        purpose="risk_assessment",
        services=["risk_assessment"],
        consent_id=form.id,
        payload={"identity": PAYLOAD["identity"], "immigration_status": {"status": "irregular"}},
    )
    decision = inspectorate.policy.check(to_immigration)
    print(f"dry-run to {IMMIGRATION}: {'allowed' if decision.allow else 'denied'}")
    for violation in decision.violations:
        print(f"  {violation.code} ({violation.rule}): fix: {violation.fix}")
    try:
        inspectorate.referrals.create(to_immigration)
    except saferefer.PolicyViolationError as denied:
        print(f"send refused by the node: {', '.join(sorted(denied.codes))}")


if __name__ == "__main__":
    main()
