"""Creating referrals: every policy outcome, signatures, validation, encryption at rest."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from saferefer_server._resources import policy_dir
from saferefer_server.audit.models import AuditEntry
from saferefer_server.domain_spec import schema_errors
from saferefer_server.organisations import service as organisations
from saferefer_server.organisations.models import OrganisationStatus
from saferefer_server.policy import OpaProcess, build_engine
from saferefer_server.referrals.testing import DomainFlows, node_with_engine, referral_body
from saferefer_server.testing import (
    TestNode,
    assert_matches_schema,
    free_port,
)
from sqlalchemy import select, text

NGO = "urn:saferefer:org:NL:demo-ngo"
SHELTER = "urn:saferefer:org:NL:demo-shelter"
POLICE = "urn:saferefer:org:NL:demo-police"
IMMIGRATION = "urn:saferefer:org:NL:demo-immigration"
MARKER = "Zxq-MARKER-7731"


async def audit_rows(node: TestNode, action: str) -> list[AuditEntry]:
    async with node.app.state.sessionmaker() as db_session:
        rows = await db_session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
        )
        return list(rows)


async def test_create_allowed_returns_submitted_referral_valid_against_schema(
    flows: DomainFlows, node: TestNode
) -> None:
    consent = await flows.consent_for(NGO, SHELTER)
    response = await flows.send(NGO, SHELTER, [consent["id"]])
    assert response.status_code == 201, response.text
    body = response.json()
    assert schema_errors("referral.schema.json", body) == []
    assert body["state"] == "submitted"
    assert body["sender"] == NGO
    assert body["recipient"] == SHELTER
    assert body["payload_signed_by"] == "sender"
    assert "payload" not in body
    assert response.headers["location"] == f"/v1/referrals/{body['id']}"
    assert response.headers["cache-control"] == "no-store"
    decisions = await audit_rows(node, "policy.decision")
    assert decisions[-1].id == body["decision_id"]
    assert decisions[-1].decision is not None
    assert decisions[-1].decision["allow"] is True
    created = await audit_rows(node, "referral.created")
    assert [e.object_id for e in created] == [body["id"]]


async def test_create_denied_lists_every_violation_and_audits_the_deny(
    flows: DomainFlows, node: TestNode
) -> None:
    # The consent names the shelter, not the police, and covers neither the purpose nor health.
    consent = await flows.consent_for(NGO, SHELTER)
    response = await flows.send(
        NGO,
        POLICE,
        [consent["id"]],
        purpose="criminal_investigation",
        payload={"identity": {"name": MARKER}, "health": {"note": MARKER}},
    )
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == "https://saferefer.org/problems/policy-violation"
    assert schema_errors("problem.schema.json", problem) == []
    violations = problem["violations"]
    assert len(violations) >= 2
    for violation in violations:
        assert {"code", "rule", "message", "legal_basis", "fix"} <= set(violation)
    assert MARKER not in response.text
    decisions = await audit_rows(node, "policy.decision")
    assert decisions[-1].id == problem["decision_id"]
    assert decisions[-1].decision is not None
    assert decisions[-1].decision["allow"] is False
    assert set(decisions[-1].decision["violation_codes"]) == {v["code"] for v in violations}
    assert await audit_rows(node, "referral.created") == []
    listing = await flows.get(POLICE, "/v1/referrals", box="inbox")
    assert listing.json()["items"] == []


def opa_engine_for(opa_url: str) -> Any:
    """A real OPA engine for `opa_url`, where OPA may not (yet) listen."""
    return build_engine(kind="opa", policy_dir=policy_dir(), opa_url=opa_url, timeout_s=0.5)


async def test_engine_failure_503_is_decided_again_on_a_retry_with_the_same_key(
    tmp_path: Path, database_url: str
) -> None:
    """The audit entry committed with a policy-engine 503 does not make the 503 the stored answer
    to its Idempotency-Key: once OPA is back, the same retry creates the referral (once)."""
    opa = OpaProcess()  # nothing listens on its port until it is started below
    async with node_with_engine(tmp_path / "node", database_url, opa_engine_for(opa.url)) as flows:
        consent = await flows.consent_for(NGO, SHELTER)
        body = referral_body(
            recipient=SHELTER, consent_ids=[consent["id"]], signing_key=flows.signing_key(NGO)
        )
        key = {"Idempotency-Key": "send-while-opa-is-down"}
        first = await flows.post(NGO, "/v1/referrals", body, **key)
        assert first.status_code == 503, first.text
        with opa.start():
            retry = first
            for _ in range(40):  # the engine pushes its policies again within RELOAD_INTERVAL_S
                retry = await flows.post(NGO, "/v1/referrals", body, **key)
                if retry.status_code != 503:
                    break
                assert "idempotent-replayed" not in retry.headers
                await asyncio.sleep(0.25)
            assert retry.status_code == 201, retry.text
            again = await flows.post(NGO, "/v1/referrals", body, **key)
            assert (again.status_code, again.headers.get("idempotent-replayed")) == (201, "true")
            assert again.json()["id"] == retry.json()["id"]
            listing = await flows.get(SHELTER, "/v1/referrals", box="inbox")
            assert [item["id"] for item in listing.json()["items"]] == [retry.json()["id"]]


async def test_create_engine_failure_is_503_and_audited(tmp_path: Path, database_url: str) -> None:
    # A real OPA engine pointed at a port where nothing listens: it must fail closed.
    opa_url = f"http://127.0.0.1:{free_port()}"
    async with node_with_engine(tmp_path / "node", database_url, opa_engine_for(opa_url)) as flows:
        consent = await flows.consent_for(NGO, SHELTER)
        response = await flows.send(NGO, SHELTER, [consent["id"]])
        assert response.status_code == 503, response.text
        problem = response.json()
        assert problem["type"] == "https://saferefer.org/problems/policy-engine-unavailable"
        assert [v["code"] for v in problem["violations"]] == ["policy_engine_unavailable"]
        async with flows.node.app.state.sessionmaker() as db_session:
            entry = await db_session.scalar(
                select(AuditEntry).where(AuditEntry.id == problem["decision_id"])
            )
        assert entry is not None
        assert entry.decision is not None
        assert entry.decision["engine_failure"] is True
        listing = await flows.get(SHELTER, "/v1/referrals", box="inbox")
        assert listing.json()["items"] == []


async def test_create_with_bad_payload_signature_is_422(flows: DomainFlows) -> None:
    consent = await flows.consent_for(NGO, SHELTER)
    # Signed by the shelter's key: not one of the sender's keys.
    response = await flows.send(
        NGO, SHELTER, [consent["id"]], signing_key=flows.signing_key(SHELTER)
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "#/payload_signature"


async def test_create_with_tampered_payload_is_422(flows: DomainFlows) -> None:
    consent = await flows.consent_for(NGO, SHELTER)
    key, kid = flows.signing_key(NGO)
    from saferefer_server.referrals.testing import referral_body, sign_payload

    body = referral_body(recipient=SHELTER, consent_ids=[consent["id"]])
    body["payload_signature"] = sign_payload(
        {"identity": {"given_name": "other"}}, key=key, kid=kid
    )
    response = await flows.post(NGO, "/v1/referrals", body)
    assert response.status_code == 422


async def test_create_without_signature_is_signed_by_the_node(flows: DomainFlows) -> None:
    consent = await flows.consent_for(NGO, SHELTER)
    response = await flows.send(NGO, SHELTER, [consent["id"]], signing_key=None)
    assert response.status_code == 201, response.text
    assert response.json()["payload_signed_by"] == "node"


@pytest.mark.parametrize(
    ("override", "pointer"),
    [
        ({"recipient": "urn:saferefer:org:NL:nobody-here"}, "#/recipient"),
        ({"recipient": NGO}, "#/recipient"),
    ],
)
async def test_create_invalid_request_is_422_with_pointer(
    flows: DomainFlows, override: dict[str, Any], pointer: str
) -> None:
    consent = await flows.consent_for(NGO, SHELTER)
    from saferefer_server.referrals.testing import referral_body

    body = referral_body(
        recipient=SHELTER, consent_ids=[consent["id"]], signing_key=flows.signing_key(NGO)
    )
    response = await flows.post(NGO, "/v1/referrals", body | override)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["pointer"] == pointer


async def test_create_missing_members_is_one_error_per_member(flows: DomainFlows) -> None:
    consent = await flows.consent_for(NGO, SHELTER)
    from saferefer_server.referrals.testing import referral_body

    body = referral_body(
        recipient=SHELTER, consent_ids=[consent["id"]], signing_key=flows.signing_key(NGO)
    )
    missing = ["urgency", "consent_ids", "subject_ref", "safety_notes"]
    for member in missing:
        del body[member]
    del body["subject"]["age_status"]
    response = await flows.post(NGO, "/v1/referrals", body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert_matches_schema(problem, "problem.schema.json")
    assert sorted(e["pointer"] for e in problem["errors"]) == sorted(
        [f"#/{member}" for member in missing] + ["#/subject/age_status"]
    )
    assert {e["detail"] for e in problem["errors"]} == {"required member is missing"}
    assert problem["detail"].startswith("The referral does not match referral-create.schema.json")


async def test_create_citing_another_orgs_consent_is_422_without_revealing_it(
    flows: DomainFlows,
) -> None:
    # The shelter's consent names the police: the NGO may not cite it, and cannot tell it exists.
    theirs = await flows.consent_for(SHELTER, POLICE)
    response = await flows.send(NGO, SHELTER, [theirs["id"]])
    missing = await flows.send(NGO, SHELTER, ["01936f5e-8a7b-7c3d-9e4f-0a1b2c3d4e5f"])
    assert response.status_code == missing.status_code == 422
    assert response.json()["errors"] == missing.json()["errors"]


async def test_create_stores_payload_encrypted_at_rest(flows: DomainFlows, node: TestNode) -> None:
    consent = await flows.consent_for(NGO, SHELTER)
    response = await flows.send(
        NGO,
        SHELTER,
        [consent["id"]],
        payload={"identity": {"given_name": MARKER}, "contact": {"phone": MARKER}},
    )
    assert response.status_code == 201
    async with node.app.state.engine.connect() as connection:
        rows = (await connection.execute(text("SELECT * FROM referrals"))).all()
        events = (await connection.execute(text("SELECT * FROM outbox_events"))).all()
        audit = (await connection.execute(text("SELECT * FROM audit_entries"))).all()
    assert rows
    dump = repr(rows) + repr(events) + repr(audit)
    assert MARKER not in dump
    assert MARKER.encode() not in b"".join(
        bytes(v) for row in rows for v in row if isinstance(v, bytes | memoryview)
    )


async def test_create_and_read_log_no_payload_values(
    flows: DomainFlows, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    consent = await flows.consent_for(NGO, SHELTER)
    created = await flows.send(
        NGO, SHELTER, [consent["id"]], payload={"identity": {"given_name": MARKER}}
    )
    assert created.status_code == 201
    read = await flows.get(SHELTER, f"/v1/referrals/{created.json()['id']}")
    assert read.json()["payload"]["identity"]["given_name"] == MARKER
    for record in caplog.records:
        assert MARKER not in record.getMessage()
        assert MARKER not in repr(record.__dict__)


async def test_create_repeated_with_same_idempotency_key_creates_one(
    flows: DomainFlows, node: TestNode
) -> None:
    consent = await flows.consent_for(NGO, SHELTER)
    from saferefer_server.referrals.testing import referral_body

    body = referral_body(
        recipient=SHELTER, consent_ids=[consent["id"]], signing_key=flows.signing_key(NGO)
    )
    first = await flows.post(NGO, "/v1/referrals", body, **{"Idempotency-Key": "create-1"})
    second = await flows.post(NGO, "/v1/referrals", body, **{"Idempotency-Key": "create-1"})
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    outbox = await flows.get(NGO, "/v1/referrals", box="outbox")
    assert [r["id"] for r in outbox.json()["items"]] == [first.json()["id"]]


async def test_dry_run_gives_the_same_decision_and_stores_nothing(
    flows: DomainFlows, node: TestNode
) -> None:
    consent = await flows.consent_for(NGO, SHELTER)
    from saferefer_server.referrals.testing import referral_body

    allowed = referral_body(recipient=SHELTER, consent_ids=[consent["id"]])
    denied = referral_body(
        recipient=POLICE, consent_ids=[consent["id"]], purpose="criminal_investigation"
    )
    dry_allow = await flows.post(NGO, "/v1/policy/decisions", allowed)
    dry_deny = await flows.post(NGO, "/v1/policy/decisions", denied)
    assert dry_allow.status_code == dry_deny.status_code == 200, dry_deny.text
    assert schema_errors("policy-decision.schema.json", dry_allow.json()) == []
    assert dry_allow.json()["allow"] is True
    assert dry_deny.json()["allow"] is False
    real_deny = await flows.post(NGO, "/v1/referrals", denied)
    assert {v["code"] for v in real_deny.json()["violations"]} == {
        v["code"] for v in dry_deny.json()["violations"]
    }
    decision_id = dry_allow.headers["saferefer-decision-id"]
    assert decision_id in {e.id for e in await audit_rows(node, "policy.decision")}
    outbox = await flows.get(NGO, "/v1/referrals", box="outbox")
    assert outbox.json()["items"] == []


async def test_create_concurrent_duplicates_create_exactly_one(patient_flows: DomainFlows) -> None:
    flows = patient_flows
    consent = await flows.consent_for(NGO, SHELTER)
    from saferefer_server.referrals.testing import referral_body

    body = referral_body(
        recipient=SHELTER, consent_ids=[consent["id"]], signing_key=flows.signing_key(NGO)
    )
    responses = await asyncio.gather(
        *(flows.post(NGO, "/v1/referrals", body, **{"Idempotency-Key": "dup-1"}) for _ in range(6))
    )
    created = [r for r in responses if r.status_code == 201]
    assert created
    assert {r.json()["id"] for r in created} == {created[0].json()["id"]}
    assert all(r.status_code in (201, 409) for r in responses)
    outbox = (await flows.get(NGO, "/v1/referrals", box="outbox")).json()["items"]
    assert [r["id"] for r in outbox] == [created[0].json()["id"]]
    events = (await flows.get(SHELTER, "/v1/events")).json()["items"]
    assert len(events) == 1


async def test_create_without_retain_until_is_denied_by_policy_unless_justified(
    flows: DomainFlows,
) -> None:
    # SR-SEC-010 / R13 are SHOULD rules: the policy denies, a justification lifts it, and the
    # node then applies its documented default retention.
    consent = await flows.consent_for(NGO, SHELTER)
    from saferefer_server.referrals.service import DEFAULT_RETENTION
    from saferefer_server.referrals.testing import referral_body

    body = referral_body(
        recipient=SHELTER, consent_ids=[consent["id"]], signing_key=flows.signing_key(NGO)
    )
    body["retain_until"] = "2020-01-01T00:00:00Z"
    past = await flows.post(NGO, "/v1/referrals", body)
    assert past.status_code == 403, past.text
    assert [v["code"] for v in past.json()["violations"]] == ["retain_until_past"]
    body.pop("retain_until")
    denied = await flows.post(NGO, "/v1/referrals", body)
    assert denied.status_code == 403, denied.text
    assert [v["code"] for v in denied.json()["violations"]] == ["retain_until_missing"]

    body["justifications"] = [
        {"rule": "R13", "text": "Emergency placement; retention agreed later."}
    ]
    allowed = await flows.post(NGO, "/v1/referrals", body)
    assert allowed.status_code == 201, allowed.text
    retain_until = datetime.fromisoformat(allowed.json()["retain_until"])
    created_at = datetime.fromisoformat(allowed.json()["created_at"])
    assert retain_until - created_at == DEFAULT_RETENTION


async def send_while_deciding(
    flows: DomainFlows,
    node: TestNode,
    consent_id: str,
    during_first_decision: Callable[[], Awaitable[None]],
) -> tuple[Any, list[dict[str, Any]]]:
    """Send NGO -> SHELTER under `consent_id`, running `during_first_decision` inside the first
    policy decision (a change landing while the engine works); the response and every input the
    engine was asked to decide."""
    real = node.app.state.policy_engine
    seen: list[dict[str, Any]] = []

    class InterleavingEngine:
        name = real.name

        async def decide(self, policy_input: Any) -> Any:
            seen.append(policy_input)
            if len(seen) == 1:
                await during_first_decision()
            return await real.decide(policy_input)

    node.app.state.policy_engine = InterleavingEngine()
    try:
        response = await flows.send(NGO, SHELTER, [consent_id])
    finally:
        node.app.state.policy_engine = real
    return response, seen


async def test_create_decides_again_when_consent_is_withdrawn_during_the_decision(
    flows: DomainFlows, node: TestNode
) -> None:
    # The decision runs outside the write transaction; a withdrawal that lands while the engine
    # works must be seen, and the referral refused.
    consent = await flows.consent_for(NGO, SHELTER)

    async def withdraw() -> None:
        withdrawal = {
            "channel": "phone",
            "withdrawn_at": "2026-01-01T00:00:00Z",
            "received_by": "w-1",
        }
        response = await flows.post(NGO, f"/v1/consents/{consent['id']}/withdraw", withdrawal)
        assert response.status_code in (200, 201), response.text

    response, seen = await send_while_deciding(flows, node, consent["id"], withdraw)

    assert response.status_code == 403, response.text
    assert [c["status"] for c in seen[1]["consents"]] == ["withdrawn"]
    listing = await flows.get(SHELTER, "/v1/referrals", box="inbox")
    assert listing.json()["items"] == []


async def test_create_refuses_a_recipient_suspended_during_the_decision(
    flows: DomainFlows, node: TestNode
) -> None:
    # The write transaction reads the directory again: a recipient suspended while the engine
    # decided on the snapshot is no longer a recipient, and nothing is stored or announced.
    consent = await flows.consent_for(NGO, SHELTER)

    async def suspend_recipient() -> None:
        async with node.app.state.sessionmaker() as db_session:
            await organisations.set_status(
                db_session=db_session, org_id=SHELTER, status=OrganisationStatus.SUSPENDED
            )
            await db_session.commit()

    response, decided = await send_while_deciding(flows, node, consent["id"], suspend_recipient)

    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["pointer"] == "#/recipient"
    assert len(decided) == 1
    outbox = await flows.get(NGO, "/v1/referrals", box="outbox")
    assert outbox.json()["items"] == []


async def test_child_referral_under_a_guardians_checked_consent_is_allowed(
    flows: DomainFlows,
) -> None:
    """R27: the node passes the guardian's conflict-of-interest check on to the policy, which
    refuses a parent's or guardian's consent for a child without one."""
    child = {
        "guardian": {
            "relationship": "appointed_guardian",
            "guardian_ref": "guardian-7",
            "conflict_of_interest_checked": True,
            "conflict_of_interest_found": False,
        },
        "views_heard": True,
        "child_agrees": True,
    }
    consent = await flows.consent_for(
        NGO, SHELTER, age_status="child", given_by="guardian", child=child
    )
    subject = {
        "age_status": "child",
        "guardian": {"recorded": True, "conflict_of_interest": False},
        "child_views_recorded": True,
        "identification_status": "reasonable_grounds",
    }
    response = await flows.send(NGO, SHELTER, [consent["id"]], subject=subject)
    assert response.status_code == 201, response.text
