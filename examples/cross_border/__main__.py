"""Moldova → Netherlands: a cross-border referral between two national SafeRefer nodes.

    .venv/bin/python examples/cross_border

A Moldovan NGO refers a woman, with her consent, to a Dutch NGO that will meet her on arrival.
The Dutch police must not learn her address, and the Moldovan police must not learn that she
applied for asylum. Two nodes run on this machine, each with its own database; the script plays
the trust-list authority and each organisation (through the SafeRefer SDK), and prints what every
party sees — including the policy denials, which stop the data on the node where it was sent.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import saferefer
from nodes import Federation, Node

MD_NODE, NL_NODE = "urn:saferefer:node:MD:national", "urn:saferefer:node:NL:national"
MD_NGO, MD_POLICE = "urn:saferefer:org:MD:ngo-chisinau", "urn:saferefer:org:MD:police"
NL_NGO, NL_POLICE = "urn:saferefer:org:NL:ngo-amsterdam", "urn:saferefer:org:NL:police"

# Pairwise pseudonym of the person for this sender-recipient pair (never a global identifier).
SUBJECT_REF = "srp1." + "Q3Jvc3MtYm9yZGVyIGV4YW1wbGUgc3ViamVjdCByZWY"[:43]

T = TypeVar("T")


def say(party: str, text: str) -> None:
    print(f"  [{party:<14}] {text}", flush=True)


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def wait_for(check: Callable[[], T | None], what: str, timeout_s: float = 30.0) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"timed out waiting for {what}")


def consent(recipient: str, purposes: list[str], categories: list[str]) -> dict[str, Any]:
    """What the Moldovan NGO records after explaining the referral to her, in Romanian."""
    now = datetime.now(UTC)
    return {
        "subject_ref": SUBJECT_REF,
        "age_status": "adult",
        "given_by": "subject",
        "recorder": {"role": "ngo_service_provider", "worker_ref": "worker-7"},
        "grants": [
            {
                "recipient": {"org_id": recipient},
                "purposes": purposes,
                "data_categories": categories,
                "explicit_categories": [],
                "onward_sharing": False,
            }
        ],
        "issued_at": rfc3339(now - timedelta(minutes=10)),
        "valid_from": rfc3339(now - timedelta(minutes=10)),
        "valid_until": rfc3339(now + timedelta(days=90)),
        "language": "ro",
        "interpreter": {"present": False},
        "information_sheet_version": "md-2026.1",
        "risks_informed": ["third_country_transfer"],
        "method": "written_signature",
        "evidence_hash": "sha256:" + "0f" * 32,
        "refusal_does_not_affect_assistance": True,
        "withdrawal_channels": ["in_person", "phone"],
        "reflection_period": {"active": False},
        "decision_to_cooperate": {"recorded": False},
    }


def referral(
    recipient: str,
    consent_id: str,
    purpose: str,
    payload: dict[str, Any],
    *,
    services: list[str],
    subject: dict[str, Any] | None = None,
    flags: dict[str, bool] | None = None,
) -> dict[str, Any]:
    return {
        "recipient": recipient,
        "purpose": purpose,
        "requested_services": services,
        "urgency": "urgent",
        "consent_ids": [consent_id],
        "subject_ref": SUBJECT_REF,
        "subject": subject or {"age_status": "adult", "origin_country": "MD"},
        "payload": payload,
        "payload_flags": flags or {},
        "safety_notes": {"risk_level": "high", "contact_constraints": ["no_home_visits"]},
        "retain_until": rfc3339(datetime.now(UTC) + timedelta(days=90)),
    }


def denied(party: str, attempt: Callable[[], Any]) -> None:
    try:
        attempt()
    except saferefer.PolicyViolationError as error:
        say(party, f"DENIED by its own node's policy ({error.status_code}); nothing left the node:")
        for violation in error.violations:
            say(party, f"  - {violation.rule} {violation.code}: {violation.message}")
            if violation.fix:
                say(party, f"    fix: {violation.fix}")
        return
    raise AssertionError(f"{party}: the policy allowed a disclosure it must refuse")


def main(root: Path) -> None:
    federation = Federation(root)
    md, nl = Node(MD_NODE, root), Node(NL_NODE, root)
    federation.nodes = [md, nl]

    step("Two national nodes and a trust list")
    federation.create_authority()
    credentials = {
        MD_NGO: md.add_org(federation, MD_NGO, "NGO Chisinau", "ngo_service_provider"),
        MD_POLICE: md.add_org(federation, MD_POLICE, "Moldovan police", "police"),
        NL_NGO: nl.add_org(federation, NL_NGO, "NGO Amsterdam", "ngo_service_provider"),
        NL_POLICE: nl.add_org(federation, NL_POLICE, "Dutch police", "police"),
    }
    for node in (md, nl):
        node.start(federation)
        say(node.country + " node", f"{node.node_id} serving at {node.base_url}")
    federation.publish_trust_list(sequence=1)
    say("authority", "signed trust list 1 naming both nodes and their /jwks.json keys")

    clients = {org: saferefer.Client(credentials_file=path) for org, path in credentials.items()}
    try:
        step("Moldova: the NGO records her consent and refers her to the Dutch NGO")
        recorded = clients[MD_NGO].consents.record(
            consent(NL_NGO, ["assistance"], ["identity", "contact", "language_needs", "location"])
        )
        say("MD NGO", f"consent {recorded.id} names only {NL_NGO}, purpose assistance")
        sent = clients[MD_NGO].referrals.create(
            referral(
                NL_NGO,
                str(recorded.id),
                "assistance",
                {
                    "identity": {"given_name": "Ana", "family_name": "P."},
                    "contact": {"phone": "+31 6 0000 0000"},
                    "language_needs": {"languages": ["ro"], "interpreter_needed": True},
                    "location": {"arrival": "Schiphol, 14:05, flight KL1234"},
                },
                services=["case_management", "safe_accommodation"],
            )
        )
        referral_id = str(sent.id)
        say(
            "MD NGO",
            f"referral {referral_id} accepted by the Moldovan node (egress policy allowed)",
        )

        step("Netherlands: the Dutch node verifies, decides ingress and notifies the NGO")
        seen = wait_for(
            lambda: next(
                (
                    r
                    for r in clients[NL_NGO].referrals.list(box="inbox")
                    if str(r.id) == referral_id
                ),
                None,
            ),
            "the referral to reach the Dutch NGO",
        )
        document = seen.model_dump(mode="json")
        say(
            "NL NGO",
            f"received {referral_id} from {document['sender']} via {document['sender_node']}",
        )
        full = clients[NL_NGO].referrals.retrieve(referral_id).model_dump(mode="json")
        say("NL NGO", f"can read categories {sorted((full.get('payload') or {}).keys())}")
        clients[NL_NGO].referrals.receive(referral_id)
        clients[NL_NGO].referrals.accept(referral_id, note="We will meet her at arrivals.")
        say("NL NGO", "received and accepted; both transitions travel back to Moldova")

        step("The Dutch police must not learn her address")
        # She agreed that the police may know who she is, for her protection — not where she is.
        police_consent = clients[NL_NGO].consents.record(
            consent(NL_POLICE, ["criminal_investigation"], ["identity"])
        )
        denied(
            "NL NGO",
            lambda: clients[NL_NGO].referrals.create(
                referral(
                    NL_POLICE,
                    str(police_consent.id),
                    "criminal_investigation",
                    {"location": {"address": "shelter address"}},
                    services=["victim_witness_protection"],
                )
            ),
        )
        say(
            "NL police",
            f"inbox: {len(list(clients[NL_POLICE].referrals.list(box='inbox')))} referrals",
        )

        step("The Moldovan police must not learn that she applied for asylum")
        asylum_consent = clients[NL_NGO].consents.record(
            consent(MD_POLICE, ["criminal_investigation"], ["identity", "immigration_status"])
        )
        denied(
            "NL NGO",
            lambda: clients[NL_NGO].referrals.create(
                referral(
                    MD_POLICE,
                    str(asylum_consent.id),
                    "criminal_investigation",
                    {
                        "identity": {"given_name": "Ana"},
                        "immigration_status": {"asylum": "application lodged"},
                    },
                    services=["victim_witness_protection"],
                    subject={"age_status": "adult", "origin_country": "MD", "asylum_pending": True},
                    flags={"reveals_asylum_application": True},
                )
            ),
        )
        say(
            "MD police",
            f"inbox: {len(list(clients[MD_POLICE].referrals.list(box='inbox')))} referrals",
        )

        step("Completion crosses back")
        clients[NL_NGO].referrals.complete(referral_id, outcome="service_provided")
        state = wait_for(
            lambda: (
                s
                if (
                    s := clients[MD_NGO]
                    .referrals.retrieve(referral_id)
                    .model_dump(mode="json")["state"]
                )
                == "completed"
                else None
            ),
            "the completion to reach Moldova",
        )
        say("MD NGO", f"referral {referral_id} is {state} (service_provided)")
        print(
            "\nDone: one referral crossed the border with her consent; both forbidden disclosures"
        )
        print(
            "were refused on the node where they were attempted, and never reached the other node."
        )
    finally:
        for client in clients.values():
            client.close()
        federation.stop()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="saferefer-cross-border-") as tmp:
        main(Path(tmp))
