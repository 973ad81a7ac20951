"""Every way a call can fail ends in a SafeReferError subclass: nothing from httpx, joserfc,
pydantic or jsonschema leaks through (the boundary translates them)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import saferefer
from joserfc.jwk import ECKey

ORG = "urn:saferefer:org:NL:made-up"
NODE = "urn:saferefer:node:NL:x"


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections and reads, but never answers (for timeouts)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(timeout=2)
    for conn in held:
        conn.close()
    listener.close()


@pytest.fixture
def hanging_up_server() -> Iterator[str]:
    """Reads each request, then closes the connection without an answer."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.recv(65536)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(timeout=2)
    listener.close()


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _client(base_url: str, key: Path, **kwargs: Any) -> saferefer.Client:
    return saferefer.Client(
        base_url=base_url, org_id=ORG, private_key_file=key, node_id=NODE, max_retries=0, **kwargs
    )


def _async_client(base_url: str, key: Path, **kwargs: Any) -> saferefer.AsyncClient:
    return saferefer.AsyncClient(
        base_url=base_url, org_id=ORG, private_key_file=key, node_id=NODE, max_retries=0, **kwargs
    )


JSON = {"content-type": "application/json"}


def _scripted(server: Any, mode: str) -> None:
    if mode == "non-json-success":
        server.on("/v1/audit/verify", (200, {"content-type": "text/plain"}, b"all good"))
    elif mode == "wrong-shape":
        server.on("/v1/audit/verify", (200, JSON, {"valid": "maybe"}))
    elif mode == "plain-text-500":
        server.on("/v1/audit/verify", (500, {"content-type": "text/plain"}, b"Traceback ..."))
    elif mode == "html-404":
        server.on("/v1/audit/verify", (404, {"content-type": "text/html"}, b"<h1>nope</h1>"))
    elif mode == "garbage-token":
        server.on("/oauth/token", (200, JSON, {"token": 1}))
    elif mode == "token-refused":
        server.on(
            "/oauth/token",
            (400, JSON, {"error": "invalid_client", "error_description": "unknown key"}),
        )
    elif mode == "token-not-json":
        server.on("/oauth/token", (502, {"content-type": "text/html"}, b"<html>bad gateway</html>"))


SCRIPTED = [
    "non-json-success",
    "wrong-shape",
    "plain-text-500",
    "html-404",
    "garbage-token",
    "token-refused",
    "token-not-json",
]


@pytest.mark.parametrize("mode", SCRIPTED)
def test_bad_answers_raise_safe_refer_errors_sync(
    mode: str, scripted_server: Any, org_key_file: Path
) -> None:
    _scripted(scripted_server, mode)
    with (
        _client(scripted_server.base_url, org_key_file) as client,
        pytest.raises(saferefer.APIError) as info,
    ):
        client.audit.verify()
    assert isinstance(info.value, saferefer.SafeReferError)


@pytest.mark.parametrize("mode", SCRIPTED)
async def test_bad_answers_raise_safe_refer_errors_async(
    mode: str, scripted_server: Any, org_key_file: Path
) -> None:
    _scripted(scripted_server, mode)
    async with _async_client(scripted_server.base_url, org_key_file) as client:
        with pytest.raises(saferefer.APIError):
            await client.audit.verify()


def test_unreachable_node_raises_connection_error(org_key_file: Path) -> None:
    with (
        _client(_closed_port(), org_key_file) as client,
        pytest.raises(saferefer.APIConnectionError),
    ):
        client.audit.verify()


async def test_unreachable_node_raises_connection_error_async(org_key_file: Path) -> None:
    async with _async_client(_closed_port(), org_key_file) as client:
        with pytest.raises(saferefer.APIConnectionError):
            await client.audit.verify()


def test_silent_node_raises_timeout(silent_server: str, org_key_file: Path) -> None:
    with (
        _client(silent_server, org_key_file, timeout=0.3) as client,
        pytest.raises(saferefer.APITimeoutError),
    ):
        client.audit.verify()


async def test_silent_node_raises_timeout_async(silent_server: str, org_key_file: Path) -> None:
    async with _async_client(silent_server, org_key_file) as client:
        with pytest.raises(saferefer.APITimeoutError):
            await client.audit.verify(timeout=0.3)


