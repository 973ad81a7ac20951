"""The JSON Schemas: well-formed 2020-12, every `$ref` resolves, enumerations agree with the code
lists, objects are closed, and the messages carry what the standard requires of them."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry

SCHEMA_BASE = "https://saferefer.org/spec/v0.1/schemas/"
# Enumerations that are part of a message's own grammar rather than a shared vocabulary, so they
# have no code list. Each is listed with where it is used; anything else must come from a code list.
STRUCTURAL_ENUMS = {
    frozenset({"active", "suspended"}): "organisation / trust-list peer status",
    frozenset({"active", "disabled"}): "subscription status",
    frozenset({"active", "withdrawn"}): "status of one grant (partial withdrawal)",
    frozenset({"sender", "node"}): "who signed a referral payload",
    frozenset({"sender", "recipient", "system"}): "transition actor (referral-states transitions)",
    frozenset({"ok", "degraded", "unavailable"}): "health status",
    frozenset({"ok", "unavailable"}): "health check status",
    frozenset({"embedded", "opa"}): "policy engine kind",
    frozenset({"MUST", "SHOULD"}): "RFC 2119 level of a violated rule",
    frozenset({"accepted", "duplicate"}): "federation receipt status",
    frozenset(
        {"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
         "unsupported_grant_type", "invalid_scope"}
    ): "RFC 6749 section 5.2 error codes (IANA OAuth registry)",
    frozenset({"aggregate", "person_level"}): "statistics aggregation in the policy input",
    frozenset({"subject", "guardian", "representative", "parent"}): "consent givers (policy input)",
    frozenset(
        {"referral", "consent", "erasure_acknowledgement", "policy_decision", "statistics",
         "subscription", "federation_message"}
    ): "audit entry object type",
    frozenset(
        {"purpose", "recipient_role", "sender_role", "state", "outcome", "decline_reason",
         "age_status", "cross_border", "recipient_country", "month"}
    ): "statistics dimensions",
}  # fmt: skip
# Objects deliberately left open, each with its reason.
OPEN_OBJECTS = {
    ("problem.schema.json", ""): "RFC 9457 section 3.2 allows extension members",
}
RIGHTS_CONSENT_MINIMUM = {
    "subject_ref", "age_status", "given_by", "recorder", "grants", "issued_at", "valid_from",
    "valid_until", "language", "interpreter", "information_sheet_version", "risks_informed",
    "method", "evidence_hash", "refusal_does_not_affect_assistance", "withdrawal_channels",
    "reflection_period", "decision_to_cooperate",
}  # fmt: skip


def _walk(node: Any, pointer: str = "") -> Any:
    yield pointer, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{pointer}/{index}")


def _codes(codelist: dict[str, Any]) -> list[str]:
    return [entry["code"] for entry in codelist["entries"]]


_NAME_MAPS = {"properties", "$defs", "patternProperties", "dependentSchemas"}


def _keywords(pointer: str) -> set[str]:
    """The schema keywords along a pointer (segments that are not member or definition names)."""
    segments = pointer.split("/")[1:]
    return {
        segment
        for index, segment in enumerate(segments)
        if index == 0 or segments[index - 1] not in _NAME_MAPS
    }


def _subschemas(document: dict[str, Any]) -> Any:
    """(pointer, schema) for every subschema, skipping values of examples, const, enum, default."""
    for pointer, node in _walk(document):
        if not isinstance(node, dict):
            continue
        if _keywords(pointer) & {"examples", "const", "enum", "default"}:
            continue
        yield pointer, node


def test_schema_is_valid_2020_12(schema_name: str, schemas: dict[str, Any]) -> None:
    document = schemas[schema_name]
    Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["$id"] == SCHEMA_BASE + schema_name
    assert document.get("title")
    assert document.get("description")


def test_every_ref_resolves(
    schema_name: str, schemas: dict[str, Any], registry: Registry[Any]
) -> None:
    document = schemas[schema_name]
    resolver = registry.resolver(document["$id"])
    refs = [node["$ref"] for _, node in _subschemas(document) if isinstance(node.get("$ref"), str)]
    for ref in refs:
        resolver.lookup(ref)  # raises on a dangling reference


def test_common_enums_equal_their_code_lists(
    schemas: dict[str, Any], all_codelists: dict[str, Any]
) -> None:
    defs = schemas["common.schema.json"]["$defs"]
    mirrored = set()
    for name, definition in defs.items():
        if "x-codelist" not in definition:
            continue
        codelist = all_codelists[definition["x-codelist"]]
        expected = [
            entry["code"]
            for entry in codelist["entries"]
            if all(entry.get(k) == v for k, v in definition.get("x-codelist-filter", {}).items())
        ]
        assert definition["enum"] == expected, name
        mirrored.add(definition["x-codelist"])
    # Every code list is mirrored, except the violation codes (open-ended: national overlays add
    # their own) and the code lists whose entries are not a single value field.
    assert set(all_codelists) - mirrored == {"violation-codes"}


def test_every_enum_comes_from_a_code_list(
    schema_name: str, schemas: dict[str, Any], all_codelists: dict[str, Any]
) -> None:
    code_sets = {name: set(_codes(codelist)) for name, codelist in all_codelists.items()}
    problems = []
    for pointer, node in _subschemas(schemas[schema_name]):
        if "enum" not in node:
            continue
        values = set(node["enum"])
        if "x-codelist" in node:
            if not values <= code_sets[node["x-codelist"]]:
                problems.append(f"{pointer}: {sorted(values - code_sets[node['x-codelist']])}")
            continue
        containing = [name for name, codes in code_sets.items() if values <= codes]
        overlapping = [name for name, codes in code_sets.items() if values & codes]
        if containing:
            continue
        if frozenset(values) in STRUCTURAL_ENUMS:
            continue
        problems.append(f"{pointer}: {sorted(values)} (overlaps {overlapping or 'no code list'})")
    assert problems == []


def test_objects_are_closed(schema_name: str, schemas: dict[str, Any]) -> None:
    open_objects = []
    for pointer, node in _subschemas(schemas[schema_name]):
        if "properties" not in node or node.get("type") not in ("object", None):
            continue
        if (schema_name, pointer) in OPEN_OBJECTS:
            continue
        # Subschemas inside if/then/else/allOf only narrow members of an enclosing closed object.
        if _keywords(pointer) & {"if", "then", "else", "allOf", "not"}:
            continue
        if node.get("additionalProperties") is not False:
            open_objects.append(pointer or "/")
    assert open_objects == []


def test_consent_create_requires_the_rights_minimum(schemas: dict[str, Any]) -> None:
    schema = schemas["consent-create.schema.json"]
    assert set(schema["required"]) >= RIGHTS_CONSENT_MINIMUM
    assert schema["properties"]["refusal_does_not_affect_assistance"] == {
        "const": True,
        "description": schema["properties"]["refusal_does_not_affect_assistance"]["description"],
    }
    grant = schema["$defs"]["grant-request"]["properties"]
    assert grant["onward_sharing"]["default"] is False
    assert grant["recipient"]["oneOf"][0]["required"] == ["org_id"]
    assert grant["recipient"]["oneOf"][1]["required"] == ["role", "country"]


def test_referral_payload_is_keyed_by_data_category(schemas: dict[str, Any]) -> None:
    for name in ("referral-create.schema.json", "referral.schema.json"):
        payload = schemas[name]["properties"]["payload"]
        assert payload["propertyNames"] == {"$ref": "common.schema.json#/$defs/data-category"}


def test_referral_subject_matches_the_policy_input_subject(schemas: dict[str, Any]) -> None:
    ours = schemas["referral-create.schema.json"]["properties"]["subject"]["properties"]
    policy = schemas["policy-input.schema.json"]["properties"]["subject"]["properties"]
    assert set(ours) == set(policy)
    ours_context = schemas["referral-create.schema.json"]["properties"]["context"]["properties"]
    policy_context = schemas["policy-input.schema.json"]["properties"]["context"]["properties"]
    assert set(ours_context) <= set(policy_context)
    flags = schemas["policy-input.schema.json"]["properties"]["payload_flags"]["properties"]
    common = schemas["common.schema.json"]["$defs"]
    assert set(common["payload-flag"]["enum"]) == set(flags)


def test_transition_request_targets_are_the_client_transitions(
    schemas: dict[str, Any], all_codelists: dict[str, Any]
) -> None:
    request = schemas["referral-transition.schema.json"]["$defs"]["request"]
    table = all_codelists["referral-states"]["transitions"]
    assert set(request["properties"]["to"]["enum"]) == {
        r["to"] for r in table if r["actor"] != "system"
    }


def test_every_event_type_constrains_its_data(
    make_validator: Any, all_codelists: dict[str, Any]
) -> None:
    validator = make_validator("event")
    for event_type in _codes(all_codelists["event-types"]):
        event = {
            "specversion": "1.0", "id": "01936f5e-8a7b-7c3d-9e4f-0a1b2c3d4e5f",
            "source": "urn:saferefer:node:NL:demo", "type": event_type,
            "subject": "01936f5e-8a7b-7c3d-9e4f-0a1b2c3d4e5f", "time": "2026-11-28T10:00:00Z",
            "datacontenttype": "application/json", "sequence": "00000000000000000001", "data": {},
        }  # fmt: skip
        data_errors = [e for e in validator.iter_errors(event) if list(e.absolute_path) == ["data"]]
        assert data_errors, f"{event_type} accepts empty data"


def test_problem_violations_are_the_policy_decision_violations(schemas: dict[str, Any]) -> None:
    items = schemas["problem.schema.json"]["properties"]["violations"]["items"]
    assert items == {"$ref": "policy-decision.schema.json#/properties/violations/items"}
