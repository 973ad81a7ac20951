"""The decision vectors: valid inputs, identical decisions from OPA and regopy, a corpus that
tells a working policy from one that denies everything or allows everything."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

POLICIES = Path(__file__).resolve().parents[1]

Decide = Callable[[dict[str, Any]], dict[str, Any]]
DecideMany = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]

# Rule families whose corpus must contain allowed and denied vectors (issue: "a policy that
# denies everything must fail the tests as surely as one that allows everything").
FAMILIES = {
    "support": {"R1", "R2"},
    "reflection": {"R10", "R18"},
    "onward": {"R14"},
    "statistics": {"R15"},
    "firewall": {"R17"},
    "non_refoulement": {"R21", "R22"},
    "children": {"R26", "R27", "R28", "R29"},
}
RIGHTS_RULES = {f"R{n}" for n in range(1, 36)}


def produced_rules(decision: dict[str, Any]) -> set[str]:
    return {item["rule"] for item in decision["violations"] + decision["obligations"]}


def test_corpus_has_at_least_200_vectors_a_third_allowed(vectors: list[dict[str, Any]]) -> None:
    allowed = sum(vector["expected"]["allow"] for vector in vectors)
    assert len(vectors) >= 200
    assert allowed * 3 >= len(vectors)


def test_vector_names_are_unique_per_scenario(vectors: list[dict[str, Any]]) -> None:
    names = [(vector["scenario"], vector["name"]) for vector in vectors]
    assert len(names) == len(set(names))


def test_vectors_validate_against_input_schema(vectors: list[dict[str, Any]], schema: Any) -> None:
    validator = jsonschema.Draft202012Validator(
        schema("policy-input.schema.json"), format_checker=jsonschema.FormatChecker()
    )
    failures = {
        f"{v['scenario']}/{v['name']}": [e.message for e in validator.iter_errors(v["input"])]
        for v in vectors
    }
    assert {name: errors for name, errors in failures.items() if errors} == {}


def test_expected_decisions_validate_against_decision_schema(
    vectors: list[dict[str, Any]], schema: Any
) -> None:
    validator = jsonschema.Draft202012Validator(schema("policy-decision.schema.json"))
    for vector in vectors:
        validator.validate(vector["expected"])


def test_vectors_match_opa_eval(vectors: list[dict[str, Any]], opa_decide_many: DecideMany) -> None:
    decisions = opa_decide_many([vector["input"] for vector in vectors])
    mismatches = [
        f"{v['scenario']}/{v['name']}"
        for v, decision in zip(vectors, decisions, strict=True)
        if decision != v["expected"]
    ]
    assert mismatches == []


def test_vectors_match_regopy(vectors: list[dict[str, Any]], regopy_decide: Decide) -> None:
    mismatches = [
        f"{v['scenario']}/{v['name']}"
        for v in vectors
        if regopy_decide(v["input"]) != v["expected"]
    ]
    assert mismatches == []


@pytest.mark.parametrize(
    "policy_input",
    [
        {},
        {"action": "referral.publish", "data_categories": ["identity"], "context": {"now": "x"}},
        {"action": "referral.send", "purpose": "marketing", "data_categories": ["religion"]},
        {"action": "statistics.read", "recipient": {"roles": ["journalist"]}},
    ],
    ids=["empty", "unknown-action", "unknown-purpose-category", "unknown-role"],
)
def test_engines_agree_and_deny_malformed_input(
    policy_input: dict[str, Any], regopy_decide: Decide, opa_decide_many: DecideMany
) -> None:
    [from_opa] = opa_decide_many([policy_input])
    assert from_opa == regopy_decide(policy_input)
    assert from_opa["allow"] is False
    assert from_opa["violations"]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_corpus_defeats_deny_all_and_allow_all(vectors: list[dict[str, Any]], family: str) -> None:
    rules = FAMILIES[family]
    about = [v for v in vectors if v["rule"] in rules]
    # A deny-all policy fails on the allowed vectors, an allow-all policy on the denied ones.
    assert any(v["expected"]["allow"] for v in about), f"{family}: no allowed vector"
    assert any(
        not v["expected"]["allow"] and produced_rules(v["expected"]) & rules for v in about
    ), f"{family}: no vector denied by its own rules"


def test_every_rule_has_an_allowed_and_a_denied_vector_or_is_an_obligation(
    vectors: list[dict[str, Any]],
) -> None:
    outcomes: dict[str, set[bool]] = defaultdict(set)
    for vector in vectors:
        outcomes[vector["rule"]].add(vector["expected"]["allow"])
    obligation_only = {"R31", "R35"}
    missing = {
        rule for rule in RIGHTS_RULES - obligation_only if outcomes.get(rule) != {True, False}
    }
    assert missing == set()


def test_violation_codes_exist_in_codelist(
    vectors: list[dict[str, Any]], codelist: Callable[[str], dict[str, Any]]
) -> None:
    known = {entry["code"] for entry in codelist("violation-codes")["entries"]}
    produced = {
        item["code"]
        for vector in vectors
        for item in vector["expected"]["violations"] + vector["expected"]["obligations"]
    }
    assert produced <= known


def test_every_rights_rule_produced_or_documented_as_not_enforceable(
    vectors: list[dict[str, Any]],
) -> None:
    produced = set().union(*(produced_rules(v["expected"]) for v in vectors))
    readme = (POLICIES / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Rules a policy cannot fully enforce", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| (R\d+) \|", section, flags=re.MULTILINE))
    assert RIGHTS_RULES - produced <= documented
    assert produced | documented >= RIGHTS_RULES
