"""A person withdraws consent: what the NGO that recorded it and the shelter that received data see.

The NGO sends a referral under a consent; the shelter reads it. The person then calls the NGO
and withdraws. From that moment the node refuses every new disclosure under the consent (R6):
the referral moves to ``revoked``, the shelter can no longer read the payload, the shelter's feed
carries the withdrawal and an erasure request, the shelter erases and acknowledges (R35), and
the NGO sees the acknowledgement. Run it::

    python examples/consent_withdrawal.py [--credentials-dir var/demo/credentials]
"""

from __future__ import annotations

import _demo
import saferefer

NGO = _demo.org("demo-ngo")
SHELTER = _demo.org("demo-shelter")
CASE = "NGO-2026-0199"


def _end_of_feed(client: saferefer.Client) -> str | None:
    feed = client.events.iterate()
    for _ in feed:
        pass
    return feed.cursor


def main() -> None:
    args = _demo.parse_args(__doc__ or "")
    ngo = _demo.client(args.credentials_dir, NGO)
    shelter = _demo.client(args.credentials_dir, SHELTER)
    ngo_cursor, shelter_cursor = _end_of_feed(ngo), _end_of_feed(shelter)

    consent = ngo.consents.record(
        _demo.consent_document(
            recorder_org=NGO,
            recorder_role="ngo_service_provider",
            case_ref=CASE,
            recipient_org=SHELTER,
            purposes=["shelter"],
            categories=["identity", "contact", "language_needs"],
        )
    )
    referral = ngo.referrals.create(
        _demo.referral_document(
            sender_org=NGO,
            case_ref=CASE,
            recipient_org=SHELTER,
            purpose="shelter",
            services=["safe_accommodation"],
            consent_id=consent.id,
            payload={
                "identity": {"given_name": "I."},
                "contact": {"phone": "+31 6 0000 0199"},
                "language_needs": {"languages": ["en"]},
            },
        )
    )
    before = shelter.referrals.retrieve(referral.id)
    print(
        f"shelter before: referral {before.state}, payload {'released' if before.payload else 'withheld'}"
    )

    ngo.consents.withdraw(consent.id, channel="phone", received_by="worker-7f3a")
    print(
        f"NGO: consent {ngo.consents.retrieve(consent.id).status}, referral {ngo.referrals.retrieve(referral.id).state}"
    )

    after = shelter.referrals.retrieve(referral.id)
    print(
        f"shelter after: referral {after.state}, payload {'released' if after.payload else 'withheld'}"
    )
    for event in shelter.events.iterate(after=shelter_cursor):
        print(f"shelter event: {event.type}")
        if event.type == "org.saferefer.erasure.requested":
            shelter.referrals.acknowledge_erasure(
                referral.id, consent_id=consent.id, action="erased"
            )
            print("shelter: erased and acknowledged")

    try:
        ngo.referrals.create(
            _demo.referral_document(
                sender_org=NGO,
                case_ref=CASE,
                recipient_org=SHELTER,
                purpose="shelter",
                services=["safe_accommodation"],
                consent_id=consent.id,
                payload={"identity": {"given_name": "I."}},
            )
        )
    except saferefer.PolicyViolationError as denied:
        print(
            f"NGO: a new referral under the withdrawn consent is refused: {', '.join(sorted(denied.codes))}"
        )
    for event in ngo.events.iterate(after=ngo_cursor):
        print(f"NGO event: {event.type}")


if __name__ == "__main__":
    main()
