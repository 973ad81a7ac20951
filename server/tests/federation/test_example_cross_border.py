"""examples/cross_border runs end to end and shows what it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "cross_border"


@pytest.mark.timeout(300)
def test_cross_border_example_walks_the_scenario() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "accepted by the Moldovan node" in out
    assert "[NL NGO        ] received" in out
    assert out.count("DENIED by its own node's policy") == 2
    assert "[NL police     ] inbox: 0 referrals" in out
    assert "[MD police     ] inbox: 0 referrals" in out
    assert "is completed (service_provided)" in out
