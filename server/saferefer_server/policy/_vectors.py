"""The decision vectors shipped with the policies: inputs with the decision the standard expects.

`policies/vectors/<scenario>/vectors.json` holds `{"scenario": ..., "vectors": [{"name", "rule",
"story", "input", "expected"}, ...]}`. The engines' differential test and the benchmark read them
through `load_vectors`, so both run over exactly the corpus the policies are tested with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VECTOR_DIRECTORY = "vectors"


@dataclass(frozen=True)
class DecisionVector:
    scenario: str
    name: str
    rule: str
    input: dict[str, Any]
    expected: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.scenario}/{self.name}"


def load_vectors(policy_dir: Path) -> list[DecisionVector]:
    """Every vector under `<policy_dir>/vectors`, in a stable order (scenario, file order)."""
    vectors: list[DecisionVector] = []
    for path in sorted((policy_dir / VECTOR_DIRECTORY).glob("*/vectors.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        scenario = str(document.get("scenario", path.parent.name))
        for entry in document["vectors"]:
            vectors.append(
                DecisionVector(
                    scenario=scenario,
                    name=str(entry["name"]),
                    rule=str(entry.get("rule", "")),
                    input=entry["input"],
                    expected=entry["expected"],
                )
            )
    return vectors
