"""The decision document: schema checks, canonical order and the fail-closed deny."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from saferefer_server.policy import ENGINE_UNAVAILABLE_CODE, PolicyDecision, canonical_document
from saferefer_server.policy._decision import DecisionReader, Failure, InvalidDecision

SCHEMA_DIR = Path(__file__).resolve().parents[3] / "spec" / "schemas"


def _violation(rule: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "rule": rule, "message": "m", "legal_basis": "b", "fix": "f", **extra}


@pytest.fixture
def reader() -> DecisionReader:
    return DecisionReader.from_schema_dir(SCHEMA_DIR)


def test_fail_closed_validates_against_decision_schema() -> None:
    schema = json.loads((SCHEMA_DIR / "policy-decision.schema.json").read_text(encoding="utf-8"))

    document = PolicyDecision.fail_closed().to_document()

    Draft202012Validator(schema).validate(document)
    assert document["allow"] is False
    assert [v["code"] for v in document["violations"]] == [ENGINE_UNAVAILABLE_CODE]
    assert PolicyDecision.fail_closed().engine_failure is True


def test_fail_closed_matches_violation_codelist() -> None:
    codelist = json.loads(
        (SCHEMA_DIR.parent / "codelists" / "violation-codes.json").read_text(encoding="utf-8")
    )
    [entry] = [e for e in codelist["entries"] if e["code"] == ENGINE_UNAVAILABLE_CODE]

    [violation] = PolicyDecision.fail_closed().violations

    assert violation["message"] == entry["labels"]["en"]
    for key in ("rule", "level", "legal_basis", "fix"):
        assert violation[key] == entry[key]


def test_from_document_sorts_findings_by_rule_number() -> None:
    document = {
        "allow": False,
        "violations": [_violation("R30", "b"), _violation("R2", "z"), _violation("R10", "a")],
        "permitted_categories": ["identity", "contact"],
        "obligations": [
            {"code": "y", "rule": "R35", "message": "m"},
            {"code": "x", "rule": "R9", "message": "m"},
        ],
    }

    decision = PolicyDecision.from_document(document)

    assert [v["rule"] for v in decision.violations] == ["R2", "R10", "R30"]
    assert [o["rule"] for o in decision.obligations] == ["R9", "R35"]
    assert decision.permitted_categories == ["contact", "identity"]


def test_canonical_document_equal_when_only_order_differs() -> None:
    one = {
        "allow": False,
        "violations": [
            _violation("R8", "a", categories=["x"]),
            _violation("R8", "a", categories=["w"]),
        ],
        "permitted_categories": ["b", "a"],
        "obligations": [],
    }
    other = {
        **one,
        "violations": list(reversed(one["violations"])),
        "permitted_categories": ["a", "b"],
    }

    assert canonical_document(one) == canonical_document(other)


def test_to_document_returns_copies() -> None:
    decision = PolicyDecision.from_document(
        {
            "allow": False,
            "violations": [_violation("R1", "a")],
            "permitted_categories": [],
            "obligations": [],
        }
    )

    decision.to_document()["violations"][0]["code"] = "changed"

    assert decision.violations[0]["code"] == "a"


def test_read_refuses_undefined(reader: DecisionReader) -> None:
    with pytest.raises(InvalidDecision) as caught:
        reader.read(None)

    assert caught.value.failure is Failure.UNDEFINED


def test_read_names_schema_location_not_value(reader: DecisionReader) -> None:
    secret = "Maria Ionescu"
    document = {
        "allow": False,
        "violations": [_violation("R1", "a", message=1)],
        "permitted_categories": [secret],
        "obligations": [],
    }

    with pytest.raises(InvalidDecision) as caught:
        reader.read(document)

    assert caught.value.failure is Failure.INVALID
    assert secret not in caught.value.detail


def test_read_accepts_valid_decision(reader: DecisionReader) -> None:
    document = {
        "allow": True,
        "violations": [],
        "permitted_categories": ["identity"],
        "obligations": [],
    }

    decision = reader.read(document)

    assert decision == PolicyDecision(True, [], ["identity"], [], engine_failure=False)
