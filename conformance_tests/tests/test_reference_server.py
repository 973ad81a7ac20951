"""The conformance suite against the reference server, started for real and reached over HTTP.

This is the promise of the standard made executable: every applicable check passes. The suite runs
through its command-line entry point, as an implementer would run it, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from saferefer_conformance.cli import main

from .conftest import seed_demo, write_config

CORE_PROFILE_BUDGET_S = 180


def _failures(report: Path) -> list[str]:
    """Failed or crashed MUST checks (a failed SHOULD is reported, but is no non-conformance)."""
    document = json.loads(report.read_text())
    return [
        f"{c['id']} {c['name']}: "
        + (
            "; ".join(f"{f['title']} ({f['message'][:200]})" for f in c["failures"])
            or c["reason"][-300:]
        )
        for c in document["checks"]
        if c["outcome"] in ("failed", "error") and c["severity"] == "must"
    ]


def _run_against(env: dict[str, str], tmp_path: Path, profile: str) -> tuple[int, Path, float]:
    from saferefer_server.testing import running_server_process

    data_dir = tmp_path / "node"
    data_dir.mkdir()
    credentials = seed_demo(data_dir, env)
    config = write_config(tmp_path / "conformance.json", credentials)
    report = tmp_path / "report.json"
    with running_server_process(
        {"SAFEREFER_DATA_DIR": str(data_dir), "SAFEREFER_DEMO": "true", **env}
    ) as server:
        started = time.monotonic()
        code = main(
            [
                "run",
                "--base-url",
                server.base_url,
                "--config",
                str(config),
                "--profile",
                profile,
                "--json",
                str(report),
                "--junit",
                str(tmp_path / "junit.xml"),
            ]
        )
        elapsed = time.monotonic() - started
    return code, report, elapsed


def test_core_profile_passes_on_sqlite_within_three_minutes(tmp_path: Path) -> None:
    code, report, elapsed = _run_against({}, tmp_path, "core")
    failures = _failures(report)
    assert not failures, "the reference server fails conformance checks:\n" + "\n".join(failures)
    assert code == 0
    assert elapsed < CORE_PROFILE_BUDGET_S, f"core profile took {elapsed:.0f} s"


def test_all_profiles_pass_on_sqlite(tmp_path: Path) -> None:
    code, report, _ = _run_against({}, tmp_path, "all")
    failures = _failures(report)
    assert not failures, "the reference server fails conformance checks:\n" + "\n".join(failures)
    assert code == 0


@pytest.mark.postgres
def test_all_profiles_pass_on_postgres(tmp_path: Path, pg_url: str) -> None:
    code, report, _ = _run_against({"SAFEREFER_DATABASE_URL": pg_url}, tmp_path, "all")
    failures = _failures(report)
    assert not failures, (
        "the reference server fails conformance checks on PostgreSQL:\n" + "\n".join(failures)
    )
    assert code == 0
