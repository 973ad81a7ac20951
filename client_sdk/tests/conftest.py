"""Fixtures of the SDK tests: the real reference server, in process (both twins) and over HTTP.

The SDK itself never imports the server; only these tests do, to have a real node to talk to.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pytest
import saferefer

if TYPE_CHECKING:
    from fastapi import FastAPI
    from saferefer_server.policy import PolicyEngine

T = TypeVar("T")

NGO = "urn:saferefer:org:NL:demo-ngo"
SHELTER = "urn:saferefer:org:NL:demo-shelter"
LABOUR = "urn:saferefer:org:NL:demo-labour"
POLICE = "urn:saferefer:org:NL:demo-police"
RAPPORTEUR = "urn:saferefer:org:NL:demo-rapporteur"


@dataclass
class DemoNode:
    """A started reference node with the demo directory and a credentials file per organisation."""

    app: FastAPI | None
    base_url: str
    credentials_dir: Path

    def credentials_file(self, org_id: str) -> Path:
        _, _, _, country, code = org_id.split(":")
        return self.credentials_dir / f"{country}-{code}.json"


def write_credentials(directory: Path, documents: dict[str, dict[str, Any]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for org_id, document in documents.items():
        _, _, _, country, code = org_id.split(":")
        (directory / f"{country}-{code}.json").write_text(json.dumps(document))


def _database(tmp_path: Path, template: Path) -> str:
    target = tmp_path / "db" / "saferefer.db"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture
async def async_node(
    tmp_path: Path, _sqlite_template: Path, policy_engine: PolicyEngine
) -> AsyncIterator[DemoNode]:
    """An in-process node started on this test's event loop (for the async twin)."""
    from saferefer_server.main import create_app
    from saferefer_server.testing import node_settings, seed_demo, started

    settings = node_settings(tmp_path / "node", _database(tmp_path, _sqlite_template))
    app = create_app(settings, policy_engine=policy_engine)
    async with started(app):
        creds = await seed_demo(app)
        write_credentials(tmp_path / "credentials", {k: v.document() for k, v in creds.items()})
        yield DemoNode(
            app=app, base_url=settings.base_url, credentials_dir=tmp_path / "credentials"
        )


@pytest.fixture(scope="session")
def http_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoNode]:
    """``saferefer-server serve`` in a subprocess (uvicorn, real HTTP) with the demo directory
    seeded by ``saferefer-server seed-demo``; shared by every test of the run, which therefore use
    fresh subjects and consents and never assume an empty feed."""
    from saferefer_server.testing import running_server_process, server_command

    root = tmp_path_factory.mktemp("http-node")
    env = {"SAFEREFER_DATA_DIR": str(root / "data")}
    with running_server_process(env) as server:
        subprocess.run(
            [*server_command(), "seed-demo", "--credentials-dir", str(root / "credentials")],
            env={**os.environ, **env, "SAFEREFER_BASE_URL": server.base_url},
            check=True,
            capture_output=True,
        )
        yield DemoNode(app=None, base_url=server.base_url, credentials_dir=root / "credentials")


@pytest.fixture(params=["asgi", "http"])
def async_target(
    request: pytest.FixtureRequest,
) -> tuple[DemoNode, httpx.AsyncBaseTransport | None]:
    """The node an async test talks to: in process (httpx's ASGI transport) or a uvicorn process."""
    if request.param == "asgi":
        node: DemoNode = request.getfixturevalue("async_node")
        assert node.app is not None
        return node, httpx.ASGITransport(app=node.app, raise_app_exceptions=False)
    return request.getfixturevalue("http_node"), None


@pytest.fixture
async def async_client_for(
    async_target: tuple[DemoNode, httpx.AsyncBaseTransport | None],
) -> AsyncIterator[Callable[..., saferefer.AsyncClient]]:
    """``async_client_for(org_id, **options)``: an AsyncClient for the node of ``async_target``."""
    node, transport = async_target
    made: list[httpx.AsyncClient] = []

    def make(org_id: str, **kwargs: Any) -> saferefer.AsyncClient:
        http = (
            httpx.AsyncClient(transport=transport) if transport is not None else httpx.AsyncClient()
        )
        made.append(http)
        return saferefer.AsyncClient(
            credentials_file=node.credentials_file(org_id), http_client=http, **kwargs
        )

    yield make
    for http in made:
        await http.aclose()


