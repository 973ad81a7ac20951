"""The code lists: their common format, the values the design fixes, the referral state machine."""

from __future__ import annotations

import re
from collections import deque
from pathlib import Path
from typing import Any

import pytest

from_design = {
    "roles": {
        "ngo_service_provider", "shelter", "social_services", "health_provider", "legal_aid",
        "child_protection", "police", "prosecutor", "labour_inspectorate", "immigration_authority",
        "embassy_of_origin", "national_coordinator", "national_rapporteur",
    },
    "purposes": {
        "assistance", "shelter", "medical_care", "psychological_support", "legal_aid",
        "recovery_reflection_period", "residence_permit", "asylum_support",
        "criminal_investigation", "labour_rights_claim", "compensation_claim", "safe_return",
        "family_tracing", "risk_assessment", "statistics",
    },
    "data-categories": {
        "identity", "contact", "nationality", "immigration_status", "location", "health",
        "sexual_health", "exploitation_account", "photo_biometrics", "criminal_record",
        "financial", "family", "language_needs", "safety_risks",
    },
    "referral-states": {
        "submitted", "received", "accepted", "declined", "completed", "withdrawn", "revoked",
        "expired",
    },
}  # fmt: skip
REQUIRED_PROBLEM_SLUGS = {
    "validation-error", "policy-violation", "policy-engine-unavailable", "not-found",
    "invalid-transition", "unauthorized", "forbidden", "idempotency-key-reuse", "conflict",
    "rate-limited", "unsupported-media-type", "method-not-allowed", "payload-too-large",
    "internal-error", "federation-rejected",
}  # fmt: skip
REQUIRED_EVENT_TYPES = {
    *(
        f"org.saferefer.referral.{state}"
        for state in from_design["referral-states"] - {"submitted"}
    ),
    "org.saferefer.consent.withdrawn",
    "org.saferefer.erasure.requested",
    "org.saferefer.erasure.acknowledged",
}
SPECIAL_CATEGORIES = {"health", "sexual_health", "photo_biometrics"}
CODE_PATTERN = re.compile(
    r"^([a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*|[a-z][a-z0-9]*(-[a-z0-9]+)*|[A-Z]{2})$"
)
ACTORS = {"sender", "recipient", "system"}


def _codes(codelist: dict[str, Any]) -> list[str]:
    return [entry["code"] for entry in codelist["entries"]]


def test_codelist_has_the_common_format(codelist_name: str, all_codelists: dict[str, Any]) -> None:
    codelist = all_codelists[codelist_name]
    assert codelist["codelist"] == codelist_name
    assert re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", codelist["version"])
    assert codelist["entries"], "a code list has entries"
    codes = _codes(codelist)
    assert len(codes) == len(set(codes)), "codes are unique"
    assert all(CODE_PATTERN.fullmatch(code) for code in codes), codes


def test_codelist_labels_are_english_and_one_more_language(
    codelist_name: str, all_codelists: dict[str, Any]
) -> None:
    for entry in all_codelists[codelist_name]["entries"]:
        labels = entry["labels"]
        assert "en" in labels, entry["code"]
        assert len(labels) >= 2, entry["code"]
        assert all(isinstance(text, str) and text.strip() for text in labels.values()), entry[
            "code"
        ]


@pytest.mark.parametrize("name", sorted(from_design))
def test_codelist_holds_the_codes_the_design_fixes(
    name: str, all_codelists: dict[str, Any]
) -> None:
    assert set(_codes(all_codelists[name])) >= from_design[name]


def test_data_categories_map_to_dpv_and_flag_special_ones(all_codelists: dict[str, Any]) -> None:
    for entry in all_codelists["data-categories"]["entries"]:
        assert entry["dpv"] is None or re.fullmatch(r"dpv-pd:[A-Z][A-Za-z]+", entry["dpv"])
        assert entry["special_category"] is (entry["code"] in SPECIAL_CATEGORIES), entry["code"]
    mapped = [e for e in all_codelists["data-categories"]["entries"] if e["dpv"]]
    assert len(mapped) >= 10
    assert all_codelists["data-categories"]["prefixes"]["dpv-pd"] == "https://w3id.org/dpv/pd#"


def test_roles_carry_the_flags_the_policies_read(all_codelists: dict[str, Any]) -> None:
    for entry in all_codelists["roles"]["entries"]:
        for flag in ("enforcement", "monitoring", "origin_country", "public_authority"):
            assert isinstance(entry[flag], bool), (entry["code"], flag)
        assert entry["group"] in {
            "support",
            "enforcement",
            "inspection",
            "origin_country",
            "monitoring",
        }
    enforcement = {e["code"] for e in all_codelists["roles"]["entries"] if e["enforcement"]}
    assert enforcement == {"police", "prosecutor", "immigration_authority"}


