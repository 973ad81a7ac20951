"""Build the violation catalogue from the METADATA annotations of the policies.

Every rule that produces a violation or an obligation carries a `# METADATA` block (title,
custom.rule, custom.level, custom.legal_basis, custom.fix, custom.fr). This script reads them
with `opa inspect -a` and writes

* policies/saferefer/catalogue/data.json — loaded as data.saferefer.catalogue (`entries` by
  code, an `index` of [scope, code] pairs and [code, rule] of the SHOULD rules, and the
  `templates` of the decision's violation and obligation objects by code); the decision takes
  every violation and obligation object from it (rego-cpp has no rego.metadata.rule(),
  so the annotations reach both engines through this data file);
* spec/codelists/violation-codes.json — the published code list;
* policies/saferefer/findings/findings.rego — package saferefer.findings: one rule per catalogued
  code that reads that rule by its full, constant path (`data.saferefer.rules.consent.no_consent`).
  A lookup with a variable path segment (`data.saferefer.rules[family][code]`) makes both engines
  evaluate the whole package behind the variable on every lookup (OPA: 4-9 ms per decision over
  the vector corpus); constant paths evaluate each rule once and only that rule.

policies/tests/test_catalogue.py fails when either file is out of date.
Run: .venv/bin/python policies/tools/catalogue.py
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
POLICIES = REPO / "policies"
OPA = REPO / ".tools" / "bin" / "opa"
CATALOGUE = POLICIES / "saferefer" / "catalogue" / "data.json"
CODELIST = REPO / "spec" / "codelists" / "violation-codes.json"
FINDINGS = POLICIES / "saferefer" / "findings" / "findings.rego"

RULES_PREFIX = ("saferefer", "rules")
OVERLAYS_PREFIX = ("overlays",)

# Produced by the engines, not by a rule: any engine error, timeout or undefined result.
ENGINE_UNAVAILABLE = {
    "code": "policy_engine_unavailable",
    "labels": {
        "en": "The policy engine could not decide; the disclosure is refused",
        "fr": "Le moteur de règles n'a pas pu décider ; la communication est refusée",
    },
    "rule": "R30",
    "kind": "violation",
    "level": "MUST",
    "legal_basis": "GDPR arts 5(1)(f), 25 (fail closed, design)",
    "fix": "Retry later; the node answers 503 until its policy engine is healthy again.",
}


class CatalogueError(Exception):
    """An annotated rule is incomplete or two rules claim the same code."""


def rule_annotations(policy_dir: Path = POLICIES) -> list[dict[str, Any]]:
    result = subprocess.run(  # noqa: S603 - the pinned OPA binary with fixed arguments
        [str(OPA), "inspect", "-a", "--format", "json", str(policy_dir)],
        check=True,
        capture_output=True,
        text=True,
    )
    found: list[dict[str, Any]] = json.loads(result.stdout).get("annotations", [])
    return found


def rule_path(item: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(part["value"]) for part in item["path"][1:])


def rule_shape(source: Path, code: str) -> str:
    """`set` for a violation rule that collects data categories (`code contains category if`),
    `flag` for one that is true; the decision reads each shape with its own rule."""
    text = source.read_text(encoding="utf-8")
    shapes = {
        shape
        for shape, head in (("set", rf"^{code} contains "), ("flag", rf"^{code} if\b"))
        if re.search(head, text, flags=re.MULTILINE)
    }
    if len(shapes) != 1:
        raise CatalogueError(f"{code}: must be defined as `{code} if` or `{code} contains`")
    return shapes.pop()


def entry_for(item: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The catalogue entry of one annotated rule, or None for package annotations."""
    note = item["annotations"]
    custom = note.get("custom") or {}
    # `scope: document` annotates a rule defined by several bodies (Regal's ambiguous-scope).
    if note.get("scope") not in ("rule", "document") or "rule" not in custom:
        return None
    path = rule_path(item)
    code = path[-1]
    kind = custom.get("kind", "violation")
    entry: dict[str, Any] = {
        "kind": kind,
        "rule": custom["rule"],
        "message": note["title"],
        "legal_basis": custom["legal_basis"],
        "fr": custom["fr"],
    }
    if path[: len(RULES_PREFIX)] == RULES_PREFIX and len(path) == len(RULES_PREFIX) + 2:
        entry["family"] = path[len(RULES_PREFIX)]
    elif path[: len(OVERLAYS_PREFIX)] == OVERLAYS_PREFIX and len(path) == len(OVERLAYS_PREFIX) + 2:
        entry["overlay"] = path[len(OVERLAYS_PREFIX)]
    else:
        raise CatalogueError(
            f"annotated rule outside saferefer.rules.* or overlays.*: {'.'.join(path)}"
        )
    if kind == "violation":
        entry["level"] = custom["level"]
        entry["fix"] = custom["fix"]
        entry["shape"] = rule_shape(Path(item["location"]["file"]), code)
        if entry["level"] not in ("MUST", "SHOULD"):
            raise CatalogueError(f"{code}: level must be MUST or SHOULD")
    elif kind != "obligation":
        raise CatalogueError(f"{code}: kind must be violation or obligation")
    return code, entry


def build(policy_dir: Path = POLICIES) -> dict[str, dict[str, Any]]:
    catalogue: dict[str, dict[str, Any]] = {}
    for item in rule_annotations(policy_dir):
        if item["location"]["file"].endswith("_test.rego"):
            continue
        found = entry_for(item)
        if found is None:
            continue
        code, entry = found
        if code in catalogue and catalogue[code] != entry:
            raise CatalogueError(f"two rules claim the code {code}")
        catalogue[code] = entry
    return dict(sorted(catalogue.items()))


