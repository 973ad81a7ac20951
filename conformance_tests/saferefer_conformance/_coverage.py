"""Requirement coverage: which requirement of spec/standard.md is verified by which check.

Two views: the static one (``saferefer-conformance coverage``: does every MUST have a check or a
documented reason why none is possible?) and the run one (after a run: which requirements did this
server demonstrably meet, fail, or leave unverified?).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ._registry import Registry
from ._runner import CheckResult
from ._spec import Requirement, requirements

# A requirement's outcome in a run, worst first: every check verifying it must pass.
_RANK = {"failed": 0, "unverified": 1, "skipped": 2, "passed": 3}


@dataclass(frozen=True)
class RequirementStatus:
    requirement: Requirement
    # passed | failed | unverified | skipped | not_run | not_testable | uncovered
    status: str
    checks: tuple[str, ...]


def requirement_outcomes(result: CheckResult) -> dict[str, str]:
    """What one check's result says about each requirement.

    A pass verifies every requirement the check lists, and a skip leaves them all open. A failure
    counts against the requirement it names (``Failure.requirement``, which may lie outside the
    check's list: a refused token is SR-AUTH-002 whichever check asked for it); the check's other
    requirements are then ``unverified``, because the check stopped at, or only reported, what
    failed. A failure that names no requirement, and a crash, count against every requirement the
    check lists.
    """
    listed = result.check.requirements
    if result.outcome == "passed":
        return dict.fromkeys(listed, "passed")
    if result.outcome == "skipped":
        return dict.fromkeys(listed, "skipped")
    named = {f.requirement for f in result.failures if f.requirement}
    attributed = result.outcome == "failed" and all(f.requirement for f in result.failures)
    outcomes = dict.fromkeys(listed, "unverified" if attributed else "failed")
    outcomes.update(dict.fromkeys(named, "failed"))
    return outcomes


def static_coverage(
    registry: Registry, rows: Sequence[Requirement] | None = None
) -> list[RequirementStatus]:
    rows = list(rows) if rows is not None else requirements()
    mapping = registry.by_requirement()
    statuses = []
    for row in rows:
        checks = tuple(c.name for c in mapping.get(row.id, []))
        if checks:
            status = "checked"
        elif row.not_tested_because:
            status = "not_testable"
        else:
            status = "uncovered"
        statuses.append(RequirementStatus(row, status, checks))
    return statuses


def run_coverage(
    registry: Registry, results: Sequence[CheckResult], rows: Sequence[Requirement] | None = None
) -> list[RequirementStatus]:
    outcomes: dict[str, list[str]] = {}
    for result in results:
        for requirement, outcome in requirement_outcomes(result).items():
            outcomes.setdefault(requirement, []).append(outcome)
    statuses = []
    for entry in static_coverage(registry, rows):
        if entry.status != "checked":
            statuses.append(entry)
            continue
        seen = outcomes.get(entry.requirement.id)
        status = min(seen, key=_RANK.__getitem__) if seen else "not_run"
        statuses.append(RequirementStatus(entry.requirement, status, entry.checks))
    return statuses


def summarise(statuses: Sequence[RequirementStatus]) -> dict[str, dict[str, int]]:
    """Counts of statuses per level (``MUST``, ``SHOULD``, ``MAY``) and overall (``all``)."""
    table: dict[str, Counter[str]] = {}
    for entry in statuses:
        for key in (entry.requirement.level, "all"):
            table.setdefault(key, Counter())[entry.status] += 1
    return {level: dict(counts) for level, counts in table.items()}


def format_static(statuses: Sequence[RequirementStatus]) -> str:
    summary = summarise(statuses)
    lines = ["Requirement coverage (spec/requirements.csv against the registered checks)"]
    for level in ("MUST", "SHOULD", "MAY", "all"):
        counts = summary.get(level, {})
        total = sum(counts.values())
        if not total:
            continue
        lines.append(
            f"  {level:<6} {total:>4} requirements: {counts.get('checked', 0)} checked, "
            f"{counts.get('not_testable', 0)} not testable (reason given), "
            f"{counts.get('uncovered', 0)} uncovered"
        )
    uncovered = [
        e.requirement.id
        for e in statuses
        if e.status == "uncovered" and e.requirement.level == "MUST"
    ]
    if uncovered:
        lines.append(
            "  MUST requirements with neither a check nor a reason: " + ", ".join(uncovered)
        )
    return "\n".join(lines)
