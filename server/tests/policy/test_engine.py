"""Behaviour every engine shares: right answers, and a fail-closed deny for every real fault.

Each test runs on both engines (`engine_kind` is parametrized in conftest.py); each fault is
produced for real by the policy, the input or the server, never simulated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from saferefer_server.policy import (
    ENGINE_UNAVAILABLE_CODE,
    PolicyDecision,
    PolicyEngine,
    build_engine,
    canonical_document,
)

ALLOWED = {"purpose": "assistance", "data_categories": ["identity", "contact"], "context": {}}
DENIED = {
    "purpose": "shelter",
    "data_categories": ["identity", "criminal_record", "sexual_health"],
    "context": {"notify": True},
}
UNKNOWN_PURPOSE = {"purpose": "deportation", "data_categories": [], "context": {}}
MARKER = "Ana-Maria-Popescu-1987"  # looks like personal data; must never reach a log

EngineFactory = Callable[..., Awaitable[PolicyEngine]]
PolicyWriter = Callable[..., Path]


def _assert_fail_closed(decision: PolicyDecision) -> None:
    assert decision.allow is False
    assert decision.engine_failure is True
    assert [v["code"] for v in decision.violations] == [ENGINE_UNAVAILABLE_CODE]
    assert decision.permitted_categories == []


def _failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        getattr(r, "policy_failure", "") for r in caplog.records if r.name.startswith("saferefer")
    ]


@pytest.mark.parametrize("policy_input", [ALLOWED, DENIED, UNKNOWN_PURPOSE])
async def test_decide_matches_policy_when_inputs_vary(
    make_engine: EngineFactory,
    toy_policy_dir: Path,
    toy_expected: Callable[[dict[str, Any]], dict[str, Any]],
    policy_input: dict[str, Any],
) -> None:
    engine = await make_engine(toy_policy_dir)

    decision = await engine.decide(policy_input)

    assert decision.engine_failure is False
    assert decision.to_document() == canonical_document(toy_expected(policy_input))


async def test_decide_keeps_answering_when_inputs_alternate(
    make_engine: EngineFactory, toy_policy_dir: Path
) -> None:
    engine = await make_engine(toy_policy_dir)

    answers = [(await engine.decide(i)).allow for i in (ALLOWED, DENIED, ALLOWED, UNKNOWN_PURPOSE)]

    assert answers == [True, False, True, False]


async def test_decide_answers_each_caller_when_many_run_concurrently(
    make_engine: EngineFactory,
    toy_policy_dir: Path,
    toy_expected: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    engine = await make_engine(toy_policy_dir)
    categories = ["identity", "contact", "health", "criminal_record", "sexual_health", "family"]
    inputs = [
        {
            "purpose": ["assistance", "shelter", "deportation"][n % 3],
            "data_categories": [c for i, c in enumerate(categories) if (n >> i) & 1],
            "context": {"notify": n % 5 == 0},
        }
        for n in range(120)
    ]

    decisions = await asyncio.gather(*(engine.decide(i) for i in inputs))

    wrong = [
        n
        for n, (policy_input, decision) in enumerate(zip(inputs, decisions, strict=True))
        if decision.to_document() != canonical_document(toy_expected(policy_input))
    ]
    assert wrong == []


ECHO_TEXT = """\
package saferefer.sharing

import rego.v1

decision := {
	"allow": input.text == "He said \\"no\\" \\\\ then\\nleft, café 😀",
	"violations": [],
	"permitted_categories": [],
	"obligations": [{"code": "echo", "rule": "R31", "message": "m",
		"justification": concat(" | ", [input.text, "ok"])}],
}
"""
TRICKY_TEXT = 'He said "no" \\ then\nleft, café 😀'


@pytest.mark.parametrize("text", [TRICKY_TEXT, "plain", "tab\tand\u0001control"])
async def test_decide_keeps_text_intact_when_input_has_special_characters(
    make_engine: EngineFactory, write_policies: PolicyWriter, text: str
) -> None:
    engine = await make_engine(write_policies({"saferefer/sharing/e.rego": ECHO_TEXT}))

    decision = await engine.decide({"text": text})

    assert decision.engine_failure is False
    assert decision.allow is (text == TRICKY_TEXT)
    assert decision.obligations[0]["justification"] == f"{text} | ok"


async def test_check_health_reports_true_when_policies_load(
    make_engine: EngineFactory, toy_policy_dir: Path
) -> None:
    engine = await make_engine(toy_policy_dir)

    assert await engine.check_health() is True
    assert engine.name in ("embedded", "opa")
    assert isinstance(engine, PolicyEngine)


CONFLICT = """\
package saferefer.sharing

import rego.v1

mode := "assist" if input.purpose == "assistance"

mode := "restricted" if "health" in input.data_categories

decision := {"allow": mode == "assist", "violations": [], "permitted_categories": [],
	"obligations": []}
"""


async def test_decide_fails_closed_when_rule_has_conflicting_outputs(
    make_engine: EngineFactory, write_policies: PolicyWriter, caplog: pytest.LogCaptureFixture
) -> None:
    engine = await make_engine(write_policies({"saferefer/sharing/c.rego": CONFLICT}))
    conflicting = {"purpose": "assistance", "data_categories": ["health"], "note": MARKER}

    decision = await engine.decide(conflicting)

    _assert_fail_closed(decision)
    assert _failures(caplog) == ["error"]
    assert MARKER not in caplog.text


BUILTIN_ERROR = """\
package saferefer.sharing

import rego.v1

age := to_number(input.subject.age)