class _LoopThread:
    """An asyncio loop in a daemon thread, so sync code can call an app started on that loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


class ThreadedASGITransport(httpx.BaseTransport):
    """A sync httpx transport that runs each request through httpx's ASGI transport on a loop thread."""

    def __init__(self, app: FastAPI, loop_thread: _LoopThread) -> None:
        self._inner = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self._loop_thread = loop_thread

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def call() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            response = await self._inner.handle_async_request(request)
            body = await response.aread()
            return response.status_code, response.headers.raw, body

        status, headers, body = self._loop_thread.run(call())
        return httpx.Response(status, headers=headers, content=body, request=request)


@pytest.fixture
def sync_node(tmp_path: Path, _sqlite_template: Path) -> Iterator[tuple[DemoNode, httpx.Client]]:
    """An in-process node on its own loop thread, called through a sync httpx transport."""
    from saferefer_server.main import create_app
    from saferefer_server.testing import node_settings, seed_demo, started

    settings = node_settings(tmp_path / "node", _database(tmp_path, _sqlite_template))
    app = create_app(settings)
    loop_thread = _LoopThread()
    stop = asyncio.Event()
    ready: asyncio.Future[dict[str, Any]] = loop_thread.loop.create_future()

    async def serve() -> None:
        try:
            async with started(app):
                creds = await seed_demo(app)
                ready.set_result({k: v.document() for k, v in creds.items()})
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    serving = asyncio.run_coroutine_threadsafe(serve(), loop_thread.loop)

    async def wait_ready() -> dict[str, Any]:
        return await ready

    documents = loop_thread.run(wait_ready())
    write_credentials(tmp_path / "credentials", documents)
    http = httpx.Client(transport=ThreadedASGITransport(app, loop_thread))
    try:
        yield (
            DemoNode(app=app, base_url=settings.base_url, credentials_dir=tmp_path / "credentials"),
            http,
        )
    finally:
        http.close()
        loop_thread.loop.call_soon_threadsafe(stop.set)
        serving.result(timeout=30)
        loop_thread.close()