def test_transition_table_is_closed_over_the_states(all_codelists: dict[str, Any]) -> None:
    states_list = all_codelists["referral-states"]
    states = set(_codes(states_list))
    assert states == from_design["referral-states"]
    assert states_list["initial_state"] in states
    seen = set()
    for row in states_list["transitions"]:
        assert set(row) == {"from", "to", "actor", "reason_required", "reason_codelist"}
        assert row["from"] in states, row
        assert row["to"] in states, row
        assert row["actor"] in ACTORS, row
        assert (row["from"], row["to"], row["actor"]) not in seen, row
        seen.add((row["from"], row["to"], row["actor"]))
        if row["reason_required"]:
            assert row["reason_codelist"] in all_codelists, row
        else:
            assert row["reason_codelist"] is None, row


def test_transition_table_matches_the_design(all_codelists: dict[str, Any]) -> None:
    table = all_codelists["referral-states"]
    terminal = {e["code"] for e in table["entries"] if e["terminal"]}
    assert terminal == {"declined", "completed", "withdrawn", "revoked", "expired"}
    edges = {(r["from"], r["to"]): r for r in table["transitions"]}
    assert not {frm for frm, _ in edges} & terminal, "terminal states have no way out"
    assert edges[("received", "declined")]["reason_codelist"] == "decline-reasons"
    assert edges[("accepted", "completed")]["reason_codelist"] == "outcome-codes"
    assert {r["actor"] for r in table["transitions"] if r["to"] == "withdrawn"} == {"sender"}
    assert {r["actor"] for r in table["transitions"] if r["to"] in {"revoked", "expired"}} == {
        "system"
    }
    for open_state in set(_codes(table)) - terminal:
        assert (open_state, "revoked") in edges, f"a withdrawal must be able to revoke {open_state}"
    reachable = {table["initial_state"]}
    queue = deque(reachable)
    while queue:
        state = queue.popleft()
        for frm, to in edges:
            if frm == state and to not in reachable:
                reachable.add(to)
                queue.append(to)
    assert reachable == set(_codes(table)), "every state is reachable"


def test_event_types_cover_the_state_machine_and_name_their_data_schema(
    all_codelists: dict[str, Any], schemas: dict[str, Any]
) -> None:
    types = set(_codes(all_codelists["event-types"]))
    assert types >= REQUIRED_EVENT_TYPES
    event_defs = schemas["event.schema.json"]["$defs"]
    for entry in all_codelists["event-types"]["entries"]:
        assert entry["code"].startswith("org.saferefer.")
        file, _, pointer = entry["data_schema"].partition("#/$defs/")
        assert file == "event.schema.json", entry["code"]
        assert pointer in event_defs, entry["code"]


def test_problem_types_hold_the_required_slugs(all_codelists: dict[str, Any]) -> None:
    entries = all_codelists["problem-types"]["entries"]
    assert {e["code"] for e in entries} >= REQUIRED_PROBLEM_SLUGS
    for entry in entries:
        assert entry["type_uri"] == f"https://saferefer.org/problems/{entry['code']}"
        assert 400 <= entry["status"] <= 599


def test_reason_codelists_mark_other_as_needing_a_note(all_codelists: dict[str, Any]) -> None:
    for name in ("decline-reasons", "outcome-codes"):
        flagged = {e["code"] for e in all_codelists[name]["entries"] if e.get("requires_note")}
        assert flagged == {"other"}, name


def test_violation_codes_cover_every_rule(all_codelists: dict[str, Any]) -> None:
    entries = all_codelists["violation-codes"]["entries"]
    rules = {e["rule"] for e in entries}
    assert {f"R{n}" for n in range(1, 36)} <= rules
    assert "policy_engine_unavailable" in {e["code"] for e in entries}
    assert {e["kind"] for e in entries} <= {"violation", "obligation"}


def test_countries_are_iso_3166_alpha2(all_codelists: dict[str, Any]) -> None:
    codes = _codes(all_codelists["countries"])
    assert len(codes) >= 249
    assert all(re.fullmatch(r"[A-Z]{2}", c) for c in codes)
    assert {"NL", "MD", "RO", "NG", "VN", "XK"} <= set(codes)


def test_readme_lists_every_codelist(codelist_name: str) -> None:
    readme = (Path(__file__).resolve().parent.parent / "codelists" / "README.md").read_text(
        encoding="utf-8"
    )
    assert f"| `{codelist_name}` |" in readme
