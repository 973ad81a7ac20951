"""Reading referrals: the recipient's payload read is decided again; lists are per caller."""

from __future__ import annotations

from saferefer_server.audit.jcs import canonicalize
from saferefer_server.domain_spec import schema_errors
from saferefer_server.referrals import crypto
from saferefer_server.referrals.service import SENDER_ONLY
from saferefer_server.referrals.testing import DomainFlows
from saferefer_server.testing import TestNode

NGO = "urn:saferefer:org:NL:demo-ngo"
SHELTER = "urn:saferefer:org:NL:demo-shelter"
SOCIAL = "urn:saferefer:org:NL:demo-social"
POLICE = "urn:saferefer:org:NL:demo-police"


async def test_read_by_recipient_returns_payload_with_verifiable_signature(
    flows: DomainFlows, node: TestNode
) -> None:
    created = await flows.referral(NGO, SHELTER)
    response = await flows.get(SHELTER, f"/v1/referrals/{created['id']}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert schema_errors("referral.schema.json", body) == []
    assert set(body["payload"]) == {"identity", "contact"}
    assert body["payload_signed_by"] == "sender"
    assert body["withheld_categories"] == []
    sender_jwks = {"keys": [node.credentials[NGO].key.as_dict(private=False)]}
    crypto.verify_detached_jws(
        token=body["payload_signature"], jwks=sender_jwks, payload=canonicalize(body["payload"])
    )


async def test_read_by_sender_has_no_payload(flows: DomainFlows) -> None:
    created = await flows.referral(NGO, SHELTER)
    body = (await flows.get(NGO, f"/v1/referrals/{created['id']}")).json()
    assert body["id"] == created["id"]
    assert "payload" not in body
    assert {"subject", "payload_flags", "justifications"} <= set(body)  # what it declared


async def test_read_and_inbox_never_show_decision_inputs_to_recipient(flows: DomainFlows) -> None:
    # R22: the subject facts (asylum pending, origin country ...) and the context the sender
    # declared for the decision go to the sender only.
    created = await flows.referral(NGO, SHELTER)
    assert "subject" in created
    read = (await flows.get(SHELTER, f"/v1/referrals/{created['id']}")).json()
    inbox = (await flows.get(SHELTER, "/v1/referrals", box="inbox")).json()["items"]
    for document in (read, inbox[0]):
        assert set(SENDER_ONLY).isdisjoint(document), sorted(document)
        assert schema_errors("referral.schema.json", document) == []
    assert "payload" in read


async def test_read_after_consent_withdrawal_withholds_the_payload(flows: DomainFlows) -> None:
    consent = await flows.consent_for(NGO, SHELTER)
    created = (await flows.send(NGO, SHELTER, [consent["id"]])).json()
    withdrawn = await flows.post(
        NGO,
        f"/v1/consents/{consent['id']}/withdraw",
        {"channel": "phone", "withdrawn_at": consent["recorded_at"], "received_by": "worker-2"},
    )
    assert withdrawn.status_code == 200, withdrawn.text
    body = (await flows.get(SHELTER, f"/v1/referrals/{created['id']}")).json()
    assert body["state"] == "revoked"
    assert "payload" not in body
    assert "payload_signature" not in body
    assert "payload_signed_by" not in body  # goes with the payload (SR-CONSENT-026)
    assert body["withheld_categories"] == ["contact", "identity"]


async def test_read_of_another_orgs_referral_is_404(flows: DomainFlows) -> None:
    created = await flows.referral(NGO, SHELTER)
    response = await flows.get(POLICE, f"/v1/referrals/{created['id']}")
    missing = await flows.get(POLICE, "/v1/referrals/01936f5e-8a7b-7c3d-9e4f-0a1b2c3d4e5f")
    assert response.status_code == missing.status_code == 404
    assert response.json()["type"] == "https://saferefer.org/problems/not-found"


async def test_list_inbox_and_outbox_are_filtered_and_paginated(flows: DomainFlows) -> None:
    sent = [(await flows.referral(NGO, SHELTER))["id"] for _ in range(3)]
    other = await flows.referral(NGO, SOCIAL)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"box": "inbox", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await flows.get(SHELTER, "/v1/referrals", **params)).json()
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(sent, reverse=True)
    outbox = (await flows.get(NGO, "/v1/referrals", box="outbox", limit=50)).json()
    assert {r["id"] for r in outbox["items"]} == {*sent, other["id"]}
    assert all("payload" not in r for r in outbox["items"])
    assert (await flows.get(POLICE, "/v1/referrals", box="inbox")).json()["items"] == []
    assert (await flows.get(POLICE, "/v1/referrals", box="outbox")).json()["items"] == []


async def test_list_with_a_forged_cursor_is_422(flows: DomainFlows) -> None:
    response = await flows.get(SHELTER, "/v1/referrals", cursor="not-a-cursor!")
    assert response.status_code == 422


async def test_listed_referral_is_the_document_a_read_shows_without_the_payload(
    flows: DomainFlows,
) -> None:
    # Listings read plain rows, not the stored referral: each view must still match the
    # referral's own document, member for member.
    created = await flows.referral(NGO, SHELTER)
    (outbox_item,) = (await flows.get(NGO, "/v1/referrals", box="outbox")).json()["items"]
    assert outbox_item == (await flows.get(NGO, f"/v1/referrals/{created['id']}")).json()
    assert outbox_item == created
    # The recipient's read also carries what its read decision released; the listing never does.
    (inbox_item,) = (await flows.get(SHELTER, "/v1/referrals", box="inbox")).json()["items"]
    read = (await flows.get(SHELTER, f"/v1/referrals/{created['id']}")).json()
    released = {"payload", "payload_signature", "payload_signed_by", "language_needs"}
    assert inbox_item == {k: v for k, v in read.items() if k not in released}
    assert "subject" not in inbox_item  # decision inputs go to the sender only (R22)
    assert schema_errors("referral.schema.json", inbox_item) == []


async def test_list_by_state_is_paginated_within_that_state(flows: DomainFlows) -> None:
    sent = [(await flows.referral(NGO, SHELTER))["id"] for _ in range(4)]
    for referral_id in sent[1:]:
        moved = await flows.post(
            SHELTER, f"/v1/referrals/{referral_id}/transitions", {"to": "received"}
        )
        assert moved.status_code == 201, moved.text
    seen: list[str] = []
    cursor = None
    while True:
        params = {"box": "inbox", "state": "received", "limit": 2}
        page = (
            await flows.get(
                SHELTER, "/v1/referrals", **params, **({"cursor": cursor} if cursor else {})
            )
        ).json()
        assert {r["state"] for r in page["items"]} == {"received"}
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(sent[1:], reverse=True)
    submitted = (await flows.get(NGO, "/v1/referrals", box="outbox", state="submitted")).json()
    assert [r["id"] for r in submitted["items"]] == [sent[0]]
