"""The command line: a selection it cannot run is a usage error that says how to fix it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from joserfc.jwk import ECKey
from saferefer_conformance.cli import EXIT_USAGE, main


def _config(path: Path) -> Path:
    def org(code: str) -> dict[str, object]:
        key = ECKey.generate_key("P-256", private=True)
        return {
            "org_id": f"urn:saferefer:org:NL:{code}",
            "private_key_jwk": {**key.as_dict(private=True), "kid": code},
        }

    path.write_text(json.dumps({"organisations": {"sender": org("a1"), "recipient": org("b1")}}))
    return path


@pytest.mark.parametrize(
    ("checks", "message"),
    [
        (
            ["event_feed_gap_free_and_resumable"],
            "event_feed_gap_free_and_resumable is a check of the events profile, not of core: "
            "run with --profile events",
        ),
        (
            ["event_feed_gap_free_and_resumable", "trust_list_published"],
            "event_feed_gap_free_and_resumable (events), trust_list_published (federation); "
            "run with --profile all",
        ),
    ],
)
def test_check_outside_the_selected_profile_names_the_profile_to_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], checks: list[str], message: str
) -> None:
    argv = ["run", "--config", str(_config(tmp_path / "c.json")), "--base-url", "http://node.test"]
    for name in checks:
        argv += ["--check", name]
    assert main(argv) == EXIT_USAGE
    assert message in capsys.readouterr().err
