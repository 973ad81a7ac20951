"""Generated policy data stays in sync with its sources, and the tree follows the layout rules.

* data.saferefer.catalogue and spec/codelists/violation-codes.json = the rules' METADATA;
* data.saferefer.codes = spec/codelists (roles, purposes, categories);
* data.saferefer.ranks = the minimisation matrix, indexed by column;
* the enums of the two policy schemas = spec/codelists;
* one package per directory, matching its path; tests beside it as `<pkg>_test`.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

POLICIES = Path(__file__).resolve().parents[1]
REPO = POLICIES.parent


def tool(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"policy_tool_{name}", POLICIES / "tools" / f"{name}.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def catalogue_tool() -> ModuleType:
    return tool("catalogue")


@pytest.fixture(scope="module")
def annotations_catalogue(catalogue_tool: ModuleType) -> dict[str, dict[str, Any]]:
    built: dict[str, dict[str, Any]] = catalogue_tool.build()
    return built


def test_catalogue_data_matches_rule_annotations(
    catalogue_tool: ModuleType, annotations_catalogue: dict[str, dict[str, Any]]
) -> None:
    on_disk = read_json(POLICIES / "saferefer" / "catalogue" / "data.json")
    assert on_disk == catalogue_tool.document(annotations_catalogue), (
        "run .venv/bin/python policies/tools/catalogue.py"
    )


def test_findings_module_matches_catalogue(
    catalogue_tool: ModuleType, annotations_catalogue: dict[str, dict[str, Any]]
) -> None:
    on_disk = (POLICIES / "saferefer" / "findings" / "findings.rego").read_text(encoding="utf-8")
    assert on_disk == catalogue_tool.findings_module(annotations_catalogue), (
        "run .venv/bin/python policies/tools/catalogue.py"
    )


def test_findings_module_reads_every_catalogued_rule_by_constant_path(
    annotations_catalogue: dict[str, dict[str, Any]],
) -> None:
    text = (POLICIES / "saferefer" / "findings" / "findings.rego").read_text(encoding="utf-8")
    for code, entry in annotations_catalogue.items():
        scope = (
            f"overlays.{entry['overlay']}"
            if "overlay" in entry
            else (f"saferefer.rules.{entry['family']}")
        )
        assert f"data.{scope}.{code}" in text, code
    assert "data.saferefer.rules[" not in text
    assert "data.overlays[" not in text


def test_violation_codes_codelist_matches_rule_annotations(
    catalogue_tool: ModuleType, annotations_catalogue: dict[str, dict[str, Any]]
) -> None:
    on_disk = read_json(REPO / "spec" / "codelists" / "violation-codes.json")
    assert on_disk == catalogue_tool.codelist(annotations_catalogue)


def test_codelist_has_english_and_french_labels_and_engine_failure_code() -> None:
    entries = read_json(REPO / "spec" / "codelists" / "violation-codes.json")["entries"]
    codes = {entry["code"] for entry in entries}
    assert "policy_engine_unavailable" in codes
    assert {"unknown_action", "unknown_purpose", "unknown_role", "unknown_category"} <= codes
    for entry in entries:
        assert entry["labels"]["en"]
        assert entry["labels"]["fr"]


def test_every_rights_rule_has_a_catalogued_rule(
    annotations_catalogue: dict[str, dict[str, Any]],
) -> None:
    rules = {entry["rule"] for entry in annotations_catalogue.values()}
    assert {f"R{n}" for n in range(1, 36)} <= rules


def test_every_violation_rule_carries_level_legal_basis_and_fix(
    annotations_catalogue: dict[str, dict[str, Any]],
) -> None:
    for code, entry in annotations_catalogue.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", code)
        assert entry["legal_basis"]
        if entry["kind"] == "violation":
            assert entry["level"] in {"MUST", "SHOULD"}
            assert entry["fix"]


def test_codes_data_matches_codelists() -> None:
    codes = tool("codes")
    assert (POLICIES / "saferefer" / "codes" / "data.json").read_text(
        encoding="utf-8"
    ) == codes.render()


def test_ranks_data_matches_matrix() -> None:
    ranks = tool("ranks")
    assert (POLICIES / "saferefer" / "ranks" / "data.json").read_text(
        encoding="utf-8"
    ) == ranks.render(), "run .venv/bin/python policies/tools/ranks.py"


def test_ranks_raise_foreign_columns_for_a_child_only() -> None:
    ranks = read_json(POLICIES / "saferefer" / "ranks" / "data.json")
    matrix = read_json(POLICIES / "saferefer" / "matrix" / "data.json")
    levels = matrix["levels"]
    for category, row in matrix["cells"].items():
        for column, level in row.items():
            assert ranks["adult"][column][category] == levels[level]
            raised = column in matrix["child_foreign_columns"]
            expected = max(levels[level], levels["R"]) if raised else levels[level]
            assert ranks["child"][column][category] == expected


@pytest.mark.parametrize("name", ["policy-input", "policy-decision"])
def test_policy_schemas_match_generator(name: str) -> None:
    schemas = tool("write_schemas")
    built = schemas.input_schema() if name == "policy-input" else schemas.decision_schema()
    assert read_json(REPO / "spec" / "schemas" / f"{name}.schema.json") == built


def test_schema_enums_equal_codelists() -> None:
    defs = read_json(REPO / "spec" / "schemas" / "policy-input.schema.json")["$defs"]
    for definition, codelist in (
        ("role", "roles"),
        ("purpose", "purposes"),
        ("data_category", "data-categories"),
    ):
        entries = read_json(REPO / "spec" / "codelists" / f"{codelist}.json")["entries"]
        assert defs[definition]["enum"] == [entry["code"] for entry in entries]


def test_matrix_has_a_cell_for_every_category_and_column() -> None:
    matrix = read_json(POLICIES / "saferefer" / "matrix" / "data.json")
    categories = [
        e["code"]
        for e in read_json(REPO / "spec" / "codelists" / "data-categories.json")["entries"]
    ]
    roles = [e["code"] for e in read_json(REPO / "spec" / "codelists" / "roles.json")["entries"]]
    assert set(roles) <= set(matrix["columns"])
    assert set(matrix["foreign_columns"]) == set(roles)
    assert set(matrix["cells"]) == set(categories)
    for category, row in matrix["cells"].items():
        assert set(row) == set(matrix["columns"]), category
        assert set(row.values()) <= set(matrix["levels"]), category
    assert set(matrix["purpose_roles"]) == set(matrix["purpose_categories"])


def package_of(path: Path) -> str:
    match = re.search(r"^package ([\w.]+)$", path.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert match, path
    return match.group(1)


@pytest.mark.parametrize(
    "path",
    sorted(p.relative_to(POLICIES) for p in POLICIES.rglob("*.rego")),
    ids=str,
)
def test_package_matches_directory(path: Path) -> None:
    expected = ".".join(path.parent.parts)
    package = package_of(POLICIES / path)
    if path.name.endswith("_test.rego"):
        assert package == f"{expected}_test"
    else:
        assert package == expected
        assert path.stem == path.parent.name.lower()


def test_regopy_has_no_rule_metadata_so_the_catalogue_is_data() -> None:
    from regopy import Interpreter

    interpreter = Interpreter()
    interpreter.add_module(
        "m.rego", "package m\n\n# METADATA\n# title: t\nr := rego.metadata.rule()\n"
    )
    assert str(interpreter.query("data.m.r")) == "undefined"


RULE_HEAD = re.compile(r"^([a-z_][a-z0-9_]*)\b(?=\(| contains | if\b| :=| =)", flags=re.MULTILINE)


@pytest.mark.parametrize(
    "path",
    sorted(
        p.relative_to(POLICIES)
        for p in [*POLICIES.glob("saferefer/rules/*/*.rego"), *POLICIES.glob("overlays/*/*.rego")]
        if not p.name.endswith("_test.rego")
    ),
    ids=str,
)
def test_uncatalogued_rules_are_helpers(
    path: Path, annotations_catalogue: dict[str, dict[str, Any]]
) -> None:
    """A violation rule without METADATA would be silently ignored by the decision; every rule
    that is not catalogued must therefore be a helper that another rule of its module uses."""
    source = (POLICIES / path).read_text(encoding="utf-8")
    for name in set(RULE_HEAD.findall(source)) - set(annotations_catalogue):
        definitions = len(re.findall(rf"^{name}\b", source, flags=re.MULTILINE))
        uses = len(re.findall(rf"\b{name}\b", source)) - definitions
        assert uses > 0, f"{path}: rule {name} has no METADATA and no use"
