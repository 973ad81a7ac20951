"""Fixtures for running the conformance suite against the reference server.

The suite itself never imports the server; these tests do, to start it (as a subprocess, or in
process behind the deliberately broken wrappers of ``broken_servers/``) and to seed its demo
directory with ``saferefer-server seed-demo``, exactly as an implementer provisions test
organisations.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

#: Settings for every node these tests start: the suite judges behaviour, not speed, and the
#: machine is shared with other tests, so the policy engine gets a generous timeout.
NODE_ENV = {"SAFEREFER_POLICY_TIMEOUT_MS": "5000"}

#: Which demo organisation plays which part in the suite's configuration.
DEMO_SLOTS = {
    "sender": "NL-demo-ngo",
    "recipient": "NL-demo-shelter",
    "police": "NL-demo-police",
    "immigration_authority": "NL-demo-immigration",
    "embassy_of_origin": "MD-demo-embassy",
    "national_rapporteur": "NL-demo-rapporteur",
    "outsider": "NL-demo-social",
}


def seed_demo(data_dir: Path, env: dict[str, str] | None = None) -> Path:
    """Register the demo directory in ``data_dir``'s database; returns the credentials folder."""
    credentials = data_dir / "credentials"
    script = Path(sys.executable).with_name("saferefer-server")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "saferefer_server.cli"]
    full_env = {
        **os.environ,
        "SAFEREFER_DATA_DIR": str(data_dir),
        "SAFEREFER_DEMO": "true",
        **(env or {}),
    }
    subprocess.run(
        [*command, "seed-demo", "--credentials-dir", str(credentials)],
        env=full_env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return credentials


def write_config(path: Path, credentials: Path, *, webhook: bool = True) -> Path:
    """A conformance configuration (JSON) naming the demo organisations."""
    document: dict[str, object] = {
        "organisations": {
            slot: {"credentials_file": str(credentials / f"{name}.json")}
            for slot, name in DEMO_SLOTS.items()
        }
    }
    if webhook:
        document["webhook"] = {"listen_host": "127.0.0.1", "listen_port": 0}
    path.write_text(json.dumps(document, indent=2))
    return path
