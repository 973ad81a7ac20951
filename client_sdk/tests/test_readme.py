"""The README's quickstart runs verbatim against a demo node, as a new user would run it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[1] / "README.md"
REPO = Path(__file__).resolve().parents[2]


def quickstart() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quickstart", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, "no python block in the Quickstart section"
    return match.group(1)


def test_quickstart_is_about_ten_lines() -> None:
    lines = [line for line in quickstart().splitlines() if line.strip()]
    assert 8 <= len(lines) <= 15


def test_quickstart_runs_verbatim_against_demo_node(http_node: Any, tmp_path: Path) -> None:
    # The layout a user has after `make run`, in the repository root.
    (tmp_path / "var" / "demo").mkdir(parents=True)
    (tmp_path / "var" / "demo" / "credentials").symlink_to(http_node.credentials_dir)
    (tmp_path / "examples").symlink_to(REPO / "examples")
    script = tmp_path / "quickstart.py"
    script.write_text(quickstart(), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    sent_line, *inbox = result.stdout.splitlines()
    referral_id, state, categories = sent_line.split(" ", 2)
    assert state == "submitted"
    assert "immigration_status" not in categories
    assert "exploitation_account" not in categories
    assert "identity" in categories
    assert any(line.startswith(referral_id) for line in inbox)
