"""Where the server finds the files it ships with.

An installed wheel carries the policies inside the package (`saferefer_server/_policies`, see
`[tool.hatch.build.targets.wheel.force-include]` in pyproject.toml); a source checkout reads them
from `<repo>/policies`. Both return the very same files, so the server decides the same way however
it was installed.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def policy_dir() -> Path:
    """The directory of the Rego policies and their data (installed copy first, else the repo's)."""
    installed = _PACKAGE_DIR / "_policies"
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent.parent / "policies"
