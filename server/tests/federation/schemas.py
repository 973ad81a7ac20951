"""Validators for spec/schemas documents, so tests check our output against the standard."""

from __future__ import annotations

import json
from functools import cache

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from saferefer._resources import spec_dir


@cache
def _registry() -> Registry:
    resources = []
    for path in sorted((spec_dir() / "schemas").glob("*.schema.json")):
        document = json.loads(path.read_text())
        resources.append((document["$id"], Resource.from_contents(document)))
    return Registry().with_resources(resources)


def spec_validator(name: str) -> Draft202012Validator:
    schema = json.loads((spec_dir() / "schemas" / name).read_text())
    return Draft202012Validator(
        schema,
        registry=_registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def spec_def_validator(name: str, definition: str) -> Draft202012Validator:
    """A validator for `<name>#/$defs/<definition>` (e.g. the federation receipt)."""
    schema_id = json.loads((spec_dir() / "schemas" / name).read_text())["$id"]
    return Draft202012Validator(
        {"$ref": f"{schema_id}#/$defs/{definition}"},
        registry=_registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
