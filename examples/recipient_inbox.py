"""A shelter works through what arrived: its event feed, from the cursor it saved last time.

For each new referral it reads the referral (the node decides again whether the payload may be
released), checks the sender's payload signature against the sender's keys in the directory,
confirms receipt and accepts it. For each erasure request (a consent was withdrawn) it erases
its copy and acknowledges. The cursor is saved after each run, so the next run continues where
this one stopped; events are de-duplicated by id (delivery is at least once). Run it::

    python examples/recipient_inbox.py [--credentials-dir var/demo/credentials]
"""

from __future__ import annotations

import json
from pathlib import Path

import _demo
import saferefer

SHELTER = _demo.org("demo-shelter")


def main() -> None:
    args = _demo.parse_args(__doc__ or "")
    shelter = _demo.client(args.credentials_dir, SHELTER)
    state_file: Path = args.state_dir / "shelter-feed.json"
    state = (
        json.loads(state_file.read_text()) if state_file.exists() else {"cursor": None, "seen": []}
    )
    seen = set(state["seen"])

    feed = shelter.events.iterate(after=state["cursor"])
    handled = 0
    for event in feed:
        if event.id in seen:
            continue
        seen.add(event.id)
        handled += 1
        if event.type == "org.saferefer.referral.submitted":
            try:
                referral = shelter.referrals.retrieve(event.subject)
            except saferefer.PolicyViolationError as refused:
                print(f"referral {event.subject} may no longer be read: {', '.join(refused.codes)}")
                continue
            if referral.state != "submitted":
                print(f"referral {referral.id} is already {referral.state}")
                continue
            sender = shelter.organisations.retrieve(referral.sender)
            if referral.payload is not None and referral.payload_signature is not None:
                saferefer.verify_payload_signature(
                    referral.payload_signature, referral.payload, sender.jwks
                )
                signature = "signature verified"
            else:
                signature = "no payload released"
            shelter.referrals.receive(referral.id)
            shelter.referrals.accept(referral.id, note="Bed reserved")
            print(
                f"accepted {referral.id} from {sender.name}: {', '.join(referral.data_categories)} ({signature})"
            )
        elif event.type == "org.saferefer.erasure.requested":
            consent_id = str(event.data["consent_id"])
            try:
                ack = shelter.referrals.acknowledge_erasure(
                    event.subject, consent_id=consent_id, action="erased"
                )
            except saferefer.ConflictError:
                print(f"erasure of referral {event.subject} was acknowledged before")
                continue
            print(
                f"erased referral {event.subject} after withdrawal of consent {consent_id}: {ack.action}"
            )
        else:
            print(f"event {event.sequence} {event.type} about {event.subject}")

    args.state_dir.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps({"cursor": feed.cursor, "seen": sorted(seen)[-1000:]}))
    print(f"handled {handled} new event(s); cursor saved to {state_file}")


if __name__ == "__main__":
    main()
