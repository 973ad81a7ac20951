"""referrals.* and policy.check against the real node, both twins: the whole state machine."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
import saferefer

NGO = "urn:saferefer:org:NL:demo-ngo"
SHELTER = "urn:saferefer:org:NL:demo-shelter"
IMMIGRATION = "urn:saferefer:org:NL:demo-immigration"
POLICE = "urn:saferefer:org:NL:demo-police"

Doc = Callable[..., dict[str, Any]]


def test_referral_lifecycle_sync(
    client_for: Callable[..., saferefer.Client], consent_doc: Doc, referral_doc: Doc
) -> None:
    ngo, shelter = client_for(NGO), client_for(SHELTER)
    consent = ngo.consents.record(consent_doc(SHELTER))
    body = referral_doc(SHELTER, consent.id)

    decision = ngo.policy.check(body)
    assert decision.allow, decision.violations
    assert set(decision.permitted_categories) == set(body["payload"])

    referral = ngo.referrals.create(body)
    assert referral.state == "submitted"
    assert referral.payload_signed_by == "sender"
    assert referral.id in [r.id for r in ngo.referrals.list(box="outbox")]
    assert referral.id in [r.id for r in shelter.referrals.list(box="inbox", state="submitted")]

    seen = shelter.referrals.retrieve(referral.id)
    assert seen.payload == body["payload"]
    assert seen.payload_signature is not None
    saferefer.verify_payload_signature(  # with the sender's keys as the directory returns them
        seen.payload_signature, seen.payload, shelter.organisations.retrieve(NGO).jwks
    )
    assert ngo.referrals.retrieve(referral.id).payload is None  # the sender never gets it back

    assert shelter.referrals.receive(referral.id).to == "received"
    with pytest.raises(saferefer.ConflictError) as conflict:
        shelter.referrals.complete(referral.id, outcome="service_provided")
    assert "accepted" in conflict.value.allowed_transitions
    assert shelter.referrals.accept(referral.id).to == "accepted"
    done = shelter.referrals.complete(referral.id, outcome="service_provided")
    assert (done.from_, done.to) == ("accepted", "completed")
    assert ngo.referrals.retrieve(referral.id).state == "completed"
    assert [t.to for t in ngo.referrals.transitions(referral.id)] == [
        "received",
        "accepted",
        "completed",
    ]

    with pytest.raises(saferefer.NotFoundError):
        client_for(POLICE).referrals.retrieve(referral.id)


def test_create_replayed_under_its_idempotency_key_returns_the_first_referral_sync(
    client_for: Callable[..., saferefer.Client], consent_doc: Doc, referral_doc: Doc
) -> None:
    """Signed (the default): the same document under the same key is the same request, so the
    node answers with the first referral instead of refusing a reused key."""
    ngo = client_for(NGO)
    consent = ngo.consents.record(consent_doc(SHELTER))
    body = referral_doc(SHELTER, consent.id)
    key = f"case-{uuid.uuid4()}"
    first = ngo.referrals.create(body, idempotency_key=key)
    again = ngo.referrals.create(body, idempotency_key=key)
    assert again.id == first.id
    outbox = [
        r.id for r in ngo.referrals.list(box="outbox") if r.subject_ref == body["subject_ref"]
    ]
    assert outbox == [first.id]


def test_decline_and_withdraw_sync(
    client_for: Callable[..., saferefer.Client], consent_doc: Doc, referral_doc: Doc
) -> None:
    ngo, shelter = client_for(NGO), client_for(SHELTER)
    consent = ngo.consents.record(consent_doc(SHELTER))
    declined = ngo.referrals.create(referral_doc(SHELTER, consent.id))
    shelter.referrals.receive(declined.id)
    assert shelter.referrals.decline(declined.id, reason="no_capacity").to == "declined"
    withdrawn = ngo.referrals.create(referral_doc(SHELTER, consent.id))
    assert ngo.referrals.withdraw(withdrawn.id).to == "withdrawn"


def test_policy_denial_names_violations_sync(
    client_for: Callable[..., saferefer.Client], consent_doc: Doc, referral_doc: Doc
) -> None:
    ngo = client_for(NGO)
    consent = ngo.consents.record(consent_doc(SHELTER))
    body = referral_doc(
        SHELTER, consent.id, payload={"identity": {"given_name": "A."}, "health": {"notes": "x"}}
    )
    decision = ngo.policy.check(body)
    assert not decision.allow
    assert decision.violations
    assert all(v.fix for v in decision.violations)
    assert "health" not in decision.permitted_categories
    with pytest.raises(saferefer.PolicyViolationError) as denied:
        ngo.referrals.create(body)
    assert set(denied.value.codes) == {v.code for v in decision.violations}
    assert {(v.code, v.level, v.categories) for v in denied.value.violations} == {
        (v.code, v.level, tuple(v.categories or ())) for v in decision.violations
    }
    assert any("health" in v.categories for v in denied.value.violations)
    # minimal_payload builds what may go, and that goes
    minimal = saferefer.minimal_payload(body["payload"], decision.permitted_categories)
    assert ngo.referrals.create(body | {"payload": minimal.payload}).state == "submitted"


def test_erasure_acknowledgement_after_withdrawal_sync(
    client_for: Callable[..., saferefer.Client], consent_doc: Doc, referral_doc: Doc
) -> None:
    ngo, shelter = client_for(NGO), client_for(SHELTER)
    consent = ngo.consents.record(consent_doc(SHELTER))
    referral = ngo.referrals.create(referral_doc(SHELTER, consent.id))
    shelter.referrals.retrieve(referral.id)
    ngo.consents.withdraw(consent.id, channel="phone", received_by="worker-2")
    assert ngo.referrals.retrieve(referral.id).state == "revoked"
    ack = shelter.referrals.acknowledge_erasure(referral.id, consent_id=consent.id, action="erased")
    assert ack.consent_id == consent.id
    assert ack.action == "erased"


def test_malformed_referral_fails_locally_with_node_message_sync(
    client_for: Callable[..., saferefer.Client], consent_doc: Doc, referral_doc: Doc
) -> None:
    ngo = client_for(NGO)
    consent = ngo.consents.record(consent_doc(SHELTER))
    body = referral_doc(SHELTER, consent.id)
    body["purpose"] = "deportation"
    body["payload"]["shoe_size"] = {"eu": 39}
    with pytest.raises(saferefer.InvalidRequestError) as local:
        ngo.referrals.create(body)
    with pytest.raises(saferefer.ValidationError) as remote:
        ngo.referrals.create(body, validate=False)
    assert [(e.path, e.message) for e in local.value.errors] == [
        (e.path, e.message) for e in remote.value.errors
    ]
    assert local.value.message == remote.value.detail


async def test_referral_lifecycle_async(
    async_client_for: Callable[..., saferefer.AsyncClient], consent_doc: Doc, referral_doc: Doc
) -> None:
    async with async_client_for(NGO) as ngo, async_client_for(SHELTER) as shelter:
        consent = await ngo.consents.record(consent_doc(SHELTER))
        body = referral_doc(SHELTER, consent.id)
        assert (await ngo.policy.check(body)).allow
        referral = await ngo.referrals.create(body)
        assert referral.id in [r.id async for r in ngo.referrals.list(box="outbox")]
        inbox = await shelter.referrals.list(box="inbox")
        assert referral.id in [r.id for r in inbox.items]
        seen = await shelter.referrals.retrieve(referral.id)
        assert seen.payload == body["payload"]
        assert seen.payload_signature is not None
        saferefer.verify_payload_signature(
            seen.payload_signature, seen.payload, (await shelter.organisations.retrieve(NGO)).jwks
        )
        assert (await shelter.referrals.receive(referral.id)).to == "received"
        assert (await shelter.referrals.accept(referral.id)).to == "accepted"
        assert (
            await shelter.referrals.complete(referral.id, outcome="service_provided")
        ).to == "completed"
        assert len([t async for t in ngo.referrals.transitions(referral.id)]) == 3

        second = await ngo.referrals.create(referral_doc(SHELTER, consent.id))
        await shelter.referrals.receive(second.id)
        assert (await shelter.referrals.decline(second.id, reason="no_capacity")).to == "declined"
        third = await ngo.referrals.create(referral_doc(SHELTER, consent.id))
        assert (await ngo.referrals.withdraw(third.id)).to == "withdrawn"

        fourth = await ngo.referrals.create(referral_doc(SHELTER, consent.id))
        await ngo.consents.withdraw(consent.id, channel="phone", received_by="worker-2")
        ack = await shelter.referrals.acknowledge_erasure(fourth.id, consent_id=consent.id)
        assert ack.action == "erased"

        with pytest.raises(saferefer.PolicyViolationError):
            await ngo.referrals.create(referral_doc(SHELTER, consent.id))


async def test_create_replayed_under_its_idempotency_key_returns_the_first_referral_async(
    async_client_for: Callable[..., saferefer.AsyncClient], consent_doc: Doc, referral_doc: Doc
) -> None:
    async with async_client_for(NGO) as ngo:
        consent = await ngo.consents.record(consent_doc(SHELTER))
        body = referral_doc(SHELTER, consent.id)
        key = f"case-{uuid.uuid4()}"
        first = await ngo.referrals.create(body, idempotency_key=key)
        again = await ngo.referrals.create(body, idempotency_key=key)
        assert again.id == first.id
        outbox = [
            r.id
            async for r in ngo.referrals.list(box="outbox")
            if r.subject_ref == body["subject_ref"]
        ]
        assert outbox == [first.id]
