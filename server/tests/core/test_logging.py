"""Structured logs: JSON lines with request ids, and never a value the client sent."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from saferefer_server.core.logging import JSONFormatter, configure_logging, request_id_var
from saferefer_server.testing import (
    TEST_PAYLOAD_KEY,
    OrgCredentials,
    RunningServer,
    client_assertion,
    running_server_process,
    server_command,
    token_form,
)

MARKER = "MARKERzq9Vx"


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningServer, OrgCredentials]]:
    root = tmp_path_factory.mktemp("logging")
    env = {"SAFEREFER_DATA_DIR": str(root / "data"), "SAFEREFER_PAYLOAD_KEYS": TEST_PAYLOAD_KEY}
    subprocess.run(
        [*server_command(), "seed-demo", "--credentials-dir", str(root / "credentials")],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    with running_server_process(env, log_file=root / "server.log") as running:
        yield running, OrgCredentials.from_file(root / "credentials" / "NL-demo-ngo.json")


def test_my_endpoints_never_log_request_values(
    server: tuple[RunningServer, OrgCredentials],
) -> None:
    running, ngo = server
    base = running.base_url
    assertion = client_assertion(ngo, audience=ngo.node_id, claims={"jti": f"jti-{MARKER}"})
    token = httpx.post(f"{base}/oauth/token", data=token_form(assertion)).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    httpx.post(f"{base}/oauth/token", data=token_form(assertion))  # replay, rejected
    httpx.post(f"{base}/oauth/token", data={"grant_type": MARKER, "client_assertion": MARKER})
    httpx.get(f"{base}/v1/organisations", params={"name": MARKER, "role": MARKER}, headers=auth)
    httpx.get(f"{base}/v1/organisations/urn:saferefer:org:NL:{MARKER.lower()}", headers=auth)
    httpx.get(f"{base}/v1/organisations", params={"cursor": MARKER}, headers=auth)
    httpx.get(f"{base}/v1/{MARKER}", headers={"Authorization": f"Bearer {MARKER}"})
    httpx.post(
        f"{base}/v1/subscriptions",
        content=json.dumps({"url": f"https://{MARKER}.example.org", "x": MARKER}),
        headers={**auth, "content-type": "application/json", "Idempotency-Key": MARKER},
    )
    httpx.post(
        f"{base}/v1/consents",
        content=b"{" + MARKER.encode(),
        headers={**auth, "content-type": "application/json"},
    )
    lines = running.log_lines()
    assert any('"route":"/v1/organisations"' in line for line in lines)
    leaked = [line for line in lines if MARKER in line or MARKER.lower() in line]
    assert not leaked, leaked


def test_every_log_line_is_json(server: tuple[RunningServer, OrgCredentials]) -> None:
    running, _ = server
    httpx.get(f"{running.base_url}/healthz")
    entries = [json.loads(line) for line in running.log_lines() if line.strip()]
    assert entries
    assert {"ts", "level", "logger", "event"} <= set(entries[-1])


def test_exception_logs_type_and_place_but_not_message() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger("saferefer.test.logging")
    logger.addHandler(handler)
    logger.propagate = False
    token = request_id_var.set("req-1234567")
    try:
        try:
            raise ValueError(f"subject name {MARKER}")
        except ValueError as exc:
            logger.error("failed", exc_info=exc, extra={"referral_id": "r-1"})
    finally:
        request_id_var.reset(token)
        logger.removeHandler(handler)
    entry = json.loads(stream.getvalue())
    assert MARKER not in stream.getvalue()
    assert entry["exception"] == "ValueError"
    assert entry["request_id"] == "req-1234567"
    assert entry["referral_id"] == "r-1"
    assert Path(entry["exception_at"][-1].split(":")[0]).name == "test_logging.py"


@pytest.mark.parametrize("library", ["aiosqlite", "sqlalchemy.engine.Engine", "httpx"])
def test_debug_level_never_lets_libraries_log_statement_values(
    library: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """aiosqlite logs every statement with its parameters at DEBUG; at SAFEREFER_LOG_LEVEL=debug
    those parameters (names, dates of birth) must still not reach the log."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("DEBUG")
        logging.getLogger(library).debug("executing %s with %s", "SELECT ?", (MARKER,))
        logging.getLogger("saferefer_server.test").debug("own debug line")
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    lines = capsys.readouterr().err.splitlines()
    assert not [line for line in lines if MARKER in line]
    assert any("own debug line" in line for line in lines)