def test_hang_up_raises_connection_error(hanging_up_server: str, org_key_file: Path) -> None:
    with (
        _client(hanging_up_server, org_key_file) as client,
        pytest.raises(saferefer.APIConnectionError),
    ):
        client.audit.verify()


def _bad_configurations(tmp_path: Path) -> list[Callable[[], object]]:
    p384 = tmp_path / "p384.pem"
    p384.write_bytes(ECKey.generate_key("P-384", private=True).as_pem(private=True))
    public_only = tmp_path / "public.pem"
    public_only.write_bytes(ECKey.generate_key("P-256", private=True).as_pem(private=False))
    not_json = tmp_path / "creds.json"
    not_json.write_text("{not json")
    not_creds = tmp_path / "other.json"
    not_creds.write_text(json.dumps({"hello": 1}))
    garbage_pem = tmp_path / "garbage.pem"
    garbage_pem.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    good = tmp_path / "good.pem"
    good.write_bytes(ECKey.generate_key("P-256", private=True).as_pem(private=True))
    base = {"base_url": "https://n.example", "org_id": ORG}
    return [
        lambda: saferefer.Client(**base, private_key_file=tmp_path / "missing.pem"),
        lambda: saferefer.Client(**base, private_key_file=p384),
        lambda: saferefer.Client(**base, private_key_file=public_only),
        lambda: saferefer.Client(**base, private_key_file=garbage_pem),
        lambda: saferefer.Client(credentials_file=not_json),
        lambda: saferefer.Client(credentials_file=not_creds),
        lambda: saferefer.Client(base_url="not a url", org_id=ORG, private_key_file=good),
        lambda: saferefer.Client(base_url="ftp://n.example", org_id=ORG, private_key_file=good),
        lambda: saferefer.Client(
            org_id=ORG, private_key={"kty": "oct", "k": "AAAA"}, base_url="https://n.example"
        ),
        lambda: saferefer.AsyncClient(base_url="https://n.example", private_key_file=good),
        lambda: saferefer.Client(**base, private_key_file=good, max_retries=-1),
    ]


def test_misconfiguration_raises_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        "SAFEREFER_ORG_ID",
        "SAFEREFER_CREDENTIALS_FILE",
        "SAFEREFER_PRIVATE_KEY_FILE",
        "SAFEREFER_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    for attempt in _bad_configurations(tmp_path):
        with pytest.raises(saferefer.ConfigurationError):
            attempt()


def test_bad_request_data_raises_invalid_request_error(
    scripted_server: Any, org_key_file: Path
) -> None:
    with _client(scripted_server.base_url, org_key_file) as client:
        with pytest.raises(saferefer.InvalidRequestError):
            client.policy.check({"payload": {"identity": {"when": object()}}}, validate=False)
        with pytest.raises(saferefer.InvalidRequestError):
            client.audit.verify(extra_headers={"X-Note": "café"})
        with pytest.raises(saferefer.InvalidRequestError):
            client.referrals.create({"recipient": "nobody"})
        with pytest.raises(saferefer.InvalidRequestError):
            client.referrals.create({"payload": {"x": float("nan")}}, validate=False)
        with pytest.raises(saferefer.InvalidRequestError):
            client.referrals.decline("01936f5e-8a7b-7c3d-9e4f-0a1b2c3d4e5f", reason="too busy")
    assert scripted_server.calls("/v1/referrals") == []  # nothing malformed was sent


def test_bad_signatures_raise_their_errors() -> None:
    with pytest.raises(saferefer.WebhookVerificationError):
        saferefer.webhooks.verify({"SafeRefer-Signature": "a..b"}, b"{}", {"keys": "nope"})
    with pytest.raises(saferefer.WebhookVerificationError):
        saferefer.webhooks.verify({"SafeRefer-Signature": "%%%..%%%"}, b"{}", {"keys": []})
    with pytest.raises(saferefer.PayloadSignatureError):
        saferefer.verify_payload_signature("x.y.z", {"identity": {}}, {"keys": [{"kty": "EC"}]})
    with pytest.raises(saferefer.PayloadSignatureError):
        saferefer.verify_payload_signature("e30..AAAA", {"identity": {"n": object()}}, {"keys": []})
