"""Reporters: consumers of the runner's event stream writing a console summary, JUnit XML, JSON."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any
from xml.etree import ElementTree as ET

from ._coverage import RequirementStatus, run_coverage, summarise
from ._registry import Registry
from ._runner import CheckFinished, CheckResult, Event, RunFinished, RunStarted
from ._spec import Requirement

_MARK = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP", "error": "ERROR"}


def _coverage(
    registry: Registry, results: Sequence[CheckResult], rows: Sequence[Requirement] | None
) -> list[RequirementStatus]:
    return run_coverage(registry, results, rows)


class ConsoleReporter:
    """A line per check as it finishes, then failures in detail, a summary and coverage."""

    def __init__(
        self,
        registry: Registry,
        stream: IO[str] | None = None,
        *,
        requirement_rows: Sequence[Requirement] | None = None,
        verbose: bool = False,
    ) -> None:
        self.registry = registry
        self.stream = stream or sys.stdout
        self.rows = requirement_rows
        self.verbose = verbose

    def _print(self, text: str = "") -> None:
        print(text, file=self.stream, flush=True)

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._print(
                f"SafeRefer conformance — {event.base_url} — "
                f"profiles: {', '.join(event.profiles)} — "
                f"{len(event.checks)} checks"
            )
        elif isinstance(event, CheckFinished):
            r = event.result
            extra = f" ({r.reason.splitlines()[0]})" if r.outcome == "skipped" and r.reason else ""
            self._print(
                f"  {_MARK[r.outcome]:<5} {r.check.id} {r.check.name} [{r.check.severity}] "
                f"{r.duration:.1f}s{extra}"
            )
        elif isinstance(event, RunFinished):
            self._finish(event)

    def _finish(self, event: RunFinished) -> None:
        bad = [r for r in event.results if r.outcome in ("failed", "error")]
        if bad:
            self._print("\nFailures")
        for r in bad:
            self._print(f"\n{r.check.id} {r.check.name} — {r.check.title} [{r.check.severity}]")
            self._print(f"  verifies: {', '.join(r.check.requirements)}")
            if r.outcome == "error":
                self._print(
                    "  the check itself crashed (a bug in the suite or an unexpected answer):"
                )
                self._print("    " + r.reason.replace("\n", "\n    "))
            for f in r.failures:
                self._print(f"  ✗ {f.title}" + (f" [{f.requirement}]" if f.requirement else ""))
                self._print(f"    {f.message}")
                if f.expected:
                    self._print(f"    expected: {f.expected}")
                if f.actual:
                    self._print(f"    actual:   {f.actual}")
                if f.curl:
                    self._print(f"    reproduce: {f.curl}")
        counts = {k: sum(1 for r in event.results if r.outcome == k) for k in _MARK}
        self._print(
            f"\n{len(event.results)} checks in {event.duration:.1f}s: {counts['passed']} passed, "
            f"{counts['failed']} failed, {counts['error']} errored, {counts['skipped']} skipped"
        )
        summary = summarise(_coverage(self.registry, event.results, self.rows))
        self._print("Requirement coverage of this run:")
        for level in ("MUST", "SHOULD", "MAY"):
            c = summary.get(level, {})
            if not c:
                continue
            self._print(
                f"  {level:<6} {sum(c.values()):>4}: {c.get('passed', 0)} verified, "
                f"{c.get('failed', 0)} failed, "
                f"{c.get('unverified', 0)} unverified, "
                f"{c.get('skipped', 0)} skipped, "
                f"{c.get('not_run', 0)} not in the selected profiles/checks, "
                f"{c.get('not_testable', 0)} not testable over HTTP, "
                f"{c.get('uncovered', 0)} uncovered"
            )
        verdict = (
            "CONFORMANT for the selected profiles"
            if event.conformant
            else "NOT CONFORMANT: a MUST check failed"
        )
        self._print(verdict)


class JUnitReporter:
    """JUnit XML: one testsuite per profile, one testcase per check; MUST/SHOULD as a property."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __call__(self, event: Event) -> None:
        if not isinstance(event, RunFinished):
            return
        root = ET.Element("testsuites", name="saferefer-conformance", time=f"{event.duration:.3f}")
        profiles = sorted({r.check.profile for r in event.results})
        for profile in profiles:
            results = [r for r in event.results if r.check.profile == profile]
            suite = ET.SubElement(
                root,
                "testsuite",
                name=f"saferefer.{profile}",
                tests=str(len(results)),
                failures=str(sum(r.outcome == "failed" for r in results)),
                errors=str(sum(r.outcome == "error" for r in results)),
                skipped=str(sum(r.outcome == "skipped" for r in results)),
                time=f"{sum(r.duration for r in results):.3f}",
            )
            for r in results:
                case = ET.SubElement(
                    suite,
                    "testcase",
                    classname=f"saferefer.{profile}",
                    name=f"{r.check.id} {r.check.name}",
                    time=f"{r.duration:.3f}",
                )
                props = ET.SubElement(case, "properties")
                ET.SubElement(props, "property", name="severity", value=r.check.severity)
                ET.SubElement(
                    props, "property", name="requirements", value=" ".join(r.check.requirements)
                )
                if r.outcome == "failed":
                    for f in r.failures:
                        node = ET.SubElement(
                            case, "failure", message=f.title, type=r.check.severity
                        )
                        node.text = "\n".join(
                            line
                            for line in (
                                f.message,
                                f"expected: {f.expected}" if f.expected else "",
                                f"actual: {f.actual}" if f.actual else "",
                                f"requirement: {f.requirement}" if f.requirement else "",
                                f"reproduce: {f.curl}" if f.curl else "",
                            )
                            if line
                        )
                elif r.outcome == "error":
                    node = ET.SubElement(case, "error", message="the check crashed")
                    node.text = r.reason
                elif r.outcome == "skipped":
                    ET.SubElement(case, "skipped", message=r.reason)
        ET.indent(root)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ET.ElementTree(root).write(self.path, encoding="utf-8", xml_declaration=True)


class JSONReporter:
    """The whole run as one JSON document: checks, failures and requirement coverage."""

    def __init__(
        self,
        path: str | Path,
        registry: Registry,
        *,
        requirement_rows: Sequence[Requirement] | None = None,
    ) -> None:
        self.path = Path(path)
        self.registry = registry
        self.rows = requirement_rows
        self.base_url = ""

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.base_url = event.base_url
            return
        if not isinstance(event, RunFinished):
            return
        coverage = _coverage(self.registry, event.results, self.rows)
        document: dict[str, Any] = {
            "saferefer_conformance_report": 1,
            "base_url": self.base_url,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "profiles": list(event.profiles),
            "duration_seconds": round(event.duration, 3),
            "conformant": event.conformant,
            "checks": [
                {
                    "id": r.check.id,
                    "name": r.check.name,
                    "title": r.check.title,
                    "profile": r.check.profile,
                    "severity": r.check.severity,
                    "requirements": list(r.check.requirements),
                    "outcome": r.outcome,
                    "duration_seconds": round(r.duration, 3),
                    "reason": r.reason,
                    "failures": [f.to_dict() for f in r.failures],
                }
                for r in event.results
            ],
            "requirements": [
                {
                    "id": e.requirement.id,
                    "level": e.requirement.level,
                    "status": e.status,
                    "checks": list(e.checks),
                    "not_tested_because": e.requirement.not_tested_because,
                }
                for e in coverage
            ],
            "coverage_summary": summarise(coverage),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
