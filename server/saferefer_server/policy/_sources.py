"""The policy set: which files under the policy directory the engines load, and how.

Both engines, and `opa eval` on the command line, must see exactly the same modules and the same
data document, or they would not decide the same way. This module is the one place that decides
what that set is, with OPA's own directory-loading rules as the reference:

* every `*.rego` file is a module, except `*_test.rego` (unit tests of the policies);
* every `*.json` / `*.yaml` / `*.yml` file is data, merged into the data document at the path of
  its directory relative to the policy directory (`saferefer/matrix/data.json` becomes
  `data.saferefer.matrix`), exactly as `opa run <dir>` namespaces it;
* directories named in `IGNORED_DIRECTORIES` (decision vectors, Python tests and tools) and hidden
  files are not part of the policy set; `opa_ignore_args()` spells the same exclusions as
  `--ignore` flags for the OPA command line.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

DECISION_PACKAGE = "saferefer.sharing"
DECISION_RULE = "decision"
DECISION_REF = f"data.{DECISION_PACKAGE}.{DECISION_RULE}"
"""The only thing the engines ever query: the decision object, never a bare boolean rule."""
DECISION_ENTRYPOINT = f"{DECISION_PACKAGE.replace('.', '/')}/{DECISION_RULE}"

IGNORED_DIRECTORIES = frozenset({"vectors", "tests", "tools", "__pycache__"})
TEST_MODULE_SUFFIX = "_test.rego"
DATA_SUFFIXES = frozenset({".json", ".yaml", ".yml"})


class PolicyLoadError(RuntimeError):
    """The policy set cannot be loaded or compiled (names the file, never any input)."""


@dataclass(frozen=True)
class PolicyModule:
    """One Rego module: its path relative to the policy directory (POSIX form) and its source."""

    path: str
    source: str


@dataclass(frozen=True)
class PolicySet:
    """The modules and the merged data document of one policy directory."""

    root: Path
    modules: tuple[PolicyModule, ...]
    data: Mapping[str, Any]

    @classmethod
    def load(cls, root: Path) -> PolicySet:
        """Read the policy set under `root`; raise PolicyLoadError if it is unusable."""
        if not root.is_dir():
            raise PolicyLoadError(f"policy directory {root} does not exist")
        modules: list[PolicyModule] = []
        data: dict[str, Any] = {}
        for path in sorted(root.rglob("*")):
            relative = PurePosixPath(path.relative_to(root).as_posix())
            if not path.is_file() or _is_ignored(relative):
                continue
            if path.suffix == ".rego":
                if not path.name.endswith(TEST_MODULE_SUFFIX):
                    modules.append(PolicyModule(str(relative), path.read_text(encoding="utf-8")))
            elif path.suffix in DATA_SUFFIXES:
                document = _read_data_file(path, relative)
                _merge_at(data, list(relative.parent.parts), document, str(relative))
        if not modules:
            raise PolicyLoadError(f"policy directory {root} holds no Rego modules")
        return cls(root=root, modules=tuple(modules), data=data)

    @property
    def revision(self) -> str:
        """A digest of everything loaded: equal revisions decide identically."""
        digest = hashlib.sha256()
        for module in self.modules:
            digest.update(module.path.encode())
            digest.update(b"\0")
            digest.update(module.source.encode())
            digest.update(b"\0")
        digest.update(json.dumps(self.data, sort_keys=True).encode())
        return digest.hexdigest()[:16]


def opa_ignore_args() -> list[str]:
    """`--ignore` flags that make `opa eval -d <policy dir>` load exactly `PolicySet.load`'s set."""
    args: list[str] = []
    for pattern in (*sorted(IGNORED_DIRECTORIES), f"*{TEST_MODULE_SUFFIX}", ".*"):
        args += ["--ignore", pattern]
    return args


def _is_ignored(relative: PurePosixPath) -> bool:
    return any(part in IGNORED_DIRECTORIES or part.startswith(".") for part in relative.parts)


def _read_data_file(path: Path, relative: PurePosixPath) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise PolicyLoadError(f"policy data file {relative} is not valid: {exc}") from exc


def _merge_at(target: dict[str, Any], path: list[str], document: Any, origin: str) -> None:
    """Merge `document` into `target` at `path`, refusing conflicts the way OPA's loader does."""
    for key in path:
        child = target.setdefault(key, {})
        if not isinstance(child, dict):
            raise PolicyLoadError(f"policy data file {origin} conflicts at data.{'.'.join(path)}")
        target = child
    if not isinstance(document, dict):
        if path:
            raise PolicyLoadError(f"policy data file {origin} must hold a JSON object")
        raise PolicyLoadError(f"policy data file {origin} at the root must hold a JSON object")
    _merge_objects(target, document, origin, path)


def _merge_objects(
    target: dict[str, Any], source: dict[str, Any], origin: str, at: list[str]
) -> None:
    for key, value in source.items():
        if key not in target:
            target[key] = value
        elif isinstance(target[key], dict) and isinstance(value, dict):
            _merge_objects(target[key], value, origin, [*at, key])
        else:
            where = ".".join([*at, key])
            raise PolicyLoadError(f"policy data file {origin} redefines data.{where}")
