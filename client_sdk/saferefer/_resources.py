"""Where the SDK finds the SafeRefer standard (spec/) it ships with.

An installed wheel carries spec/ inside the package (`saferefer/_spec`, see
`[tool.hatch.build.targets.wheel.force-include]` in pyproject.toml); a source checkout reads it
from `<repo>/spec`. Both hold the very same schemas, code lists and OpenAPI document, so the SDK,
the server and the conformance suite validate against one source however they were installed.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["spec_dir"]

_PACKAGE_DIR = Path(__file__).resolve().parent


def spec_dir() -> Path:
    """The directory of the standard: `openapi.yaml`, `schemas/`, `codelists/`, `examples/`.

    The installed copy wins over the source checkout's, so an installed SDK never reads a
    different version of the standard from a working tree it happens to sit in.
    """
    installed = _PACKAGE_DIR / "_spec"
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent.parent / "spec"