@pytest.fixture(params=["asgi", "http"])
def client_for(request: pytest.FixtureRequest) -> Iterator[Callable[..., saferefer.Client]]:
    """``client_for(org_id, **options)``: a sync Client, in process or over real HTTP."""
    made: list[saferefer.Client] = []
    if request.param == "asgi":
        node, http = request.getfixturevalue("sync_node")
    else:
        node, http = request.getfixturevalue("http_node"), None

    def make(org_id: str, **kwargs: Any) -> saferefer.Client:
        client = saferefer.Client(
            credentials_file=node.credentials_file(org_id), http_client=http, **kwargs
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


# --- A scripted HTTP server for the client's own mechanics (retries, tokens, failures) ----------


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ScriptedServer:
    """A real loopback HTTP server answering from a script: ``script[path]`` is a list of
    ``(status, headers, body)`` consumed in order (the last one repeats). ``/oauth/token``
    always issues a token unless scripted."""

    base_url: str
    script: dict[str, list[tuple[int, dict[str, str], bytes]]]
    requests: list[Recorded]
    tokens_issued: list[int]

    def on(self, path: str, *responses: tuple[int, dict[str, str], bytes | dict[str, Any]]) -> None:
        self.script[path] = [
            (s, h, b if isinstance(b, bytes) else json.dumps(b).encode()) for s, h, b in responses
        ]

    def calls(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.split("?")[0] == path]


@pytest.fixture
def scripted_server() -> Iterator[ScriptedServer]:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    state = ScriptedServer(base_url="", script={}, requests=[], tokens_issued=[])

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            state.requests.append(
                Recorded(self.command, self.path, dict(self.headers.items()), body)
            )
            path = self.path.split("?")[0]
            queue = state.script.get(path)
            if queue:
                status, headers, payload = queue.pop(0) if len(queue) > 1 else queue[0]
            elif path == "/oauth/token":
                state.tokens_issued.append(len(state.tokens_issued) + 1)
                status, headers = 200, {"content-type": "application/json"}
                payload = json.dumps(
                    {
                        "access_token": f"token-{len(state.tokens_issued)}",
                        "token_type": "Bearer",
                        "expires_in": 300,
                        "scope": "",
                    }
                ).encode()
            else:
                status, headers, payload = (
                    404,
                    {"content-type": "application/problem+json"},
                    b'{"title":"Not found","status":404}',
                )
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def org_key_file(tmp_path: Path) -> Path:
    """A PEM private key file of a made-up organisation."""
    from joserfc.jwk import ECKey

    path = tmp_path / "org-key.pem"
    path.write_bytes(ECKey.generate_key("P-256", private=True).as_pem(private=True))
    return path


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Millisecond backoff, so retry tests run fast (the delays themselves are table-tested)."""
    from saferefer import _retry

    monkeypatch.setattr(_retry, "INITIAL_RETRY_DELAY", 0.001)
    monkeypatch.setattr(_retry, "MAX_RETRY_DELAY", 0.004)


# --- Documents of the demo scenario -------------------------------------------------------------


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _subject_ref() -> str:
    return "srp1." + base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


@pytest.fixture
def consent_doc() -> Callable[..., dict[str, Any]]:
    """``consent_doc(recipient_org, purposes=..., categories=...)``: a valid consent-create body."""

    def build(
        recipient: str,
        *,
        purposes: Sequence[str] = ("assistance",),
        categories: Sequence[str] = ("identity", "contact", "language_needs"),
        recorder_role: str = "ngo_service_provider",
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        return {
            "subject_ref": _subject_ref(),
            "age_status": "adult",
            "given_by": "subject",
            "recorder": {"role": recorder_role, "worker_ref": "worker-1"},
            "grants": [
                {
                    "recipient": {"org_id": recipient},
                    "purposes": list(purposes),
                    "data_categories": list(categories),
                    "explicit_categories": [],
                    "onward_sharing": False,
                }
            ],
            "issued_at": _rfc3339(now - timedelta(minutes=5)),
            "valid_from": _rfc3339(now - timedelta(minutes=5)),
            "valid_until": _rfc3339(now + timedelta(days=180)),
            "language": "ro",
            "interpreter": {"present": True, "independence": "independent_professional"},
            "information_sheet_version": "nl-2026.1",
            "risks_informed": ["disclosure_to_authorities"],
            "method": "written_signature",
            "evidence_hash": "sha256:" + "ab" * 32,
            "refusal_does_not_affect_assistance": True,
            "withdrawal_channels": ["in_person", "phone"],
            "reflection_period": {"active": False},
            "decision_to_cooperate": {"recorded": False},
        }

    return build


@pytest.fixture
def referral_doc() -> Callable[..., dict[str, Any]]:
    """``referral_doc(recipient_org, consent_id, payload=...)``: a valid referral-create body (unsigned)."""

    def build(
        recipient: str,
        consent_id: str,
        *,
        purpose: str = "assistance",
        payload: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        return {
            "recipient": recipient,
            "purpose": purpose,
            "requested_services": ["case_management"],
            "urgency": "routine",
            "consent_ids": [consent_id],
            "subject_ref": _subject_ref(),
            "subject": {
                "age_status": "adult",
                "asylum_pending": False,
                "identification_status": "reasonable_grounds",
            },
            "payload": dict(
                payload
                or {"identity": {"given_name": "A."}, "language_needs": {"languages": ["ro"]}}
            ),
            "safety_notes": {"risk_level": "medium", "contact_constraints": ["no_home_visits"]},
            "retain_until": _rfc3339(datetime.now(UTC) + timedelta(days=90)),
        }

    return build
