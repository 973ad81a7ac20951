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
        base_url=base_url,
        org_id=ORG,
        private_key_file=key,
        node_id=NODE,
        **({"max_retries": 0} | kwargs),  # retries only where a test asks for them
    )


def _async_client(base_url: str, key: Path, **kwargs: Any) -> saferefer.AsyncClient:
    return saferefer.AsyncClient(
        base_url=base_url,
        org_id=ORG,
        private_key_file=key,
        node_id=NODE,
        **({"max_retries": 0} | kwargs),  # retries only where a test asks for them
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
        pytest.raises(saferefer.APIConnectionError, match="closed the connection"),
    ):
        client.audit.verify()


REFERRAL_ID = "01936f5e-8a7b-7c3d-9e4f-0a1b2c3d4e5f"


def _connection_failures(scripted_server: Any) -> list[tuple[str, str]]:
    """(base URL, what the message must say) for each way of not reaching a node."""
    closed = _closed_port()
    https_to_http = scripted_server.base_url.replace("http://", "https://")
    return [
        (closed + "/saferefer", f"{closed}/saferefer refused the connection"),
        ("http://node.saferefer.invalid", "the host name of http://node.saferefer.invalid"),
        (https_to_http, f"the TLS handshake with {https_to_http} failed"),
    ]


def test_connection_error_names_the_node_the_failure_and_what_to_check(
    scripted_server: Any, org_key_file: Path
) -> None:
    for base_url, expected in _connection_failures(scripted_server):
        with (
            _client(base_url, org_key_file) as client,
            pytest.raises(saferefer.APIConnectionError) as info,
        ):
            client.referrals.retrieve(REFERRAL_ID)
        message = str(info.value)
        assert message.startswith("Connection error: " + expected), message
        assert "base_url" in message
        assert REFERRAL_ID not in message  # the base URL, never the path with its ids


async def test_connection_error_names_the_node_the_failure_and_what_to_check_async(
    scripted_server: Any, org_key_file: Path
) -> None:
    for base_url, expected in _connection_failures(scripted_server):
        async with _async_client(base_url, org_key_file) as client:
            with pytest.raises(saferefer.APIConnectionError) as info:
                await client.referrals.retrieve(REFERRAL_ID)
        assert str(info.value).startswith("Connection error: " + expected), str(info.value)
        assert REFERRAL_ID not in str(info.value)


def test_refused_connection_asks_whether_the_node_runs(org_key_file: Path) -> None:
    base_url = _closed_port()
    with (
        _client(base_url, org_key_file) as client,
        pytest.raises(saferefer.APIConnectionError) as info,
    ):
        client.audit.verify()
    assert f"Is the node running at {base_url}? Check base_url" in str(info.value)


def test_timeout_names_the_node_and_what_to_check(silent_server: str, org_key_file: Path) -> None:
    with (
        _client(silent_server, org_key_file, timeout=0.3) as client,
        pytest.raises(saferefer.APITimeoutError) as info,
    ):
        client.referrals.retrieve(REFERRAL_ID)
    assert str(info.value) == (
        f"Request timed out: {silent_server} did not answer within the timeout. Is the node "
        f"running at {silent_server}? Check base_url, or pass a longer timeout=."
    )


@pytest.mark.parametrize(
    "key",
    ["case 7\nretry", "Zanetta Quorvik", "café-1", "", "k" * 256, 12345],
    ids=["line break", "space", "non-ASCII", "empty", "too long", "not a string"],
)
def test_malformed_idempotency_key_is_refused_before_sending(
    key: Any, scripted_server: Any, org_key_file: Path
) -> None:
    with (
        _client(scripted_server.base_url, org_key_file) as client,
        pytest.raises(saferefer.InvalidRequestError) as info,
    ):
        client.policy.check({"x": 1}, validate=False, idempotency_key=key)
    assert [e.path for e in info.value.errors] == ["idempotency_key"]
    assert "idempotency_key must be" in str(info.value)
    if key:
        assert str(key) not in str(info.value)  # a key may hold a case reference or a name
    assert scripted_server.requests == []


async def test_malformed_idempotency_key_is_refused_before_sending_async(
    scripted_server: Any, org_key_file: Path
) -> None:
    async with _async_client(scripted_server.base_url, org_key_file) as client:
        with pytest.raises(saferefer.InvalidRequestError) as info:
            await client.policy.check({"x": 1}, validate=False, idempotency_key="case 7\nretry")
    assert [e.path for e in info.value.errors] == ["idempotency_key"]
    assert scripted_server.requests == []


