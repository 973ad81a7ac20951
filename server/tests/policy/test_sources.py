"""The policy set: the same files and the same data document as OPA's own loader."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from saferefer_server._resources import policy_dir
from saferefer_server.policy import PolicyLoadError, PolicySet, find_opa_binary, opa_ignore_args

PolicyWriter = Callable[..., Path]
PROBE = "package probe\n\nx := 1\n"


def _opa_data(root: Path) -> object:
    command = [str(find_opa_binary()), "eval", "--format=json", "-d", str(root), *opa_ignore_args()]
    answer = subprocess.run([*command, "data"], capture_output=True, text=True, check=True)
    data = json.loads(answer.stdout)["result"][0]["expressions"][0]["value"]
    data.pop("probe")
    return data


def test_load_namespaces_data_like_opa_when_files_are_nested(write_policies: PolicyWriter) -> None:
    root = write_policies(
        {"probe.rego": PROBE, "rules/skip_test.rego": "package broken\n\nx :=\n"},
        {
            "data.json": {"top": {"a": 1}},
            "saferefer/matrix/data.json": {"levels": {"A": 0}},
            "saferefer/matrix/extra.json": {"cells": {"identity": "A"}},
            "saferefer/codes/data.json": {"purposes": ["assistance"]},
            "vectors/one.json": {"input": {"purpose": "a"}},
            "vectors/two.json": {"input": {"purpose": "b"}},
            "tests/fixture.json": {"top": {"a": 2}},
            "tools/out.json": {"top": {"a": 3}},
        },
    )
    (root / "saferefer" / "overlays").mkdir(parents=True)
    (root / "saferefer" / "overlays" / "NL.yaml").write_text("extra: [1, 2]\n", encoding="utf-8")
    (root / ".hidden.json").write_text('{"top": {"a": 4}}', encoding="utf-8")

    policy_set = PolicySet.load(root)

    assert [m.path for m in policy_set.modules] == ["probe.rego"]
    assert policy_set.data == _opa_data(root)
    assert policy_set.data["saferefer"]["overlays"] == {"extra": [1, 2]}


def test_load_refuses_data_files_that_conflict(write_policies: PolicyWriter) -> None:
    root = write_policies(
        {"probe.rego": PROBE}, {"a/data.json": {"x": 1}, "a/other.json": {"x": 2}}
    )

    with pytest.raises(PolicyLoadError, match=r"redefines data\.a\.x"):
        PolicySet.load(root)


def test_load_refuses_directory_without_modules(write_policies: PolicyWriter) -> None:
    with pytest.raises(PolicyLoadError, match="no Rego modules"):
        PolicySet.load(write_policies({}, {"data.json": {}}))


def test_load_refuses_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(PolicyLoadError, match="does not exist"):
        PolicySet.load(tmp_path / "absent")


def test_load_refuses_malformed_data(write_policies: PolicyWriter) -> None:
    root = write_policies({"probe.rego": PROBE})
    (root / "data.json").write_text("{not json", encoding="utf-8")

    with pytest.raises(PolicyLoadError, match=r"data\.json is not valid"):
        PolicySet.load(root)


def test_revision_changes_when_a_module_changes(write_policies: PolicyWriter) -> None:
    first = PolicySet.load(write_policies({"probe.rego": PROBE}))
    same = PolicySet.load(write_policies({"probe.rego": PROBE}))
    changed = PolicySet.load(write_policies({"probe.rego": PROBE.replace("1", "2")}))

    assert first.revision == same.revision
    assert first.revision != changed.revision


def test_policy_dir_finds_repository_policies() -> None:
    root = policy_dir()

    assert root.name == "policies"
    assert (root / "saferefer").is_dir()
