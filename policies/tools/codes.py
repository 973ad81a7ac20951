"""Copy the attributes the policies need from spec/codelists into policies data.

Writes policies/saferefer/codes/data.json (loaded as data.saferefer.codes). The policies
read role, purpose and category attributes from there instead of repeating them in Rego;
policies/tests/test_data_sync.py fails when this file drifts from the code lists.
Run: .venv/bin/python policies/tools/codes.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CODELISTS = REPO / "spec" / "codelists"
TARGET = REPO / "policies" / "saferefer" / "codes" / "data.json"

# Actions the policy has rules for; anything else is refused (R30).
ACTIONS = [
    "consent.record",
    "referral.forward",
    "referral.read",
    "referral.send",
    "risk_notice.send",
    "statistics.read",
    "withdrawal.notify",
]
# EU 27 plus Iceland, Liechtenstein and Norway (GDPR applies; no transfer rules, R23).
EEA = sorted(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
        "IS",
        "LI",
        "NO",
    ]
)
# Countries with a general GDPR art 45 adequacy decision (the EU-US framework covers only
# certified organisations, so the US is not listed; use context.transfer.adequacy_decision).
ADEQUATE = sorted(
    ["AD", "AR", "CA", "CH", "FO", "GB", "GG", "IL", "IM", "JE", "JP", "KR", "NZ", "UY"]
)


def entries(name: str) -> list[dict[str, Any]]:
    data = json.loads((CODELISTS / f"{name}.json").read_text(encoding="utf-8"))
    entries: list[dict[str, Any]] = data["entries"]
    return entries


def build() -> dict[str, Any]:
    roles = {
        e["code"]: {
            key: bool(e.get(key, False))
            for key in ("enforcement", "monitoring", "origin_country", "public_authority")
        }
        | {"group": e["group"]}
        for e in entries("roles")
    }
    purposes = {e["code"]: {"kind": e["kind"]} for e in entries("purposes")}
    categories = {
        e["code"]: {"special": bool(e.get("special_category", False))}
        for e in entries("data-categories")
    }
    return {
        "actions": {action: True for action in ACTIONS},
        "roles": roles,
        "purposes": purposes,
        "categories": categories,
        "eea": {cc: True for cc in EEA},
        "adequate": {cc: True for cc in ADEQUATE},
    }


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    TARGET.write_text(render(), encoding="utf-8")


if __name__ == "__main__":
    main()