@pytest.fixture
def retry_delays(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The attempt numbers the client waited after (no wait at all, so tests stay fast)."""
    from saferefer import _retry

    waited: list[int] = []

    def no_delay(*, attempt: int, **_: Any) -> float:
        waited.append(attempt)
        return 0.0

    monkeypatch.setattr(_retry, "_retry_delay", no_delay)
    return waited


def test_header_httpx_refuses_to_send_is_a_caller_error_not_retried(
    scripted_server: Any, org_key_file: Path, retry_delays: list[int]
) -> None:
    with (
        _client(scripted_server.base_url, org_key_file, max_retries=2) as client,
        pytest.raises(saferefer.InvalidRequestError) as info,
    ):
        client.audit.verify(extra_headers={"X-Case": "7\nretry"})
    assert "not valid HTTP" in str(info.value)
    assert "retry" not in str(info.value)  # never the header value
    assert retry_delays == []
    assert scripted_server.calls("/v1/audit/verify") == []


async def test_header_httpx_refuses_to_send_is_a_caller_error_not_retried_async(
    scripted_server: Any, org_key_file: Path, retry_delays: list[int]
) -> None:
    async with _async_client(scripted_server.base_url, org_key_file, max_retries=2) as client:
        with pytest.raises(saferefer.InvalidRequestError):
            await client.audit.verify(extra_headers={"X-Case": "7\nretry"})
    assert retry_delays == []
    assert scripted_server.calls("/v1/audit/verify") == []


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


def _credentials_document() -> dict[str, Any]:
    return {
        "saferefer_credentials": 1,
        "base_url": "http://127.0.0.1:9",
        "org_id": ORG,
        "kid": "k-1",
        "private_key_jwk": ECKey.generate_key("P-256", private=True).as_dict(private=True),
    }


@pytest.mark.parametrize(
    ("member", "value", "expected"),
    [
        (
            "private_key_jwk",
            "xxxx",
            '"private_key_jwk" must be a JSON object (the organisation\'s EC P-256 private key '
            "as a JWK), not a string.",
        ),
        ("private_key_jwk", None, '"private_key_jwk" must be a JSON object'),
        (
            "org_id",
            7,
            '"org_id" must be a string (the organisation id, urn:saferefer:org:...), not a number.',
        ),
        ("org_id", ..., '"org_id" is missing; it must be a string'),
        ("private_key_jwk", ..., '"private_key_jwk" is missing; it must be a JSON object'),
    ],
    ids=["jwk a string", "jwk null", "org_id a number", "org_id missing", "jwk missing"],
)
def test_credentials_file_names_the_member_of_the_wrong_type(
    tmp_path: Path, member: str, value: object, expected: str
) -> None:
    document = _credentials_document()
    if value is ...:
        del document[member]
    else:
        document[member] = value
    path = tmp_path / "NL-made-up.json"
    path.write_text(json.dumps(document))
    with pytest.raises(saferefer.ConfigurationError) as info:
        saferefer.Client(credentials_file=path)
    assert str(info.value).startswith(f"{path}: {expected}"), str(info.value)
    assert "xxxx" not in str(info.value)


def test_missing_relative_credentials_file_explains_where_it_was_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(saferefer.ConfigurationError) as relative:
        saferefer.Client(credentials_file="var/demo/credentials/NL-demo-ngo.json")
    message = str(relative.value)
    assert message.startswith(
        "cannot read credentials file var/demo/credentials/NL-demo-ngo.json: no such file."
    )
    assert f"resolved against the working directory ({tmp_path})" in message
    assert "`make run`" in message
    assert "saferefer-server seed-demo" in message
    with pytest.raises(saferefer.ConfigurationError) as absolute:
        saferefer.Client(credentials_file=tmp_path / "missing.json")
    assert "working directory" not in str(absolute.value)
    assert "saferefer-server seed-demo" in str(absolute.value)


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


JSON_TEXT = json.dumps({"payload": {"identity": {"given_name": "Zanetta"}}})


def test_a_document_that_is_not_a_json_object_is_refused(
    scripted_server: Any, org_key_file: Path
) -> None:
    referral = "the referral must be a JSON object: a dict or a saferefer.types.ReferralCreate, not"
    consent = "the consent must be a JSON object: a dict or a saferefer.types.ConsentCreate, not"
    with _client(scripted_server.base_url, org_key_file) as client:
        for call, expected in [
            (lambda: client.referrals.create(JSON_TEXT), f"{referral} str (parse JSON text"),
            (lambda: client.policy.check(JSON_TEXT.encode()), f"{referral} bytes (parse JSON"),
            (lambda: client.consents.record(None), f"{consent} NoneType;"),
            (lambda: client.consents.record([("language", "ro")]), f"{consent} list;"),
        ]:
            with pytest.raises(saferefer.InvalidRequestError) as info:
                call()
            assert str(info.value).startswith(expected), str(info.value)
            assert [(e.path, e.message) for e in info.value.errors] == [
                ("#", "must be of type object")
            ]
            assert "Zanetta" not in str(info.value)
    assert scripted_server.requests == []


async def test_a_document_that_is_not_a_json_object_is_refused_async(
    scripted_server: Any, org_key_file: Path
) -> None:
    async with _async_client(scripted_server.base_url, org_key_file) as client:
        with pytest.raises(saferefer.InvalidRequestError, match="referral must be a JSON object"):
            await client.referrals.create(JSON_TEXT)
        with pytest.raises(saferefer.InvalidRequestError, match="consent must be a JSON object"):
            await client.consents.record(None)
    assert scripted_server.requests == []


def test_bad_signatures_raise_their_errors() -> None:
    with pytest.raises(saferefer.WebhookVerificationError):
        saferefer.webhooks.verify({"SafeRefer-Signature": "a..b"}, b"{}", {"keys": "nope"})
    with pytest.raises(saferefer.WebhookVerificationError):
        saferefer.webhooks.verify({"SafeRefer-Signature": "%%%..%%%"}, b"{}", {"keys": []})
    with pytest.raises(saferefer.WebhookVerificationError, match="must be a JWK Set"):
        saferefer.webhooks.verify({"SafeRefer-Signature": "a..b"}, b"{}", None)  # type: ignore[arg-type]
    with pytest.raises(saferefer.PayloadSignatureError):
        saferefer.verify_payload_signature("x.y.z", {"identity": {}}, {"keys": [{"kty": "EC"}]})
    with pytest.raises(saferefer.PayloadSignatureError):
        saferefer.verify_payload_signature("e30..AAAA", {"identity": {"n": object()}}, {"keys": []})
