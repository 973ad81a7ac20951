"""The webhook URL check: what the schema's `format: uri` and pattern refuse, and SR-EVENT-015."""

from __future__ import annotations

import pytest
from saferefer_server.core.problems import ProblemError
from saferefer_server.domain_spec import schema_errors
from saferefer_server.events.webhook_urls import check_webhook_url

# Schema-valid URLs (subscription.schema.json#/$defs/create, `url`) a development node accepts.
ACCEPTED = (
    "https://cms.demo-shelter.example/saferefer/events?v=1#top",
    "http://127.0.0.1:9/hook",
    "http://localhost:4?n",
    "https://[::1]/hook",
    "https://[v1.x]/hook",
    "https://cms.example/caf%C3%A9",
    "https://example.org:99999/hook",  # the schema bounds no port; production refuses it
)
# Pattern-valid strings that are no RFC 3986 URI: stored and listed back before (the first is the
# shape schemathesis found), or a 500 from `urlsplit` (the bracket ones).
NOT_URIS = (
    "http://localhost:4?\u00afn",
    "https://exa\u00e9mple.org/",
    "https://example.org/a|b",
    "https://example.org/a<b>",
    'https://example.org/a"b',
    "https://example.org/a{b}",
    "https://example.org/%zz",
    "https://example.org/#a#b",
    "https://example.org/\x7f",
    "https://example.org:abc/",
    "https://[abc",
    "https://a]b/",
    "https://[1.2.3.4]/",
    "https://ex[ample.org/",
)
WITH_USER_INFORMATION = (
    "https://user:secret@example.org/hook",
    "https://user@example.org/hook",
    "https://@example.org/hook",
)


def create_body(url: str) -> dict[str, object]:
    return {"url": url, "event_types": ["org.saferefer.referral.submitted"]}


async def refusal(url: str, *, production: bool = False) -> ProblemError:
    with pytest.raises(ProblemError) as raised:
        await check_webhook_url(url, production=production)
    problem = raised.value
    assert problem.status == 422
    assert problem.extensions["errors"][0]["pointer"] == "#/url"
    assert url not in problem.detail
    return problem


@pytest.mark.parametrize("url", ACCEPTED)
async def test_check_accepts_schema_valid_url_in_development(url: str) -> None:
    assert schema_errors("subscription.schema.json", create_body(url), "/$defs/create") == []
    await check_webhook_url(url, production=False)


@pytest.mark.parametrize("url", NOT_URIS)
async def test_check_refuses_pattern_valid_string_that_is_no_uri(url: str) -> None:
    problem = await refusal(url)
    assert "RFC 3986" in problem.detail


@pytest.mark.parametrize("url", WITH_USER_INFORMATION)
async def test_check_refuses_user_information_as_the_schema_does(url: str) -> None:
    assert schema_errors("subscription.schema.json", create_body(url), "/$defs/create") != []
    problem = await refusal(url)
    assert "user information" in problem.detail


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://example.org/hook", "https"),
        ("https://127.0.0.1/hook", "private"),
        ("https://10.0.0.5/hook", "private"),
        ("https://[::1]/hook", "private"),
        ("https://169.254.169.254/latest", "private"),
        ("https://8.8.8.8:99999/hook", "port"),
        ("https://a..b/hook", "does not resolve"),
        ("https://" + "a" * 64 + ".example/hook", "does not resolve"),
    ],
)
async def test_production_refuses_urls_into_the_nodes_own_network(url: str, reason: str) -> None:
    problem = await refusal(url, production=True)
    assert reason in problem.detail


async def test_production_accepts_https_to_a_public_address() -> None:
    await check_webhook_url("https://8.8.8.8/hook", production=True)
