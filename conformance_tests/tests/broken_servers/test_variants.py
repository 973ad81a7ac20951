"""The broken-server catalogue is well formed (fast; the catalogue run itself is slow)."""

from __future__ import annotations

from saferefer_conformance._registry import load_registry
from saferefer_conformance._spec import requirements

from .variants import catalogue


def test_catalogue_has_at_least_ten_variants_each_naming_a_must() -> None:
    variants = catalogue()
    assert len(variants) >= 10
    assert len({v.name for v in variants}) == len(variants)
    registry = load_registry()
    levels = {r.id: r.level for r in requirements()}
    for variant in variants:
        assert variant.expected_failures, variant.name
        assert all(name in registry for name in variant.expected_failures), variant.name
        assert levels.get(variant.breaks) == "MUST", f"{variant.name} must break a MUST requirement"
