"""consents.record / retrieve / list / withdraw / receipt against the real node, both twins."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import saferefer

NGO = "urn:saferefer:org:NL:demo-ngo"
SHELTER = "urn:saferefer:org:NL:demo-shelter"
POLICE = "urn:saferefer:org:NL:demo-police"


def test_consent_lifecycle_sync(
    client_for: Callable[..., saferefer.Client], consent_doc: Callable[..., dict[str, Any]]
) -> None:
    ngo = client_for(NGO)
    # a generated model is as good as a dict
    consent = ngo.consents.record(
        saferefer.types.ConsentCreate.model_validate(consent_doc(SHELTER))
    )
    assert consent.status == "active"
    assert consent.recorder_jws is not None  # signed by default; the node verified it
    assert ngo.consents.retrieve(consent.id).id == consent.id
    assert consent.id in [c.id for c in ngo.consents.list()]
    assert consent.id in [c.id for c in ngo.consents.list(status="active", limit=1)]
    receipt = ngo.consents.receipt(consent.id)
    assert receipt.consent_id == consent.id
    # the organisation named in the grant may read it; another may not know it exists
    assert client_for(SHELTER).consents.retrieve(consent.id).id == consent.id
    with pytest.raises(saferefer.NotFoundError):
        client_for(POLICE).consents.retrieve(consent.id)
    withdrawn = ngo.consents.withdraw(consent.id, channel="phone", received_by="worker-2")
    assert withdrawn.status == "withdrawn"
    assert consent.id in [c.id for c in ngo.consents.list(status="withdrawn")]
    assert consent.id not in [c.id for c in ngo.consents.list(status="active")]


def test_record_signs_the_document_unless_told_not_to_sync(
    client_for: Callable[..., saferefer.Client], consent_doc: Callable[..., dict[str, Any]]
) -> None:
    ngo = client_for(NGO)
    signed = ngo.consents.record(consent_doc(SHELTER))
    assert signed.recorder_jws is not None
    header = json.loads(base64.urlsafe_b64decode(signed.recorder_jws.split(".")[0] + "=="))
    assert header == {"alg": "ES256", "kid": ngo.credentials.kid, "typ": "saferefer-consent+jws"}
    assert ngo.consents.record(consent_doc(SHELTER), sign=False).recorder_jws is None
    # a signature by another organisation's key is refused
    document = consent_doc(SHELTER)
    document["recorder_jws"] = saferefer.sign_consent(document, client_for(SHELTER).credentials)
    with pytest.raises(saferefer.APIStatusError) as refused:
        ngo.consents.record(document)
    assert refused.value.status_code == 422


def test_record_replayed_under_its_idempotency_key_returns_the_first_consent_sync(
    client_for: Callable[..., saferefer.Client], consent_doc: Callable[..., dict[str, Any]]
) -> None:
    """Signed (the default): the same document under the same key is the same request."""
    ngo = client_for(NGO)
    document = consent_doc(SHELTER)
    key = f"consent-{uuid.uuid4()}"
    first = ngo.consents.record(document, idempotency_key=key)
    again = ngo.consents.record(document, idempotency_key=key)
    assert again.id == first.id
    assert first.recorder_jws is not None
    recorded = [c.id for c in ngo.consents.list() if c.subject_ref == document["subject_ref"]]
    assert recorded == [first.id]


def test_record_invalid_consent_fails_locally_sync(
    client_for: Callable[..., saferefer.Client], consent_doc: Callable[..., dict[str, Any]]
) -> None:
    document = consent_doc(SHELTER)
    del document["valid_until"]
    with pytest.raises(saferefer.InvalidRequestError) as info:
        client_for(NGO).consents.record(document)
    assert [(e.path, e.message) for e in info.value.errors] == [
        ("#/valid_until", "required member is missing")
    ]


def test_local_and_node_validation_agree_sync(
    client_for: Callable[..., saferefer.Client], consent_doc: Callable[..., dict[str, Any]]
) -> None:
    """The same malformed document: the SDK's local report equals the node's problem."""
    document = consent_doc(SHELTER)
    document["grants"][0]["purposes"] = ["deportation"]
    document["language"] = 7
    ngo = client_for(NGO)
    with pytest.raises(saferefer.InvalidRequestError) as local:
        ngo.consents.record(document)
    with pytest.raises(saferefer.ValidationError) as remote:
        ngo.consents.record(document, validate=False)
    assert [(e.path, e.message) for e in local.value.errors] == [
        (e.path, e.message) for e in remote.value.errors
    ]
    assert local.value.message == remote.value.detail


async def test_consent_lifecycle_async(
    async_client_for: Callable[..., saferefer.AsyncClient],
    consent_doc: Callable[..., dict[str, Any]],
) -> None:
    async with async_client_for(NGO) as ngo:
        consent = await ngo.consents.record(consent_doc(SHELTER))
        assert (await ngo.consents.retrieve(consent.id)).status == "active"
        assert consent.id in [c.id async for c in ngo.consents.list()]
        assert (await ngo.consents.list()).items
        receipt = await ngo.consents.receipt(consent.id)
        assert receipt.consent_id == consent.id
        assert consent.id not in [c.id async for c in ngo.consents.list(status="withdrawn")]
        withdrawn = await ngo.consents.withdraw(
            consent.id, channel="in_person", received_by="worker-2", note="by phone call"
        )
        assert withdrawn.status == "withdrawn"
    async with async_client_for(POLICE) as police:
        with pytest.raises(saferefer.NotFoundError):
            await police.consents.retrieve(consent.id)


async def test_record_replayed_under_its_idempotency_key_returns_the_first_consent_async(
    async_client_for: Callable[..., saferefer.AsyncClient],
    consent_doc: Callable[..., dict[str, Any]],
) -> None:
    async with async_client_for(NGO) as ngo:
        document = consent_doc(SHELTER)
        key = f"consent-{uuid.uuid4()}"
        first = await ngo.consents.record(document, idempotency_key=key)
        again = await ngo.consents.record(document, idempotency_key=key)
        assert again.id == first.id
        recorded = [
            c.id async for c in ngo.consents.list() if c.subject_ref == document["subject_ref"]
        ]
        assert recorded == [first.id]
