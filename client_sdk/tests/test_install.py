"""``pip install ./`` without extras, in a fresh virtual environment: the SDK works alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVER_ONLY = {
    "fastapi",
    "sqlalchemy",
    "regopy",
    "uvicorn",
    "alembic",
    "aiosqlite",
    "psycopg",
    "opa-python-client",
}

CHECK = """
import saferefer, saferefer._resources
from saferefer._validation import schema_errors
spec = saferefer._resources.spec_dir()
assert "site-packages" in str(spec), spec            # the standard travels inside the wheel
assert schema_errors("referral-create.schema.json", {})   # local validation works from it
assert saferefer.minimal_payload({"identity": {"n": "A."}, "health": {"x": 1}}, ["identity"]).data_categories == ["identity"]
print(saferefer.__version__)
"""


# A real install (build with hatchling, resolve and install the base dependencies from the pip
# cache or index) takes 30-75 s on the shared CI machine, hence the `slow` group (`make test-slow`).
@pytest.mark.slow
def test_pip_install_without_extras_gives_a_working_sdk(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    listing = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    )
    installed = {line.split("==")[0].lower() for line in listing.stdout.splitlines()}
    assert not installed & SERVER_ONLY, installed & SERVER_ONLY
    assert {"httpx", "pydantic", "joserfc", "jsonschema"} <= installed
    result = subprocess.run(
        [str(python), "-c", CHECK], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert (venv / "bin" / "saferefer").exists()
    help_text = subprocess.run(
        [str(venv / "bin" / "saferefer"), "--help"], capture_output=True, text=True, check=False
    )
    assert help_text.returncode == 0
    assert "inbox" in help_text.stdout
