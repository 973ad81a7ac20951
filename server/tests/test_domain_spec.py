"""The jsonschema-rs screen in front of request validation never passes what jsonschema rejects.

`schema_errors` trusts jsonschema-rs only when it says "valid"; these tests check that it is never
more lenient than the reference validator, on every example of the standard (valid and invalid)
and on variations of the valid ones: members replaced by awkward values, removed, or added.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from saferefer._validation import schema_errors as sdk_schema_errors
from saferefer_server.domain_spec import (
    passes_screening,
    schema_errors,
    spec_dir,
    validator,
)

EXAMPLES = spec_dir() / "examples"
# Strings near the edges of the formats and patterns the schemas use.
AWKWARD_STRINGS = [
    "",
    " ",
    "2026-01-01T00:00:00Z",
    "2026-01-01t00:00:00z",
    "2026-02-30T00:00:00Z",
    "2026-01-01T24:00:00Z",
    "2026-06-30T23:59:60Z",
    "2026-01-01 00:00:00Z",
    "2026-01-01T00:00:00+01:00",
    "2026-01-01T00:00:00.123456789Z",
    "2026-01-01",
    "https://example.org/hook",
    "http://[::1]:8080/x",
    "https://user:pw@example.org/",
    "urn:saferefer:org:NL:demo-ngo",
    "urn:saferefer:org:nl:demo-ngo",
    "0190f7e0-0000-7000-8000-000000000000",
    "0190F7E0-0000-7000-8000-000000000000",
    "NL",
    "nl",
    "abc\n",
    "\u0661\u0662",
    "\uff11\uff12",
    "a" * 300,
]
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(AWKWARD_STRINGS),
    st.text(max_size=20),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _target(directory: Path) -> tuple[str, str]:
    """(schema file, pointer) of an example directory: `<stem>` or `<stem>.<def>`."""
    stem, _, definition = directory.name.partition(".")
    return f"{stem}.schema.json", f"/$defs/{definition}" if definition else ""


def _examples(kind: str) -> list[Path]:
    return sorted(
        p for p in (EXAMPLES / kind).glob("*/*.json") if not p.name.endswith(".expected.json")
    )


def _python_valid(schema_file: str, pointer: str, document: Any) -> bool:
    return not any(True for _ in validator(schema_file, pointer).iter_errors(document))


@pytest.mark.parametrize(
    "example", _examples("valid") + _examples("invalid"), ids=lambda p: f"{p.parent.name}/{p.stem}"
)
def test_the_screen_agrees_on_every_example(example: Path) -> None:
    schema_file, pointer = _target(example.parent)
    document = json.loads(example.read_text())
    python_valid = _python_valid(schema_file, pointer, document)
    assert passes_screening(schema_file, document, pointer) == python_valid
    assert (schema_errors(schema_file, document, pointer) == []) == python_valid


@pytest.mark.parametrize("example", _examples("invalid"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_the_sdk_reports_the_same_errors_as_the_node(example: Path) -> None:
    """The SDK validates before sending and promises the node's own pointers and messages."""
    schema_file, pointer = _target(example.parent)
    document = json.loads(example.read_text())
    sdk = [(e.path, e.message) for e in sdk_schema_errors(schema_file, document, pointer)]
    node = [(e["pointer"], e["detail"]) for e in schema_errors(schema_file, document, pointer)]
    assert sdk == node


def _pointers(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _pointers(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _pointers(value, (*path, index))
    return found


@st.composite
def variations(draw: st.DrawFn) -> tuple[str, str, Any]:
    example = draw(st.sampled_from(_examples("valid")))
    schema_file, pointer = _target(example.parent)
    document = json.loads(example.read_text())
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(_pointers(document)))
        if not path:
            continue
        parent = document
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(JSON_VALUES)
        elif action == "remove":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(JSON_VALUES)
        document = copy.deepcopy(document)
    return schema_file, pointer, document


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(variations())
def test_the_screen_never_passes_what_jsonschema_rejects(case: tuple[str, str, Any]) -> None:
    schema_file, pointer, document = case
    if passes_screening(schema_file, document, pointer):
        assert _python_valid(schema_file, pointer, document)
    python_valid = _python_valid(schema_file, pointer, document)
    assert (schema_errors(schema_file, document, pointer) == []) == python_valid


def test_what_the_screen_rejects_is_still_reported_by_jsonschema() -> None:
    errors = schema_errors("consent-withdrawal.schema.json", {"unexpected": True})
    assert errors
    assert all(set(error) == {"pointer", "detail"} for error in errors)


def test_each_missing_member_is_one_error_at_its_own_pointer() -> None:
    document = json.loads(next((EXAMPLES / "valid" / "consent-create").glob("*.json")).read_text())
    del document["subject_ref"], document["valid_until"]
    del document["grants"][0]["purposes"]
    errors = schema_errors("consent-create.schema.json", document)
    assert [e for e in errors if e["detail"] == "required member is missing"] == [
        {"pointer": "#/grants/0/purposes", "detail": "required member is missing"},
        {"pointer": "#/subject_ref", "detail": "required member is missing"},
        {"pointer": "#/valid_until", "detail": "required member is missing"},
    ]
