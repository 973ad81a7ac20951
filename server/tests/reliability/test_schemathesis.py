"""Schemathesis against a served node: no request produces a 5xx, every response matches the spec.

The `schemathesis run` CLI with every check (`--checks all`: server errors, status codes, content
types, headers, response schemas, acceptance of valid and rejection of invalid data, undeclared
methods, authentication, object-level authorisation, use after delete, resource availability) and
every phase (examples, coverage, fuzzing, stateful), authenticated with real access tokens of the
demo NGO and, for the object-level authorisation probes, the demo shelter (see fuzzing.py).

The default run is bounded: the examples, fuzzing and stateful phases with a few examples per
operation and a fixed seed (about a minute). The coverage phase (every boundary and every
undeclared method of every operation: minutes on its own) runs in the long run, the `slow` test
below or `scripts/fuzz_server.sh` (README "Fuzzing").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .fuzzing import demo_credentials, run_schemathesis, served_demo_node

SEED = 20261128
BOUNDED_EXAMPLES = 5
BOUNDED_PHASES = ("examples", "fuzzing", "stateful")
BOUNDED_TIMEOUT_S = 240.0


def assert_found_nothing(output: str, passed: bool, summary: str) -> None:
    assert passed, summary
    # Every operation of the spec was exercised, and the stateful phase ran scenarios.
    assert "Errored:" not in output, summary
    assert "Scenarios:" in output, summary


@pytest.mark.timeout(420)
def test_schemathesis_finds_nothing_on_sqlite(tmp_path: Path) -> None:
    with served_demo_node(tmp_path / "node") as (base_url, credentials_dir):
        result = run_schemathesis(
            base_url,
            demo_credentials(credentials_dir),
            max_examples=BOUNDED_EXAMPLES,
            phases=BOUNDED_PHASES,
            seed=SEED,
            report_dir=tmp_path / "report",
            timeout_s=BOUNDED_TIMEOUT_S,
        )
    assert_found_nothing(result.output, result.passed, result.summary())
    # Real tokens were used: the NGO's for every request, the coordinator's for statistics.
    assert result.tokens_issued["ngo"] >= 1
    assert result.tokens_issued["coordinator"] >= 1


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_schemathesis_long_run_finds_nothing(database: str, tmp_path: Path) -> None:
    with served_demo_node(tmp_path / "node", database) as (base_url, credentials_dir):
        result = run_schemathesis(
            base_url,
            demo_credentials(credentials_dir),
            max_examples=100,
            seed=SEED,
            report_dir=tmp_path / "report",
            max_time_s=900,
            timeout_s=1800,
        )
    assert_found_nothing(result.output, result.passed, result.summary())
