"""Run the pinned OPA binary as a local sidecar on a loopback port.

Used by the tests, the benchmark and `saferefer-server` when a node should start its own OPA next
to it. The server starts empty; `OpaEngine` pushes the policies. OPA logs only errors (its info
level logs every request line), never decisions, and does not phone home for version checks.
With a `token`, OPA answers only requests that carry it (`--authentication=token
--authorization=basic` and the `system.authz` policy of `opa_authz_policy`), except `/health`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

_REPO_OPA = Path(__file__).resolve().parents[3] / ".tools" / "bin" / "opa"


def find_opa_binary() -> Path:
    """`$SAFEREFER_OPA_BINARY`, else the repo's pinned `.tools/bin/opa`, else `opa` on PATH."""
    configured = os.environ.get("SAFEREFER_OPA_BINARY")
    if configured:
        return Path(configured)
    if _REPO_OPA.is_file():
        return _REPO_OPA
    found = shutil.which("opa")
    if found is None:
        raise FileNotFoundError("no OPA binary: run `make bootstrap` or set SAFEREFER_OPA_BINARY")
    return Path(found)


def opa_authz_policy(token: str) -> str:
    """A `system.authz` policy for `opa run --authentication=token --authorization=basic` that
    admits requests bearing `token` (it holds only the token's SHA-256) and `GET /health`."""
    digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
    return f"""package system.authz

import rego.v1

default allow := false

# The SafeRefer node: its SAFEREFER_OPA_TOKEN, compared by SHA-256.
allow if crypto.sha256(input.identity) == "{digest}"

# Liveness probes.
allow if {{
	input.method == "GET"
	input.path == ["health"]
}}
"""


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class OpaProcess:
    """An `opa run --server` child process on 127.0.0.1; a context manager.

    `start()` waits until /health answers; `stop()` terminates it (SIGTERM, then SIGKILL) and
    `kill()` ends it abruptly, as a crashed sidecar would.
    """

    def __init__(
        self,
        *,
        binary: Path | None = None,
        port: int | None = None,
        startup_timeout_s: float = 15,
        token: str | None = None,
    ) -> None:
        self.binary = binary or find_opa_binary()
        self.port = port or free_loopback_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = token
        self._startup_timeout_s = startup_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._log: tempfile._TemporaryFileWrapper[bytes] | None = None
        self._authz: tempfile.TemporaryDirectory[str] | None = None

    def start(self) -> OpaProcess:
        if self.running:
            return self
        self.stop()  # forget a process that died, and its log
        self._log = tempfile.NamedTemporaryFile(prefix="opa-", suffix=".log")  # noqa: SIM115
        command = [
            str(self.binary),
            "run",
            "--server",
            f"--addr=127.0.0.1:{self.port}",
            "--log-level=error",
            "--skip-version-check",
            "--shutdown-grace-period=1",
        ]
        if self.token is not None:
            self._authz = tempfile.TemporaryDirectory(prefix="opa-authz-")
            policy = Path(self._authz.name) / "authz.rego"
            policy.write_text(opa_authz_policy(self.token), encoding="utf-8")
            command += ["--authentication=token", "--authorization=basic", str(policy)]
        self._process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + self._startup_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"OPA exited at start-up: {self.log_tail()}")
            if self.healthy():
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"OPA did not become healthy within {self._startup_timeout_s} s")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=1) as answer:  # noqa: S310
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def kill(self) -> None:
        """End OPA at once (SIGKILL), like a crash."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._authz is not None:
            self._authz.cleanup()
            self._authz = None

    def log_tail(self, limit: int = 2000) -> str:
        if self._log is None:
            return ""
        self._log.flush()
        return Path(self._log.name).read_bytes()[-limit:].decode("utf-8", "replace")

    def __enter__(self) -> OpaProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
