"""The demo node the examples run against: ``saferefer-server serve`` (uvicorn, real HTTP) with
the demo directory registered by ``saferefer-server seed-demo``, as ``make run`` starts it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class DemoServer:
    base_url: str
    credentials_dir: Path
    log_lines: object


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    from saferefer_server.testing import running_server_process, server_command

    root = tmp_path_factory.mktemp("demo-node")
    env = {"SAFEREFER_DATA_DIR": str(root / "data")}
    with running_server_process(env) as server:
        subprocess.run(
            [*server_command(), "seed-demo", "--credentials-dir", str(root / "credentials")],
            env={**os.environ, **env, "SAFEREFER_BASE_URL": server.base_url},
            check=True,
            capture_output=True,
        )
        yield DemoServer(server.base_url, root / "credentials", server.log_lines)
