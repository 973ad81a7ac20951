"""Serve the reference app in process behind a switchable wrapper, for the broken-server catalogue.

One app, one database and one demo directory serve every variant: the wrapper's current variant is
switched between suite runs, so the catalogue costs one server start-up, not one per variant.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ..conftest import seed_demo, write_config
from .variants import Exchange, Reply, Variant

Scope = dict[str, Any]
#: Generous: the catalogue judges behaviour, not speed, on a machine shared with other tests.
POLICY_TIMEOUT_MS = 5000


class Switchboard:
    """An ASGI app passing everything to the reference app, through the current variant if any."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.variant: Variant | None = None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        variant = self.variant
        if scope["type"] != "http" or variant is None:
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        request = Exchange(
            scope["method"],
            scope["path"],
            scope.get("query_string", b""),
            list(scope["headers"]),
            body,
        )

        async def call_next(forwarded: Exchange) -> Reply:
            return await self._call(scope, forwarded)

        reply = await variant.handle(request, call_next)
        headers = [(k, v) for k, v in reply.headers if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(reply.body)).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})

    async def _call(self, scope: Scope, request: Exchange) -> Reply:
        headers = [(k, v) for k, v in request.headers if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(request.body)).encode()))
        inner = {
            **scope,
            "method": request.method,
            "path": request.path,
            "raw_path": request.path.encode(),
            "query_string": request.query,
            "headers": headers,
        }
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": request.body, "more_body": False}
            await asyncio.Future()  # the client never disconnects mid-request here
            raise AssertionError("unreachable")

        status, response_headers, chunks = 500, [], []

        async def send(message: dict[str, Any]) -> None:
            nonlocal status, response_headers
            if message["type"] == "http.response.start":
                status, response_headers = message["status"], list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(inner, receive, send)
        return Reply(status, response_headers, b"".join(chunks))


@dataclass
class WrappedNode:
    switchboard: Switchboard
    base_url: str
    config: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def wrapped_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WrappedNode]:
    import uvicorn
    from saferefer_server.main import create_app
    from saferefer_server.testing import node_settings

    root = tmp_path_factory.mktemp("broken")
    data_dir = root / "node"
    data_dir.mkdir()
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    credentials = seed_demo(data_dir, {"SAFEREFER_BASE_URL": base_url})
    switchboard = Switchboard(
        create_app(
            node_settings(
                data_dir, base_url=base_url, demo=True, policy_timeout_ms=POLICY_TIMEOUT_MS
            )
        )
    )
    server = uvicorn.Server(
        uvicorn.Config(switchboard, host="127.0.0.1", port=port, lifespan="on", log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the wrapped reference server did not start")
        time.sleep(0.05)
    try:
        yield WrappedNode(
            switchboard, base_url, write_config(root / "conformance.json", credentials)
        )
    finally:
        server.should_exit = True
        thread.join(timeout=30)
