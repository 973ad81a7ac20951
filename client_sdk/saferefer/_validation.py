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
MISSING_MEMBER = "required member is missing"


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


def _pointer(path: list[str]) -> str:
    return "#" + "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in path)


def _missing_members(error: SchemaError) -> list[str]:
    """The members a ``required`` error is about that the object lacks (jsonschema raises one
    such error per missing member, each carrying the whole list)."""
    expected = error.validator_value
    if not isinstance(error.instance, dict) or not isinstance(expected, list):
        return []
    return [str(name) for name in expected if name not in error.instance]


def schema_errors(schema_file: str, document: Any, pointer: str = "") -> list[FieldError]:
    """Every error of ``document`` against ``spec/schemas/<schema_file>`` (or its sub-schema at
    ``pointer``, such as ``/$defs/request``), in the node's order."""
    located: list[tuple[list[str], FieldError]] = []
    missing: set[str] = set()
    for error in _validator(schema_file, pointer).iter_errors(document):
        path = [str(part) for part in error.absolute_path]
        if error.validator != "required":
            located.append((path, FieldError(path=_pointer(path), message=_describe(error))))
            continue
        # A missing member is reported once, at its own pointer, as the node reports it.
        for member in _missing_members(error):
            member_path = [*path, member]
            if _pointer(member_path) not in missing:
                missing.add(_pointer(member_path))
                located.append((member_path, FieldError(_pointer(member_path), MISSING_MEMBER)))
    located.sort(key=lambda item: item[0])
    return [error for _, error in located[:MAX_REPORTED_ERRORS]]


def validate_document(schema_file: str, document: Any, *, what: str, pointer: str = "") -> None:
    """Raise :class:`InvalidRequestError` if ``document`` fails the schema; nothing is sent then."""
    errors = schema_errors(schema_file, document, pointer)
    if errors:
        raise InvalidRequestError(
            f"The {what} does not match {schema_file}: {len(errors)} problem(s), first at "
            f"{errors[0].path}: {errors[0].message}",
            errors=errors,
        )
