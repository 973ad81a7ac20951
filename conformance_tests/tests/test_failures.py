"""Failures reproduce as curl commands, and no secret survives into a report."""

from __future__ import annotations

import json
import shlex

import httpx
from saferefer_conformance._failures import MASK, curl_command, describe_response, mask_text

TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


def test_curl_masks_bearer_token_and_keeps_the_request_reproducible() -> None:
    request = httpx.Request(
        "POST",
        "http://node.test/v1/referrals?box=inbox",
        headers={"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": "k-1"},
        json={"purpose": "shelter"},
    )
    command = curl_command(request)
    assert TOKEN not in command
    argv = shlex.split(command)
    assert argv[:3] == ["curl", "-X", "POST"]
    assert "authorization: Bearer ***" in [a.lower().replace("bearer", "Bearer") for a in argv]
    assert "idempotency-key: k-1" in argv
    assert json.loads(argv[argv.index("--data-raw") + 1]) == {"purpose": "shelter"}
    assert argv[-1] == "http://node.test/v1/referrals?box=inbox"


def test_curl_masks_client_assertion_in_form_bodies() -> None:
    request = httpx.Request(
        "POST",
        "http://node.test/oauth/token",
        data={"grant_type": "client_credentials", "client_assertion": TOKEN},
    )
    command = curl_command(request)
    assert TOKEN not in command
    assert f"client_assertion={MASK}" in command
    assert "grant_type=client_credentials" in command


def test_curl_masks_private_key_members_in_json_bodies() -> None:
    request = httpx.Request(
        "POST", "http://node.test/x", json={"private_key_jwk": {"d": "secret"}, "ok": 1}
    )
    command = curl_command(request)
    assert "secret" not in command
    assert '"ok":1' in command


def test_mask_text_hides_tokens_in_free_text() -> None:
    assert TOKEN not in mask_text(f"token {TOKEN} was refused; Authorization: Bearer abc.def")
    assert "abc.def" not in mask_text("Authorization: Bearer abc.def")


def test_describe_response_masks_and_truncates() -> None:
    response = httpx.Response(200, json={"access_token": TOKEN, "pad": "x" * 2000})
    text = describe_response(response)
    assert TOKEN not in text
    assert text.startswith("200 (application/json)")
    assert text.endswith("…")
