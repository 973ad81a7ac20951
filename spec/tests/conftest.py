"""Shared loading of the standard's machine-readable parts for spec/tests.

Everything is read from the files in spec/ (never from a cached or generated copy), and the
schemas are resolved through one `referencing` registry keyed by their `$id`, so a `$ref` that
works here works for every validator that loads the same files.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

SPEC_DIR = Path(__file__).resolve().parent.parent
SCHEMA_DIR = SPEC_DIR / "schemas"
CODELIST_DIR = SPEC_DIR / "codelists"
EXAMPLE_DIR = SPEC_DIR / "examples"
OPENAPI_PATH = SPEC_DIR / "openapi.yaml"
SCHEMA_BASE = "https://saferefer.org/spec/v0.1/schemas/"


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def schema_documents() -> dict[str, dict[str, Any]]:
    """Every schema file by file name."""
    return {p.name: load_json(p) for p in sorted(SCHEMA_DIR.glob("*.schema.json"))}


def codelists() -> dict[str, dict[str, Any]]:
    """Every code list by its name (the file stem)."""
    return {p.stem: load_json(p) for p in sorted(CODELIST_DIR.glob("*.json"))}


def codes(codelist: dict[str, Any]) -> list[str]:
    return [entry["code"] for entry in codelist["entries"]]


def build_registry() -> Registry[Any]:
    documents = schema_documents().values()
    resources = [(doc["$id"], Resource.from_contents(doc)) for doc in documents]
    return Registry().with_resources(resources)  # type: ignore[arg-type]


def validator_for(target: str, registry: Registry[Any]) -> Draft202012Validator:
    """A validator (formats checked) for `<stem>` (a schema file) or `<stem>.<def>` ($defs)."""
    stem, _, definition = target.partition(".")
    uri = f"{SCHEMA_BASE}{stem}.schema.json"
    schema: dict[str, Any] = {"$ref": uri + (f"#/$defs/{definition}" if definition else "")}
    return Draft202012Validator(
        schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def walk(node: Any, pointer: str = "") -> Iterator[tuple[str, Any]]:
    """Every (JSON Pointer, value) pair in a JSON document, the root included."""
    yield pointer, node
    if isinstance(node, dict):
        for key, value in node.items():
            escaped = str(key).replace("~", "~0").replace("/", "~1")
            yield from walk(value, f"{pointer}/{escaped}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{pointer}/{index}")


def example_files(kind: str) -> list[Path]:
    """Example documents under examples/<kind>/<target>/, without the `.expected.json` sidecars."""
    return sorted(
        p for p in (EXAMPLE_DIR / kind).glob("*/*.json") if not p.name.endswith(".expected.json")
    )


def _example_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise tests over the files of the standard, one test case per file."""
    if "valid_example" in metafunc.fixturenames:
        files = example_files("valid")
        metafunc.parametrize("valid_example", files, ids=[_example_id(p) for p in files])
    if "invalid_example" in metafunc.fixturenames:
        files = example_files("invalid")
        metafunc.parametrize("invalid_example", files, ids=[_example_id(p) for p in files])
    if "codelist_name" in metafunc.fixturenames:
        names = sorted(p.stem for p in CODELIST_DIR.glob("*.json"))
        metafunc.parametrize("codelist_name", names)
    if "schema_name" in metafunc.fixturenames:
        names = sorted(p.name for p in SCHEMA_DIR.glob("*.schema.json"))
        metafunc.parametrize("schema_name", names)


@pytest.fixture(scope="session")
def registry() -> Registry[Any]:
    return build_registry()


@pytest.fixture(scope="session")
def all_codelists() -> dict[str, dict[str, Any]]:
    return codelists()


@pytest.fixture(scope="session")
def schemas() -> dict[str, dict[str, Any]]:
    return schema_documents()


@pytest.fixture(scope="session")
def openapi() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))
    return document


@pytest.fixture(scope="session")
def make_validator(registry: Registry[Any]) -> Any:
    """`make_validator("referral-create")` or `make_validator("subscription.create")`."""

    def make(target: str) -> Draft202012Validator:
        return validator_for(target, registry)

    return make


@pytest.fixture(scope="session")
def json_walk() -> Any:
    return walk


@pytest.fixture(scope="session")
def read_json() -> Any:
    return load_json
