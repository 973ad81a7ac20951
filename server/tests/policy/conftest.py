"""Fixtures for the policy engine tests: toy policy sets in temporary directories, OPA servers.

The toy policy set below follows the real contract (package `saferefer.sharing`, rule `decision`,
documents valid under spec/schemas/policy-decision.schema.json) so the engines can be tested on
their own, independent of the real policies; the differential test runs the real ones.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from saferefer_server.policy import OpaProcess, PolicyEngine, build_engine

REPO = Path(__file__).resolve().parents[3]
SCHEMA_DIR = REPO / "spec" / "schemas"

# `decision` calls a function from lib.rego; the module named first (a_decision.rego) depends on
# the one named last, so OPA refuses it until lib.rego is there (the engine must cope).
TOY_DECISION = """\
package saferefer.sharing

import rego.v1

violations contains v if {
	not input.purpose in data.saferefer.sharing.purposes
	v := finding("unknown_purpose", "R30", [])
}

violations contains v if {
	some category in input.data_categories
	category in data.saferefer.sharing.never
	v := finding("category_never_shared", "R8", [category])
}

permitted contains category if {
	some category in input.data_categories
	not category in data.saferefer.sharing.never
}

obligations contains {"code": "notify_subject", "rule": "R35", "message": "Tell the person."} if {
	input.context.notify
}

decision := {
	"allow": count(violations) == 0,
	"violations": [v | some v in violations],
	"permitted_categories": [c | some c in permitted],
	"obligations": [o | some o in obligations],
}
"""

TOY_LIB = """\
package saferefer.sharing

import rego.v1

finding(code, rule, categories) := {
	"code": code,
	"rule": rule,
	"message": concat(" ", [code, "was refused"]),
	"legal_basis": "test basis",
	"fix": "remove it",
	"categories": categories,
}
"""

TOY_DATA = {"purposes": ["assistance", "shelter"], "never": ["criminal_record", "sexual_health"]}

# A unit-test module of the policies. Engines must not load it; if one did, this extra
# violation would turn every toy allow into a deny.
TOY_TEST_MODULE = """\
package saferefer.sharing

import rego.v1

violations contains finding("test_module_loaded", "R30", [])

test_denies_unknown_purpose if not decision.allow with input as {"purpose": "x"}
"""


def _toy_expected(policy_input: dict[str, Any]) -> dict[str, Any]:
    """What the toy policy decides, computed independently in Python."""
    never = set(TOY_DATA["never"])
    violations: list[dict[str, Any]] = []
    if policy_input.get("purpose") not in TOY_DATA["purposes"]:
        violations.append(_finding("unknown_purpose", "R30", []))
    for category in policy_input.get("data_categories", []):
        if category in never:
            violations.append(_finding("category_never_shared", "R8", [category]))
    obligations = []
    if policy_input.get("context", {}).get("notify"):
        obligations.append({"code": "notify_subject", "rule": "R35", "message": "Tell the person."})
    return {
        "allow": not violations,
        "violations": violations,
        "permitted_categories": [
            c for c in policy_input.get("data_categories", []) if c not in never
        ],
        "obligations": obligations,
    }


def _finding(code: str, rule: str, categories: list[str]) -> dict[str, Any]:
    return {
        "code": code,
        "rule": rule,
        "message": f"{code} was refused",
        "legal_basis": "test basis",
        "fix": "remove it",
        "categories": categories,
    }


PolicyWriter = Callable[..., Path]


@pytest.fixture
def toy_expected() -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The toy policy's decision for an input, as an independent oracle."""
    return _toy_expected


@pytest.fixture
def write_policies(tmp_path: Path) -> PolicyWriter:
    """Write a policy directory: `{relative path: source}` modules plus `{relative path: data}`."""
    counter = iter(range(1_000_000))

    def write(modules: dict[str, str], data: dict[str, Any] | None = None) -> Path:
        root = tmp_path / f"policies{next(counter)}"
        for relative, source in modules.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(source, encoding="utf-8")
        for relative, document in (data or {}).items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(document), encoding="utf-8")
        root.mkdir(parents=True, exist_ok=True)
        return root

    return write


@pytest.fixture
def toy_policy_dir(write_policies: PolicyWriter) -> Path:
    return write_policies(
        {
            "saferefer/sharing/a_decision.rego": TOY_DECISION,
            "saferefer/sharing/lib.rego": TOY_LIB,
            "saferefer/sharing/decision_test.rego": TOY_TEST_MODULE,
        },
        {
            "saferefer/sharing/data.json": TOY_DATA,
            # decision vectors live beside the policies but are not data
            "vectors/v1.json": {"input": {"purpose": "x"}},
            "vectors/v2.json": {"input": {"purpose": "y"}},
        },
    )


@pytest.fixture
def opa_server() -> Iterator[OpaProcess]:
    """A fresh OPA server on a free loopback port, stopped after the test."""
    with OpaProcess() as opa:
        yield opa


@pytest.fixture(scope="session")
def shared_opa_server() -> Iterator[OpaProcess]:
    """One OPA server for tests that only read from it (the differential test)."""
    with OpaProcess() as opa:
        yield opa


EngineFactory = Callable[..., Awaitable[PolicyEngine]]


@pytest.fixture(params=["embedded", "opa"])
def engine_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
async def make_engine(
    engine_kind: str, request: pytest.FixtureRequest
) -> AsyncIterator[EngineFactory]:
    """Build engines of `engine_kind` (an OPA server is started only for the opa kind)."""
    engines: list[PolicyEngine] = []
    opa: OpaProcess | None = None
    if engine_kind == "opa":
        opa = request.getfixturevalue("opa_server")

    async def make(policy_dir: Path, *, timeout_s: float = 2.0, **kwargs: Any) -> PolicyEngine:
        engine = build_engine(
            kind=engine_kind,
            policy_dir=policy_dir,
            opa_url=opa.url if opa else None,
            timeout_s=timeout_s,
            schema_dir=SCHEMA_DIR,
            **kwargs,
        )
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.aclose()
