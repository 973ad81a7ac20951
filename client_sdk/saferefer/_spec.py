"""Read-only access to the standard's files bundled with the SDK (schemas and code lists)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from ._resources import spec_dir

__all__ = ["codelist_codes", "load_codelist", "load_schema"]


@cache
def load_schema(name: str) -> dict[str, Any]:
    """``name`` like ``"referral-create"``; the parsed ``spec/schemas/<name>.schema.json``."""
    document: dict[str, Any] = json.loads(
        (spec_dir() / "schemas" / f"{name}.schema.json").read_text("utf-8")
    )
    return document


@cache
def load_codelist(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        (spec_dir() / "codelists" / f"{name}.json").read_text("utf-8")
    )
    return document


def codelist_codes(name: str) -> tuple[str, ...]:
    return tuple(str(entry["code"]) for entry in load_codelist(name)["entries"])
