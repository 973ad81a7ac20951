"""Index the minimisation matrix by recipient column for the decision.

Writes policies/saferefer/ranks/data.json (loaded as data.saferefer.ranks) from
policies/saferefer/matrix/data.json: `adult[column][category]` and `child[column][category]`
are the ranks (`levels`: A 0, C 1, R 2, N 3) of the matrix cells, the child table with every
foreign column raised to at least R (R26-R29). The decision then finds a cell's rank with one
lookup instead of reading the cell, its level and the child rule for every category and column.
A category or column missing here ranks N (R30). policies/tests/test_catalogue.py fails when
this file drifts from the matrix.
Run: .venv/bin/python policies/tools/ranks.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
MATRIX = REPO / "policies" / "saferefer" / "matrix" / "data.json"
TARGET = REPO / "policies" / "saferefer" / "ranks" / "data.json"


def build(matrix: dict[str, Any]) -> dict[str, Any]:
    levels: dict[str, int] = matrix["levels"]
    raised: dict[str, bool] = matrix["child_foreign_columns"]
    adult: dict[str, dict[str, int]] = {}
    child: dict[str, dict[str, int]] = {}
    for category, row in matrix["cells"].items():
        for column, level in row.items():
            rank = levels[level]
            adult.setdefault(column, {})[category] = rank
            child_rank = max(rank, levels["R"]) if raised.get(column) else rank
            child.setdefault(column, {})[category] = child_rank
    return {"adult": adult, "child": child}


def render() -> str:
    matrix = json.loads(MATRIX.read_text(encoding="utf-8"))
    return json.dumps(build(matrix), indent=2, sort_keys=True) + "\n"


def main() -> None:
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text(render(), encoding="utf-8")


if __name__ == "__main__":
    main()
