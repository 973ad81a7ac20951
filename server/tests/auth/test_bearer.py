"""Bearer tokens on API calls (`CurrentOrg`): every forgery is a 401 problem."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter
from joserfc import jwt
from saferefer_server.auth.keys import generate_es256_key
from saferefer_server.db.session import in_read_phase
from saferefer_server.deps import CurrentOrg, ReadingOrg, SessionDep
from saferefer_server.organisations import service as organisations
from saferefer_server.organisations.models import Organisation, OrganisationStatus
from saferefer_server.testing import TestNode, hmac_jwt, unsigned_jwt

NGO = "urn:saferefer:org:NL:demo-ngo"
PROTECTED = "/v1/organisations"


def node_claims(node: TestNode, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": node.settings.node_id,
        "aud": node.settings.node_id,
        "sub": NGO,
        "scope": "role:ngo_service_provider",
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def node_signed(node: TestNode, typ: str | None = "at+jwt", **overrides: Any) -> str:
    signing = node.app.state.node_keys.signing_key()
    header = {"alg": "ES256", "kid": signing.kid} | ({"typ": typ} if typ else {})
    return jwt.encode(header, node_claims(node, **overrides), signing.key)


async def call_with(node: TestNode, token: str) -> Any:
    return await node.client.get(PROTECTED, headers={"Authorization": f"Bearer {token}"})


def assert_unauthorized(response: Any, reason: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "https://saferefer.org/problems/unauthorized"
    assert reason in response.json()["detail"]
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_real_token_is_accepted(node: TestNode) -> None:
    response = await node.client.get(PROTECTED, headers=await node.auth(NGO))
    assert response.status_code == 200


async def test_forged_node_signed_token_shape_is_accepted(node: TestNode) -> None:
    # Control for the attacks below: the same claims signed by the node key pass.
    assert (await call_with(node, node_signed(node))).status_code == 200


async def test_missing_token_is_unauthorized(node: TestNode) -> None:
    assert_unauthorized(await node.client.get(PROTECTED), "access token")


async def test_non_bearer_scheme_is_unauthorized(node: TestNode) -> None:
    response = await node.client.get(PROTECTED, headers={"Authorization": "Basic YTpi"})
    assert_unauthorized(response, "Bearer")


async def test_alg_none_token_is_rejected(node: TestNode) -> None:
    kid = node.app.state.node_keys.signing_key().kid
    assert_unauthorized(
        await call_with(node, unsigned_jwt({"alg": "none", "kid": kid}, node_claims(node))), "ES256"
    )


async def test_hs256_token_signed_with_node_public_key_is_rejected(node: TestNode) -> None:
    signing = node.app.state.node_keys.signing_key()
    pem = signing.key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for secret in (pem, json.dumps(signing.public_jwk()).encode()):
        forged = hmac_jwt({"alg": "HS256", "kid": signing.kid}, node_claims(node), secret)
        assert_unauthorized(await call_with(node, forged), "ES256")


async def test_token_with_wrong_audience_is_rejected(node: TestNode) -> None:
    token = node_signed(node, aud="urn:saferefer:node:MD:other")
    assert_unauthorized(await call_with(node, token), "audience")


async def test_token_from_other_issuer_is_rejected(node: TestNode) -> None:
    assert_unauthorized(
        await call_with(node, node_signed(node, iss="urn:saferefer:node:MD:x")), "issued"
    )


async def test_expired_token_is_rejected(node: TestNode) -> None:
    now = int(time.time())
    token = node_signed(node, iat=now - 400, exp=now - 100)
    assert_unauthorized(await call_with(node, token), "expired")


async def test_token_with_unknown_kid_is_rejected(node: TestNode) -> None:
    rogue = generate_es256_key()
    token = jwt.encode(
        {"alg": "ES256", "kid": rogue.kid, "typ": "at+jwt"}, node_claims(node), rogue
    )
    assert_unauthorized(await call_with(node, token), "current key")


async def test_token_signed_by_rogue_key_under_node_kid_is_rejected(node: TestNode) -> None:
    kid = node.app.state.node_keys.signing_key().kid
    token = jwt.encode(
        {"alg": "ES256", "kid": kid, "typ": "at+jwt"}, node_claims(node), generate_es256_key()
    )
    assert_unauthorized(await call_with(node, token), "signature")


async def test_tampered_claims_are_rejected(node: TestNode) -> None:
    header, _, signature = node_signed(node).split(".")
    claims = node_claims(node, sub="urn:saferefer:org:NL:demo-police", scope="role:police")
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert_unauthorized(await call_with(node, f"{header}.{payload}.{signature}"), "signature")


async def test_org_client_key_cannot_sign_access_tokens(node: TestNode) -> None:
    credentials = node.credentials[NGO]
    token = jwt.encode(
        {"alg": "ES256", "kid": credentials.kid, "typ": "at+jwt"},
        node_claims(node),
        credentials.key,
    )
    assert_unauthorized(await call_with(node, token), "current key")


async def test_token_of_suspended_org_is_rejected(node: TestNode) -> None:
    headers = await node.auth(NGO)
    async with node.app.state.sessionmaker() as db_session:
        await organisations.set_status(
            db_session=db_session, org_id=NGO, status=OrganisationStatus.SUSPENDED
        )
        await db_session.commit()
    assert_unauthorized(await node.client.get(PROTECTED, headers=headers), "suspended")


async def test_token_for_unregistered_org_is_rejected(node: TestNode) -> None:
    token = node_signed(node, sub="urn:saferefer:org:NL:ghost")
    assert_unauthorized(await call_with(node, token), "not registered")


@pytest.mark.parametrize("missing", ["jti", "exp", "sub"])
async def test_token_missing_claim_is_rejected(node: TestNode, missing: str) -> None:
    assert_unauthorized(await call_with(node, node_signed(node, **{missing: None})), missing)


@pytest.mark.parametrize("typ", [None, "JWT", "saferefer-consent-receipt+jws"])
async def test_node_signed_jwt_of_another_type_is_not_an_access_token(
    node: TestNode, typ: str | None
) -> None:
    assert_unauthorized(await call_with(node, node_signed(node, typ=typ)), "typ")


async def test_role_removed_from_directory_no_longer_counts(node: TestNode) -> None:
    router = APIRouter()

    @router.get("/_test/whoami")
    async def whoami(org: CurrentOrg) -> dict[str, Any]:
        return {"org_id": org.org_id, "roles": list(org.roles), "country": org.country}

    node.app.include_router(router)
    headers = await node.auth(NGO)
    before = (await node.client.get("/_test/whoami", headers=headers)).json()
    assert before == {"org_id": NGO, "roles": ["ngo_service_provider"], "country": "NL"}
    async with node.app.state.sessionmaker() as db_session:
        org = await db_session.get(Organisation, NGO)
        assert org is not None
        org.roles = ["shelter"]
        await db_session.commit()
    after = (await node.client.get("/_test/whoami", headers=headers)).json()
    assert after["roles"] == []


async def test_reading_org_checks_the_token_in_a_read_phase_the_route_joins(
    node: TestNode,
) -> None:
    # `ReadingOrg` (read-only routes): one read transaction for the token check and the route,
    # ended when the route returns; a suspension still counts from the next request on.
    seen: dict[str, Any] = {}
    router = APIRouter()

    @router.get("/_test/reading")
    async def reading(org: ReadingOrg, db_session: SessionDep) -> dict[str, Any]:
        seen.update(
            phase=in_read_phase(), transaction=db_session.in_transaction(), session=db_session
        )
        return {"org_id": org.org_id}

    node.app.include_router(router)
    headers = await node.auth(NGO)
    response = await node.client.get("/_test/reading", headers=headers)
    assert response.json() == {"org_id": NGO}
    assert seen["phase"] is True
    assert seen["transaction"] is True
    assert seen["session"].in_transaction() is False
    assert (await node.client.get("/v1/referrals", headers=headers)).status_code == 200

    async with node.app.state.sessionmaker() as db_session:
        await organisations.set_status(
            db_session=db_session, org_id=NGO, status=OrganisationStatus.SUSPENDED
        )
        await db_session.commit()
    assert_unauthorized(await node.client.get("/_test/reading", headers=headers), "suspended")
    assert_unauthorized(await node.client.get("/v1/referrals", headers=headers), "suspended")
