"""The request loop of both clients: retries, idempotency keys, tokens, options."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import saferefer

ORG = "urn:saferefer:org:NL:made-up"
PAGE = {"items": [], "next_cursor": None}
PROBLEM = {"content-type": "application/problem+json"}
JSON = {"content-type": "application/json"}


def _sync(server: Any, key: Path, **kwargs: Any) -> saferefer.Client:
    return saferefer.Client(
        base_url=server.base_url,
        org_id=ORG,
        private_key_file=key,
        node_id="urn:saferefer:node:NL:x",
        **kwargs,
    )


def _async(server: Any, key: Path, **kwargs: Any) -> saferefer.AsyncClient:
    return saferefer.AsyncClient(
        base_url=server.base_url,
        org_id=ORG,
        private_key_file=key,
        node_id="urn:saferefer:node:NL:x",
        **kwargs,
    )


def test_retry_reuses_one_idempotency_key_per_logical_post(
    scripted_server: Any, org_key_file: Path, fast_retries: None
) -> None:
    scripted_server.on(
        "/v1/policy/decisions",
        (503, PROBLEM, {"title": "busy", "status": 503}),
        (502, PROBLEM, {"title": "busy", "status": 502}),
        (
            200,
            JSON,
            {"allow": True, "violations": [], "permitted_categories": [], "obligations": []},
        ),
    )
    with _sync(scripted_server, org_key_file) as client:
        client.policy.check({"x": 1}, validate=False)
        client.policy.check({"x": 1}, validate=False)
    keys = [r.headers["Idempotency-Key"] for r in scripted_server.calls("/v1/policy/decisions")]
    assert len(keys) == 4
    assert keys[0] == keys[1] == keys[2]  # one logical call, three attempts
    assert keys[3] != keys[0]  # the next logical call gets a new key


async def test_async_retry_reuses_one_idempotency_key(
    scripted_server: Any, org_key_file: Path, fast_retries: None
) -> None:
    scripted_server.on(
        "/v1/policy/decisions",
        (429, PROBLEM | {"retry-after": "0"}, {"title": "slow down", "status": 429}),
        (
            200,
            JSON,
            {"allow": False, "violations": [], "permitted_categories": [], "obligations": []},
        ),
    )
    async with _async(scripted_server, org_key_file) as client:
        decision = await client.policy.check({"x": 1}, validate=False, idempotency_key=None)
    assert decision.allow is False
    keys = {r.headers["Idempotency-Key"] for r in scripted_server.calls("/v1/policy/decisions")}
    assert len(keys) == 1


def test_retries_give_up_after_max_retries(
    scripted_server: Any, org_key_file: Path, fast_retries: None
) -> None:
    scripted_server.on(
        "/v1/audit/verify",
        (
            500,
            PROBLEM,
            {"type": "https://saferefer.org/problems/internal-error", "title": "x", "status": 500},
        ),
    )
    with (
        _sync(scripted_server, org_key_file, max_retries=3) as client,
        pytest.raises(saferefer.InternalServerError),
    ):
        client.audit.verify()
    assert len(scripted_server.calls("/v1/audit/verify")) == 4


def test_no_retry_on_client_errors(
    scripted_server: Any, org_key_file: Path, fast_retries: None
) -> None:
    scripted_server.on(
        "/v1/audit/verify",
        (
            404,
            PROBLEM,
            {"type": "https://saferefer.org/problems/not-found", "title": "x", "status": 404},
        ),
    )
    with _sync(scripted_server, org_key_file) as client, pytest.raises(saferefer.NotFoundError):
        client.audit.verify()
    assert len(scripted_server.calls("/v1/audit/verify")) == 1


def test_retry_after_is_honoured(scripted_server: Any, org_key_file: Path) -> None:
    scripted_server.on(
        "/v1/audit",
        (503, PROBLEM | {"retry-after": "1"}, {"title": "later", "status": 503}),
        (200, JSON, PAGE),
    )
    started = time.monotonic()
    with _sync(scripted_server, org_key_file) as client:
        assert list(client.audit.list()) == []
    assert time.monotonic() - started >= 0.95


def test_401_refreshes_the_token_once_and_retries(scripted_server: Any, org_key_file: Path) -> None:
    scripted_server.on(
        "/v1/audit", (401, PROBLEM, {"title": "expired", "status": 401}), (200, JSON, PAGE)
    )
    with _sync(scripted_server, org_key_file) as client:
        assert list(client.audit.list()) == []
    calls = scripted_server.calls("/v1/audit")
    assert [c.headers["Authorization"] for c in calls] == ["Bearer token-1", "Bearer token-2"]


def test_persistent_401_raises_authentication_error(
    scripted_server: Any, org_key_file: Path
) -> None:
    scripted_server.on(
        "/v1/audit",
        (
            401,
            PROBLEM,
            {"type": "https://saferefer.org/problems/unauthorized", "title": "no", "status": 401},
        ),
    )
    with (
        _sync(scripted_server, org_key_file) as client,
        pytest.raises(saferefer.AuthenticationError),
    ):
        list(client.audit.list())
    assert len(scripted_server.tokens_issued) == 2


def test_token_is_cached_across_calls(scripted_server: Any, org_key_file: Path) -> None:
    scripted_server.on("/v1/audit", (200, JSON, PAGE))
    with _sync(scripted_server, org_key_file) as client:
        for _ in range(3):
            list(client.audit.list())
    assert len(scripted_server.tokens_issued) == 1


def test_token_refreshed_before_expiry(scripted_server: Any, org_key_file: Path) -> None:
    scripted_server.on(
        "/oauth/token",
        (
            200,
            JSON,
            {"access_token": "short", "token_type": "Bearer", "expires_in": 2, "scope": ""},
        ),
        (
            200,
            JSON,
            {"access_token": "long", "token_type": "Bearer", "expires_in": 300, "scope": ""},
        ),
    )
    scripted_server.on("/v1/audit", (200, JSON, PAGE))
    with _sync(scripted_server, org_key_file) as client:
        list(client.audit.list())
        time.sleep(1.1)  # past half of a 2 s lifetime: refreshed before it expires
        list(client.audit.list())
    assert [c.headers["Authorization"] for c in scripted_server.calls("/v1/audit")] == [
        "Bearer short",
        "Bearer long",
    ]


def test_client_assertion_claims(scripted_server: Any, org_key_file: Path) -> None:
    from urllib.parse import parse_qs

    from joserfc import jwt
    from joserfc.jwk import ECKey

    scripted_server.on("/v1/audit", (200, JSON, PAGE))
    with _sync(scripted_server, org_key_file) as client:
        list(client.audit.list())
    form = parse_qs(scripted_server.calls("/oauth/token")[0].body.decode())
    assert form["grant_type"] == ["client_credentials"]
    assert form["client_assertion_type"] == [
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    ]
    key = ECKey.import_key(org_key_file.read_bytes())
    token = jwt.decode(form["client_assertion"][0], key, algorithms=["ES256"])
    assert token.header["alg"] == "ES256"
    assert token.header["kid"] == key.thumbprint()
    claims = token.claims
    assert claims["iss"] == claims["sub"] == ORG
    assert claims["aud"] == "urn:saferefer:node:NL:x"
    assert 0 < claims["exp"] - claims["iat"] <= 300
    assert claims["jti"]


def test_every_method_takes_timeout_and_extra_headers(
    scripted_server: Any, org_key_file: Path
) -> None:
    scripted_server.on(
        "/v1/audit/verify",
        (
            200,
            JSON,
            {
                "valid": True,
                "checked_at": "2026-11-28T10:15:00Z",
                "entries_checked": 0,
                "first_seq": None,
                "last_seq": None,
                "head_hash": None,
                "first_invalid_seq": None,
            },
        ),
    )
    with _sync(scripted_server, org_key_file, default_headers={"X-Default": "1"}) as client:
        client.audit.verify(timeout=5.0, extra_headers={"X-Trace": "abc"})
    headers = scripted_server.calls("/v1/audit/verify")[0].headers
    assert headers["X-Trace"] == "abc"
    assert headers["X-Default"] == "1"


def test_with_options_copies_without_touching_the_original(
    scripted_server: Any, org_key_file: Path
) -> None:
    with _sync(scripted_server, org_key_file) as client:
        quick = client.with_options(max_retries=0, timeout=1.0, default_headers={"X-Extra": "y"})
        assert (quick.max_retries, quick.timeout) == (0, 1.0)
        assert client.max_retries == saferefer.DEFAULT_MAX_RETRIES
        assert quick.referrals is not client.referrals
        assert quick._http is client._http


def test_not_given_is_a_falsy_singleton() -> None:
    assert not saferefer.NOT_GIVEN
    assert saferefer.NotGiven() is saferefer.NOT_GIVEN
    assert repr(saferefer.NOT_GIVEN) == "NOT_GIVEN"


def test_client_reads_environment(monkeypatch: pytest.MonkeyPatch, org_key_file: Path) -> None:
    monkeypatch.setenv("SAFEREFER_BASE_URL", "https://node.example")
    monkeypatch.setenv("SAFEREFER_ORG_ID", ORG)
    monkeypatch.setenv("SAFEREFER_PRIVATE_KEY_FILE", str(org_key_file))
    monkeypatch.delenv("SAFEREFER_CREDENTIALS_FILE", raising=False)
    client = saferefer.Client()
    assert (client.base_url, client.org_id) == ("https://node.example", ORG)


def test_client_reads_credentials_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from joserfc.jwk import ECKey

    jwk = ECKey.generate_key("P-256", private=True, parameters={"kid": "k-7"}).as_dict(private=True)
    path = tmp_path / "NL-x.json"
    path.write_text(
        json.dumps(
            {
                "saferefer_credentials": 1,
                "base_url": "http://127.0.0.1:9",
                "node_id": "urn:saferefer:node:NL:demo",
                "org_id": ORG,
                "kid": "k-7",
                "private_key_jwk": jwk,
            }
        )
    )
    monkeypatch.setenv("SAFEREFER_CREDENTIALS_FILE", str(path))
    monkeypatch.delenv("SAFEREFER_BASE_URL", raising=False)
    client = saferefer.Client()
    assert client.base_url == "http://127.0.0.1:9"
    assert client.credentials.kid == "k-7"
    assert client.credentials.node_id == "urn:saferefer:node:NL:demo"
    assert "d" not in repr(client.credentials) or "private" not in repr(client.credentials)


def test_jwk_key_file_is_accepted(tmp_path: Path) -> None:
    import json

    from joserfc.jwk import ECKey

    path = tmp_path / "key.jwk"
    path.write_text(
        json.dumps(
            ECKey.generate_key("P-256", private=True, parameters={"kid": "j1"}).as_dict(
                private=True
            )
        )
    )
    client = saferefer.Client(base_url="https://n.example", org_id=ORG, private_key_file=path)
    assert client.credentials.kid == "j1"


def test_http_client_is_used_and_not_closed(scripted_server: Any, org_key_file: Path) -> None:
    scripted_server.on("/v1/audit", (200, JSON, PAGE))
    http = httpx.Client()
    with _sync(scripted_server, org_key_file, http_client=http) as client:
        list(client.audit.list())
    assert not http.is_closed
    http.close()


def test_audience_discovered_from_capability_document(
    scripted_server: Any, org_key_file: Path
) -> None:
    from urllib.parse import parse_qs

    from joserfc import jwt
    from joserfc.jwk import ECKey

    scripted_server.on(
        "/.well-known/saferefer", (200, JSON, {"node_id": "urn:saferefer:node:NL:found"})
    )
    scripted_server.on("/v1/audit", (200, JSON, PAGE))
    client = saferefer.Client(
        base_url=scripted_server.base_url, org_id=ORG, private_key_file=org_key_file
    )
    with client:
        list(client.audit.list())
        list(client.audit.list())
    form = parse_qs(scripted_server.calls("/oauth/token")[0].body.decode())
    key = ECKey.import_key(org_key_file.read_bytes())
    claims = jwt.decode(form["client_assertion"][0], key, algorithms=["ES256"]).claims
    assert claims["aud"] == "urn:saferefer:node:NL:found"
    assert len(scripted_server.calls("/.well-known/saferefer")) == 1


def test_audience_falls_back_to_token_url(scripted_server: Any, org_key_file: Path) -> None:
    from urllib.parse import parse_qs

    from joserfc import jwt
    from joserfc.jwk import ECKey

    scripted_server.on("/v1/audit", (200, JSON, PAGE))  # no capability document: 404
    with saferefer.Client(
        base_url=scripted_server.base_url, org_id=ORG, private_key_file=org_key_file
    ) as client:
        list(client.audit.list())
    form = parse_qs(scripted_server.calls("/oauth/token")[0].body.decode())
    claims = jwt.decode(
        form["client_assertion"][0],
        ECKey.import_key(org_key_file.read_bytes()),
        algorithms=["ES256"],
    ).claims
    assert claims["aud"] == scripted_server.base_url + "/oauth/token"


async def test_async_401_refreshes_the_token_once(scripted_server: Any, org_key_file: Path) -> None:
    scripted_server.on(
        "/v1/audit", (401, PROBLEM, {"title": "expired", "status": 401}), (200, JSON, PAGE)
    )
    async with _async(scripted_server, org_key_file) as client:
        assert [e async for e in client.audit.list()] == []
    calls = scripted_server.calls("/v1/audit")
    assert [c.headers["Authorization"] for c in calls] == ["Bearer token-1", "Bearer token-2"]


async def test_async_retries_give_up_after_max_retries(
    scripted_server: Any, org_key_file: Path, fast_retries: None
) -> None:
    scripted_server.on("/v1/audit/verify", (502, PROBLEM, {"title": "bad gateway", "status": 502}))
    async with _async(scripted_server, org_key_file, max_retries=2) as client:
        with pytest.raises(saferefer.InternalServerError):
            await client.audit.verify()
    assert len(scripted_server.calls("/v1/audit/verify")) == 3


async def test_async_with_options_shares_the_token(
    scripted_server: Any, org_key_file: Path
) -> None:
    scripted_server.on("/v1/audit", (200, JSON, PAGE))
    async with _async(scripted_server, org_key_file) as client:
        await client.audit.list()
        await client.with_options(timeout=2.0).audit.list()
    assert len(scripted_server.tokens_issued) == 1
