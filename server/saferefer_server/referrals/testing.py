"""Builders of valid consent and referral documents, for tests, demos and examples.

Every builder returns a document that validates against its spec/ schema; keyword overrides
replace top-level members, so a test can break exactly one thing.
"""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey

from saferefer_server.audit.ids import rfc3339
from saferefer_server.audit.jcs import canonicalize
from saferefer_server.db.base import utcnow
from saferefer_server.organisations.models import Organisation
from saferefer_server.referrals import crypto

EVIDENCE = "sha256:" + "ab" * 32


def new_subject_ref() -> str:
    return "srp1." + base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


def grant(
    *,
    org_id: str | None = None,
    role: str | None = None,
    country: str | None = None,
    purposes: Sequence[str] = ("assistance",),
    categories: Sequence[str] = ("identity", "contact"),
    explicit: Sequence[str] = (),
    onward_sharing: bool = False,
) -> dict[str, Any]:
    recipient: dict[str, Any] = (
        {"org_id": org_id} if org_id is not None else {"role": role, "country": country}
    )
    return {
        "recipient": recipient,
        "purposes": list(purposes),
        "data_categories": list(categories),
        "explicit_categories": list(explicit),
        "onward_sharing": onward_sharing,
    }


def consent_body(
    *,
    grants: Sequence[Mapping[str, Any]],
    recorder_role: str = "ngo_service_provider",
    valid_for: timedelta = timedelta(days=180),
    **overrides: Any,
) -> dict[str, Any]:
    now = utcnow()
    body: dict[str, Any] = {
        "subject_ref": new_subject_ref(),
        "age_status": "adult",
        "given_by": "subject",
        "recorder": {"role": recorder_role, "worker_ref": "worker-1"},
        "grants": [dict(g) for g in grants],
        "issued_at": rfc3339(now - timedelta(minutes=5)),
        "valid_from": rfc3339(now - timedelta(minutes=5)),
        "valid_until": rfc3339(now + valid_for),
        "language": "ro",
        "interpreter": {"present": True, "independence": "independent_professional"},
        "information_sheet_version": "nl-2026.1",
        "risks_informed": ["disclosure_to_authorities"],
        "method": "written_signature",
        "evidence_hash": EVIDENCE,
        "refusal_does_not_affect_assistance": True,
        "withdrawal_channels": ["in_person", "phone"],
        "reflection_period": {"active": False},
        "decision_to_cooperate": {"recorded": False},
    }
    body.update(overrides)
    return body


def sign_payload(payload: Mapping[str, Any], *, key: ECKey, kid: str) -> str:
    """The sender's detached JWS over the JCS form of the payload (SR-SIGN-001)."""
    return crypto.sign_detached(key=key, kid=kid, payload=canonicalize(dict(payload)))


def referral_body(
    *,
    recipient: str,
    consent_ids: Sequence[str],
    purpose: str = "assistance",
    payload: Mapping[str, Any] | None = None,
    signing_key: tuple[ECKey, str] | None = None,
    retain_for: timedelta = timedelta(days=90),
    **overrides: Any,
) -> dict[str, Any]:
    now = utcnow()
    payload = dict(
        payload
        if payload is not None
        else {
            "identity": {"given_name": "Ana", "family_name": "Popescu"},
            "contact": {"phone": "+40 700 000 000"},
        }
    )
    body: dict[str, Any] = {
        "recipient": recipient,
        "purpose": purpose,
        "requested_services": ["case_management"],
        "urgency": "routine",
        "consent_ids": list(consent_ids),
        "subject_ref": new_subject_ref(),
        "subject": {
            "age_status": "adult",
            "asylum_pending": False,
            "identification_status": "reasonable_grounds",
        },
        "payload": payload,
        "safety_notes": {"risk_level": "medium", "contact_constraints": ["no_home_visits"]},
        "retain_until": rfc3339(now + retain_for),
    }
    if signing_key is not None:
        key, kid = signing_key
        body["payload_signature"] = sign_payload(payload, key=key, kid=kid)
    body.update(overrides)
    return body


