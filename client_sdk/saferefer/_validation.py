"""Validate request documents locally against the standard's JSON schemas before sending.

The node validates every body against the very same schema files and reports each error as an
RFC 6901 pointer and a description of the broken rule (never the rejected value). This module
reproduces that report, so a malformed referral fails here — with the same pointers and
messages — instead of on the node.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError as SchemaError
from referencing import Registry, Resource

from ._exceptions import FieldError, InvalidRequestError
from ._resources import spec_dir

__all__ = ["MAX_REPORTED_ERRORS", "schema_errors", "validate_document"]

SCHEMA_BASE = "https://saferefer.org/spec/v0.1/schemas/"
MAX_REPORTED_ERRORS = 20


@cache
def _registry() -> Registry[Any]:
    registry: Registry[Any] = Registry()
    for path in sorted((spec_dir() / "schemas").glob("*.schema.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        registry = registry.with_resource(
            document.get("$id", SCHEMA_BASE + path.name), Resource.from_contents(document)
        )
    return registry


@cache
def _validator(schema_file: str, pointer: str) -> Draft202012Validator:
    reference = SCHEMA_BASE + schema_file + ("#" + pointer if pointer else "")
    return Draft202012Validator(
        {"$ref": reference}, registry=_registry(), format_checker=FormatChecker()
    )


def _describe(error: SchemaError) -> str:
    keyword = str(error.validator)
    expected = error.validator_value
    if keyword == "required":
        missing = [
            name
            for name in (expected if isinstance(expected, list) else [])
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


def _pointer(error: SchemaError) -> str:
    return "#" + "".join(
        "/" + str(part).replace("~", "~0").replace("/", "~1") for part in error.absolute_path
    )


def schema_errors(schema_file: str, document: Any, pointer: str = "") -> list[FieldError]:
    """Every error of ``document`` against ``spec/schemas/<schema_file>`` (or its sub-schema at
    ``pointer``, such as ``/$defs/request``), in the node's order."""
    errors = sorted(
        _validator(schema_file, pointer).iter_errors(document),
        key=lambda e: [str(p) for p in e.absolute_path],
    )
    return [
        FieldError(path=_pointer(e), message=_describe(e)) for e in errors[:MAX_REPORTED_ERRORS]
    ]


def validate_document(schema_file: str, document: Any, *, what: str, pointer: str = "") -> None:
    """Raise :class:`InvalidRequestError` if ``document`` fails the schema; nothing is sent then."""
    errors = schema_errors(schema_file, document, pointer)
    if errors:
        raise InvalidRequestError(
            f"The {what} does not match {schema_file}: {len(errors)} problem(s), first at "
            f"{errors[0].path}: {errors[0].message}",
            errors=errors,
        )
