"""Recording, reading and listing consents; the RIGHTS.md minimum; receipts."""

from __future__ import annotations

from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import KeySet
from saferefer_server.audit.jcs import canonicalize
from saferefer_server.domain_spec import schema_errors
from saferefer_server.referrals.testing import DomainFlows, consent_body, grant

NGO = "urn:saferefer:org:NL:demo-ngo"
SHELTER = "urn:saferefer:org:NL:demo-shelter"
SOCIAL = "urn:saferefer:org:NL:demo-social"
POLICE = "urn:saferefer:org:NL:demo-police"
CHILD_GUARDIAN: dict[str, Any] = {
    "relationship": "appointed_guardian",
    "guardian_ref": "guardian-1",
    "conflict_of_interest_checked": True,
    "conflict_of_interest_found": False,
}


def shelter_grant() -> dict[str, Any]:
    return grant(org_id=SHELTER)


async def test_record_returns_the_consent_record(flows: DomainFlows) -> None:
    response = await flows.post(NGO, "/v1/consents", consent_body(grants=[shelter_grant()]))
    assert response.status_code == 201, response.text
    record = response.json()
    assert schema_errors("consent-record.schema.json", record) == []
    assert record["status"] == "active"
    assert record["recorder"]["org_id"] == NGO
    assert record["recorder"]["enforcement_role"] is False
    assert record["grants"][0]["status"] == "active"
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "missing",
    ["language", "interpreter", "valid_until", "withdrawal_channels", "evidence_hash", "given_by"],
)
async def test_record_without_a_minimum_member_is_422(flows: DomainFlows, missing: str) -> None:
    body = consent_body(grants=[shelter_grant()])
    body.pop(missing)
    response = await flows.post(NGO, "/v1/consents", body)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"pointer": f"#/{missing}", "detail": "required member is missing"}
    ]


@pytest.mark.parametrize(
    ("overrides", "pointer"),
    [
        ({"recorder": {"role": "police", "worker_ref": "w"}}, "#/recorder/role"),
        ({"valid_until": "2020-01-01T00:00:00Z"}, "#/valid_until"),
        (
            {
                "age_status": "child",
                "given_by": "guardian",
                "child": {"guardian": CHILD_GUARDIAN, "views_heard": False},
            },
            "#/child/views_heard",
        ),
        (
            {
                "age_status": "unknown_possible_child",
                "given_by": "parent",
                "child": {
                    "guardian": {**CHILD_GUARDIAN, "conflict_of_interest_found": True},
                    "views_heard": True,
                },
            },
            "#/child/guardian/conflict_of_interest_found",
        ),
    ],
)
async def test_record_violating_the_minimum_is_422_with_pointer(
    flows: DomainFlows, overrides: dict[str, Any], pointer: str
) -> None:
    body = consent_body(grants=[shelter_grant()], **overrides)
    response = await flows.post(NGO, "/v1/consents", body)
    assert response.status_code == 422, response.text
    assert pointer in [e["pointer"] for e in response.json()["errors"]]


async def test_record_child_without_child_facts_is_422(flows: DomainFlows) -> None:
    body = consent_body(grants=[shelter_grant()], age_status="child", given_by="guardian")
    response = await flows.post(NGO, "/v1/consents", body)
    assert response.status_code == 422


async def test_read_and_list_only_by_recorder_and_named_orgs(flows: DomainFlows) -> None:
    by_org = await flows.record_consent(NGO, grants=[shelter_grant()])
    by_role = await flows.record_consent(NGO, grants=[grant(role="social_services", country="NL")])
    for org, visible in [
        (NGO, {by_org["id"], by_role["id"]}),
        (SHELTER, {by_org["id"]}),
        (SOCIAL, {by_role["id"]}),
        (POLICE, set()),
    ]:
        listed = (await flows.get(org, "/v1/consents")).json()["items"]
        assert {c["id"] for c in listed} == visible, org
        for consent in (by_org, by_role):
            response = await flows.get(org, f"/v1/consents/{consent['id']}")
            assert response.status_code == (200 if consent["id"] in visible else 404)


async def test_list_is_paginated(flows: DomainFlows) -> None:
    ids = [(await flows.record_consent(NGO, grants=[shelter_grant()]))["id"] for _ in range(3)]
    first = (await flows.get(NGO, "/v1/consents", limit=2)).json()
    second = (await flows.get(NGO, "/v1/consents", limit=2, cursor=first["next_cursor"])).json()
    assert [c["id"] for c in first["items"] + second["items"]] == ids
    assert second["next_cursor"] is None


async def test_receipt_is_signed_by_the_node(flows: DomainFlows) -> None:
    consent = await flows.record_consent(NGO, grants=[shelter_grant()])
    response = await flows.get(NGO, f"/v1/consents/{consent['id']}/receipt")
    assert response.status_code == 200, response.text
    receipt = response.json()
    assert schema_errors("consent-receipt.schema.json", receipt) == []
    assert receipt["grants"][0]["recipient_name"]
    jwks = (await flows.node.client.get("/jwks.json")).json()
    signature = receipt.pop("signature")
    verified = jws.deserialize_compact(signature, KeySet.import_key_set(jwks), algorithms=["ES256"])
    assert verified.payload == canonicalize(receipt)
    assert (await flows.get(POLICE, f"/v1/consents/{consent['id']}/receipt")).status_code == 404


async def test_record_keeps_recorder_signature_and_refuses_one_that_does_not_verify(
    flows: DomainFlows,
) -> None:
    from saferefer_server.referrals import crypto

    key, kid = flows.signing_key(NGO)
    police_key, _ = flows.signing_key(POLICE)
    body = consent_body(grants=[shelter_grant()])

    def signed(
        document: dict[str, Any], *, typ: str = "saferefer-consent+jws", k: Any = key
    ) -> str:
        return crypto.sign_compact(key=k, kid=kid, payload=canonicalize(document), typ=typ)

    good = {**body, "recorder_jws": signed(body)}
    response = await flows.post(NGO, "/v1/consents", good)
    assert response.status_code == 201, response.text
    record = response.json()
    assert record["recorder_jws"] == good["recorder_jws"]
    assert "signature" not in record
    assert schema_errors("consent-record.schema.json", record) == []

    other = {**body, "language": "fr"}
    for token in (
        signed(other),  # signs another document
        signed(body, typ="JWT"),  # not a consent signature
        signed(body, k=police_key),  # another organisation's key under the recorder's kid
    ):
        refused = await flows.post(NGO, "/v1/consents", {**body, "recorder_jws": token})
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["pointer"] == "#/recorder_jws"
