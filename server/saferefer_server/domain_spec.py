"""The parts of spec/ the domain packages read at run time: JSON Schemas and code lists.

Request bodies are validated against the published schemas themselves (not a hand-copied model),
so the server accepts exactly what the standard says. Error messages name the JSON pointer and the
rule that failed, never the rejected value (it could be personal data).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from saferefer_server.core.problems import ProblemError

SCHEMA_BASE = "https://saferefer.org/spec/v0.1/schemas/"
MAX_REPORTED_ERRORS = 20


def spec_dir() -> Path:
    try:
        from saferefer._resources import spec_dir as sdk_spec_dir
    except ImportError:
        return Path(__file__).resolve().parents[2] / "spec"
    return sdk_spec_dir()


@lru_cache(maxsize=1)
def _registry() -> Registry:
    registry: Registry = Registry()
    for path in sorted((spec_dir() / "schemas").glob("*.schema.json")):
        document = json.loads(path.read_text())
        resource = Resource.from_contents(document)
        registry = registry.with_resource(document.get("$id", SCHEMA_BASE + path.name), resource)
    return registry


@cache
def validator(schema_file: str, pointer: str = "") -> Draft202012Validator:
    """A validator for `schema_file` (or one of its `$defs` via `pointer`, e.g. `/$defs/x`)."""
    schema: dict[str, Any] = {
        "$ref": SCHEMA_BASE + schema_file + ("#" + pointer if pointer else "")
    }
    return Draft202012Validator(schema, registry=_registry(), format_checker=FormatChecker())


def _describe(error: ValidationError) -> str:
    keyword = str(error.validator)
    expected: Any = error.validator_value
    if keyword == "required":
        missing = [
            name
            for name in expected
            if isinstance(error.instance, dict) and name not in error.instance
        ]
        return "missing required member(s): " + ", ".join(missing)
    if keyword == "additionalProperties":
        return "contains a member the schema does not allow"
    if keyword in {"enum", "const"}:
        return "is not one of the allowed values (see the code list)"
    if keyword == "type":
        return f"must be of type {expected}"
    if keyword in {"minLength", "maxLength", "minItems", "maxItems", "minimum", "maximum"}:
        return f"violates {keyword} {expected}"
    if keyword == "format":
        return f"is not a valid {expected}"
    if keyword == "pattern":
        return "does not match the required pattern"
    return f"fails the '{keyword}' rule of the schema"


def _pointer(error: ValidationError) -> str:
    return "#" + "".join(
        "/" + str(part).replace("~", "~0").replace("/", "~1") for part in error.absolute_path
    )


def schema_errors(schema_file: str, document: Any, pointer: str = "") -> list[dict[str, str]]:
    errors = sorted(
        validator(schema_file, pointer).iter_errors(document),
        key=lambda e: [str(p) for p in e.absolute_path],
    )
    return [
        {"pointer": _pointer(error), "detail": _describe(error)}
        for error in errors[:MAX_REPORTED_ERRORS]
    ]


def validate_or_422(schema_file: str, document: Any, *, what: str, pointer: str = "") -> None:
    """Raise a 422 validation-error problem listing every schema violation (pointer + rule)."""
    errors = schema_errors(schema_file, document, pointer)
    if errors:
        raise ProblemError(
            422,
            "validation-error",
            "The request is invalid",
            f"The {what} does not match {schema_file}: {len(errors)} problem(s), first at "
            f"{errors[0]['pointer']}: {errors[0]['detail']}",
            errors=errors,
        )


@cache
def codelist(name: str) -> Mapping[str, Any]:
    document: dict[str, Any] = json.loads((spec_dir() / "codelists" / f"{name}.json").read_text())
    return document


def codes(name: str) -> frozenset[str]:
    return frozenset(entry["code"] for entry in codelist(name)["entries"])


def entry(name: str, code: str) -> Mapping[str, Any] | None:
    for item in codelist(name)["entries"]:
        if item["code"] == code:
            return item  # type: ignore[no-any-return]
    return None
