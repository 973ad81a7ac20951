"""A run's requirement statuses: a failure counts against the requirement it names."""

from __future__ import annotations

from saferefer_conformance._coverage import requirement_outcomes, run_coverage
from saferefer_conformance._failures import Failure
from saferefer_conformance._registry import Registry, check
from saferefer_conformance._runner import CheckResult, Outcome
from saferefer_conformance._spec import Requirement

ROWS = [Requirement(f"SR-T-00{n}", "MUST", "Test", "", (), "") for n in range(1, 4)]


def _registry() -> Registry:
    registry = Registry()
    for index, (name, requirements) in enumerate(
        {"two_claims_hold": ["SR-T-001", "SR-T-002"], "third_claim_holds": ["SR-T-003"]}.items()
    ):
        check(
            id=f"SRC-90{index}",
            name=name,
            title=name,
            severity="must",
            requirements=requirements,
            profile="core",
            registry=registry,
        )(lambda ctx: None)
    return registry


def _result(registry: Registry, name: str, outcome: Outcome, *named: str | None) -> CheckResult:
    failures = tuple(Failure(title="t", message="", requirement=r) for r in named)
    return CheckResult(registry.get(name), outcome, 0.0, failures)


def test_a_failure_naming_its_requirement_leaves_the_others_unverified() -> None:
    registry = _registry()
    result = _result(registry, "two_claims_hold", "failed", "SR-T-002")
    assert requirement_outcomes(result) == {"SR-T-001": "unverified", "SR-T-002": "failed"}


def test_a_failure_naming_no_requirement_counts_against_every_listed_one() -> None:
    registry = _registry()
    result = _result(registry, "two_claims_hold", "failed", "SR-T-002", None)
    assert requirement_outcomes(result) == {"SR-T-001": "failed", "SR-T-002": "failed"}


def test_a_failure_may_name_a_requirement_another_check_verifies() -> None:
    registry = _registry()
    results = [
        _result(registry, "two_claims_hold", "failed", "SR-T-003"),
        _result(registry, "third_claim_holds", "passed"),
    ]
    statuses = {s.requirement.id: s.status for s in run_coverage(registry, results, ROWS)}
    assert statuses == {"SR-T-001": "unverified", "SR-T-002": "unverified", "SR-T-003": "failed"}
