"""The suite catches every deliberately broken server, and blames exactly the right checks.

Each variant of ``variants.catalogue()`` breaks one MUST of the standard. The suite runs against the
reference server unmodified (the baseline) and once per variant. A check *catches* a variant when it
reports a failure against the variant that it does not report against the baseline; the checks that
catch a variant must be exactly the checks the variant names. Comparing failures rather than
outcomes keeps the catalogue meaningful while the reference server still fails some other claim of
the same check.
"""

from __future__ import annotations

import pytest
from saferefer_conformance._config import load_config
from saferefer_conformance._context import Context
from saferefer_conformance._registry import load_registry
from saferefer_conformance._runner import run

from .conftest import WrappedNode
from .variants import Variant, catalogue

#: Fifteen runs of the suite (two baselines, thirteen variants) take minutes: the catalogue belongs
#: to the long-running group (`make test-slow`, or `pytest -m slow conformance_tests`).
pytestmark = pytest.mark.slow

#: The schemathesis contract checks are left out: they are the slowest and none of the variants
#: targets them (the reference server's own schemathesis run covers that ground).
EXCLUDED = {
    "openapi_no_server_errors",
    "openapi_responses_conform",
    "openapi_invalid_data_rejected",
}

#: Check name → failure title → what the server answered.
Failures = dict[str, dict[str, str]]


def _failures(node: WrappedNode, variant: Variant | None) -> Failures:
    """The failures each failing check reports (``ERROR`` when it crashed)."""
    registry = load_registry()
    checks = [c for c in registry.select(profiles=["core", "events"]) if c.name not in EXCLUDED]
    node.switchboard.variant = variant
    ctx = Context(load_config(node.config).with_base_url(node.base_url))
    try:
        finished = run(checks, ctx, ["core", "events"], [])
    finally:
        ctx.close()
        node.switchboard.variant = None
    return {
        r.check.name: (
            {f.title: f"{f.message} {f.actual}"[:400] for f in r.failures}
            if r.outcome == "failed"
            else {"ERROR": r.reason[-400:]}
        )
        for r in finished.results
        if r.outcome in ("failed", "error")
    }


@pytest.fixture(scope="module")
def baseline(wrapped_node: WrappedNode) -> Failures:
    """What the unmodified server fails, over two runs: the second sees the data the first left
    behind (longer lists, more audit entries), as every variant run after it does."""
    merged: Failures = {}
    for _ in range(2):
        for name, titles in _failures(wrapped_node, None).items():
            merged.setdefault(name, {}).update(titles)
    return merged


@pytest.mark.parametrize("variant", catalogue(), ids=lambda v: v.name)
def test_suite_catches_exactly_the_expected_checks(
    wrapped_node: WrappedNode, baseline: Failures, variant: Variant
) -> None:
    failing = _failures(wrapped_node, variant)
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