class DomainFlows:
    """Consent and referral calls against a `saferefer_server.testing.TestNode`."""

    def __init__(self, node: Any) -> None:
        self.node = node

    def signing_key(self, org_id: str) -> tuple[ECKey, str]:
        credentials = self.node.credentials[org_id]
        return credentials.key, credentials.kid

    async def post(self, org_id: str, path: str, body: Any, **headers: str) -> Any:
        auth = await self.node.auth(org_id)
        return await self.node.client.post(path, json=body, headers={**auth, **headers})

    async def get(self, org_id: str, path: str, **params: Any) -> Any:
        auth = await self.node.auth(org_id)
        return await self.node.client.get(path, params=params, headers=auth)

    async def roles_of(self, org_id: str) -> list[str]:
        async with self.node.app.state.sessionmaker() as db_session:
            org = await db_session.get(Organisation, org_id)
        return sorted(org.roles) if org is not None else []

    async def record_consent(self, recorder: str, **kwargs: Any) -> dict[str, Any]:
        if "recorder_role" not in kwargs:
            kwargs["recorder_role"] = (await self.roles_of(recorder))[0]
        response = await self.post(recorder, "/v1/consents", consent_body(**kwargs))
        assert response.status_code == 201, response.text
        document: dict[str, Any] = response.json()
        return document

    async def consent_for(
        self,
        recorder: str,
        recipient: str,
        *,
        purposes: Sequence[str] = ("assistance",),
        categories: Sequence[str] = ("identity", "contact"),
        explicit: Sequence[str] = (),
        **kwargs: Any,
    ) -> dict[str, Any]:
        return await self.record_consent(
            recorder,
            grants=[
                grant(org_id=recipient, purposes=purposes, categories=categories, explicit=explicit)
            ],
            **kwargs,
        )

    async def send(
        self, sender: str, recipient: str, consent_ids: Sequence[str], **kwargs: Any
    ) -> Any:
        kwargs.setdefault("signing_key", self.signing_key(sender))
        body = referral_body(recipient=recipient, consent_ids=consent_ids, **kwargs)
        return await self.post(sender, "/v1/referrals", body)

    async def referral(self, sender: str, recipient: str, **kwargs: Any) -> dict[str, Any]:
        """Record a consent naming `recipient` and send a referral under it; the created referral."""
        consent = await self.consent_for(sender, recipient)
        response = await self.send(sender, recipient, [consent["id"]], **kwargs)
        assert response.status_code == 201, response.text
        document: dict[str, Any] = response.json()
        return document


@contextlib.asynccontextmanager
async def node_with_engine(
    data_dir: Path, database_url: str, engine: Any
) -> AsyncIterator[DomainFlows]:
    """A demo node that decides with `engine` (a `PolicyEngine`), and closes it at the end."""
    from saferefer_server.main import create_app
    from saferefer_server.testing import TestNode, asgi_client, node_settings, seed_demo, started

    app = create_app(node_settings(data_dir, database_url), policy_engine=engine)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(engine.aclose)
        await stack.enter_async_context(started(app))
        credentials = await seed_demo(app)
        client = await stack.enter_async_context(asgi_client(app))
        yield DomainFlows(TestNode(app=app, client=client, credentials=credentials))


@contextlib.asynccontextmanager
async def patient_node(data_dir: Path, database_url: str) -> AsyncIterator[DomainFlows]:
    """A demo node whose embedded engine waits up to 10 s per decision.

    For tests that fire many requests at once on a loaded machine: a single evaluation slowed
    past the production deadline (0.5 s) fails closed, which is correct but not what those tests
    are about.
    """
    from saferefer_server._resources import policy_dir
    from saferefer_server.policy import build_engine

    engine = build_engine(kind="embedded", policy_dir=policy_dir(), timeout_s=10.0)
    async with node_with_engine(data_dir, database_url, engine) as flows:
        yield flows
