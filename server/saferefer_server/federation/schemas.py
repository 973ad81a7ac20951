"""The standard's JSON Schemas this package validates peer input against."""

from __future__ import annotations

import json
from functools import cache

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from saferefer._resources import spec_dir


@cache
def validator(schema_file: str) -> Draft202012Validator:
    """A validator for spec/schemas/`schema_file`, resolving references between the files."""
    schemas = spec_dir() / "schemas"
    resources = []
    for path in sorted(schemas.glob("*.schema.json")):
        document = json.loads(path.read_text())
        resources.append((document["$id"], Resource.from_contents(document)))
    registry: Registry = Registry().with_resources(resources)
    schema = json.loads((schemas / schema_file).read_text())
    return Draft202012Validator(
        schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def first_error(schema_file: str, document: object) -> str | None:
    """Where and why `document` fails the schema (path and validator keyword, never the
    offending value, which may be personal data); None if it is valid."""
    error = next(iter(validator(schema_file).iter_errors(document)), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"{schema_file} #{where}: fails {error.validator}"
