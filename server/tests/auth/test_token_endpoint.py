"""`POST /oauth/token`: RFC 7523 client assertions, and every way to forge one."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives import serialization
from joserfc import jwt
from joserfc.jwk import ECKey
from saferefer_server.domain_spec import schema_errors
from saferefer_server.organisations import service as organisations
from saferefer_server.organisations.models import OrganisationStatus
from saferefer_server.testing import (
    OrgCredentials,
    TestNode,
    client_assertion,
    hmac_jwt,
    token_form,
    unsigned_jwt,
)

NGO = "urn:saferefer:org:NL:demo-ngo"
POLICE = "urn:saferefer:org:NL:demo-police"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def assertion_claims(credentials: OrgCredentials, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": credentials.org_id,
        "sub": credentials.org_id,
        "aud": f"{credentials.base_url}/oauth/token",
        "iat": now,
        "exp": now + 60,
        "jti": f"jti-{time.time_ns()}",
    }
    claims.update(overrides)
    return claims


def public_key_pem(credentials: OrgCredentials) -> bytes:
    key = ECKey.import_key({k: v for k, v in credentials.private_jwk.items() if k != "d"})
    return key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


async def post_assertion(node: TestNode, assertion: str) -> Any:
    return await node.client.post("/oauth/token", data=token_form(assertion))


def assert_invalid_client(response: Any, reason: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "https://saferefer.org/problems/unauthorized"
    assert body["error"] == "invalid_client"
    assert reason in body["detail"]
    assert response.headers["cache-control"] == "no-store"


async def test_valid_assertion_issues_node_signed_token(node: TestNode) -> None:
    response = await post_assertion(node, client_assertion(node.credentials[NGO]))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    assert body["scope"] == "role:ngo_service_provider"
    jwks = (await node.client.get("/jwks.json")).json()
    token = jwt.decode(
        body["access_token"], ECKey.import_key(jwks["keys"][0]), algorithms=["ES256"]
    )
    assert token.header["kid"] == jwks["keys"][0]["kid"]
    claims = token.claims
    assert claims["iss"] == claims["aud"] == node.settings.node_id
    assert claims["sub"] == NGO
    assert claims["scope"] == "role:ngo_service_provider"
    assert claims["exp"] - claims["iat"] == 300
    assert claims["jti"]


async def test_assertion_with_node_id_audience_is_accepted(node: TestNode) -> None:
    assertion = client_assertion(node.credentials[NGO], audience=node.settings.node_id)
    assert (await post_assertion(node, assertion)).status_code == 200


async def test_replayed_assertion_is_rejected(node: TestNode) -> None:
    assertion = client_assertion(node.credentials[NGO])
    assert (await post_assertion(node, assertion)).status_code == 200
    assert_invalid_client(await post_assertion(node, assertion), "jti replay")


async def test_assertion_with_alg_none_is_rejected(node: TestNode) -> None:
    credentials = node.credentials[NGO]
    forged = unsigned_jwt({"alg": "none", "kid": credentials.kid}, assertion_claims(credentials))
    assert_invalid_client(await post_assertion(node, forged), "ES256")


@pytest.mark.parametrize("secret_form", ["pem", "jwk"])
async def test_assertion_hmac_signed_with_public_key_is_rejected(
    node: TestNode, secret_form: str
) -> None:
    credentials = node.credentials[NGO]
    public_jwk = {k: v for k, v in credentials.private_jwk.items() if k != "d"}
    secret = (
        public_key_pem(credentials) if secret_form == "pem" else json.dumps(public_jwk).encode()
    )
    forged = hmac_jwt(
        {"alg": "HS256", "kid": credentials.kid}, assertion_claims(credentials), secret
    )
    assert_invalid_client(await post_assertion(node, forged), "ES256")


async def test_assertion_from_unknown_org_is_rejected(node: TestNode) -> None:
    stranger = OrgCredentials(
        org_id="urn:saferefer:org:NL:not-registered",
        private_jwk=node.credentials[NGO].private_jwk,
        node_id=node.settings.node_id,
        base_url=node.settings.base_url,
    )
    assert_invalid_client(await post_assertion(node, client_assertion(stranger)), "not registered")


async def test_assertion_from_suspended_org_is_rejected(node: TestNode) -> None:
    async with node.app.state.sessionmaker() as db_session:
        await organisations.set_status(
            db_session=db_session, org_id=NGO, status=OrganisationStatus.SUSPENDED
        )
        await db_session.commit()
    assert_invalid_client(
        await post_assertion(node, client_assertion(node.credentials[NGO])), "suspended"
    )


async def test_assertion_signed_by_another_orgs_key_is_rejected(node: TestNode) -> None:
    impostor = OrgCredentials(
        org_id=NGO,
        private_jwk=node.credentials[POLICE].private_jwk,
        node_id=node.settings.node_id,
        base_url=node.settings.base_url,
    )
    assert_invalid_client(await post_assertion(node, client_assertion(impostor)), "kid")


async def test_assertion_with_registered_kid_but_wrong_signature_is_rejected(
    node: TestNode,
) -> None:
    credentials = node.credentials[NGO]
    other_key = node.credentials[POLICE].key
    forged = jwt.encode(
        {"alg": "ES256", "kid": credentials.kid}, assertion_claims(credentials), other_key
    )
    assert_invalid_client(await post_assertion(node, forged), "signature")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"aud": "https://other-node.example/oauth/token"}, "audience"),
        ({"exp": int(time.time()) - 120, "iat": int(time.time()) - 180}, "expired"),
        ({"exp": int(time.time()) + 3600}, "lifetime"),
        ({"iat": int(time.time()) + 600, "exp": int(time.time()) + 660}, "future"),
        ({"sub": POLICE}, "sub must equal iss"),
        ({"jti": None}, "jti"),
        ({"exp": None}, "exp"),
    ],
)
async def test_assertion_with_bad_claim_is_rejected(
    node: TestNode, overrides: dict[str, Any], reason: str
) -> None:
    credentials = node.credentials[NGO]
    claims = {k: v for k, v in assertion_claims(credentials, **overrides).items() if v is not None}
    forged = jwt.encode({"alg": "ES256", "kid": credentials.kid}, claims, credentials.key)
    assert_invalid_client(await post_assertion(node, forged), reason)


async def test_garbage_assertion_is_rejected(node: TestNode) -> None:
    assert_invalid_client(await post_assertion(node, "not-a-jwt"), "compact JWS")


async def test_wrong_grant_type_is_rejected(node: TestNode) -> None:
    form = token_form(client_assertion(node.credentials[NGO])) | {"grant_type": "password"}
    response = await node.client.post("/oauth/token", data=form)
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


async def test_wrong_assertion_type_is_rejected(node: TestNode) -> None:
    form = token_form(client_assertion(node.credentials[NGO])) | {"client_assertion_type": "x"}
    assert_invalid_client(
        await node.client.post("/oauth/token", data=form), "client_assertion_type"
    )


async def test_repeated_token_parameter_is_refused_by_name(node: TestNode) -> None:
    body = token_form(client_assertion(node.credentials[NGO]))
    content = urlencode([*body.items(), ("grant_type", "client_credentials")])
    response = await node.client.post("/oauth/token", content=content, headers=FORM)
    assert response.status_code == 400
    problem = response.json()
    assert problem["error"] == "invalid_request"
    assert "grant_type is repeated" in problem["error_description"]
    assert schema_errors("problem.schema.json", problem) == []


async def test_repeated_unknown_parameter_is_refused_without_echoing_its_name(
    node: TestNode,
) -> None:
    # The shape schemathesis found: a repeated parameter whose name ends in a control character.
    name = "echo-marker\x0f"
    body = token_form(client_assertion(node.credentials[NGO]))
    content = urlencode([*body.items(), (name, "a"), (name, "b")])
    response = await node.client.post("/oauth/token", content=content, headers=FORM)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["error"] == "invalid_request"
    assert problem["detail"] == problem["error_description"]
    assert "send each parameter once" in problem["detail"]
    assert "echo-marker" not in response.text
    assert "\\u000f" not in response.text
    assert schema_errors("problem.schema.json", problem) == []


async def test_json_token_request_is_unsupported_media_type(node: TestNode) -> None:
    response = await node.client.post(
        "/oauth/token", json=token_form(client_assertion(node.credentials[NGO]))
    )
    assert response.status_code == 415
    assert response.json()["type"] == "https://saferefer.org/problems/unsupported-media-type"


async def test_scope_outside_the_orgs_roles_is_rejected(node: TestNode) -> None:
    form = token_form(client_assertion(node.credentials[NGO])) | {"scope": "role:police"}
    response = await node.client.post("/oauth/token", data=form)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


async def test_token_requests_over_the_org_quota_are_rate_limited(app_factory: Any) -> None:
    from saferefer_server.testing import asgi_client, seed_demo

    app = await app_factory(token_rate_per_org=2)
    credentials = (await seed_demo(app))[NGO]
    async with asgi_client(app) as client:
        statuses = [
            (await client.post("/oauth/token", data=token_form(client_assertion(credentials))))
            for _ in range(3)
        ]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    limited = statuses[-1]
    assert limited.json()["type"] == "https://saferefer.org/problems/rate-limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.json()["retry_after"] == int(limited.headers["retry-after"])


async def test_token_requests_over_the_address_quota_are_rate_limited(app_factory: Any) -> None:
    from saferefer_server.testing import asgi_client

    app = await app_factory(token_rate_per_address=3)
    async with asgi_client(app) as client:
        statuses = [(await client.post("/oauth/token", data={})).status_code for _ in range(4)]
    assert statuses == [415, 415, 415, 429]


async def test_access_token_is_not_accepted_as_client_assertion(node: TestNode) -> None:
    token = await node.token(NGO)
    assert_invalid_client(await post_assertion(node, token), "typ")


async def test_simultaneous_uses_of_one_assertion_issue_one_token(node: TestNode) -> None:
    assertion = client_assertion(node.credentials[NGO])
    responses = await asyncio.gather(*(post_assertion(node, assertion) for _ in range(6)))
    assert sorted(r.status_code for r in responses) == [200] + [401] * 5
