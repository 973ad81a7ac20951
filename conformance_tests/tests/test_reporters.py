"""Reporters consume the runner's event stream: console summary, JUnit XML and JSON agree."""

from __future__ import annotations

import io
import json
from pathlib import Path
from xml.etree import ElementTree as ET

import httpx
import pytest
from saferefer_conformance._config import Config
from saferefer_conformance._context import Context
from saferefer_conformance._failures import Skipped
from saferefer_conformance._registry import Registry, check
from saferefer_conformance._reporters import ConsoleReporter, JSONReporter, JUnitReporter
from saferefer_conformance._runner import RunFinished, run
from saferefer_conformance._spec import Requirement

ROWS = [
    Requirement("SR-T-001", "MUST", "Test", "passes", ("always_passes",), ""),
    Requirement("SR-T-002", "MUST", "Test", "fails", ("always_fails",), ""),
    Requirement("SR-T-003", "SHOULD", "Test", "skipped", ("always_skips",), ""),
    Requirement("SR-T-004", "MUST", "Test", "organisational", (), "organisational obligation"),
]


def _registry() -> Registry:
    registry = Registry()

    @check(
        id="SRC-901",
        name="always_passes",
        title="Passes",
        severity="must",
        requirements=["SR-T-001"],
        profile="core",
        registry=registry,
    )
    def always_passes(ctx: Context) -> None:
        return None

    @check(
        id="SRC-902",
        name="always_fails",
        title="Fails",
        severity="must",
        requirements=["SR-T-002"],
        profile="core",
        registry=registry,
    )
    def always_fails(ctx: Context) -> None:
        response = ctx.http.get(
            "/v1/referrals", headers={"Authorization": "Bearer secret.token.value"}
        )
        ctx.fail("The server said no", "It answered 418.", expected="200", response=response)

    @check(
        id="SRC-903",
        name="always_skips",
        title="Skips",
        severity="should",
        requirements=["SR-T-003"],
        profile="events",
        registry=registry,
    )
    def always_skips(ctx: Context) -> None:
        raise Skipped("needs a webhook receiver")

    @check(
        id="SRC-904",
        name="check_itself_crashes",
        title="Crashes",
        severity="should",
        requirements=["SR-T-003"],
        profile="events",
        registry=registry,
    )
    def crashes(ctx: Context) -> None:
        raise ZeroDivisionError("a bug in the check")

    return registry


@pytest.fixture
def finished(tmp_path: Path) -> tuple[RunFinished, str, Path, Path]:
    registry = _registry()

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/saferefer":  # the events checks run where claimed
            return httpx.Response(200, json={"profiles": ["core", "events"]})
        return httpx.Response(418, text="teapot")

    http = httpx.Client(base_url="http://node.test", transport=httpx.MockTransport(answer))
    ctx = Context(Config(base_url="http://node.test", organisations={}), http=http)
    console = io.StringIO()
    junit, report = tmp_path / "junit.xml", tmp_path / "report.json"
    result = run(
        list(registry),
        ctx,
        ["core", "events"],
        [
            ConsoleReporter(registry, console, requirement_rows=ROWS),
            JUnitReporter(junit),
            JSONReporter(report, registry, requirement_rows=ROWS),
        ],
    )
    return result, console.getvalue(), junit, report


def test_run_is_not_conformant_when_a_must_check_fails(
    finished: tuple[RunFinished, str, Path, Path],
) -> None:
    result, *_ = finished
    assert [r.outcome for r in result.results] == ["passed", "failed", "skipped", "error"]
    assert not result.conformant


def test_console_lists_each_check_failures_with_curl_and_coverage(
    finished: tuple[RunFinished, str, Path, Path],
) -> None:
    _, text, *_ = finished
    assert "PASS  SRC-901 always_passes" in text
    assert "FAIL  SRC-902 always_fails" in text
    assert "SKIP  SRC-903 always_skips" in text
    assert "needs a webhook receiver" in text
    assert "ERROR SRC-904 check_itself_crashes" in text
    assert "ZeroDivisionError" in text
    assert "expected: 200" in text
    assert "reproduce: curl" in text
    assert "secret.token.value" not in text
    assert "MUST      3: 1 verified, 1 failed" in text
    assert "1 not testable" in text
    assert "NOT CONFORMANT" in text


def test_junit_has_one_testcase_per_check_with_failure_and_skip(
    finished: tuple[RunFinished, str, Path, Path],
) -> None:
    _, _, junit, _ = finished
    root = ET.parse(junit).getroot()
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"saferefer.core", "saferefer.events"}
    assert suites["saferefer.core"].get("failures") == "1"
    assert suites["saferefer.events"].get("skipped") == "1"
    assert suites["saferefer.events"].get("errors") == "1"
    failure = root.find(".//testcase[@name='SRC-902 always_fails']/failure")
    assert failure is not None
    assert "reproduce: curl" in (failure.text or "")
    assert "secret.token.value" not in junit.read_text()


def test_json_report_carries_checks_failures_and_requirement_statuses(
    finished: tuple[RunFinished, str, Path, Path],
) -> None:
    _, _, _, report = finished
    document = json.loads(report.read_text())
    assert document["conformant"] is False
    by_name = {c["name"]: c for c in document["checks"]}
    failure = by_name["always_fails"]["failures"][0]
    assert failure["expected"] == "200"
    assert failure["status_code"] == 418
    assert failure["curl"].startswith("curl")
    statuses = {r["id"]: r["status"] for r in document["requirements"]}
    assert statuses == {
        "SR-T-001": "passed",
        "SR-T-002": "failed",
        "SR-T-003": "failed",
        "SR-T-004": "not_testable",
    }
    assert "secret.token.value" not in report.read_text()
