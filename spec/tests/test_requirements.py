"""spec/standard.md and spec/requirements.csv agree, and every MUST is verified or explained.

- every requirement id in the normative text appears exactly once in the CSV, and the reverse;
- ids are unique and well formed (``SR-<SECTION>-<NNN>``);
- the CSV level equals the strongest RFC 2119 key word of the requirement's text, and no upper-case
  key word appears in informative text;
- every MUST names a conformance check or says why none is possible;
- every check the CSV names is registered in the conformance suite, the checks named for a
  requirement are exactly those that declare it, and every requirement a check declares exists.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import pytest
from saferefer_conformance._registry import load_registry

SPEC = Path(__file__).resolve().parents[1]
STANDARD = SPEC / "standard.md"
REQUIREMENTS = SPEC / "requirements.csv"
COLUMNS = ["id", "level", "section", "summary", "conformance_check", "not_tested_because"]

REQUIREMENT = re.compile(r"^\*\*(SR-[A-Z]+-\d{3})\*\* (.*)", re.S)
ID_ANYWHERE = re.compile(r"\bSR-[A-Z]+-\d{3}\b")
ID_FORMAT = re.compile(r"^SR-[A-Z]+-\d{3}$")
KEYWORDS = {
    "MUST": ("MUST", "MUST NOT", "REQUIRED", "SHALL", "SHALL NOT"),
    "SHOULD": ("SHOULD", "SHOULD NOT", "RECOMMENDED", "NOT RECOMMENDED"),
    "MAY": ("MAY", "OPTIONAL"),
}
ANY_KEYWORD = re.compile(r"\b(MUST|REQUIRED|SHALL|SHOULD|RECOMMENDED|MAY|OPTIONAL)\b")
QUOTED_KEYWORD = re.compile(r'"[A-Z ]+"|`[^`]*`')


def _blocks() -> list[str]:
    text = STANDARD.read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return [b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()]


def _requirements_in_text() -> dict[str, str]:
    found: dict[str, str] = {}
    for block in _blocks():
        match = REQUIREMENT.match(block)
        if match:
            assert match.group(1) not in found, f"{match.group(1)} is defined twice in standard.md"
            found[match.group(1)] = " ".join(match.group(2).split())
    return found


def _rows() -> list[dict[str, str]]:
    with REQUIREMENTS.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == COLUMNS
        return list(reader)


def level_of(text: str) -> str:
    """The strongest key-word level in a requirement's text."""
    words = set(ANY_KEYWORD.findall(text))
    for level, keywords in KEYWORDS.items():
        if words & {k.split()[-1] if k.startswith("NOT ") else k.split()[0] for k in keywords}:
            return level
    raise AssertionError(f"no RFC 2119 key word in: {text[:80]}")


def test_requirement_ids_are_well_formed_and_unique_in_the_csv() -> None:
    ids = [row["id"] for row in _rows()]
    assert all(ID_FORMAT.match(i) for i in ids), [i for i in ids if not ID_FORMAT.match(i)]
    duplicates = [i for i, n in Counter(ids).items() if n > 1]
    assert not duplicates, f"ids listed more than once in requirements.csv: {duplicates}"


def test_every_requirement_in_the_text_is_in_the_csv_and_the_reverse() -> None:
    in_text = set(_requirements_in_text())
    in_csv = {row["id"] for row in _rows()}
    assert in_text - in_csv == set(), (
        f"in standard.md but not in requirements.csv: {sorted(in_text - in_csv)}"
    )
    assert in_csv - in_text == set(), (
        f"in requirements.csv but not in standard.md: {sorted(in_csv - in_text)}"
    )


