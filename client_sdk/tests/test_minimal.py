"""minimal_payload never returns a category the decision did not permit."""

from __future__ import annotations

from typing import Any

import pytest
import saferefer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from saferefer._spec import codelist_codes

CATEGORIES = list(codelist_codes("data-categories"))

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=4,
)
records = st.dictionaries(st.sampled_from([*CATEGORIES, "notes", "case_id"]), values, max_size=8)
permitted = st.lists(st.sampled_from([*CATEGORIES, "not_a_category"]), unique=True)


# The machine running the suite is shared; generation speed is not what is tested here.
relaxed = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=150)


@relaxed
@given(record=records, allowed=permitted)
def test_minimal_payload_stays_inside_permitted_categories(
    record: dict[str, Any], allowed: list[str]
) -> None:
    result = saferefer.minimal_payload(record, allowed)
    assert set(result.payload) <= set(allowed) & set(CATEGORIES)
    assert result.data_categories == sorted(result.payload)
    # nothing the decision permits and the record has something for is dropped
    for category in set(allowed) & set(CATEGORIES):
        if category in result.payload:
            assert result.payload[category] not in (None, "", [], {})
    # everything else the record had is reported as withheld, never sent
    assert not set(result.withheld) & set(result.payload)


@relaxed
@given(record=records, allowed=permitted, needed=permitted)
def test_minimal_payload_narrows_to_needed(
    record: dict[str, Any], allowed: list[str], needed: list[str]
) -> None:
    result = saferefer.minimal_payload(record, allowed, needed=needed)
    assert set(result.payload) <= set(allowed) & set(needed)


def test_minimal_payload_groups_a_flat_case_export() -> None:
    export = {
        "case_id": "C-17",
        "first_name": "A.",
        "phone": "+31 6 0000 0000",
        "residence_status": "irregular",
        "medical_notes": "",
        "languages": "ro",
    }
    fields = {
        "first_name": "identity",
        "phone": "contact",
        "residence_status": "immigration_status",
        "medical_notes": "health",
        "languages": "language_needs",
    }
    result = saferefer.minimal_payload(
        export, ["identity", "contact", "health", "language_needs"], field_categories=fields
    )
    assert result.payload == {
        "identity": {"first_name": "A."},
        "contact": {"phone": "+31 6 0000 0000"},
        "language_needs": {"languages": "ro"},
    }
    assert result.withheld == [
        "immigration_status"
    ]  # present, not permitted; case_id is never mapped


def test_minimal_payload_refuses_unknown_category_mapping() -> None:
    with pytest.raises(saferefer.InvalidRequestError) as info:
        saferefer.minimal_payload({"x": 1}, ["identity"], field_categories={"x": "shoe_size"})
    assert info.value.errors[0].path == "#/field_categories/x"
