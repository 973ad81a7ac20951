"""The generated models: in step with spec/schemas, and faithful to the spec's examples."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pydantic
import pytest
import saferefer._models
from saferefer import _codegen
from saferefer._resources import spec_dir

EXAMPLES = spec_dir() / "examples"


def test_generated_files_carry_the_banner() -> None:
    for file in Path(saferefer._models.__file__).parent.glob("*.py"):
        assert file.read_text(encoding="utf-8").startswith(_codegen.BANNER), file.name


def test_check_reports_a_hand_edit(tmp_path: Path) -> None:
    committed = Path(saferefer._models.__file__).parent
    copy = tmp_path / "_models"
    shutil.copytree(committed, copy, ignore=shutil.ignore_patterns("__pycache__"))
    edited = copy / "referral_schema.py"
    edited.write_text(edited.read_text(encoding="utf-8") + "\n# hand edit\n", encoding="utf-8")
    (copy / "stray.py").write_text("x = 1\n", encoding="utf-8")
    assert _codegen._differences(committed, copy) == ["stray.py", "referral_schema.py"]


def test_generated_models_match_spec() -> None:
    """Regenerate from spec/schemas with the documented command (run as a file, so it works even
    when the current models no longer import) and compare: any difference means someone must run
    scripts/generate_sdk_models.sh, or edited generated code by hand."""
    script = Path(_codegen.__file__)
    models = Path(saferefer._models.__file__).parent
    result = subprocess.run(
        [sys.executable, "-P", str(script), "--check", "--output", str(models)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, (
        f"out of date, run scripts/generate_sdk_models.sh:\n{result.stderr}"
    )


def _top_model(name: str) -> type[pydantic.BaseModel] | None:
    module = name.replace("-", "_").replace(".", "_") + "_schema"
    try:
        mod = __import__(f"saferefer._models.{module}", fromlist=["*"])
    except ImportError:
        return None
    title = json.loads((spec_dir() / "schemas" / f"{name}.schema.json").read_text())["title"]
    model = getattr(mod, _codegen._class_name(title), None)
    return model if isinstance(model, type) and issubclass(model, pydantic.BaseModel) else None


VALID = sorted(p for p in (EXAMPLES / "valid").glob("*/*.json") if "." not in p.parent.name)


@pytest.mark.parametrize("example", VALID, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_models_accept_every_valid_example(example: Path) -> None:
    model = _top_model(example.parent.name)
    if model is None:
        pytest.fail(f"no generated model for {example.parent.name}")
    model.model_validate(json.loads(example.read_text(encoding="utf-8")))
