"""Differential test: every decision vector gets the same decision from every way of deciding.

For each vector in policies/vectors, the embedded engine (rego-cpp), the OPA engine (an OPA server
through opa-python-client) and `opa eval` on the command line must give the identical decision,
and it must be the vector's `expected` one. Lists without meaning in their order are compared in
canonical order (`canonical_document`).

Every engine decides the whole corpus once per module: `opa eval` in a single process (one query
over a list of inputs), the OPA server with concurrent requests, the embedded engine in its
thread pool. The per-vector tests only compare.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from saferefer_server._resources import policy_dir
from saferefer_server.policy import (
    DECISION_REF,
    DecisionVector,
    OpaProcess,
    PolicyEngine,
    build_engine,
    canonical_document,
    find_opa_binary,
    load_vectors,
    opa_ignore_args,
)

POLICY_DIR = policy_dir()
SCHEMA_DIR = Path(__file__).resolve().parents[3] / "spec" / "schemas"
VECTORS = load_vectors(POLICY_DIR)
# Vectors measure agreement, not speed: a slow shared machine must not turn into a fail-closed.
GENEROUS_TIMEOUT_S = 60.0
# One query for the whole corpus; an undefined decision leaves its index out of the object.
BATCH_QUERY = f"{{i: d | some i, x in input; d := {DECISION_REF} with input as x}}"

Documents = dict[str, dict[str, Any] | None]


def _opa_eval(inputs: object, query: str) -> dict[str, Any] | None:
    """The value of `query` for `inputs`; None when OPA fails or the value is undefined."""
    command = [
        str(find_opa_binary()),
        "eval",
        "--format=json",
        "--strict-builtin-errors",
        "--stdin-input",
        "-d",
        str(POLICY_DIR),
        *opa_ignore_args(),
        query,
    ]
    answer = subprocess.run(command, input=json.dumps(inputs), capture_output=True, text=True)
    if answer.returncode != 0:
        return None
    results = json.loads(answer.stdout).get("result", [])
    value: dict[str, Any] | None = results[0]["expressions"][0]["value"] if results else None
    return value


def _decide_with_opa_cli(vectors: list[DecisionVector]) -> Documents:
    batch = _opa_eval([v.input for v in vectors], BATCH_QUERY)
    if batch is not None:
        return {v.id: batch.get(str(i)) for i, v in enumerate(vectors)}
    # One vector made the whole batch fail (e.g. a strict built-in error): find out which.
    return {v.id: _opa_eval(v.input, DECISION_REF) for v in vectors}


async def _decide_all(engine: PolicyEngine, vectors: list[DecisionVector]) -> Documents:
    gate = asyncio.Semaphore(8)

    async def one(vector: DecisionVector) -> tuple[str, dict[str, Any] | None]:
        async with gate:
            decision = await engine.decide(vector.input)
        return vector.id, None if decision.engine_failure else decision.to_document()

    try:
        return dict(await asyncio.gather(*(one(v) for v in vectors)))
    finally:
        await engine.aclose()


@pytest.fixture(scope="module")
def decisions(shared_opa_server: OpaProcess) -> dict[str, Documents]:
    # Four evaluation threads: the corpus also checks that threads never mix up answers on the
    # real policies (test_embedded.py checks the same on a small policy, much faster).
    embedded = build_engine(
        kind="embedded",
        policy_dir=POLICY_DIR,
        schema_dir=SCHEMA_DIR,
        timeout_s=GENEROUS_TIMEOUT_S,
        max_workers=4,
    )
    opa = build_engine(
        kind="opa",
        policy_dir=POLICY_DIR,
        opa_url=shared_opa_server.url,
        schema_dir=SCHEMA_DIR,
        timeout_s=GENEROUS_TIMEOUT_S,
    )
    return {
        "opa eval": _decide_with_opa_cli(VECTORS),
        "opa server": asyncio.run(_decide_all(opa, VECTORS)),
        "embedded": asyncio.run(_decide_all(embedded, VECTORS)),
    }


def _canonical(document: Mapping[str, Any] | None) -> dict[str, Any] | str:
    return "no decision (error or undefined)" if document is None else canonical_document(document)


def test_vector_corpus_is_present() -> None:
    assert len(VECTORS) >= 200
    assert len({v.id for v in VECTORS}) == len(VECTORS)


@pytest.mark.parametrize("vector", VECTORS, ids=[v.id for v in VECTORS])
def test_engines_decide_vector_identically(
    vector: DecisionVector, decisions: dict[str, Documents]
) -> None:
    expected = canonical_document(vector.expected)

    answers = {engine: _canonical(documents[vector.id]) for engine, documents in decisions.items()}

    differing = {engine: answer for engine, answer in answers.items() if answer != expected}
    assert differing == {}, f"{vector.id} ({vector.rule}): expected {json.dumps(expected)}"
