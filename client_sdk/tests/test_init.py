"""The public surface: ``saferefer.__all__`` is complete, sorted and importable."""

from __future__ import annotations

import ast
from pathlib import Path

import saferefer
import saferefer.types


def _isort_key(name: str) -> tuple[int, str]:
    """Constants, then classes, then everything else; each group alphabetical (ruff RUF022)."""
    kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return kind, name


def test_all_is_sorted_and_unique() -> None:
    assert saferefer.__all__ == sorted(set(saferefer.__all__), key=_isort_key)


def test_all_names_every_public_member() -> None:
    public = {name for name in vars(saferefer) if not name.startswith("_")}
    # submodules imported by the package itself are part of the surface too
    assert public - {"resources"} <= set(saferefer.__all__) | {"annotations"}
    for name in saferefer.__all__:
        assert hasattr(saferefer, name), name


def test_every_exception_of_the_tree_is_exported() -> None:
    from saferefer import _exceptions

    errors = {
        name
        for name, value in vars(_exceptions).items()
        if isinstance(value, type) and issubclass(value, Exception) and not name.startswith("_")
    }
    assert errors <= set(saferefer.__all__)


def test_exception_docstring_draws_the_whole_tree() -> None:
    from saferefer import _exceptions

    tree = _exceptions.__doc__ or ""
    for name, value in vars(_exceptions).items():
        if isinstance(value, type) and issubclass(value, saferefer.SafeReferError):
            assert name in tree, f"{name} is missing from the tree in _exceptions' docstring"


def test_types_all_is_sorted_and_complete() -> None:
    assert saferefer.types.__all__ == sorted(set(saferefer.types.__all__), key=_isort_key)
    for name in saferefer.types.__all__:
        assert hasattr(saferefer.types, name)


def test_sdk_never_imports_the_server() -> None:
    package = Path(saferefer.__file__).parent
    for source in package.rglob("*.py"):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert not name.startswith(
                    ("saferefer_server", "saferefer_conformance", "fastapi", "sqlalchemy")
                ), f"{source.relative_to(package)} imports {name}"
