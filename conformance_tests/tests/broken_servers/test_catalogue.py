"""The suite catches every deliberately broken server, and blames exactly the right checks.

Each variant of ``variants.catalogue()`` breaks one MUST of the standard. One wrapped reference
server (``conftest.wrapped_node``) serves every variant in turn, so the catalogue costs one start-up.
The catalogue is run in two forms:

* **The neighbourhood form** (default run; all variants together take under two minutes, about
  35 s of it CPU time). Against each variant it runs the checks of the areas of the standard the
  variant's expected checks belong to (their check modules: ``auth``, ``consent``, ``policy``, …)
  plus every check verifying a requirement those checks or the broken MUST verify. It asserts that the failing checks of that neighbourhood are exactly the
  expected ones, and that each expected check passes against the unmodified server (so its failure
  is the variant's doing). What it proves: each check named by a variant can fail, fails for that
  breakage, and its neighbours — the checks most likely to be disturbed by the same breakage or to
  catch it instead — stay green. What it does not prove: that no check *outside* the neighbourhood
  also fails against the variant (a breakage blamed on an unrelated area).
* **The full-suite form** (``@pytest.mark.slow``, several minutes: ``make test-slow``). It runs every
  check of the core and events profiles except the schemathesis contract checks, against the
  unmodified server twice (the baseline) and against each variant, and asserts that the checks that
  *catch* the variant — report a failure they do not report against the baseline — are exactly the
  expected ones, across the whole suite. That closes the gap above. The contract checks are left out
  of both forms: they are the slowest, no variant targets them, and the reference server's own
  conformance run covers them.

One more test plays a conforming node that claims only the core profile: the checks of the events
profile must skip against it, and the contract checks must leave out the operations it need not
serve.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from saferefer_conformance._config import load_config
from saferefer_conformance._context import Context
from saferefer_conformance._registry import Check, load_registry
from saferefer_conformance._runner import CheckResult, run

from .conftest import WrappedNode
from .variants import Variant, catalogue, core_only_node

#: The schemathesis contract checks (see the module docstring).
EXCLUDED = {
    "openapi_no_server_errors",
    "openapi_responses_conform",
    "openapi_invalid_data_rejected",
    "openapi_authentication_not_ignored",
}
PROFILES = ("core", "events")

#: Check name → failure title → what the server answered.
Failures = dict[str, dict[str, str]]


def _candidates() -> list[Check]:
    return [c for c in load_registry().select(profiles=PROFILES) if c.name not in EXCLUDED]


def _area(entry: Check) -> str:
    """The area of the standard a check belongs to: its module under ``checks/``."""
    return entry.function.__module__.rsplit(".", 1)[-1]


def neighbourhood(variant: Variant) -> list[Check]:
    """The expected checks, the other checks of their areas, and checks sharing a requirement."""
    candidates = _candidates()
    expected = [c for c in candidates if c.name in variant.expected_failures]
    areas = {_area(c) for c in expected}
    requirements = {variant.breaks} | {r for c in expected for r in c.requirements}
    return [c for c in candidates if _area(c) in areas or requirements & set(c.requirements)]


def _results(
    node: WrappedNode, variant: Variant | None, checks: Sequence[Check]
) -> tuple[CheckResult, ...]:
    node.switchboard.variant = variant
    ctx = Context(load_config(node.config).with_base_url(node.base_url))
    try:
        return run(checks, ctx, PROFILES, []).results
    finally:
        ctx.close()
        node.switchboard.variant = None


def _failures(node: WrappedNode, variant: Variant | None, checks: Sequence[Check]) -> Failures:
    """The failures each failing check reports (``ERROR`` when it crashed)."""
    return {
        r.check.name: (
            {f.title: f"{f.message} {f.actual}"[:400] for f in r.failures}
            if r.outcome == "failed"
            else {"ERROR": r.reason[-400:]}
        )
        for r in _results(node, variant, checks)
        if r.outcome in ("failed", "error")
    }


def test_neighbourhoods_are_small_and_contain_the_expected_checks() -> None:
    """Keeps the default-run form fast: no neighbourhood may grow into the whole suite."""
    total = len(_candidates())
    for variant in catalogue():
        names = {c.name for c in neighbourhood(variant)}
        assert variant.expected_failures <= names, variant.name
        assert len(names) <= total // 2, f"{variant.name}: {len(names)} of {total} checks"


@pytest.mark.parametrize("variant", catalogue(), ids=lambda v: v.name)
def test_neighbourhood_fails_exactly_the_expected_checks(
    wrapped_node: WrappedNode, variant: Variant
) -> None:
    checks = neighbourhood(variant)
    failing = _failures(wrapped_node, variant, checks)
    expected = [c for c in checks if c.name in variant.expected_failures]
    unmodified = _failures(wrapped_node, None, expected)
    report = {
        "neighbourhood": sorted(c.name for c in checks),
        "missed": sorted(variant.expected_failures - set(failing)),
        "unexpected": {n: failing[n] for n in sorted(set(failing) - variant.expected_failures)},
        "failing without the variant too": unmodified,
    }
    assert set(failing) == variant.expected_failures, report
    assert not unmodified, report


def test_a_core_only_node_skips_the_events_checks_and_is_not_fuzzed_beyond_core(
    wrapped_node: WrappedNode,
) -> None:
    """A node claiming only core passes: the events checks skip (their profile is not claimed)
    and the contract checks leave out the feed and subscription operations it need not serve."""
    contract = {"openapi_responses_conform", "openapi_authentication_not_ignored"}
    checks = [c for c in load_registry().select(profiles=PROFILES) if c.profile == "events"] + [
        load_registry().get(name) for name in sorted(contract)
    ]
    outcomes = {
        r.check.name: (r.outcome, r.reason or [f.title for f in r.failures])
        for r in _results(wrapped_node, core_only_node(), checks)
    }
    assert {n: o for n, o in outcomes.items() if n in contract} == {
        n: ("passed", []) for n in contract
    }
    events = {n: o for n, o in outcomes.items() if n not in contract}
    assert len(events) >= 8
    assert all(
        outcome == "skipped" and "does not claim the events profile" in str(reason)
        for outcome, reason in events.values()
    ), events


@pytest.fixture(scope="module")
def baseline(wrapped_node: WrappedNode) -> Failures:
    """What the unmodified server fails, over two runs: the second sees the data the first left
    behind (longer lists, more audit entries), as every variant run after it does."""
    merged: Failures = {}
    for _ in range(2):
        for name, titles in _failures(wrapped_node, None, _candidates()).items():
            merged.setdefault(name, {}).update(titles)
    return merged


@pytest.mark.slow
@pytest.mark.parametrize("variant", catalogue(), ids=lambda v: v.name)
def test_full_suite_catches_exactly_the_expected_checks(
    wrapped_node: WrappedNode, baseline: Failures, variant: Variant
) -> None:
    failing = _failures(wrapped_node, variant, _candidates())
    caught = {
        name: {t: detail for t, detail in titles.items() if t not in baseline.get(name, {})}
        for name, titles in failing.items()
    }
    caught = {name: titles for name, titles in caught.items() if titles}
    missed = variant.expected_failures - set(caught)
    assert set(caught) == variant.expected_failures, {
        "missed": {
            n: f"already failing on the unmodified server: {sorted(baseline[n])}"
            if n in baseline
            else "passed"
            for n in sorted(missed)
        },
        "unexpected": {n: caught[n] for n in sorted(set(caught) - variant.expected_failures)},
    }