decision := {"allow": age >= 18, "violations": [], "permitted_categories": [], "obligations": []}
"""


async def test_decide_fails_closed_when_builtin_errors(
    make_engine: EngineFactory, write_policies: PolicyWriter, caplog: pytest.LogCaptureFixture
) -> None:
    # A lax engine would make `age` undefined and the decision undefined; strict built-in
    # errors make it an error. Either way the answer must be a fail-closed deny.
    engine = await make_engine(write_policies({"saferefer/sharing/b.rego": BUILTIN_ERROR}))

    decision = await engine.decide({"subject": {"age": MARKER}})

    _assert_fail_closed(decision)
    assert _failures(caplog) == ["error"]
    assert MARKER not in caplog.text


SLOW = """\
package saferefer.sharing

import rego.v1

decision := {"allow": count([x | some x in numbers.range(1, input.n); x % 7 == 0]) > 0,
	"violations": [], "permitted_categories": [], "obligations": []}
"""


async def test_decide_fails_closed_when_evaluation_times_out(
    make_engine: EngineFactory, write_policies: PolicyWriter, caplog: pytest.LogCaptureFixture
) -> None:
    engine = await make_engine(write_policies({"saferefer/sharing/s.rego": SLOW}), timeout_s=0.25)
    assert (await engine.decide({"n": 10})).allow is True  # loaded, fast inputs decide

    decision = await engine.decide({"n": 1_000_000})  # takes over a second in both engines

    _assert_fail_closed(decision)
    assert _failures(caplog) == ["timeout"]
    assert (await engine.decide({"n": 10})).allow is True  # a stuck evaluation blocks nothing


NO_DECISION_RULE = """\
package saferefer.sharing

import rego.v1

allow if input.purpose == "assistance"
"""

CONDITIONAL_DECISION = """\
package saferefer.sharing

import rego.v1

decision := {"allow": true, "violations": [], "permitted_categories": [], "obligations": []} if {
	input.purpose == "assistance"
}
"""


@pytest.mark.parametrize(
    "source", [NO_DECISION_RULE, CONDITIONAL_DECISION], ids=["missing", "cond"]
)
async def test_decide_fails_closed_when_decision_is_undefined(
    make_engine: EngineFactory,
    write_policies: PolicyWriter,
    caplog: pytest.LogCaptureFixture,
    source: str,
) -> None:
    engine = await make_engine(write_policies({"saferefer/sharing/u.rego": source}))

    decision = await engine.decide({"purpose": "shelter"})

    _assert_fail_closed(decision)
    assert _failures(caplog) == ["undefined"]


INVALID_DECISIONS = {
    "allow-not-boolean": '{"allow": "yes", "violations": [], "permitted_categories": [], '
    '"obligations": []}',
    "missing-obligations": '{"allow": true, "violations": [], "permitted_categories": []}',
    "allow-with-violations": '{"allow": true, "violations": [{"code": "x", "rule": "R1", '
    '"message": "m", "legal_basis": "b", "fix": "f"}], "permitted_categories": [], '
    '"obligations": []}',
    "bare-boolean": "true",
    "unknown-category": '{"allow": true, "violations": [], "permitted_categories": ["soul"], '
    '"obligations": []}',
}


@pytest.mark.parametrize("value", INVALID_DECISIONS.values(), ids=INVALID_DECISIONS.keys())
async def test_decide_fails_closed_when_decision_breaks_schema(
    make_engine: EngineFactory,
    write_policies: PolicyWriter,
    caplog: pytest.LogCaptureFixture,
    value: str,
) -> None:
    module = f"package saferefer.sharing\n\ndecision := {value}\n"
    engine = await make_engine(write_policies({"saferefer/sharing/i.rego": module}))

    decision = await engine.decide({"purpose": "assistance"})

    _assert_fail_closed(decision)
    assert _failures(caplog) == ["invalid"]


async def test_decide_recovers_when_a_fault_passes(
    make_engine: EngineFactory, write_policies: PolicyWriter
) -> None:
    engine = await make_engine(write_policies({"saferefer/sharing/c.rego": CONFLICT}))

    failed = await engine.decide({"purpose": "assistance", "data_categories": ["health"]})
    fine = await engine.decide({"purpose": "assistance", "data_categories": []})

    assert failed.engine_failure is True
    assert fine.engine_failure is False
    assert fine.allow is True


async def test_decide_fails_closed_when_engine_closed(
    make_engine: EngineFactory, toy_policy_dir: Path
) -> None:
    engine = await make_engine(toy_policy_dir)
    assert (await engine.decide(ALLOWED)).allow is True

    await engine.aclose()

    _assert_fail_closed(await engine.decide(ALLOWED))
    assert await engine.check_health() is False


@pytest.mark.parametrize("bad_value", [{"set"}, float("nan")], ids=["set", "nan"])
async def test_decide_fails_closed_when_input_is_not_json(
    make_engine: EngineFactory,
    toy_policy_dir: Path,
    caplog: pytest.LogCaptureFixture,
    bad_value: object,
) -> None:
    engine = await make_engine(toy_policy_dir)

    decision = await engine.decide({"purpose": "assistance", "data_categories": bad_value})

    _assert_fail_closed(decision)
    assert _failures(caplog) == ["error"]


def test_build_engine_rejects_unknown_kind(toy_policy_dir: Path) -> None:
    with pytest.raises(ValueError, match="unknown policy engine"):
        build_engine(kind="wasm", policy_dir=toy_policy_dir)


def test_build_engine_requires_url_for_opa(toy_policy_dir: Path) -> None:
    with pytest.raises(ValueError, match="opa_url"):
        build_engine(kind="opa", policy_dir=toy_policy_dir)
