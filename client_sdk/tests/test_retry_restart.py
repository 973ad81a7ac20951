"""Retries against the real reference server, stopped and started again in the middle of a call."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import saferefer

NGO = "urn:saferefer:org:NL:demo-ngo"
SHELTER = "urn:saferefer:org:NL:demo-shelter"


class Node:
    """``saferefer-server serve`` on a fixed port and data directory, so it can come back."""

    def __init__(self, root: Path) -> None:
        from saferefer_server.testing import free_port, server_command

        self.command = server_command()
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "SAFEREFER_DATA_DIR": str(root / "data"),
            "SAFEREFER_BASE_URL": self.base_url,
        }
        self.log = root / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*self.command, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.base_url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise TimeoutError(self.log.read_text()[-2000:])

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture
def restartable_node(tmp_path: Path) -> Iterator[tuple[Node, Path]]:
    node = Node(tmp_path)
    node.start()
    node.wait_ready()
    subprocess.run(
        [*node.command, "seed-demo", "--credentials-dir", str(tmp_path / "credentials")],
        env=node.env,
        check=True,
        capture_output=True,
    )
    try:
        yield node, tmp_path / "credentials"
    finally:
        if node.process is not None and node.process.poll() is None:
            node.kill()


def test_create_survives_a_server_restart_without_duplicating(
    restartable_node: tuple[Node, Path],
    consent_doc: Callable[..., dict[str, Any]],
    referral_doc: Callable[..., dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from saferefer import _retry

    monkeypatch.setattr(_retry, "INITIAL_RETRY_DELAY", 1.0)
    node, credentials = restartable_node
    ngo = saferefer.Client(credentials_file=credentials / "NL-demo-ngo.json", max_retries=8)
    consent = ngo.consents.record(consent_doc(SHELTER))
    body = referral_doc(SHELTER, consent.id)
    # Signed once, so that a replay below is byte-for-byte the same request (ECDSA signatures differ
    # every time they are made).
    body["payload_signature"] = saferefer.sign_payload(body["payload"], ngo.credentials)
    sent_keys: list[str] = []
    original_send = ngo._http.send

    def recording_send(request: httpx.Request, **kwargs: Any) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/v1/referrals":
            sent_keys.append(request.headers["Idempotency-Key"])
        return original_send(request, **kwargs)

    monkeypatch.setattr(ngo._http, "send", recording_send)

    node.kill()
    result: dict[str, Any] = {}
    call = threading.Thread(target=lambda: result.update(referral=ngo.referrals.create(body)))
    call.start()
    time.sleep(2.0)  # the call is failing and backing off now
    assert call.is_alive()
    node.start()
    call.join(timeout=120)
    assert not call.is_alive()
    referral = result["referral"]
    assert referral.state == "submitted"
    assert len(sent_keys) >= 2
    assert len(set(sent_keys)) == 1  # one key for every attempt

    # The same logical call again (same key): the node answers the first response, no duplicate.
    again = ngo.referrals.create(body, idempotency_key=sent_keys[0])
    assert again.id == referral.id
    mine = [r for r in ngo.referrals.list(box="outbox") if r.subject_ref == body["subject_ref"]]
    assert [r.id for r in mine] == [referral.id]
    ngo.close()
