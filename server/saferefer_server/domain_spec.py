"""The parts of spec/ the domain packages read at run time: JSON Schemas and code lists.

Request bodies are validated against the published schemas themselves (not a hand-copied model),
so the server accepts exactly what the standard says. Error messages name the JSON pointer and the
rule that failed, never the rejected value (it could be personal data).

The reference validator is the Python `jsonschema` (its errors make the messages). A compiled
jsonschema-rs validator screens each document first: a document it finds valid skips the Python
pass, which costs about half a millisecond for a referral against a few microseconds. It never
decides alone that a document is invalid: whatever it rejects is judged by `jsonschema`, so the
two can differ only where jsonschema-rs is the more lenient, which test_domain_spec.py checks on
every example of the standard and on variations of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from saferefer_server.core.problems import ProblemError, json_pointer

SCHEMA_BASE = "https://saferefer.org/spec/v0.1/schemas/"
MAX_REPORTED_ERRORS = 20


def spec_dir() -> Path:
    try:
        from saferefer._resources import spec_dir as sdk_spec_dir
    except ImportError:
        return Path(__file__).resolve().parents[2] / "spec"
    return sdk_spec_dir()


@lru_cache(maxsize=1)
def _schema_documents() -> tuple[tuple[str, dict[str, Any]], ...]:
    """(id, document) of every schema of the standard."""
    documents = []
    for path in sorted((spec_dir() / "schemas").glob("*.schema.json")):
        document = json.loads(path.read_text())
        documents.append((document.get("$id", SCHEMA_BASE + path.name), document))
    return tuple(documents)


@lru_cache(maxsize=1)
def _registry() -> Registry:
    registry: Registry = Registry()
    for schema_id, document in _schema_documents():
        registry = registry.with_resource(schema_id, Resource.from_contents(document))
    return registry


def _reference(schema_file: str, pointer: str) -> dict[str, Any]:
    return {"$ref": SCHEMA_BASE + schema_file + ("#" + pointer if pointer else "")}


@cache
def string_format(name: str) -> Callable[[object], bool]:
    """The jsonschema-rs check of format `name` (true for anything but a string, as in JSON Schema)."""
    check = jsonschema_rs.validator_for({"format": name}, validate_formats=True)
    return lambda value: not isinstance(value, str) or bool(check.is_valid(value))


@lru_cache(maxsize=1)
def _format_checker() -> FormatChecker:
    """jsonschema's format assertions, plus `uri` and `uri-reference`: jsonschema skips those
    without an optional package, so they are asserted with jsonschema-rs's RFC 3986 checks."""
    checker = FormatChecker()
    for name in ("uri", "uri-reference"):
        checker.checks(name)(string_format(name))
    return checker


@cache
def validator(schema_file: str, pointer: str = "") -> Draft202012Validator:
    """A validator for `schema_file` (or one of its `$defs` via `pointer`, e.g. `/$defs/x`)."""
    return Draft202012Validator(
        _reference(schema_file, pointer), registry=_registry(), format_checker=_format_checker()
    )


@lru_cache(maxsize=1)
def _screening_registry() -> jsonschema_rs.Registry:
    return jsonschema_rs.Registry(list(_schema_documents()))


@cache
def screening_validator(schema_file: str, pointer: str = "") -> jsonschema_rs.Validator:
    """The compiled jsonschema-rs validator of the same schema, formats checked, no network."""
    return jsonschema_rs.validator_for(
        _reference(schema_file, pointer),
        registry=_screening_registry(),
        validate_formats=True,
    )


def passes_screening(schema_file: str, document: Any, pointer: str = "") -> bool:
    """True when jsonschema-rs finds `document` valid; False when it does not, or cannot tell."""
    try:
        return bool(screening_validator(schema_file, pointer).is_valid(document))
    except Exception:  # e.g. a lone surrogate or NaN: then jsonschema judges alone
        return False


MISSING_MEMBER = "required member is missing"


def _describe(error: ValidationError) -> str:
    keyword = str(error.validator)
    expected: Any = error.validator_value
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


def _missing_members(error: ValidationError) -> list[str]:
    """The members a `required` error is about that the object lacks, in the schema's order.

    jsonschema raises one `required` error per missing member, each carrying the whole list and
    naming its member only in the message text; every one of them yields the same list here,
    and the caller keeps each member once.
    """
    expected = error.validator_value
    if not isinstance(error.instance, dict) or not isinstance(expected, list):
        return []
    return [str(name) for name in expected if name not in error.instance]


def schema_errors(schema_file: str, document: Any, pointer: str = "") -> list[dict[str, str]]:
    """Every violation of the schema by `document` (pointer + rule), none when it is valid.

    A missing member is located at its own pointer (`#/grants/0/purposes`), once, as FastAPI
    locates a missing field of a model.
    """
    if passes_screening(schema_file, document, pointer):
        return []
    located: list[tuple[list[str], dict[str, str]]] = []
    missing: set[str] = set()
    for error in validator(schema_file, pointer).iter_errors(document):
        path = [str(part) for part in error.absolute_path]
        if error.validator != "required":
            located.append((path, {"pointer": json_pointer(path), "detail": _describe(error)}))
            continue
        for member in _missing_members(error):
            member_pointer = json_pointer([*path, member])
            if member_pointer not in missing:
                missing.add(member_pointer)
                located.append(
                    ([*path, member], {"pointer": member_pointer, "detail": MISSING_MEMBER})
                )
    located.sort(key=lambda item: item[0])  # by location; stable within one
    return [entry for _, entry in located[:MAX_REPORTED_ERRORS]]


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