def codelist(catalogue: dict[str, dict[str, Any]]) -> dict[str, Any]:
    entries = [ENGINE_UNAVAILABLE]
    for code, entry in catalogue.items():
        item: dict[str, Any] = {
            "code": code,
            "labels": {"en": entry["message"], "fr": entry["fr"]},
            "rule": entry["rule"],
            "kind": entry["kind"],
        }
        for key in ("level", "legal_basis", "fix", "overlay"):
            if key in entry:
                item[key] = entry[key]
        entries.append(item)
    entries.sort(key=lambda item: str(item["code"]))
    return {"codelist": "violation-codes", "version": "0.1.0", "entries": entries}


def render(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def index(catalogue: dict[str, dict[str, Any]]) -> dict[str, list[list[str]]]:
    """[scope, code] pairs per kind and scope, so the decision never scans the whole catalogue
    (rego-cpp is slow at that): scope is the rule family, or the overlay's country code. The
    violations are also split by shape (`*_flags`, `*_sets`), so each rule is looked up once."""
    pairs: dict[str, list[list[str]]] = {
        "base_violations": [],
        "base_obligations": [],
        "overlay_violations": [],
        "overlay_obligations": [],
        "base_flags": [],
        "base_sets": [],
        "overlay_flags": [],
        "overlay_sets": [],
    }
    for code, entry in catalogue.items():
        origin = "overlay" if "overlay" in entry else "base"
        scope = entry.get("overlay") or entry["family"]
        pairs[f"{origin}_{entry['kind']}s"].append([scope, code])
        if entry["kind"] == "violation":
            pairs.setdefault(f"{origin}_{entry['shape']}s", []).append([scope, code])
    return pairs


def should_rules(catalogue: dict[str, dict[str, Any]]) -> list[list[str]]:
    """[code, rule] of every SHOULD violation: the only codes a justification can waive."""
    return [
        [code, entry["rule"]]
        for code, entry in catalogue.items()
        if entry["kind"] == "violation" and entry["level"] == "SHOULD"
    ]


def templates(catalogue: dict[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """The decision's violation and obligation objects per code, without the per-decision
    `categories` and `justification`, so the decision looks each one up instead of building it.
    Every violation code also has an obligation form, used when a justification waives it."""
    violations: dict[str, dict[str, Any]] = {}
    obligations: dict[str, dict[str, Any]] = {}
    for code, entry in catalogue.items():
        overlay = {"overlay": entry["overlay"]} if "overlay" in entry else {}
        common = {
            "code": code,
            "rule": entry["rule"],
            "message": entry["message"],
            "legal_basis": entry["legal_basis"],
        }
        obligations[code] = {**common, **overlay}
        if entry["kind"] == "violation":
            violations[code] = {**common, "level": entry["level"], "fix": entry["fix"], **overlay}
    return {"violations": violations, "obligations": obligations}


def document(catalogue: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "entries": catalogue,
        "index": {**index(catalogue), "should_violations": should_rules(catalogue)},
        "templates": templates(catalogue),
    }


FINDINGS_HEADER = """\
# METADATA
# title: Findings of every catalogued rule (generated)
# description: >-
#   Generated by policies/tools/catalogue.py from the catalogue; do not edit. One rule per
#   catalogued code reads that rule by its constant path, so each rule is evaluated once and
#   nothing else is (a variable path segment would evaluate a whole package per lookup).
#   `base` and `overlay` map a violation code to [] (a flag) or to the sorted data categories it
#   objects to; `obligations` is the set of obligation codes that fired. An overlay's rules are
#   read only when its country is the sender's or the recipient's.
package saferefer.findings

involved_countries contains input.sender.country

involved_countries contains input.recipient.country
"""


def findings_module(catalogue: dict[str, dict[str, Any]]) -> str:
    """The text of policies/saferefer/findings/findings.rego (`opa fmt` and `regal lint` clean):
    the definitions of each rule together (`base`, then `overlay`, then `obligations`), each in
    the block form, which keeps the longest constant path well inside the line length."""
    groups: dict[str, list[str]] = {"base": [], "overlay": [], "obligations": []}
    for code, entry in catalogue.items():
        if "overlay" in entry:
            country = entry["overlay"]
            ref = f"data.overlays.{country}.{code}"
            guard = f'\t"{country}" in involved_countries\n'
            scope = "overlay"
        else:
            ref = f"data.saferefer.rules.{entry['family']}.{code}"
            guard = ""
            scope = "base"
        if entry["kind"] == "obligation":
            head = f'obligations contains "{code}"'
            groups["obligations"].append(_rule(head, guard, [f"{ref} == true"]))
        elif entry["shape"] == "flag":
            groups[scope].append(_rule(f'{scope}["{code}"] := []', guard, [f"{ref} == true"]))
        else:
            body = [f"value := {ref}", "count(value) > 0"]
            groups[scope].append(_rule(f'{scope}["{code}"] := sort(value)', guard, body))
    return "\n".join([FINDINGS_HEADER, *(block for blocks in groups.values() for block in blocks)])


def _rule(head: str, guard: str, body: list[str]) -> str:
    lines = "".join(f"\t{expression}\n" for expression in body)
    return f"{head} if {{\n{guard}{lines}}}\n"


def main() -> None:
    catalogue = build()
    CATALOGUE.write_text(render(document(catalogue)), encoding="utf-8")
    CODELIST.write_text(render(codelist(catalogue)), encoding="utf-8")
    FINDINGS.parent.mkdir(exist_ok=True)
    FINDINGS.write_text(findings_module(catalogue), encoding="utf-8")


if __name__ == "__main__":
    main()
