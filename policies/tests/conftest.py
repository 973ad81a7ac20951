"""Fixtures for the policy tests: the vector corpus, the pinned OPA and the regopy interpreter.

The policy bundle is every non-test `.rego` under policies/ (the saferefer packages and the
overlays) plus every `data.json` under policies/saferefer/, loaded at the data path of its
directory. policies/README.md documents the same layout for the engines.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
POLICIES = REPO / "policies"
OPA = REPO / ".tools" / "bin" / "opa"
SCHEMAS = REPO / "spec" / "schemas"
CODELISTS = REPO / "spec" / "codelists"
ENTRYPOINT = "data.saferefer.sharing.decision"

Decide = Callable[[dict[str, Any]], dict[str, Any]]


def policy_modules() -> dict[str, str]:
    """Path (relative to policies/) → source of every policy module the engines load."""
    return {
        str(path.relative_to(POLICIES)): path.read_text(encoding="utf-8")
        for path in sorted(POLICIES.rglob("*.rego"))
        if not path.name.endswith("_test.rego")
    }


def policy_data() -> dict[str, Any]:
    """The data document: each policies/saferefer/**/data.json at its directory's path."""
    data: dict[str, Any] = {}
    for path in sorted((POLICIES / "saferefer").rglob("data.json")):
        *parents, leaf = path.parent.relative_to(POLICIES).parts
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = json.loads(path.read_text(encoding="utf-8"))
    return data


def load_vectors() -> list[dict[str, Any]]:
    vectors = []
    for path in sorted((POLICIES / "vectors").glob("*/vectors.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        for vector in document["vectors"]:
            vectors.append({"scenario": document["scenario"], **vector})
    return vectors


def opa_eval_many(inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Decisions of `opa eval` (pinned binary) for many inputs in one process."""
    query = f"[d | some v in input.inputs; d := {ENTRYPOINT} with input as v]"
    result = subprocess.run(
        [str(OPA), "eval", "--format", "json", "--data", str(POLICIES), "--stdin-input", query],
        input=json.dumps({"inputs": inputs}),
        check=True,
        capture_output=True,
        text=True,
    )
    decisions: list[dict[str, Any]] = json.loads(result.stdout)["result"][0]["expressions"][0][
        "value"
    ]
    return decisions


@pytest.fixture(scope="session")
def opa_decide_many() -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    return opa_eval_many


@pytest.fixture(scope="session")
def codelist() -> Callable[[str], dict[str, Any]]:
    def load(name: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(
            (CODELISTS / f"{name}.json").read_text(encoding="utf-8")
        )
        return loaded

    return load


@pytest.fixture(scope="session")
def vectors() -> list[dict[str, Any]]:
    return load_vectors()


@pytest.fixture(scope="session")
def schema() -> Callable[[str], dict[str, Any]]:
    def load(name: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
        return loaded

    return load


@pytest.fixture(scope="session")
def regopy_decide() -> Decide:
    """The decision of regopy (rego-cpp): the bundle is compiled once, as the embedded engine does;
    one interpreter, used from this thread only."""
    from regopy import Interpreter

    builder = Interpreter()
    for name, source in policy_modules().items():
        builder.add_module(name, source)
    builder.add_data_json(json.dumps(policy_data()))
    bundle = builder.build(ENTRYPOINT, ["saferefer/sharing/decision"])
    interpreter = Interpreter()

    def decide(policy_input: dict[str, Any]) -> dict[str, Any]:
        interpreter.set_input_term(json.dumps(policy_input))
        output = str(interpreter.query_bundle(bundle))
        if output == "undefined":
            raise AssertionError("regopy returned no decision")
        decision: dict[str, Any] = json.loads(output)["expressions"][0]
        return decision

    return decide
