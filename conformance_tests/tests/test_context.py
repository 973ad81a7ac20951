"""What every check relies on: profile claims gate checks, and assertions name the node's own
token endpoint whatever address the suite reaches it through."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey
from saferefer_conformance._config import Config, OrgCredentials
from saferefer_conformance._context import Context
from saferefer_conformance._failures import CheckFailed
from saferefer_conformance._registry import Registry, check
from saferefer_conformance._runner import run_check

#: The address the suite is given; the node publishes another (a proxy in front of it, say).
TESTED = "http://127.0.0.1:9000"
PUBLISHED = "https://node.example.org"
ORG_ID = "urn:saferefer:org:NL:test-ngo"


def _capability(profiles: list[str]) -> dict[str, Any]:
    return {
        "node_id": "urn:saferefer:node:NL:test",
        "base_url": PUBLISHED,
        "endpoints": {"token": PUBLISHED + "/oauth/token"},
        "profiles": profiles,
    }


def _context(
    profiles: list[str], token_status: int = 200, seen: list[httpx.Request] | None = None
) -> Context:
    def answer(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        if request.url.path == "/.well-known/saferefer":
            return httpx.Response(200, json=_capability(profiles))
        if request.url.path == "/oauth/token" and token_status == 200:
            token = {"access_token": "t", "token_type": "Bearer", "expires_in": 300, "scope": ""}
            return httpx.Response(200, json=token)
        return httpx.Response(
            token_status,
            json={"type": "https://saferefer.org/problems/unauthorized", "status": token_status},
        )

    key = ECKey.generate_key("P-256", private=True)
    sender = OrgCredentials(
        slot="sender", org_id=ORG_ID, kid="k1", private_key_jwk=key.as_dict(private=True)
    )
    http = httpx.Client(base_url=TESTED, transport=httpx.MockTransport(answer))
    return Context(Config(base_url=TESTED, organisations={"sender": sender}), http=http)


def _events_check(registry: Registry, ran: list[str]) -> None:
    @check(
        id="SRC-990",
        name="events_claim_holds",
        title="An events check",
        severity="must",
        requirements=["SR-EVENT-001"],
        profile="events",
        registry=registry,
    )
    def events_claim_holds(ctx: Context) -> None:
        ran.append("ran")


@pytest.mark.parametrize(
    ("profiles", "outcome"), [(["core"], "skipped"), (["core", "events"], "passed")]
)
def test_a_check_of_an_unclaimed_profile_is_skipped_before_it_runs(
    profiles: list[str], outcome: str
) -> None:
    registry, ran = Registry(), list[str]()
    _events_check(registry, ran)
    result = run_check(registry.get("events_claim_holds"), _context(profiles))
    assert result.outcome == outcome
    assert ran == ([] if outcome == "skipped" else ["ran"])
    if outcome == "skipped":
        assert "does not claim the events profile" in result.reason


def test_assertions_name_the_published_token_endpoint_and_go_to_the_tested_address() -> None:
    seen: list[httpx.Request] = []
    ctx = _context(["core"], seen=seen)
    ctx.sender.token()
    (token_request,) = [r for r in seen if r.url.path == "/oauth/token"]
    assert str(token_request.url) == TESTED + "/oauth/token"
    assertion = httpx.QueryParams(token_request.content.decode())["client_assertion"]
    key = ECKey.import_key(ctx.credentials("sender").public_jwk)
    claims = jwt.decode(assertion, key, algorithms=["ES256"]).claims
    assert claims["aud"] == PUBLISHED + "/oauth/token"


def test_a_refused_assertion_says_the_tested_address_is_not_the_published_one() -> None:
    ctx = _context(["core"], token_status=401)
    with pytest.raises(CheckFailed) as raised:
        ctx.sender.token()
    (failure,) = raised.value.failures
    assert failure.requirement == "SR-AUTH-002"
    assert f"--base-url {TESTED} differs from the node's published base URL {PUBLISHED}" in (
        failure.message
    )