def test_standard_has_at_least_one_hundred_requirements_covering_every_section() -> None:
    requirements = _requirements_in_text()
    assert len(requirements) >= 100
    sections = {row["section"] for row in _rows()}
    for expected in (
        "Conformance and profiles",
        "Terminology",
        "Messages",
        "Identifiers",
        "Consent",
        "Minimisation and the policy decision contract",
        "The referral state machine",
        "Authentication",
        "Message signing",
        "Object-level authorisation",
        "Idempotency",
        "Event delivery",
        "Audit",
        "Statistics",
        "Errors",
        "Federation",
        "Versioning and deprecation",
        "Security and privacy considerations",
    ):
        assert expected in sections, f"no requirement in section {expected!r}"


def test_csv_level_matches_the_key_word_in_the_text() -> None:
    text = _requirements_in_text()
    wrong = {
        row["id"]: (row["level"], level_of(text[row["id"]]))
        for row in _rows()
        if row["id"] in text and row["level"] != level_of(text[row["id"]])
    }
    assert not wrong, f"level in the CSV differs from the text (csv, text): {wrong}"


def test_no_key_word_outside_a_requirement() -> None:
    stray = []
    for block in _blocks():
        if REQUIREMENT.match(block) or block.startswith("#"):
            continue
        unquoted = QUOTED_KEYWORD.sub("", block)
        if ANY_KEYWORD.search(unquoted):
            stray.append(block[:100])
    assert not stray, (
        f"upper-case key words in informative text (give them an id or rephrase): {stray}"
    )


def test_each_requirement_block_defines_one_requirement_and_cites_only_existing_ones() -> None:
    defined = set(_requirements_in_text())
    for block in _blocks():
        match = REQUIREMENT.match(block)
        if match:
            # A requirement may cite another (e.g. "(SR-SIGN-001)"), never define a second one.
            assert not re.search(r"\*\*SR-", match.group(2)), (
                f"{match.group(1)} defines a second requirement"
            )
            cited = set(ID_ANYWHERE.findall(match.group(2)))
            assert cited <= defined, (
                f"{match.group(1)} cites unknown requirements {sorted(cited - defined)}"
            )


def test_every_must_has_a_check_or_a_reason() -> None:
    missing = [
        row["id"]
        for row in _rows()
        if row["level"] == "MUST"
        and not row["conformance_check"].strip()
        and not row["not_tested_because"].strip()
    ]
    assert not missing, (
        f"MUST requirements with neither a conformance check nor a reason: {missing}"
    )


def test_a_row_with_checks_gives_no_reason_and_the_reverse() -> None:
    both = [
        r["id"]
        for r in _rows()
        if r["conformance_check"].strip() and r["not_tested_because"].strip()
    ]
    assert not both, f"rows with both a check and a not-tested reason: {both}"


def test_every_named_check_is_registered_in_the_conformance_suite() -> None:
    registry = load_registry()
    unknown = {
        row["id"]: name
        for row in _rows()
        for name in filter(None, (n.strip() for n in row["conformance_check"].split(";")))
        if name not in registry
    }
    assert not unknown, f"requirements.csv names checks the suite does not register: {unknown}"


@pytest.mark.parametrize("direction", ["csv_to_registry", "registry_to_csv"])
def test_csv_checks_match_what_each_check_declares(direction: str) -> None:
    registry = load_registry()
    declared = {req: {c.name for c in checks} for req, checks in registry.by_requirement().items()}
    listed = {
        row["id"]: {n.strip() for n in row["conformance_check"].split(";") if n.strip()}
        for row in _rows()
    }
    if direction == "csv_to_registry":
        mismatched = {
            i: (names, declared.get(i, set()))
            for i, names in listed.items()
            if names != declared.get(i, set())
        }
        assert not mismatched, (
            f"CSV checks differ from the checks that declare the requirement: {mismatched}"
        )
    else:
        unknown = sorted(set(declared) - set(listed))
        assert not unknown, f"checks declare requirement ids that do not exist: {unknown}"


def test_rights_rule_citations_exist() -> None:
    cited = set(re.findall(r"\bR(\d{1,2})\b", STANDARD.read_text(encoding="utf-8")))
    assert cited, "the standard cites no rights rule"
    assert all(1 <= int(n) <= 35 for n in cited), sorted(cited)
