"""Every example document is checked against its schema: valid ones pass, invalid ones fail with
the error their `.expected.json` sidecar states (JSON Pointer of the member + a message fragment).

Examples live in `examples/<valid|invalid>/<target>/`, where `<target>` is a schema file stem
(`referral-create`) or `<stem>.<def>` for one of its `$defs` (`subscription.create`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jsonschema import ValidationError

SPEC_DIR = Path(__file__).resolve().parent.parent
EXAMPLE_DIR = SPEC_DIR / "examples"
SCHEMA_DIR = SPEC_DIR / "schemas"
# common.schema.json is only a bag of $defs: its root accepts anything, so it is exemplified
# through its definitions (examples/*/common.<def>/) instead.
ROOT_EXEMPT = {"common"}


def _pointer(error: ValidationError) -> str:
    return "".join(
        "/" + str(part).replace("~", "~0").replace("/", "~1") for part in error.absolute_path
    )


def _all_errors(errors: Any) -> Iterator[ValidationError]:
    """Errors with every nested `oneOf`/`anyOf` sub-error flattened in."""
    for error in errors:
        yield error
        yield from _all_errors(error.context or ())


def test_valid_example_validates(valid_example: Path, make_validator: Any, read_json: Any) -> None:
    validator = make_validator(valid_example.parent.name)
    errors = [
        f"{_pointer(e) or '/'}: {e.message}"
        for e in validator.iter_errors(read_json(valid_example))
    ]
    assert errors == []


def test_invalid_example_fails_with_stated_error(
    invalid_example: Path, make_validator: Any, read_json: Any
) -> None:
    expected_path = invalid_example.with_name(invalid_example.stem + ".expected.json")
    assert expected_path.is_file(), f"{invalid_example.name} has no .expected.json sidecar"
    expected = read_json(expected_path)
    assert set(expected) == {"path", "error_contains"}
    validator = make_validator(invalid_example.parent.name)
    found = [
        (_pointer(e), e.message)
        for e in _all_errors(validator.iter_errors(read_json(invalid_example)))
    ]
    assert found, "the invalid example validates"
    matching = [
        (path, message)
        for path, message in found
        if path == expected["path"] and expected["error_contains"] in message
    ]
    assert matching, f"expected {expected} among {json.dumps(found, indent=1)}"


def test_every_schema_has_valid_and_invalid_examples() -> None:
    stems = {p.name.removesuffix(".schema.json") for p in SCHEMA_DIR.glob("*.schema.json")}

    def covered(kind: str) -> set[str]:
        return {d.name.partition(".")[0] for d in (EXAMPLE_DIR / kind).iterdir() if d.is_dir()}

    assert sorted(stems - covered("valid")) == []
    assert sorted(stems - covered("invalid")) == []


def test_every_example_directory_names_an_existing_schema_or_definition(read_json: Any) -> None:
    unknown = []
    for kind in ("valid", "invalid"):
        for directory in sorted((EXAMPLE_DIR / kind).iterdir()):
            stem, _, definition = directory.name.partition(".")
            schema_path = SCHEMA_DIR / f"{stem}.schema.json"
            known = schema_path.is_file() and (
                definition in read_json(schema_path).get("$defs", {})
                if definition
                else stem not in ROOT_EXEMPT
            )
            if not known:
                unknown.append(f"{kind}/{directory.name}")
    assert unknown == []


def test_every_sidecar_has_its_example() -> None:
    orphans = [
        str(p.relative_to(EXAMPLE_DIR))
        for p in EXAMPLE_DIR.glob("*/*/*.expected.json")
        if not p.with_name(p.name.removesuffix(".expected.json") + ".json").is_file()
        or p.parent.parent.name != "invalid"
    ]
    assert orphans == []


def test_problem_examples_use_listed_types_with_their_status(
    read_json: Any, all_codelists: dict[str, Any]
) -> None:
    statuses = {e["type_uri"]: e["status"] for e in all_codelists["problem-types"]["entries"]}
    for path in sorted((EXAMPLE_DIR / "valid" / "problem").glob("*.json")):
        problem = read_json(path)
        assert statuses.get(problem["type"]) == problem["status"], path.name


def test_example_violation_codes_are_listed(read_json: Any, all_codelists: dict[str, Any]) -> None:
    kinds = {e["code"]: e["kind"] for e in all_codelists["violation-codes"]["entries"]}
    seen = 0
    for target in ("problem", "policy-decision", "audit-entry"):
        for path in sorted((EXAMPLE_DIR / "valid" / target).glob("*.json")):
            document = read_json(path)
            for violation in document.get("violations", []):
                assert kinds.get(violation["code"]) == "violation", (path.name, violation["code"])
                seen += 1
            for obligation in document.get("obligations", []):
                assert kinds.get(obligation["code"]) == "obligation", (
                    path.name,
                    obligation["code"],
                )
                seen += 1
            for code in document.get("decision", {}).get("violation_codes", []):
                assert kinds.get(code) == "violation", (path.name, code)
    assert seen >= 3


def test_federation_policy_input_examples_are_policy_inputs(
    make_validator: Any, read_json: Any
) -> None:
    """`policy_input` of an envelope is a policy-input document (the envelope schema bounds it only)."""
    validator = make_validator("policy-input")
    checked = 0
    for path in sorted((EXAMPLE_DIR / "valid" / "federation-envelope").glob("*.json")):
        envelope = read_json(path)
        if "policy_input" in envelope:
            assert [e.message for e in validator.iter_errors(envelope["policy_input"])] == []
            checked += 1
    assert checked >= 1
