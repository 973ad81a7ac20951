"""The standard as data: spec/ schemas, code lists, the OpenAPI document and requirements.csv.

The suite judges a server against the published files, never against a copy of them: an installed
distribution carries spec/ inside the SDK package (``saferefer/_spec``), a source checkout reads
``<repo>/spec``.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

SCHEMA_BASE = "https://saferefer.org/spec/v0.1/schemas/"
PROBLEM_BASE = "https://saferefer.org/problems/"


def spec_dir() -> Path:
    try:
        from saferefer._resources import spec_dir as sdk_spec_dir
    except ImportError:
        return Path(__file__).resolve().parents[2] / "spec"
    return sdk_spec_dir()


@cache
def codelist(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((spec_dir() / "codelists" / f"{name}.json").read_text())
    return document


def codes(name: str) -> list[str]:
    return [str(entry["code"]) for entry in codelist(name)["entries"]]


@cache
def _schema_registry() -> Registry[Any]:
    registry: Registry[Any] = Registry()
    for path in sorted((spec_dir() / "schemas").glob("*.schema.json")):
        document = json.loads(path.read_text())
        registry = registry.with_resource(
            document.get("$id", SCHEMA_BASE + path.name), Resource.from_contents(document)
        )
    return registry


def has_schema(schema_file: str) -> bool:
    return (spec_dir() / "schemas" / schema_file).is_file()


@cache
def validator(schema_file: str, pointer: str = "") -> Draft202012Validator:
    """A validator for a schema file of spec/schemas (or one of its ``$defs`` via ``pointer``)."""
    ref = SCHEMA_BASE + schema_file + ("#" + pointer if pointer else "")
    return Draft202012Validator(
        {"$ref": ref}, registry=_schema_registry(), format_checker=FormatChecker()
    )


def schema_errors(schema_file: str, document: Any, pointer: str = "", limit: int = 5) -> list[str]:
    """Schema violations of ``document`` as "JSON pointer: message", at most ``limit``."""
    found = []
    for error in validator(schema_file, pointer).iter_errors(document):
        where = "#" + "".join(f"/{part}" for part in error.absolute_path)
        found.append(f"{where}: {error.message[:200]}")
        if len(found) >= limit:
            break
    return found


@cache
def openapi() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((spec_dir() / "openapi.yaml").read_text())
    return document


@dataclass(frozen=True)
class Requirement:
    id: str
    level: str
    section: str
    summary: str
    conformance_checks: tuple[str, ...]
    not_tested_because: str


def requirements(path: Path | None = None) -> list[Requirement]:
    """The rows of spec/requirements.csv."""
    path = path or spec_dir() / "requirements.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            Requirement(
                id=row["id"],
                level=row["level"],
                section=row["section"],
                summary=row["summary"],
                conformance_checks=tuple(
                    c.strip() for c in row["conformance_check"].split(";") if c.strip()
                ),
                not_tested_because=row["not_tested_because"].strip(),
            )
            for row in csv.DictReader(handle)
        ]
