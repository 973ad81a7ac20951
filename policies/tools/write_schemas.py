"""Write the policy input and decision JSON Schemas from the code lists.

The enums in the two schemas are copied from spec/codelists so that the schemas are
self-contained; policies/tests/test_schemas.py fails when they drift apart.
Run: .venv/bin/python policies/tools/write_schemas.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "spec" / "schemas"
CODELISTS = REPO / "spec" / "codelists"
BASE = "https://saferefer.org/spec/v0.1/schemas/"

ACTIONS = [
    "referral.send",
    "referral.read",
    "referral.forward",
    "risk_notice.send",
    "statistics.read",
    "consent.record",
    "withdrawal.notify",
]
RETURN_KINDS = ["none", "voluntary", "court_ordered"]
RISK_FINDINGS = ["no_risk", "risk", "inconclusive"]
SAFEGUARDS = [
    "none",
    "standard_contractual_clauses",
    "binding_corporate_rules",
    "international_agreement",
    "administrative_arrangement",
]
DEROGATIONS = ["none", "explicit_consent"]
GIVEN_BY = ["subject", "guardian", "representative", "parent"]
AGGREGATIONS = ["aggregate", "person_level"]


def codes(name: str) -> list[str]:
    data = json.loads((CODELISTS / f"{name}.json").read_text(encoding="utf-8"))
    return [entry["code"] for entry in data["entries"]]


def strict(
    properties: dict[str, Any], required: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
    }
    if required:
        schema["required"] = required
    schema.update(extra)
    return schema


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/$defs/{name}"}


def input_schema() -> dict[str, Any]:
    categories = {"type": "array", "items": ref("data_category"), "uniqueItems": True}
    purposes = {"type": "array", "items": ref("purpose"), "uniqueItems": True}
    flag = {"type": "boolean"}
    defs: dict[str, Any] = {
        "action": {"type": "string", "enum": ACTIONS},
        "role": {"type": "string", "enum": codes("roles")},
        "purpose": {"type": "string", "enum": codes("purposes")},
        "data_category": {"type": "string", "enum": codes("data-categories")},
        "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
        "org_id": {
            "type": "string",
            "pattern": "^urn:saferefer:org:[A-Z]{2}:[a-z0-9][a-z0-9-]{1,62}$",
        },
        "node_id": {
            "type": "string",
            "pattern": "^urn:saferefer:node:[A-Z]{2}:[a-z0-9][a-z0-9-]{0,62}$",
        },
        "uuid": {
            "type": "string",
            "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
        },
        "timestamp": {
            "description": "RFC 3339 UTC with Z; compared at second resolution.",
            "type": "string",
            "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?Z$",
        },
        "party": strict(
            {
                "org": ref("org_id"),
                "roles": {
                    "type": "array",
                    "items": ref("role"),
                    "minItems": 1,
                    "uniqueItems": True,
                },
                "country": ref("country"),
                "node": ref("node_id"),
                "contact_point": {
                    "description": "Contact point of its country's referral mechanism (R24).",
                    "type": "boolean",
                },
                "public_facing": {
                    "description": "Publishes or faces the media or the public (R28).",
                    "type": "boolean",
                },
            },
            ["org", "roles", "country"],
        ),
        "grant": strict(
            {
                "recipient": strict(
                    {"org": ref("org_id"), "role": ref("role"), "country": ref("country")},
                    description="Exactly one recipient: an organisation, or a role in a country.",
                    oneOf=[{"required": ["org"]}, {"required": ["role", "country"]}],
                ),
                "purposes": {**purposes, "minItems": 1},
                "data_categories": categories,
                "explicit_categories": {
                    **categories,
                    "description": "Special categories the person explicitly consented to (R8).",
                },
                "onward_sharing": flag,
            },
            ["recipient", "purposes", "data_categories"],
        ),
        "consent": strict(
            {
                "id": ref("uuid"),
                "status": {"type": "string", "enum": codes("consent-statuses")},
                "recorded_by": strict(
                    {"org": ref("org_id"), "role": ref("role")},
                    ["org", "role"],
                ),
                "given_by": strict(
                    {
                        "kind": {"type": "string", "enum": GIVEN_BY},
                        "conflict_of_interest": flag,
                    },
                    ["kind"],
                ),
                "valid_from": ref("timestamp"),
                "valid_until": ref("timestamp"),
                "language": {"type": "string", "pattern": "^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"},
                "interpreter": flag,
                "interpreter_independence": {
                    "type": "string",
                    "enum": codes("interpreter-independence"),
                },
                "method": {"type": "string", "enum": codes("consent-methods")},
                "refusal_does_not_affect_assistance": flag,
                "risks_informed": {
                    "type": "array",
                    "items": {"type": "string", "enum": codes("informed-risks")},
                    "uniqueItems": True,
                },
                "grants": {"type": "array", "items": ref("grant")},
            },
            ["id", "status", "recorded_by", "grants"],
        ),
        "link": strict(
            {
                "referral_id": ref("uuid"),
                "sender": ref("org_id"),
                "recipient": ref("org_id"),
                "purpose": ref("purpose"),
                "consent_ids": {"type": "array", "items": ref("uuid"), "uniqueItems": True},
                "onward_sharing": flag,
            },
            ["referral_id", "sender", "recipient", "purpose"],
        ),
        "justification": strict(
            {
                "rule": {"type": "string", "pattern": "^(R[0-9]{1,2}|[A-Z]{2}-[0-9]{1,3})$"},
                "text": {"type": "string", "minLength": 10, "maxLength": 2000},
                "reference": {"type": "string", "maxLength": 500},
            },
            ["rule", "text"],
        ),
    }
    context = strict(
        {
            "now": ref("timestamp"),
            "cross_border": {
                "description": "Informative; the policy compares the two countries.",
                "type": "boolean",
            },
            "identification_ongoing": flag,
            "reflection_period": strict(
                {"active": flag, "ends_at": ref("timestamp")},
                ["active"],
            ),
            "risk_assessment": strict(
                {
                    "done": flag,
                    "finding": {"type": "string", "enum": RISK_FINDINGS},
                    "date": ref("timestamp"),
                    "security_assessment": flag,
                },
                ["done"],
            ),
            "decision_to_cooperate": strict(
                {"recorded": flag, "date": ref("timestamp")}, ["recorded"]
            ),
            "return": strict({"kind": {"type": "string", "enum": RETURN_KINDS}}, ["kind"]),
            "best_interests_determination": strict(
                {"done": flag, "date": ref("timestamp")}, ["done"]
            ),
            "transfer": strict(
                {
                    "adequacy_decision": flag,
                    "safeguards": {"type": "string", "enum": SAFEGUARDS},
                    "derogation": {"type": "string", "enum": DEROGATIONS},
                    "law_enforcement_channel": flag,
                }
            ),
            "collected_for": ref("purpose"),
            "based_on": {"type": "array", "items": ref("link")},
            "retain_until": ref("timestamp"),
            "risk_to_life": flag,
            "protective_need": flag,
            "statistics": strict(
                {
                    "aggregation": {"type": "string", "enum": AGGREGATIONS},
                    "min_cell_size": {
                        "description": "Smallest published cell count (R15: 0 or at least 5).",
                        "type": "integer",
                        "minimum": 0,
                    },
                },
                ["aggregation", "min_cell_size"],
            ),
        },
        ["now"],
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": BASE + "policy-input.schema.json",
        "title": "Policy decision input",
        "description": (
            "What a SafeRefer node gives the policy (entrypoint data.saferefer.sharing.decision) "
            "for every disclosure: send, read, forward, risk notice, statistics, consent recording "
            "and withdrawal notices. The policy denies anything it has no explicit rule for (R30)."
        ),
        "type": "object",
        "additionalProperties": False,
        "required": ["action", "data_categories", "context"],
        "properties": {
            "action": ref("action"),
            "sender": ref("party"),
            "recipient": ref("party"),
            "purpose": ref("purpose"),
            "data_categories": categories,
            "payload_flags": strict(
                {
                    "support_conditional_on_cooperation": {**flag, "description": "R1"},
                    "requires_formal_identification": {**flag, "description": "R3"},
                    "for_immigration_enforcement": {**flag, "description": "R12, R17, R18"},
                    "for_prosecution_of_subject": {**flag, "description": "R12, R19"},
                    "reveals_irregular_status": {**flag, "description": "R17"},
                    "reveals_asylum_application": {**flag, "description": "R22"},
                    "forensic_evidence": {**flag, "description": "matrix footnote 2"},
                    "strictly_necessary": {**flag, "description": "R8"},
                    "non_punishment_request": {**flag, "description": "R19, matrix footnote 4"},
                    "travel_document_only": {
                        **flag,
                        "description": "matrix: photo_biometrics to embassy",
                    },
                    "labour_facts_only": {
                        **flag,
                        "description": "matrix: exploitation_account to labour inspectorate",
                    },
                    "complainant_identity_shielded": {**flag, "description": "R20"},
                    "automatic": {
                        **flag,
                        "description": "R34: sent by a system rule, not a worker's decision",
                    },
                },
            ),
            "subject": strict(
                {
                    "age_status": {"type": "string", "enum": codes("age-statuses")},
                    "guardian": strict(
                        {"recorded": flag, "conflict_of_interest": flag},
                        ["recorded"],
                    ),
                    "child_views_recorded": flag,
                    "origin_country": ref("country"),
                    "asylum_pending": flag,
                    "asylum_possible": flag,
                    "refused_referral": flag,
                    "identification_status": {
                        "type": "string",
                        "enum": ["none", "reasonable_grounds", "formally_identified"],
                    },
                },
                ["age_status"],
            ),
            "consents": {"type": "array", "items": ref("consent")},
            "context": context,
            "justifications": {"type": "array", "items": ref("justification")},
        },
        "$defs": defs,
    }


def decision_schema() -> dict[str, Any]:
    text = {"type": "string", "minLength": 1}
    rule = {"type": "string", "pattern": "^(R[0-9]{1,2}|[A-Z]{2}-[0-9]{1,3})$"}
    code = {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"}
    categories = {
        "type": "array",
        "items": {"type": "string", "enum": codes("data-categories")},
        "uniqueItems": True,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": BASE + "policy-decision.schema.json",
        "title": "Policy decision",
        "description": (
            "The answer of data.saferefer.sharing.decision. allow is true only when no base rule "
            "and no jurisdiction overlay produced a violation. Codes are listed in "
            "spec/codelists/violation-codes.json."
        ),
        "type": "object",
        "additionalProperties": False,
        "required": ["allow", "violations", "permitted_categories", "obligations"],
        "properties": {
            "allow": {"type": "boolean"},
            "violations": {
                "type": "array",
                "items": strict(
                    {
                        "code": code,
                        "rule": rule,
                        "level": {"type": "string", "enum": ["MUST", "SHOULD"]},
                        "message": text,
                        "legal_basis": text,
                        "fix": text,
                        "categories": {
                            **categories,
                            "description": "Categories to remove to fix this.",
                        },
                        "overlay": {"type": "string", "pattern": "^[A-Z]{2}$"},
                    },
                    ["code", "rule", "message", "legal_basis", "fix"],
                ),
            },
            "permitted_categories": {
                **categories,
                "description": (
                    "When allowed: exactly the requested categories. When denied only for "
                    "category-level reasons: the requested categories no violation "
                    "names. Otherwise empty."
                ),
            },
            "obligations": {
                "type": "array",
                "items": strict(
                    {
                        "code": code,
                        "rule": rule,
                        "message": text,
                        "legal_basis": text,
                        "justification": text,
                        "overlay": {"type": "string", "pattern": "^[A-Z]{2}$"},
                    },
                    ["code", "rule", "message"],
                ),
            },
        },
    }


def main() -> None:
    for name, schema in (
        ("policy-input.schema.json", input_schema()),
        ("policy-decision.schema.json", decision_schema()),
    ):
        (SCHEMAS / name).write_text(
            json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )


if __name__ == "__main__":
    main()
