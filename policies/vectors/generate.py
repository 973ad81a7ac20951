"""Generate the decision vectors in policies/vectors/<scenario>/vectors.json.

Each vector is a story told as a policy input, the rule it is about, and the decision the
policy must give. The stories below declare what matters by hand — allow or deny, the exact set
of violation codes, and for allowed flows any extra obligation codes — and the generator refuses
to write a vector when the pinned OPA disagrees. The full decision document (messages, legal
bases, permitted categories, obligations) is then recorded as `expected`, so that the vector
tests compare complete decisions from every engine.

Vectors of one scenario share one file: OPA loads JSON files under policies/ as data and would
refuse several files with the same keys in one directory.

Run: .venv/bin/python policies/vectors/generate.py
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "policies" / "vectors"
OPA = REPO / ".tools" / "bin" / "opa"
QUERY = "[d | some v in input.vectors; d := data.saferefer.sharing.decision with input as v]"

NOW = "2026-11-28T12:00:00Z"
RETAIN = "2027-11-28T00:00:00Z"
SPECIAL = {"health", "sexual_health", "photo_biometrics"}
ALWAYS = frozenset({"record_decision"})


def org(cc: str, code: str, *roles: str, **extra: Any) -> dict[str, Any]:
    return {"org": f"urn:saferefer:org:{cc}:{code}", "roles": list(roles), "country": cc, **extra}


NGO = org("NL", "demo-ngo", "ngo_service_provider")
NGO2 = org("NL", "fairwork", "ngo_service_provider")
SHELTER = org("NL", "demo-shelter", "shelter")
SOCIAL = org("NL", "demo-social", "social_services")
HEALTH = org("NL", "ggd-amsterdam", "health_provider")
LEGAL = org("NL", "legal-aid-desk", "legal_aid")
CHILDPROT = org("NL", "nidos", "child_protection")
POLICE = org("NL", "demo-police", "police")
PROSECUTOR = org("NL", "demo-prosecutor", "prosecutor")
LABOUR = org("NL", "demo-labour", "labour_inspectorate")
IMMIGRATION = org("NL", "demo-immigration", "immigration_authority")
RAPPORTEUR = org("NL", "demo-rapporteur", "national_rapporteur")
COORDINATOR = org("NL", "demo-coordinator", "national_coordinator")
CAMPAIGN = org("NL", "campaign-ngo", "ngo_service_provider", public_facing=True)
MD_NGO = org("MD", "demo-ngo", "ngo_service_provider", contact_point=True)
MD_EMBASSY = org("MD", "demo-embassy", "embassy_of_origin")
MD_POLICE = org("MD", "police", "police")
BE_NGO = org("BE", "payoke", "ngo_service_provider", contact_point=True)
BE_POLICE = org("BE", "federal-police", "police", contact_point=True)
DE_POLICE = org("DE", "bka", "police", contact_point=True)
CH_NGO = org("CH", "fiz", "ngo_service_provider", contact_point=True)
UA_NGO = org("UA", "la-strada", "ngo_service_provider", contact_point=True)

_ids = iter(range(1, 100000))


def uuid() -> str:
    return f"01937a2e-0000-7000-8000-{next(_ids):012x}"


def grant(
    recipient: dict[str, Any], purposes: list[str], categories: list[str], **extra: Any
) -> dict[str, Any]:
    return {
        "recipient": {"org": recipient["org"]},
        "purposes": purposes,
        "data_categories": categories,
        "explicit_categories": [c for c in categories if c in SPECIAL],
        **extra,
    }


def consent(
    grants: list[dict[str, Any]], recorder: dict[str, Any] = NGO, **extra: Any
) -> dict[str, Any]:
    return {
        "id": uuid(),
        "status": "active",
        "recorded_by": {"org": recorder["org"], "role": recorder["roles"][0]},
        "given_by": {"kind": "subject"},
        "valid_from": "2026-11-01T09:30:00Z",
        "valid_until": "2027-06-01T00:00:00Z",
        "language": "ro",
        "interpreter": True,
        "interpreter_independence": "independent_professional",
        "method": "written_signature",
        "refusal_does_not_affect_assistance": True,
        "risks_informed": ["third_country_transfer", "origin_country_contact"],
        "grants": grants,
        **extra,
    }


def referral(
    sender: dict[str, Any],
    recipient: dict[str, Any],
    purpose: str,
    categories: list[str],
    *,
    action: str = "referral.send",
    recorder: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A disclosure covered by exactly the consent it needs; stories then change one thing."""
    return {
        "action": action,
        "sender": copy.deepcopy(sender),
        "recipient": copy.deepcopy(recipient),
        "purpose": purpose,
        "data_categories": list(categories),
        "payload_flags": {},
        "subject": {
            "age_status": "adult",
            "origin_country": "MD",
            "identification_status": "reasonable_grounds",
        },
        "consents": [consent([grant(recipient, [purpose], list(categories))], recorder or NGO)],
        "context": {"now": NOW, "retain_until": RETAIN},
    }


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Deep merge like Rego's object.union: objects merge, everything else is replaced."""
    result = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def without(base: dict[str, Any], *paths: str) -> dict[str, Any]:
    result = copy.deepcopy(base)
    for path in paths:
        *parents, last = path.split("/")
        node: Any = result
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        del node[last]
    return result


def first_consent(inp: dict[str, Any], **changes: Any) -> dict[str, Any]:
    result = copy.deepcopy(inp)
    result["consents"][0].update(changes)
    return result


def first_grant(inp: dict[str, Any], **changes: Any) -> dict[str, Any]:
    result = copy.deepcopy(inp)
    result["consents"][0]["grants"][0].update(changes)
    return result


def justify(inp: dict[str, Any], rule: str, text: str) -> dict[str, Any]:
    return merge(inp, {"justifications": [{"rule": rule, "text": text}]})


RETURN_CONTEXT = {
    "risk_assessment": {
        "done": True,
        "finding": "no_risk",
        "date": "2026-11-20T10:00:00Z",
        "security_assessment": True,
    },
    "return": {"kind": "voluntary"},
    "best_interests_determination": {"done": True, "date": "2026-11-21T10:00:00Z"},
}
CHILD = {
    "age_status": "child",
    "guardian": {"recorded": True, "conflict_of_interest": False},
    "child_views_recorded": True,
}


@dataclass
class Vector:
    scenario: str
    name: str
    rule: str
    story: str
    input: dict[str, Any]
    allow: bool
    codes: frozenset[str] = frozenset()
    obligations: frozenset[str] = field(default_factory=frozenset)


def allowed(
    scenario: str, name: str, rule: str, story: str, inp: dict[str, Any], *obligations: str
) -> Vector:
    return Vector(scenario, name, rule, story, inp, True, frozenset(), frozenset(obligations))


def denied(
    scenario: str, name: str, rule: str, story: str, inp: dict[str, Any], *codes: str
) -> Vector:
    return Vector(scenario, name, rule, story, inp, False, frozenset(codes))


# A grant to the police, which bundled into a support consent record breaks R2.
POLICE_GRANT = {
    "recipient": {"role": "police", "country": "NL"},
    "purposes": ["criminal_investigation"],
    "data_categories": ["identity"],
}


# Allowed support flows, reused by the support and consent scenarios.
SUPPORT_FLOWS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "ngo_to_shelter",
        "An NGO places a woman it met through outreach in a shelter, with her consent.",
        referral(
            NGO, SHELTER, "shelter", ["identity", "contact", "language_needs", "safety_risks"]
        ),
    ),
    (
        "ngo_to_shelter_with_health",
        "The shelter needs to know about a medication; she explicitly agreed to share "
        "her health data.",
        referral(NGO, SHELTER, "shelter", ["identity", "contact", "health", "language_needs"]),
    ),
    (
        "ngo_to_social_services",
        "An NGO refers a man exploited in agriculture to social services for housing and benefits.",
        referral(
            NGO,
            SOCIAL,
            "assistance",
            ["identity", "contact", "nationality", "immigration_status", "family"],
        ),
    ),
    (
        "ngo_to_health_provider",
        "An NGO refers a woman to a clinic for medical care, including sexual health.",
        referral(
            NGO,
            HEALTH,
            "medical_care",
            ["identity", "contact", "health", "sexual_health", "language_needs"],
        ),
    ),
    (
        "ngo_to_legal_aid",
        "An NGO refers a person to a lawyer to defend her against charges for forced offences.",
        referral(
            NGO,
            LEGAL,
            "legal_aid",
            ["identity", "contact", "exploitation_account", "criminal_record"],
        ),
    ),
    (
        "police_to_ngo_support",
        "Police met a presumed victim in a raid; the NGO's outreach worker obtained "
        "her consent to be referred for support.",
        referral(
            POLICE, NGO, "assistance", ["identity", "contact", "language_needs", "safety_risks"]
        ),
    ),
    (
        "labour_inspectorate_to_ngo",
        "Labour inspectors found workers in a warehouse; one agrees to NGO support.",
        referral(LABOUR, NGO, "assistance", ["identity", "contact", "language_needs"]),
    ),
    (
        "social_services_to_shelter",
        "Social services refer a woman to a specialised shelter.",
        referral(
            SOCIAL,
            SHELTER,
            "shelter",
            ["identity", "contact", "location", "safety_risks"],
            recorder=SOCIAL,
        ),
    ),
    (
        "ngo_to_ngo_domestic",
        "A general NGO refers a man to a specialised NGO for labour exploitation.",
        referral(
            NGO, NGO2, "assistance", ["identity", "contact", "exploitation_account", "financial"]
        ),
    ),
    (
        "ngo_to_health_psychological_support",
        "An NGO refers a survivor to trauma therapy.",
        referral(
            NGO,
            HEALTH,
            "psychological_support",
            ["identity", "contact", "exploitation_account", "health"],
        ),
    ),
    (
        "shelter_to_health_medical_care",
        "A shelter refers a resident to a doctor.",
        referral(
            SHELTER,
            HEALTH,
            "medical_care",
            ["identity", "health", "language_needs"],
            recorder=SHELTER,
        ),
    ),
    (
        "legal_aid_to_ngo_compensation",
        "A lawyer refers a client to an NGO that supports compensation claims.",
        referral(
            LEGAL, NGO, "compensation_claim", ["identity", "contact", "financial"], recorder=LEGAL
        ),
    ),
    (
        "ngo_to_child_protection",
        "An NGO refers an adult mother's case to child protection for her children's "
        "sake, with her consent.",
        referral(NGO, CHILDPROT, "assistance", ["identity", "contact", "family", "location"]),
    ),
    (
        "ngo_to_labour_inspectorate_claim",
        "An NGO supports a worker's wage claim with the labour inspectorate.",
        merge(
            referral(
                NGO,
                LABOUR,
                "labour_rights_claim",
                ["identity", "exploitation_account", "financial"],
            ),
            {"payload_flags": {"labour_facts_only": True}},
        ),
    ),
]


def support() -> Iterator[Vector]:
    s = "support"
    for name, story, inp in SUPPORT_FLOWS:
        extra = ("pseudonymise_identity",) if name == "ngo_to_labour_inspectorate_claim" else ()
        yield allowed(s, f"{name}_allowed", "R1", story, inp, "delete_by_retain_until", *extra)
        yield denied(
            s,
            f"{name}_refused_by_person",
            "R4",
            story + " But she said no to the referral.",
            merge(inp, {"subject": {"refused_referral": True}}),
            "referral_refused",
        )
        yield denied(
            s,
            f"{name}_conditional_on_cooperation",
            "R1",
            story + " The referral says support continues only if she testifies.",
            merge(inp, {"payload_flags": {"support_conditional_on_cooperation": True}}),
            "support_conditional_on_cooperation",
        )
    base = SUPPORT_FLOWS[0][2]
    yield allowed(
        s,
        "presumed_victim_without_formal_identification",
        "R3",
        "Only reasonable grounds exist; formal identification has not happened and is not needed.",
        merge(base, {"subject": {"identification_status": "none"}}),
        "delete_by_retain_until",
    )
    yield allowed(
        s,
        "referral_after_person_changed_her_mind",
        "R4",
        "She first refused, then asked the NGO to go ahead; the refusal flag is cleared.",
        merge(base, {"subject": {"refused_referral": False}}),
        "delete_by_retain_until",
    )
    yield denied(
        s,
        "shelter_place_conditional_on_identification",
        "R3",
        "The referral demands formal identification before a shelter place.",
        merge(base, {"payload_flags": {"requires_formal_identification": True}}),
        "support_conditional_on_identification",
    )
    yield denied(
        s,
        "consent_without_no_effect_statement",
        "R1",
        "The consent form does not say that refusing leaves her assistance unaffected.",
        first_consent(base, refusal_does_not_affect_assistance=False),
        "consent_lacks_no_effect_statement",
    )
    yield denied(
        s,
        "grant_mixing_shelter_and_investigation",
        "R2",
        "One tick box covered the shelter and the police investigation together.",
        first_grant(base, purposes=["shelter", "criminal_investigation"]),
        "bundled_consent",
    )
    bundled = copy.deepcopy(base)
    bundled["consents"][0]["grants"].append(POLICE_GRANT)
    yield denied(
        s,
        "support_consent_record_with_police_grant",
        "R2",
        "The shelter consent record also carries a grant to the police.",
        bundled,
        "bundled_consent",
    )
    separate = copy.deepcopy(base)
    separate["consents"].append(consent([POLICE_GRANT]))
    yield allowed(
        s,
        "separate_police_consent_record",
        "R2",
        "She signed a separate consent for the police; the shelter referral cites both records.",
        separate,
        "delete_by_retain_until",
    )


def consents() -> Iterator[Vector]:
    s = "consent"
    base = SUPPORT_FLOWS[2][2]
    yield allowed(
        s,
        "grant_naming_role_and_country",
        "R5",
        "The grant names social services in NL rather than one office.",
        first_grant(base, recipient={"role": "social_services", "country": "NL"}),
        "delete_by_retain_until",
    )
    yield allowed(
        s,
        "interpreter_not_needed",
        "R9",
        "She speaks Dutch; no interpreter took part and the record says so.",
        first_consent(base, interpreter=False, language="nl"),
        "delete_by_retain_until",
    )
    yield allowed(
        s,
        "consent_recorded_by_social_services",
        "R7",
        "Social services recorded the consent themselves.",
        first_consent(base, recorded_by={"org": SOCIAL["org"], "role": "social_services"}),
        "delete_by_retain_until",
    )
    yield allowed(
        s,
        "consent_given_orally_with_witness",
        "R5",
        "She consented orally with a witness present.",
        first_consent(base, method="oral_with_witness"),
        "delete_by_retain_until",
    )
    yield allowed(
        s,
        "consent_with_fractional_timestamps",
        "R6",
        "Timestamps carry milliseconds; validity is compared at second resolution.",
        first_consent(
            merge(base, {"context": {"now": "2026-11-28T12:00:00.500Z"}}),
            valid_until="2026-11-28T12:00:01.000Z",
        ),
        "delete_by_retain_until",
    )
    yield denied(
        s,
        "no_consent",
        "R5",
        "The NGO sends without any consent on record.",
        merge(base, {"consents": []}),
        "consent_missing",
    )
    yield denied(
        s,
        "consent_for_another_recipient",
        "R5",
        "Her consent names a different organisation.",
        first_grant(base, recipient={"org": "urn:saferefer:org:NL:other-office"}),
        "consent_missing",
    )
    yield denied(
        s,
        "consent_for_another_purpose",
        "R5",
        "She agreed to shelter, not to general assistance.",
        first_grant(base, purposes=["shelter"]),
        "consent_missing",
    )
    yield denied(
        s,
        "consent_for_role_in_other_country",
        "R5",
        "The grant names social services in Belgium.",
        first_grant(base, recipient={"role": "social_services", "country": "BE"}),
        "consent_missing",
    )
    yield denied(
        s,
        "category_not_in_grant",
        "R5",
        "The referral adds her family details she did not agree to share.",
        first_grant(
            base, data_categories=["identity", "contact", "nationality", "immigration_status"]
        ),
        "consent_categories_not_covered",
    )
    for status in ("withdrawn", "expired", "superseded"):
        yield denied(
            s,
            f"consent_{status}",
            "R6",
            f"The consent is {status}.",
            first_consent(base, status=status),
            "consent_missing",
            "consent_not_valid",
        )
    yield denied(
        s,
        "consent_past_valid_until",
        "R6",
        "The consent ran out yesterday.",
        first_consent(base, valid_until="2026-11-27T12:00:00Z"),
        "consent_missing",
        "consent_not_valid",
    )
    yield denied(
        s,
        "consent_not_yet_valid",
        "R6",
        "The consent starts next month.",
        first_consent(base, valid_from="2026-12-01T00:00:00Z"),
        "consent_missing",
        "consent_not_valid",
    )
    yield denied(
        s,
        "consent_without_expiry",
        "R6",
        "The consent has no expiry date.",
        without(base, "consents/0/valid_until"),
        "consent_missing",
        "consent_expiry_missing",
    )
    for recorder in (POLICE, IMMIGRATION, PROSECUTOR):
        role = recorder["roles"][0]
        yield denied(
            s,
            f"consent_recorded_by_{role}",
            "R7",
            f"The consent was taken by {role.replace('_', ' ')} during an interview.",
            first_consent(base, recorded_by={"org": recorder["org"], "role": role}),
            "consent_missing",
            "consent_recorded_by_enforcement",
        )
    health = SUPPORT_FLOWS[3][2]
    yield allowed(
        s,
        "health_with_explicit_consent",
        "R8",
        "She explicitly agreed that the clinic receives her health data.",
        health,
        "delete_by_retain_until",
    )
    yield denied(
        s,
        "health_without_explicit_consent",
        "R8",
        "Health data without an explicit consent for it.",
        first_grant(health, explicit_categories=["health"]),
        "special_category_not_explicit",
    )
    yield denied(
        s,
        "consent_without_language",
        "R9",
        "The record does not say in which language she was informed.",
        without(base, "consents/0/language"),
        "consent_language_not_recorded",
    )
    yield denied(
        s,
        "consent_without_interpreter_statement",
        "R9",
        "The record does not say whether an interpreter took part.",
        without(base, "consents/0/interpreter"),
        "consent_language_not_recorded",
    )
    record = without(
        merge(base, {"action": "consent.record", "data_categories": []}), "purpose", "recipient"
    )
    yield allowed(s, "record_valid_consent", "R9", "An NGO records a complete consent.", record)
    yield denied(
        s,
        "record_consent_without_expiry",
        "R6",
        "An NGO tries to record a consent without expiry.",
        without(record, "consents/0/valid_until"),
        "consent_expiry_missing",
    )
    yield denied(
        s,
        "record_consent_taken_by_police",
        "R7",
        "A consent taken by the police is recorded as a basis.",
        first_consent(record, recorded_by={"org": POLICE["org"], "role": "police"}),
        "consent_recorded_by_enforcement",
    )
    yield denied(
        s,
        "record_consent_without_language",
        "R9",
        "A consent without language is recorded.",
        without(record, "consents/0/language"),
        "consent_language_not_recorded",
    )


def reflection() -> Iterator[Vector]:
    s = "reflection"
    account = referral(NGO, POLICE, "criminal_investigation", ["identity", "exploitation_account"])
    active = {"context": {"reflection_period": {"active": True, "ends_at": "2027-02-28T00:00:00Z"}}}
    yield allowed(
        s,
        "account_to_police_after_decision_to_cooperate",
        "R10",
        "After her reflection period she decided to report; her account goes to the police.",
        merge(
            account,
            {
                "context": {
                    "decision_to_cooperate": {"recorded": True, "date": "2026-11-25T10:00:00Z"}
                }
            },
        ),
        "delete_by_retain_until",
    )
    yield allowed(
        s,
        "account_to_prosecutor_after_decision_to_cooperate",
        "R10",
        "She decided to cooperate; her account goes to the prosecutor.",
        merge(
            referral(
                NGO, PROSECUTOR, "criminal_investigation", ["identity", "exploitation_account"]
            ),
            {"context": {"decision_to_cooperate": {"recorded": True}}},
        ),
        "delete_by_retain_until",
    )
    yield denied(
        s,
        "account_to_police_during_reflection",
        "R10",
        "During her reflection period the NGO sends her account to the police.",
        merge(account, active),
        "exploitation_account_without_cooperation_decision",
    )
    yield denied(
        s,
        "account_to_police_without_decision",
        "R10",
        "No decision to cooperate is on record.",
        account,
        "exploitation_account_without_cooperation_decision",
    )
    yield allowed(
        s,
        "account_to_police_justified",
        "R10",
        "She asked the NGO to pass on her statement before her formal decision; the "
        "justification is logged.",
        justify(
            merge(account, active),
            "R10",
            "She asked us in writing to pass her statement to the police now.",
        ),
        "delete_by_retain_until",
        "exploitation_account_without_cooperation_decision",
    )
    yield allowed(
        s,
        "shelter_referral_during_reflection",
        "R18",
        "A shelter referral during the reflection period.",
        merge(SUPPORT_FLOWS[0][2], active),
        "delete_by_retain_until",
    )
    yield denied(
        s,
        "reflection_period_without_end_date",
        "R18",
        "The reflection period is active but has no end date.",
        merge(SUPPORT_FLOWS[0][2], {"context": {"reflection_period": {"active": True}}}),
        "reflection_period_end_missing",
    )
    yield denied(
        s,
        "removal_during_reflection",
        "R18",
        "Police pass her details to immigration to prepare removal during her reflection period.",
        merge(
            referral(POLICE, IMMIGRATION, "residence_permit", ["identity"]),
            {**active, "payload_flags": {"for_immigration_enforcement": True}},
        ),
        "removal_during_reflection",
        "category_condition_unmet",
    )
    yield denied(
        s,
        "removal_during_identification",
        "R18",
        "Identification is still under way when detention is prepared.",
        merge(
            referral(POLICE, IMMIGRATION, "residence_permit", ["identity"]),
            {
                "context": {"identification_ongoing": True},
                "payload_flags": {"for_immigration_enforcement": True},
            },
        ),
        "removal_during_reflection",
        "category_condition_unmet",
    )
    yield allowed(
        s,
        "reflection_period_application",
        "R18",
        "The NGO helps her apply for the reflection period (NL B8/3).",
        referral(
            NGO,
            IMMIGRATION,
            "recovery_reflection_period",
            ["identity", "nationality", "immigration_status"],
        ),
        "delete_by_retain_until",
        "b8_3_reflection_period",
    )


def minimisation() -> Iterator[Vector]:
    s = "minimisation"
    never = [
        (
            NGO,
            SHELTER,
            "shelter",
            "exploitation_account",
            "A shelter needs a risk summary, not her full account.",
        ),
        (NGO, SHELTER, "shelter", "photo_biometrics", "Photos are never sent to a shelter."),
        (
            NGO,
            SOCIAL,
            "assistance",
            "photo_biometrics",
            "Photos are never sent to social services.",
        ),
        (
            NGO,
            POLICE,
            "criminal_investigation",
            "immigration_status",
            "Immigration status never goes to police.",
        ),
        (
            NGO,
            PROSECUTOR,
            "criminal_investigation",
            "immigration_status",
            "Immigration status never goes to prosecutors.",
        ),
        (
            NGO,
            LABOUR,
            "labour_rights_claim",
            "immigration_status",
            "Immigration status never goes to the labour inspectorate.",
        ),
        (NGO, HEALTH, "medical_care", "photo_biometrics", "Photos are never sent to a clinic."),
    ]
    for sender, recipient, purpose, category, story in never:
        inp = referral(sender, recipient, purpose, ["identity", category])
        codes = {"category_not_permitted"}
        if category not in POLICY_PURPOSE_CATEGORIES[purpose]:
            codes.add("category_not_needed_for_purpose")
        if category in SPECIAL and recipient["roles"][0] in {"police", "prosecutor"}:
            codes.add("special_category_not_strictly_necessary")
        role = recipient["roles"][0]
        yield denied(s, f"{category}_to_{role}", "R11", story, inp, *sorted(codes))
    yield denied(
        s,
        "financial_to_shelter",
        "R11",
        "The shelter does not need her bank details.",
        referral(NGO, SHELTER, "shelter", ["identity", "financial"]),
        "category_not_needed_for_purpose",
        "category_not_permitted",
    )
    yield denied(
        s,
        "criminal_record_to_ngo_for_assistance",
        "R11",
        "Her record goes to an NGO for general assistance.",
        referral(NGO, NGO2, "assistance", ["identity", "criminal_record"]),
        "category_condition_unmet",
        "category_not_needed_for_purpose",
    )
    yield denied(
        s,
        "full_account_to_labour_inspectorate",
        "R11",
        "The inspectorate gets her whole story instead of the labour facts.",
        referral(NGO, LABOUR, "labour_rights_claim", ["exploitation_account"]),
        "category_condition_unmet",
    )
    yield denied(
        s,
        "health_to_police_not_forensic",
        "R11",
        "Her medical file goes to police without being forensic evidence.",
        merge(
            referral(NGO, POLICE, "criminal_investigation", ["identity", "health"]),
            {"payload_flags": {"strictly_necessary": True}},
        ),
        "category_condition_unmet",
    )
    yield allowed(
        s,
        "forensic_evidence_to_police",
        "R11",
        "A forensic medical report she explicitly agreed to share, strictly necessary "
        "for the case.",
        merge(
            referral(
                NGO, POLICE, "criminal_investigation", ["identity", "health", "photo_biometrics"]
            ),
            {"payload_flags": {"forensic_evidence": True, "strictly_necessary": True}},
        ),
        "delete_by_retain_until",
    )
    yield denied(
        s,
        "forensic_evidence_to_police_not_strictly_necessary",
        "R8",
        "Forensic photos not strictly necessary for the case.",
        merge(
            referral(NGO, POLICE, "criminal_investigation", ["identity", "photo_biometrics"]),
            {"payload_flags": {"forensic_evidence": True}},
        ),
        "category_condition_unmet",
        "special_category_not_strictly_necessary",
    )
    yield allowed(
        s,
        "identity_to_labour_inspectorate_pseudonymised",
        "R11",
        "The inspectorate gets her identity for a wage claim and must use a pseudonym "
        "where it can.",
        referral(NGO, LABOUR, "labour_rights_claim", ["identity", "financial"]),
        "delete_by_retain_until",
        "pseudonymise_identity",
    )
    yield allowed(
        s,
        "immigration_status_to_shelter_minimal",
        "R11",
        "The shelter learns her status, minimally, to arrange her stay.",
        referral(NGO, SHELTER, "shelter", ["identity", "immigration_status"]),
        "delete_by_retain_until",
        "minimal_immigration_status",
    )
    yield allowed(
        s,
        "financial_to_prosecutor_for_compensation",
        "R11",
        "Her lost wages go to the prosecutor to claim compensation.",
        referral(NGO, PROSECUTOR, "compensation_claim", ["identity", "financial"]),
        "delete_by_retain_until",
    )
    yield denied(
        s,
        "financial_to_prosecutor_for_investigation",
        "R11",
        "Her bank details go to the prosecutor for the investigation, not her compensation.",
        referral(NGO, PROSECUTOR, "criminal_investigation", ["identity", "financial"]),
        "category_condition_unmet",
    )
    yield allowed(
        s,
        "criminal_record_to_ngo_for_legal_aid",
        "R11",
        "Her record goes to an NGO's legal desk for her defence.",
        referral(NGO, NGO2, "legal_aid", ["identity", "criminal_record"]),
        "delete_by_retain_until",
    )
    yield denied(
        s,
        "retain_until_missing",
        "R13",
        "The referral has no deletion date.",
        without(SUPPORT_FLOWS[0][2], "context/retain_until"),
        "retain_until_missing",
    )
    yield denied(
        s,
        "retain_until_past",
        "R13",
        "The deletion date is already past.",
        merge(SUPPORT_FLOWS[0][2], {"context": {"retain_until": "2026-01-01T00:00:00Z"}}),
        "retain_until_past",
    )
    yield allowed(
        s,
        "retain_until_missing_justified",
        "R13",
        "An emergency placement; retention is set when the shelter accepts.",
        justify(
            without(SUPPORT_FLOWS[0][2], "context/retain_until"),
            "R13",
            "Emergency night placement; retention agreed on acceptance.",
        ),
        "retain_until_missing",
    )
    wrong_roles = [
        (NGO, POLICE, "shelter", "A shelter referral addressed to the police."),
        (NGO, NGO2, "medical_care", "Medical care addressed to an NGO without medical staff."),
        (NGO, NGO2, "criminal_investigation", "An investigation referral addressed to an NGO."),
        (NGO, IMMIGRATION, "assistance", "An assistance referral addressed to immigration."),
        (NGO, LABOUR, "shelter", "A shelter referral addressed to the labour inspectorate."),
        (NGO, SHELTER, "legal_aid", "Legal aid addressed to a shelter."),
    ]
    for sender, recipient, purpose, story in wrong_roles:
        inp = referral(sender, recipient, purpose, ["identity"])
        codes = {"recipient_role_not_permitted"}
        if recipient is IMMIGRATION:
            codes.add("category_condition_unmet")
        yield denied(s, f"{purpose}_to_{recipient['roles'][0]}", "R32", story, inp, *codes)
    right_roles = [
        (NGO, HEALTH, "medical_care", "Medical care goes to a health provider."),
        (NGO, POLICE, "criminal_investigation", "An investigation referral goes to the police."),
        (NGO, LEGAL, "legal_aid", "Legal aid goes to a lawyer."),
    ]
    for sender, recipient, purpose, story in right_roles:
        inp = referral(sender, recipient, purpose, ["identity"])
        yield allowed(
            s, f"{purpose}_to_{recipient['roles'][0]}", "R32", story, inp, "delete_by_retain_until"
        )
    police_location = referral(NGO, POLICE, "criminal_investigation", ["identity", "location"])
    yield denied(
        s,
        "location_to_police_without_protective_need",
        "R33",
        "Her shelter address goes to the police without any protective need.",
        police_location,
        "location_without_protective_need",
    )
    yield allowed(
        s,
        "location_to_police_for_protection",
        "R33",
        "Police need her address to protect her from the traffickers.",
        merge(police_location, {"context": {"protective_need": True}}),
        "delete_by_retain_until",
    )
    yield allowed(
        s,
        "location_to_police_justified",
        "R33",
        "The prosecutor must serve a summons; the justification is logged.",
        justify(
            police_location,
            "R33",
            "Summons for her own compensation hearing must be served in person.",
        ),
        "delete_by_retain_until",
        "location_without_protective_need",
    )
    yield allowed(
        s,
        "location_to_shelter",
        "R33",
        "The shelter coordinates her move.",
        referral(NGO, SHELTER, "shelter", ["identity", "location"]),
        "delete_by_retain_until",
    )
    yield denied(
        s,
        "location_to_labour_inspectorate",
        "R11",
        "The inspectorate gets her shelter address.",
        referral(NGO, LABOUR, "labour_rights_claim", ["identity", "location"]),
        "category_not_needed_for_purpose",
        "category_not_permitted",
        "location_without_protective_need",
    )


def against_subject() -> Iterator[Vector]:
    s = "against_subject"
    yield denied(
        s,
        "assistance_data_for_removal",
        "R12",
        "Her assistance file is used to prepare her removal.",
        merge(
            referral(NGO, IMMIGRATION, "residence_permit", ["identity", "nationality"]),
            {"payload_flags": {"for_immigration_enforcement": True}},
        ),
        "assistance_data_used_against_subject",
        "category_condition_unmet",
    )
    yield denied(
        s,
        "assistance_data_to_prosecute_her",
        "R12",
        "Police pass assistance data to the prosecutor to charge her.",
        merge(
            referral(POLICE, PROSECUTOR, "criminal_investigation", ["identity"]),
            {
                "payload_flags": {"for_prosecution_of_subject": True},
                "context": {"collected_for": "assistance"},
            },
        ),
        "assistance_data_used_against_subject",
        "prosecution_of_subject",
    )
    yield allowed(
        s,
        "assistance_data_for_her_own_permit",
        "R12",
        "Her assistance file supports her own residence-permit application, not enforcement.",
        referral(
            NGO,
            IMMIGRATION,
            "residence_permit",
            ["identity", "nationality", "exploitation_account"],
        ),
        "delete_by_retain_until",
    )
    yield denied(
        s,
        "evidence_to_prosecute_her_for_forced_offence",
        "R19",
        "Police evidence is used to prosecute her for the cannabis farm she was forced to tend.",
        merge(
            referral(POLICE, PROSECUTOR, "criminal_investigation", ["identity"]),
            {"payload_flags": {"for_prosecution_of_subject": True}},
        ),
        "prosecution_of_subject",
    )
    yield allowed(
        s,
        "police_evidence_to_prosecutor",
        "R19",
        "Police send evidence against the traffickers to the prosecutor; she decided to cooperate.",
        merge(
            referral(
                POLICE, PROSECUTOR, "criminal_investigation", ["identity", "exploitation_account"]
            ),
            {"context": {"decision_to_cooperate": {"recorded": True}}},
        ),
        "delete_by_retain_until",
    )
    yield denied(
        s,
        "criminal_record_to_prosecutor_unrequested",
        "R19",
        "Her criminal record is sent to the prosecutor without her request.",
        merge(
            referral(NGO, PROSECUTOR, "criminal_investigation", ["identity", "criminal_record"]), {}
        ),
        "criminal_record_without_request",
    )
    yield allowed(
        s,
        "criminal_record_for_non_punishment",
        "R19",
        "She asks that her record go to the prosecutor to assess non-punishment.",
        merge(
            referral(NGO, PROSECUTOR, "criminal_investigation", ["identity", "criminal_record"]),
            {"payload_flags": {"non_punishment_request": True}},
        ),
        "delete_by_retain_until",
    )


def onward() -> Iterator[Vector]:
    s = "onward"
    link = {
        "referral_id": uuid(),
        "sender": NGO["org"],
        "recipient": SHELTER["org"],
        "purpose": "shelter",
        "onward_sharing": False,
    }
    fwd = merge(
        referral(
            SHELTER,
            SOCIAL,
            "assistance",
            ["identity", "contact"],
            action="referral.forward",
            recorder=SHELTER,
        ),
        {"context": {"based_on": [link]}},
    )
    yield allowed(
        s,
        "shelter_forwards_with_new_consent",
        "R14",
        "The shelter refers her on to social services with a new consent and the chain.",
        fwd,
        "delete_by_retain_until",
    )
    long_chain = merge(
        fwd,
        {
            "context": {
                "based_on": [
                    {
                        "referral_id": uuid(),
                        "sender": POLICE["org"],
                        "recipient": NGO["org"],
                        "purpose": "assistance",
                    },
                    link,
                ]
            }
        },
    )
    yield allowed(
        s,
        "two_step_chain_visible",
        "R14",
        "Police to NGO to shelter to social services; the whole chain is visible.",
        long_chain,
        "delete_by_retain_until",
    )
    yield denied(
        s,
        "forward_without_chain",
        "R14",
        "The shelter forwards without saying where the data came from.",
        without(fwd, "context/based_on"),
        "onward_chain_missing",
    )
    yield denied(
        s,
        "forward_by_non_recipient",
        "R14",
        "An NGO forwards data that went to the shelter.",
        merge(fwd, {"sender": NGO}),
        "onward_chain_broken",
    )
    yield denied(
        s,
        "forward_under_original_grant",
        "R14",
        "The shelter forwards under the grant it received, which names only the shelter.",
        first_grant(fwd, recipient={"org": SHELTER["org"]}, purposes=["shelter"]),
        "consent_missing",
    )
    yield denied(
        s,
        "received_data_sent_as_new_referral",
        "R14",
        "The shelter sends received data as a fresh referral.",
        merge(fwd, {"action": "referral.send"}),
        "onward_requires_forward",
    )
    auto = merge(
        referral(NGO, POLICE, "criminal_investigation", ["identity"]),
        {"payload_flags": {"automatic": True}},
    )
    yield denied(
        s,
        "automatic_ngo_to_police",
        "R34",
        "A case-management rule pushes NGO cases to the police automatically.",
        auto,
        "automatic_forward_to_police",
    )
    yield denied(
        s,
        "automatic_shelter_to_immigration",
        "R34",
        "A shelter system pushes new residents to immigration automatically.",
        merge(
            referral(SHELTER, IMMIGRATION, "residence_permit", ["identity"], recorder=SHELTER),
            {"payload_flags": {"automatic": True}},
        ),
        "automatic_forward_to_police",
    )
    yield allowed(
        s,
        "worker_decides_ngo_to_police",
        "R34",
        "A worker sends her report to the police with her, case by case.",
        referral(NGO, POLICE, "criminal_investigation", ["identity"]),
        "delete_by_retain_until",
    )
    yield allowed(
        s,
        "automatic_ngo_to_police_justified",
        "R34",
        "She chose an automatic hand-over for her case; the justification is logged.",
        justify(
            auto, "R34", "She asked for every new statement to reach her investigator directly."
        ),
        "delete_by_retain_until",
        "automatic_forward_to_police",
    )
    yield allowed(
        s,
        "automatic_ngo_to_shelter",
        "R34",
        "An NGO system sends accepted placements to the shelter automatically.",
        merge(SUPPORT_FLOWS[0][2], {"payload_flags": {"automatic": True}}),
        "delete_by_retain_until",
    )


def statistics() -> Iterator[Vector]:
    s = "statistics"

    def stats(
        reader: dict[str, Any], aggregation: str, cell: int, categories: list[str] | None = None
    ) -> dict[str, Any]:
        return {
            "action": "statistics.read",
            "recipient": copy.deepcopy(reader),
            "purpose": "statistics",
            "data_categories": categories or [],
            "context": {
                "now": NOW,
                "statistics": {"aggregation": aggregation, "min_cell_size": cell},
            },
        }

    for reader in (RAPPORTEUR, COORDINATOR):
        role = reader["roles"][0]
        for cell in (0, 5, 12):
            yield allowed(
                s,
                f"{role}_aggregates_min_cell_{cell}",
                "R15",
                f"The {role.replace('_', ' ')} reads yearly aggregates; smallest cell {cell}.",
                stats(reader, "aggregate", cell),
            )
        for cell in (1, 4):
            yield denied(
                s,
                f"{role}_small_cell_{cell}",
                "R15",
                f"A table with a cell of {cell} person(s) could identify someone.",
                stats(reader, "aggregate", cell),
                "statistics_small_cell",
            )
        yield denied(
            s,
            f"{role}_person_level",
            "R15",
            "A person-level export for monitoring.",
            stats(reader, "person_level", 5),
            "statistics_not_aggregate",
        )
        yield denied(
            s,
            f"{role}_with_person_data",
            "R15",
            "Statistics with identities attached.",
            stats(reader, "aggregate", 5, ["identity", "nationality"]),
            "statistics_not_aggregate",
        )
        yield denied(
            s,
            f"referral_to_{role}",
            "R15",
            "An NGO sends a case to the monitoring body.",
            referral(NGO, reader, "assistance", ["identity"]),
            "monitoring_person_level",
            "recipient_role_not_permitted",
            "category_not_permitted",
        )
    yield denied(
        s,
        "ngo_reads_statistics",
        "R32",
        "An NGO asks the statistics endpoint.",
        stats(NGO, "aggregate", 5),
        "recipient_role_not_permitted",
    )
    yield denied(
        s,
        "statistics_without_description",
        "R15",
        "A statistics request that does not say what it returns.",
        without(stats(RAPPORTEUR, "aggregate", 5), "context/statistics"),
        "statistics_not_aggregate",
    )


def notice(recipient: dict[str, Any], categories: list[str]) -> dict[str, Any]:
    """An NGO's risk-to-life notice (R16): no consent, the risk to life established."""
    inp = referral(NGO, recipient, "risk_assessment", categories)
    inp.update(action="risk_notice.send", consents=[])
    inp["context"] = {"now": NOW, "risk_to_life": True}
    return inp


def risk_notice() -> Iterator[Vector]:
    s = "risk_notice"
    basis = "Trafficker seen outside the shelter tonight; duty manager assessed risk to life."

    for recipient in (POLICE, CHILDPROT, SHELTER, SOCIAL):
        role = recipient["roles"][0]
        inp = notice(recipient, ["location", "safety_risks"])
        yield allowed(
            s,
            f"risk_notice_to_{role}",
            "R16",
            f"A minimal risk-to-life notice to {role.replace('_', ' ')} with its basis logged.",
            justify(inp, "R16", basis),
            "risk_notice_without_basis",
        )
        yield denied(
            s,
            f"risk_notice_to_{role}_without_basis",
            "R16",
            "The same notice without a recorded basis.",
            inp,
            "risk_notice_without_basis",
        )
    yield denied(
        s,
        "risk_notice_without_risk_to_life",
        "R16",
        "A notice used to skip consent when no life is at risk.",
        justify(
            merge(notice(POLICE, ["location"]), {"context": {"risk_to_life": False}}), "R16", basis
        ),
        "risk_to_life_not_established",
    )
    yield denied(
        s,
        "risk_notice_with_account",
        "R16",
        "The notice carries her full account.",
        justify(notice(POLICE, ["location", "exploitation_account"]), "R16", basis),
        "risk_notice_not_minimal",
    )
    yield denied(
        s,
        "risk_notice_to_labour_inspectorate",
        "R16",
        "A notice to the labour inspectorate, which cannot protect her.",
        justify(notice(LABOUR, ["safety_risks"]), "R16", basis),
        "risk_notice_recipient_not_protective",
    )
    yield denied(
        s,
        "risk_notice_abroad",
        "R16",
        "A notice straight to Belgian police.",
        justify(notice(BE_POLICE, ["safety_risks"]), "R16", basis),
        "risk_notice_cross_border",
        "recipient_not_contact_point"
        if not BE_POLICE.get("contact_point")
        else "foreign_police_without_led_channel",
    )
    yield denied(
        s,
        "risk_notice_refused",
        "R4",
        "She refused any referral; even a notice is not sent.",
        justify(
            merge(notice(POLICE, ["location"]), {"subject": {"refused_referral": True}}),
            "R16",
            basis,
        ),
        "referral_refused",
    )


def firewall() -> Iterator[Vector]:
    s = "firewall"
    for purpose in ("residence_permit", "asylum_support", "recovery_reflection_period"):
        extra = ("b8_3_reflection_period",) if purpose == "recovery_reflection_period" else ()
        yield allowed(
            s,
            f"ngo_supports_{purpose}",
            "R17",
            f"The NGO supports her own {purpose.replace('_', ' ')} application.",
            referral(NGO, IMMIGRATION, purpose, ["identity", "nationality", "immigration_status"]),
            "delete_by_retain_until",
            *extra,
        )
    for sender in (NGO, SHELTER, SOCIAL, HEALTH, LABOUR):
        role = sender["roles"][0]
        permit = referral(
            sender,
            IMMIGRATION,
            "residence_permit",
            ["identity", "immigration_status"],
            recorder=NGO,
        )
        inp = merge(permit, {"payload_flags": {"for_immigration_enforcement": True}})
        codes = {"firewall_immigration_status", "category_condition_unmet"}
        if sender is not LABOUR:
            codes.add("assistance_data_used_against_subject")
        yield denied(
            s,
            f"{role}_status_to_immigration_enforcement",
            "R17",
            f"{role.replace('_', ' ')} reports her irregular stay to immigration enforcement.",
            inp,
            *codes,
        )
        if sender is not LABOUR:
            continue
        # Labour inspection is not immigration enforcement (ILO C81 art 3(2)): even for her
        # own application, which goes through an NGO or legal aid, the inspectorate sends nothing.
        yield denied(
            s,
            "labour_inspectorate_status_to_immigration_for_residence_permit",
            "R17",
            "Inspectors send her immigration status to immigration for her residence permit.",
            permit,
            "firewall_immigration_status",
        )
        yield denied(
            s,
            "labour_inspectorate_reveals_irregular_work_to_immigration_for_residence_permit",
            "R17",
            "Inspectors' findings on her permit application reveal that she worked irregularly.",
            merge(
                permit,
                {
                    "data_categories": ["identity"],
                    "payload_flags": {"reveals_irregular_status": True},
                },
            ),
            "firewall_immigration_status",
        )
    yield denied(
        s,
        "labour_reveals_irregular_work_to_police_for_enforcement",
        "R17",
        "Inspectors pass irregular-work findings to police for immigration enforcement.",
        merge(
            referral(LABOUR, BE_POLICE, "criminal_investigation", ["nationality"]),
            {
                "payload_flags": {
                    "reveals_irregular_status": True,
                    "for_immigration_enforcement": True,
                },
                "context": {"transfer": {"law_enforcement_channel": True}},
            },
        ),
        "firewall_immigration_status",
        "labour_referral_reveals_irregular_status",
    )
    yield allowed(
        s,
        "police_to_immigration_reflection_period",
        "R17",
        "Police start her reflection period with immigration; the firewall binds "
        "support services, not police.",
        referral(
            POLICE, IMMIGRATION, "recovery_reflection_period", ["identity", "immigration_status"]
        ),
        "delete_by_retain_until",
        "b8_3_reflection_period",
    )
    labour_police = referral(
        LABOUR, POLICE, "criminal_investigation", ["identity", "exploitation_account"]
    )
    labour_police = merge(labour_police, {"context": {"decision_to_cooperate": {"recorded": True}}})
    yield denied(
        s,
        "labour_to_police_complainant_exposed",
        "R20",
        "Inspectors refer a case to police naming the complainant.",
        labour_police,
        "labour_complainant_not_shielded",
    )
    yield allowed(
        s,
        "labour_to_police_complainant_shielded",
        "R20",
        "Inspectors refer the employer to police while shielding the complainant.",
        merge(labour_police, {"payload_flags": {"complainant_identity_shielded": True}}),
        "delete_by_retain_until",
    )
    yield allowed(
        s,
        "labour_to_police_complainant_exposure_justified",
        "R20",
        "She wants to be named as a witness; the justification is logged.",
        justify(
            labour_police, "R20", "Complainant asked to be named as a witness in the police case."
        ),
        "delete_by_retain_until",
        "labour_complainant_not_shielded",
    )
    yield denied(
        s,
        "labour_status_to_police",
        "R20",
        "Inspectors include immigration status in the police referral.",
        merge(
            labour_police,
            {
                "data_categories": ["identity", "immigration_status"],
                "payload_flags": {"complainant_identity_shielded": True},
                "consents": [
                    consent(
                        [
                            grant(
                                POLICE,
                                ["criminal_investigation"],
                                ["identity", "immigration_status"],
                            )
                        ]
                    )
                ],
            },
        ),
        "category_not_needed_for_purpose",
        "category_not_permitted",
    )


def origin_return() -> Iterator[Vector]:
    s = "origin_return"
    ret = merge(
        referral(NGO, MD_EMBASSY, "safe_return", ["identity", "nationality", "photo_biometrics"]),
        {
            "payload_flags": {"travel_document_only": True},
            "context": {**RETURN_CONTEXT, "transfer": {"derogation": "explicit_consent"}},
        },
    )
    yield allowed(
        s,
        "voluntary_return_travel_document",
        "R21",
        "She wants to go home; the embassy issues a travel document after a risk "
        "assessment found no risk.",
        ret,
        "delete_by_retain_until",
    )
    yield allowed(
        s,
        "court_ordered_return_travel_document",
        "R21",
        "A court ordered return; the risk assessment found no risk.",
        merge(ret, {"context": {"return": {"kind": "court_ordered"}}}),
        "delete_by_retain_until",
    )
    ngo_return = merge(
        referral(
            NGO, MD_NGO, "safe_return", ["identity", "contact", "language_needs", "safety_risks"]
        ),
        {"context": {**RETURN_CONTEXT, "transfer": {"derogation": "explicit_consent"}}},
    )
    yield allowed(
        s,
        "voluntary_return_to_origin_ngo",
        "R21",
        "A Moldovan NGO prepares her reception after a voluntary return.",
        ngo_return,
        "delete_by_retain_until",
    )
    yield allowed(
        s,
        "origin_ngo_reception_with_location",
        "R21",
        "The Moldovan NGO needs to know where she will be received.",
        merge(
            referral(NGO, MD_NGO, "safe_return", ["identity", "location"]),
            {"context": {**RETURN_CONTEXT, "transfer": {"derogation": "explicit_consent"}}},
        ),
        "delete_by_retain_until",
    )
    yield denied(
        s,
        "embassy_without_risk_assessment",
        "R21",
        "The embassy is contacted before any risk assessment.",
        without(ret, "context/risk_assessment"),
        "origin_risk_assessment_missing",
    )
    yield denied(
        s,
        "embassy_with_risk_found",
        "R21",
        "The assessment found her traffickers waiting at home.",
        merge(ret, {"context": {"risk_assessment": {"finding": "risk"}}}),
        "origin_risk_assessment_missing",
    )
    yield denied(
        s,
        "embassy_with_inconclusive_assessment",
        "R21",
        "The assessment was inconclusive.",
        merge(ret, {"context": {"risk_assessment": {"finding": "inconclusive"}}}),
        "origin_risk_assessment_missing",
    )
    yield denied(
        s,
        "embassy_named_by_role_only",
        "R21",
        "Her consent mentions 'the embassy' but not this embassy.",
        first_grant(ret, recipient={"role": "embassy_of_origin", "country": "MD"}),
        "origin_consent_not_naming_recipient",
    )
    yield denied(
        s,
        "embassy_without_voluntary_return",
        "R21",
        "No return is planned; the embassy is asked for her papers anyway.",
        merge(ret, {"context": {"return": {"kind": "none"}}}),
        "origin_return_not_voluntary",
    )
    yield denied(
        s,
        "embassy_gets_contact",
        "R11",
        "The embassy gets her phone number.",
        merge(
            ret,
            {
                "data_categories": ["identity", "contact"],
                "consents": [
                    consent([grant(MD_EMBASSY, ["safe_return"], ["identity", "contact"])])
                ],
            },
        ),
        "category_not_permitted",
    )
    yield denied(
        s,
        "origin_police_get_account",
        "R21",
        "Moldovan police receive her account without any return.",
        merge(
            referral(
                POLICE, MD_POLICE, "criminal_investigation", ["identity", "exploitation_account"]
            ),
            {
                "recipient": {"contact_point": True},
                "context": {
                    "decision_to_cooperate": {"recorded": True},
                    "transfer": {
                        "law_enforcement_channel": True,
                        "safeguards": "international_agreement",
                    },
                },
            },
        ),
        "origin_return_not_voluntary",
        "origin_risk_assessment_missing",
    )
    for flag in ("asylum_pending", "asylum_possible"):
        yield denied(
            s,
            f"embassy_while_{flag}",
            "R22",
            f"With {flag.replace('_', ' ')}, her embassy is contacted.",
            merge(ret, {"subject": {flag: True}}),
            "origin_disclosure_asylum",
        )
        yield denied(
            s,
            f"origin_ngo_while_{flag}",
            "R22",
            f"With {flag.replace('_', ' ')}, an NGO in her country of origin is contacted.",
            merge(ngo_return, {"subject": {flag: True}}),
            "origin_disclosure_asylum",
        )
    yield denied(
        s,
        "asylum_application_revealed_to_embassy",
        "R22",
        "The embassy letter mentions her asylum application.",
        merge(ret, {"payload_flags": {"reveals_asylum_application": True}}),
        "asylum_application_disclosed",
    )
    yield allowed(
        s,
        "asylum_seeker_referred_within_eu",
        "R22",
        "An asylum seeker moves to Belgium; a Belgian NGO takes over her support.",
        merge(
            referral(NGO, BE_NGO, "assistance", ["identity", "contact", "language_needs"]),
            {"subject": {"asylum_pending": True}},
        ),
        "delete_by_retain_until",
    )
    yield allowed(
        s,
        "asylum_seeker_referred_to_legal_aid",
        "R22",
        "An asylum seeker is referred to a Dutch lawyer for her claim.",
        merge(
            referral(
                NGO,
                LEGAL,
                "asylum_support",
                ["identity", "immigration_status", "exploitation_account"],
            ),
            {"subject": {"asylum_pending": True}},
        ),
        "delete_by_retain_until",
    )


def transfers() -> Iterator[Vector]:
    s = "transfers"
    yield allowed(
        s,
        "ngo_to_belgian_ngo",
        "R24",
        "A Dutch NGO refers a woman to a Belgian NGO, the contact point of Belgium's mechanism.",
        referral(
            NGO,
            BE_NGO,
            "assistance",
            ["identity", "contact", "nationality", "exploitation_account"],
        ),
        "delete_by_retain_until",
    )
    yield allowed(
        s,
        "ngo_to_swiss_ngo_adequacy",
        "R23",
        "A Swiss NGO takes over; Switzerland has an adequacy decision.",
        referral(NGO, CH_NGO, "assistance", ["identity", "contact"]),
        "delete_by_retain_until",
    )
    informed = merge(
        referral(NGO, UA_NGO, "assistance", ["identity", "contact", "language_needs"]),
        {"context": {"transfer": {"derogation": "explicit_consent"}}},
    )
    yield allowed(
        s,
        "ngo_to_ukrainian_ngo_informed_consent",
        "R23",
        "A Ukrainian NGO helps her family; she was told of the transfer risks and "
        "explicitly agreed.",
        informed,
        "delete_by_retain_until",
    )
    yield allowed(
        s,
        "ngo_to_ukrainian_ngo_with_clauses",
        "R23",
        "The NGOs signed standard contractual clauses.",
        merge(
            informed,
            {
                "context": {
                    "transfer": {"derogation": "none", "safeguards": "standard_contractual_clauses"}
                }
            },
        ),
        "delete_by_retain_until",
    )
    yield allowed(
        s,
        "transfer_with_adequacy_in_context",
        "R23",
        "The node records an adequacy decision for this transfer.",
        merge(
            informed, {"context": {"transfer": {"derogation": "none", "adequacy_decision": True}}}
        ),
        "delete_by_retain_until",
    )
    yield denied(
        s,
        "transfer_without_basis",
        "R23",
        "The data goes to Ukraine with no basis at all.",
        without(informed, "context/transfer"),
        "third_country_transfer_unsafeguarded",
    )
    yield denied(
        s,
        "transfer_consent_without_risk_information",
        "R23",
        "She was never told about the risks of the transfer.",
        first_consent(informed, risks_informed=[]),
        "third_country_transfer_unsafeguarded",
    )
    yield denied(
        s,
        "public_authority_transfer_on_consent",
        "R23",
        "Social services rely on her consent for a transfer to Ukraine.",
        merge(informed, {"sender": SOCIAL}),
        "public_authority_consent_derogation",
        "third_country_transfer_unsafeguarded",
    )
    yield allowed(
        s,
        "public_authority_transfer_with_arrangement",
        "R23",
        "Social services use an administrative arrangement.",
        merge(
            informed,
            {
                "sender": SOCIAL,
                "context": {
                    "transfer": {"derogation": "none", "safeguards": "administrative_arrangement"}
                },
            },
        ),
        "delete_by_retain_until",
    )
    not_cp = merge(
        referral(NGO, BE_NGO, "assistance", ["identity"]), {"recipient": {"contact_point": False}}
    )
    yield denied(
        s,
        "foreign_ngo_not_contact_point",
        "R24",
        "A Belgian NGO outside Belgium's mechanism.",
        not_cp,
        "recipient_not_contact_point",
    )
    yield allowed(
        s,
        "foreign_ngo_not_contact_point_justified",
        "R24",
        "Belgium has no contact point for labour cases yet; the justification is logged.",
        justify(
            not_cp, "R24", "Belgian mechanism has no contact point for labour exploitation cases."
        ),
        "delete_by_retain_until",
        "recipient_not_contact_point",
    )
    fpol = merge(
        referral(POLICE, BE_POLICE, "criminal_investigation", ["nationality", "financial"]),
        {"context": {"transfer": {"law_enforcement_channel": True}}},
    )
    yield allowed(
        s,
        "police_to_foreign_police_led_channel",
        "R25",
        "Dutch police share financial leads with Belgian police through a Europol channel.",
        fpol,
        "delete_by_retain_until",
    )
    yield denied(
        s,
        "police_to_foreign_police_by_email",
        "R25",
        "The same leads by e-mail.",
        merge(fpol, {"context": {"transfer": {"law_enforcement_channel": False}}}),
        "foreign_police_without_led_channel",
    )
    yield allowed(
        s,
        "police_to_foreign_police_justified",
        "R25",
        "A documented exception; the justification is logged.",
        justify(
            merge(fpol, {"context": {"transfer": {"law_enforcement_channel": False}}}),
            "R25",
            "Joint investigation team liaison officer; channel set up next week.",
        ),
        "delete_by_retain_until",
        "foreign_police_without_led_channel",
    )
    yield denied(
        s,
        "foreign_police_identity_without_return_safeguards",
        "R21",
        "Her identity goes to German police with no risk assessment.",
        merge(
            referral(POLICE, DE_POLICE, "criminal_investigation", ["identity"]),
            {"context": {"transfer": {"law_enforcement_channel": True}}},
        ),
        "return_safeguards_missing",
    )
    yield denied(
        s,
        "foreign_police_contact",
        "R11",
        "Her phone number goes to German police.",
        merge(
            referral(POLICE, DE_POLICE, "criminal_investigation", ["contact"]),
            {"context": {"transfer": {"law_enforcement_channel": True}}},
        ),
        "category_not_permitted",
    )
    yield denied(
        s,
        "foreign_ngo_photos",
        "R11",
        "Her photos go to a Belgian NGO.",
        referral(NGO, BE_NGO, "safe_return", ["photo_biometrics"]),
        "category_not_permitted",
    )


def children() -> Iterator[Vector]:
    s = "children"
    child = merge(SUPPORT_FLOWS[0][2], {"subject": CHILD})
    yield allowed(
        s,
        "child_to_shelter_with_guardian",
        "R27",
        "A 15-year-old is placed in a shelter; her guardian consented and her views are recorded.",
        child,
        "delete_by_retain_until",
    )
    yield allowed(
        s,
        "child_to_child_protection",
        "R27",
        "An NGO refers a boy to child protection.",
        merge(
            referral(NGO, CHILDPROT, "assistance", ["identity", "contact", "family", "location"]),
            {"subject": CHILD},
        ),
        "delete_by_retain_until",
    )
    possible = merge(
        SUPPORT_FLOWS[0][2], {"subject": {**CHILD, "age_status": "unknown_possible_child"}}
    )
    yield allowed(
        s,
        "possible_child_treated_as_child",
        "R26",
        "She says she is 19 but may be 16; child rules apply and are met.",
        possible,
        "delete_by_retain_until",
        "treat_as_child",
    )
    yield denied(
        s,
        "possible_child_without_guardian",
        "R26",
        "A possible child is referred without a guardian.",
        without(possible, "subject/guardian", "subject/child_views_recorded"),
        "child_guardian_missing",
        "child_views_missing",
    )
    yield denied(
        s,
        "child_without_guardian",
        "R27",
        "No guardian has been appointed yet.",
        without(child, "subject/guardian"),
        "child_guardian_missing",
    )
    yield denied(
        s,
        "child_views_not_recorded",
        "R27",
        "Nobody asked the child.",
        merge(child, {"subject": {"child_views_recorded": False}}),
        "child_views_missing",
    )
    yield denied(
        s,
        "conflicted_parent_consents",
        "R27",
        "Her mother, who sent her abroad, signs the consent.",
        first_consent(child, given_by={"kind": "parent", "conflict_of_interest": True}),
        "consent_by_conflicted_representative",
    )
    yield denied(
        s,
        "guardian_with_conflict",
        "R27",
        "The recorded guardian is an uncle linked to the recruiter.",
        merge(child, {"subject": {"guardian": {"conflict_of_interest": True}}}),
        "consent_by_conflicted_representative",
    )
    yield allowed(
        s,
        "independent_guardian_consents",
        "R27",
        "An independent guardian consents for the child.",
        first_consent(child, given_by={"kind": "guardian", "conflict_of_interest": False}),
        "delete_by_retain_until",
    )
    media = referral(NGO, CAMPAIGN, "assistance", ["identity", "contact"])
    yield denied(
        s,
        "child_identity_to_campaign_ngo",
        "R28",
        "A campaigning NGO that talks to the media receives a child's identity.",
        merge(media, {"subject": CHILD}),
        "child_identity_to_public_facing",
    )
    yield allowed(
        s,
        "adult_identity_to_campaign_ngo",
        "R28",
        "The same NGO supports an adult who agreed.",
        media,
        "delete_by_retain_until",
    )
    yield allowed(
        s,
        "child_contact_to_campaign_ngo",
        "R28",
        "The campaigning NGO only gets a contact channel for the child.",
        merge(
            referral(NGO, CAMPAIGN, "assistance", ["contact", "language_needs"]), {"subject": CHILD}
        ),
        "delete_by_retain_until",
    )
    tracing = merge(
        referral(NGO, MD_NGO, "family_tracing", ["identity", "family", "language_needs"]),
        {
            "subject": CHILD,
            "context": {**RETURN_CONTEXT, "transfer": {"derogation": "explicit_consent"}},
        },
    )
    yield allowed(
        s,
        "child_family_tracing_with_assessments",
        "R29",
        "After risk, security and best-interests assessments, a Moldovan NGO traces "
        "the child's family.",
        tracing,
        "delete_by_retain_until",
    )
    yield denied(
        s,
        "child_family_tracing_without_best_interests",
        "R29",
        "Family tracing starts before a best-interests determination.",
        without(tracing, "context/best_interests_determination"),
        "child_return_without_assessment",
    )
    yield denied(
        s,
        "child_family_tracing_without_security_assessment",
        "R29",
        "No security assessment was done.",
        merge(tracing, {"context": {"risk_assessment": {"security_assessment": False}}}),
        "child_return_without_assessment",
    )
    yield denied(
        s,
        "child_family_tracing_without_risk_assessment",
        "R29",
        "No risk assessment at all.",
        without(tracing, "context/risk_assessment"),
        "child_return_without_assessment",
        "return_safeguards_missing",
    )
    child_be = merge(
        referral(NGO, BE_NGO, "assistance", ["identity", "contact"]), {"subject": CHILD}
    )
    yield denied(
        s,
        "child_to_foreign_ngo_without_assessments",
        "R29",
        "A child is referred to a Belgian NGO with no assessment.",
        child_be,
        "child_return_without_assessment",
        "return_safeguards_missing",
    )
    yield allowed(
        s,
        "child_to_foreign_ngo_with_assessments",
        "R29",
        "The child joins her aunt in Belgium after all assessments.",
        merge(child_be, {"context": RETURN_CONTEXT}),
        "delete_by_retain_until",
    )
    yield denied(
        s,
        "child_embassy_without_best_interests",
        "R29",
        "The embassy is asked for a child's passport before a best-interests determination.",
        merge(
            referral(NGO, MD_EMBASSY, "safe_return", ["identity", "nationality"]),
            {
                "subject": CHILD,
                "context": {
                    **RETURN_CONTEXT,
                    "best_interests_determination": {"done": False},
                    "transfer": {"derogation": "explicit_consent"},
                },
            },
        ),
        "child_return_without_assessment",
    )
    yield denied(
        s,
        "possible_child_family_tracing_without_assessment",
        "R26",
        "A possible child's family is traced abroad without assessments.",
        merge(
            without(tracing, "context/best_interests_determination"),
            {"subject": {"age_status": "unknown_possible_child"}},
        ),
        "child_return_without_assessment",
    )


def deny_by_default() -> Iterator[Vector]:
    s = "deny_by_default"
    base = SUPPORT_FLOWS[0][2]
    yield denied(
        s,
        "statistics_purpose_on_referral",
        "R30",
        "A referral declares the statistics purpose.",
        first_grant(
            merge(base, {"purpose": "statistics", "data_categories": []}),
            purposes=["statistics"],
            data_categories=[],
        ),
        "purpose_not_valid_for_action",
        "recipient_role_not_permitted",
    )
    yield denied(
        s,
        "statistics_read_for_assistance",
        "R30",
        "The statistics endpoint is asked for assistance.",
        {
            "action": "statistics.read",
            "recipient": RAPPORTEUR,
            "purpose": "assistance",
            "data_categories": [],
            "context": {"now": NOW, "statistics": {"aggregation": "aggregate", "min_cell_size": 5}},
        },
        "purpose_not_valid_for_action",
        "recipient_role_not_permitted",
    )
    yield denied(
        s,
        "referral_without_sender",
        "R30",
        "A referral that does not say who sends it.",
        without(base, "sender"),
        "sender_missing",
    )
    yield denied(
        s,
        "referral_without_recipient",
        "R30",
        "A referral that does not say who receives it.",
        without(base, "recipient"),
        "recipient_missing",
        "consent_missing",
        "recipient_role_not_permitted",
    )
    yield denied(
        s,
        "referral_without_purpose",
        "R30",
        "A referral without a purpose.",
        without(base, "purpose"),
        "unknown_purpose",
        "consent_missing",
        "category_not_needed_for_purpose",
        "recipient_role_not_permitted",
    )
    yield allowed(
        s,
        "referral_without_payload",
        "R30",
        "A referral that only asks the shelter to call back carries no categories.",
        merge(base, {"data_categories": []}),
        "delete_by_retain_until",
    )


def accountability() -> Iterator[Vector]:
    s = "accountability"
    base = SUPPORT_FLOWS[0][2]
    notice = merge(base, {"action": "withdrawal.notify", "data_categories": []})
    notice["consents"][0]["status"] = "withdrawn"
    yield allowed(
        s,
        "withdrawal_notice_to_past_recipient",
        "R35",
        "She withdrew her consent; the shelter is told and must acknowledge deletion.",
        notice,
        "acknowledge_withdrawal",
    )
    yield allowed(
        s,
        "withdrawal_notice_after_refusal",
        "R35",
        "She refused further referrals; the withdrawal notice still goes out.",
        merge(notice, {"subject": {"refused_referral": True}}),
        "acknowledge_withdrawal",
    )
    yield denied(
        s,
        "withdrawal_notice_with_data",
        "R11",
        "A withdrawal notice that repeats her data.",
        merge(notice, {"data_categories": ["identity"]}),
        "categories_not_allowed_for_action",
    )
    yield allowed(
        s,
        "every_decision_recorded",
        "R31",
        "Every decision carries the obligation to record it.",
        base,
        "delete_by_retain_until",
    )


def overlay_nl() -> Iterator[Vector]:
    s = "overlay_nl"
    report = referral(NGO, POLICE, "criminal_investigation", ["identity"])
    yield allowed(
        s,
        "report_to_dutch_police",
        "NL-1",
        "An undocumented worker reports her employer to the Dutch police.",
        report,
        "delete_by_retain_until",
    )
    yield denied(
        s,
        "irregular_stay_to_dutch_police",
        "NL-1",
        "The report reveals her irregular stay to the Dutch police.",
        merge(report, {"payload_flags": {"reveals_irregular_status": True}}),
        "irregular_status_to_police",
    )
    yield allowed(
        s,
        "irregular_stay_to_belgian_police",
        "NL-1",
        "The Dutch overlay does not apply between two Belgian organisations.",
        merge(
            referral(BE_NGO, BE_POLICE, "criminal_investigation", ["identity"]),
            {
                "payload_flags": {
                    "reveals_irregular_status": True,
                    "complainant_identity_shielded": True,
                },
                "recipient": {"contact_point": False},
            },
        ),
        "delete_by_retain_until",
    )
    yield allowed(
        s,
        "b8_3_reflection_period_obligation",
        "NL-2",
        "A reflection-period application in NL follows B8/3.",
        referral(NGO, IMMIGRATION, "recovery_reflection_period", ["identity", "nationality"]),
        "delete_by_retain_until",
        "b8_3_reflection_period",
    )


def boundaries() -> Iterator[Vector]:
    """Cases on the edge between two rules, each filed under its theme's scenario."""
    enforcement = {"payload_flags": {"for_immigration_enforcement": True}}
    yield denied(
        "against_subject",
        "permit_purpose_used_for_enforcement",
        "R12",
        "Police label a removal file as her residence-permit application.",
        merge(
            referral(POLICE, IMMIGRATION, "residence_permit", ["identity", "immigration_status"]),
            enforcement,
        ),
        "category_condition_unmet",
    )
    yield denied(
        "against_subject",
        "labour_identity_to_immigration_for_enforcement",
        "R17",
        "Inspectors pass workers' identities to immigration enforcement under a permit purpose.",
        merge(
            referral(
                LABOUR, IMMIGRATION, "residence_permit", ["identity", "nationality", "contact"]
            ),
            enforcement,
        ),
        "category_condition_unmet",
    )
    yield denied(
        "reflection",
        "reflection_period_running_though_marked_inactive",
        "R18",
        "Her reflection period ends in January, but the file says it is not active.",
        merge(
            referral(POLICE, IMMIGRATION, "residence_permit", ["identity"]),
            {
                **enforcement,
                "context": {
                    "reflection_period": {"active": False, "ends_at": "2027-01-15T00:00:00Z"}
                },
            },
        ),
        "removal_during_reflection",
        "category_condition_unmet",
    )

    received = consent(
        [
            {
                "recipient": {"role": "ngo_service_provider", "country": "NL"},
                "purposes": ["assistance"],
                "data_categories": ["identity", "contact"],
            }
        ],
        NGO,
    )
    forward = merge(
        referral(NGO, NGO2, "assistance", ["identity", "contact"], action="referral.forward"),
        {
            "context": {
                "based_on": [
                    {
                        "referral_id": uuid(),
                        "sender": POLICE["org"],
                        "recipient": NGO["org"],
                        "purpose": "assistance",
                        "consent_ids": [received["id"]],
                    }
                ]
            }
        },
    )
    forward["consents"] = [received]
    yield denied(
        "onward",
        "forward_under_inherited_role_grant",
        "R14",
        "The NGO forwards to another NGO under the role grant it received the data under.",
        forward,
        "consent_missing",
    )
    yield allowed(
        "onward",
        "forward_under_grant_allowing_onward_sharing",
        "R14",
        "She agreed that the NGO may refer her on to other NGOs; the chain shows it.",
        first_grant(forward, onward_sharing=True),
        "delete_by_retain_until",
    )

    mixed = org("NL", "mixed-unit", "police", "ngo_service_provider")
    yield denied(
        "minimisation",
        "enforcement_body_with_ngo_role_judged_as_police",
        "R11",
        "A police unit that is also registered as an NGO asks for her immigration status.",
        referral(NGO, mixed, "assistance", ["identity", "immigration_status"]),
        "category_not_permitted",
    )
    yield allowed(
        "minimisation",
        "ngo_running_a_shelter_receives_for_shelter",
        "R11",
        "An NGO that also runs a shelter receives a placement.",
        referral(
            NGO,
            org("NL", "ngo-shelter", "ngo_service_provider", "shelter"),
            "shelter",
            ["identity", "contact", "safety_risks"],
        ),
        "delete_by_retain_until",
    )

    yield denied(
        "origin_return",
        "asylum_support_to_origin_ngo",
        "R22",
        "A Dutch NGO asks an NGO in Moldova to help with her asylum claim.",
        referral(NGO, MD_NGO, "asylum_support", ["identity", "contact"]),
        "asylum_application_disclosed",
        "third_country_transfer_unsafeguarded",
    )
    national = {"subject": {"origin_country": "NL"}}
    yield allowed(
        "origin_return",
        "national_referred_at_home",
        "R21",
        "A Dutch woman trafficked within the Netherlands is referred to social services.",
        merge(SUPPORT_FLOWS[2][2], national),
        "delete_by_retain_until",
    )
    yield allowed(
        "origin_return",
        "national_child_placed_at_home",
        "R29",
        "A Dutch girl trafficked within the Netherlands is placed in a shelter.",
        merge(merge(SUPPORT_FLOWS[0][2], {"subject": CHILD}), national),
        "delete_by_retain_until",
    )
    yield denied(
        "origin_return",
        "national_abroad_to_home_police",
        "R21",
        "A Belgian NGO contacts Dutch police about a Dutch woman found in Belgium, "
        "with no risk assessment.",
        merge(
            referral(
                BE_NGO,
                org("NL", "demo-police", "police", contact_point=True),
                "criminal_investigation",
                ["identity"],
                recorder=BE_NGO,
            ),
            {
                **national,
                "context": {"transfer": {"law_enforcement_channel": True}},
            },
        ),
        "origin_risk_assessment_missing",
        "origin_return_not_voluntary",
    )
    unknown_origin = without(
        merge(
            referral(NGO, MD_POLICE, "criminal_investigation", ["identity"]),
            {"subject": {"asylum_possible": True}},
        ),
        "subject/origin_country",
    )
    yield denied(
        "origin_return",
        "unknown_origin_foreign_police_asylum_possible",
        "R22",
        "Her country of origin is not known yet and she may claim asylum; Moldovan police ask.",
        unknown_origin,
        "origin_disclosure_asylum",
        "origin_risk_assessment_missing",
        "origin_return_not_voluntary",
        "foreign_police_without_led_channel",
        "recipient_not_contact_point",
        "third_country_transfer_unsafeguarded",
    )
    yield allowed(
        "origin_return",
        "unknown_origin_domestic_shelter",
        "R22",
        "Her country of origin is not known yet; a Dutch shelter takes her in.",
        without(SUPPORT_FLOWS[0][2], "subject/origin_country"),
        "delete_by_retain_until",
    )

    shelter_record = copy.deepcopy(SUPPORT_FLOWS[0][2]["consents"][0])
    shelter_record["grants"].append(POLICE_GRANT)
    to_police = referral(NGO, POLICE, "criminal_investigation", ["identity"])
    to_police["consents"] = [shelter_record]
    yield denied(
        "support",
        "police_disclosure_under_bundled_record",
        "R2",
        "The police referral cites the shelter consent record that also carries a police grant.",
        to_police,
        "bundled_consent",
    )
    org_named = copy.deepcopy(SUPPORT_FLOWS[0][2]["consents"][0])
    org_named["grants"].append({**POLICE_GRANT, "recipient": {"org": POLICE["org"]}})
    by_org = referral(NGO, POLICE, "criminal_investigation", ["identity"])
    by_org["consents"] = [org_named]
    yield denied(
        "support",
        "police_grant_by_organisation_in_shelter_record",
        "R2",
        "The shelter consent record names the police station itself in a second grant.",
        by_org,
        "bundled_consent",
    )

    own_record = referral(POLICE, NGO, "assistance", ["identity", "contact"])
    own_record["consents"][0]["recorded_by"] = {
        "org": POLICE["org"],
        "role": "ngo_service_provider",
    }
    yield denied(
        "consent",
        "police_own_record_under_another_role",
        "R7",
        "The police record her consent themselves and label the record as an NGO's.",
        own_record,
        "consent_recorded_by_enforcement",
        "consent_missing",
    )

    child_notice = notice(CHILDPROT, ["location", "safety_risks"])
    child_notice["subject"] = {"age_status": "child"}
    yield allowed(
        "risk_notice",
        "child_risk_notice_before_guardian",
        "R16",
        "A girl without a guardian yet is in danger tonight; child protection is told at once.",
        justify(
            child_notice, "R16", "Trafficker traced her to the shelter; risk to life assessed."
        ),
        "risk_notice_without_basis",
    )

    child = merge(SUPPORT_FLOWS[0][2], {"subject": CHILD})
    by_parent = first_consent(child, given_by={"kind": "parent"})
    yield denied(
        "children",
        "parent_consent_without_conflict_check",
        "R27",
        "Her father consented; nobody checked whether he was involved in her exploitation.",
        by_parent,
        "child_consent_conflict_unchecked",
    )
    yield allowed(
        "children",
        "parent_consent_after_conflict_check",
        "R27",
        "Her mother consented after the guardian checked she has no conflict of interest.",
        first_consent(child, given_by={"kind": "parent", "conflict_of_interest": False}),
        "delete_by_retain_until",
    )
    yield denied(
        "children",
        "child_consent_without_giver",
        "R27",
        "The consent record does not say who gave it.",
        without(child, "consents/0/given_by"),
        "child_consent_conflict_unchecked",
    )
    yield denied(
        "children",
        "age_not_stated",
        "R26",
        "The referral says nothing about the person, so nothing about his age.",
        without(SUPPORT_FLOWS[0][2], "subject"),
        "child_guardian_missing",
        "child_views_missing",
    )

    be_labour = org("BE", "labour", "labour_inspectorate")
    reveals = merge(
        referral(be_labour, BE_POLICE, "criminal_investigation", ["nationality"], recorder=BE_NGO),
        {"payload_flags": {"reveals_irregular_status": True}},
    )
    yield denied(
        "firewall",
        "labour_to_police_reveals_irregular_work",
        "R20",
        "Belgian inspectors' report to the police shows she worked without a permit.",
        reveals,
        "labour_referral_reveals_irregular_status",
    )
    yield allowed(
        "firewall",
        "labour_to_police_reveals_irregular_work_justified",
        "R20",
        "She asked that her irregular work be part of the case against the employer.",
        justify(reveals, "R20", "She wants the unpaid irregular work counted in the wage claim."),
        "delete_by_retain_until",
        "labour_referral_reveals_irregular_status",
    )


SCENARIOS = [
    support,
    consents,
    reflection,
    minimisation,
    against_subject,
    onward,
    statistics,
    risk_notice,
    firewall,
    origin_return,
    transfers,
    children,
    deny_by_default,
    accountability,
    overlay_nl,
    boundaries,
]

POLICY_PURPOSE_CATEGORIES: dict[str, list[str]] = json.loads(
    (REPO / "policies" / "saferefer" / "matrix" / "data.json").read_text(encoding="utf-8")
)["purpose_categories"]


def decide(inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """All decisions of the pinned OPA in one process."""
    result = subprocess.run(  # noqa: S603 - the pinned OPA binary with fixed arguments
        [
            str(OPA),
            "eval",
            "--format",
            "json",
            "--data",
            str(REPO / "policies"),
            "--stdin-input",
            QUERY,
        ],
        input=json.dumps({"vectors": inputs}),
        check=True,
        capture_output=True,
        text=True,
    )
    decisions: list[dict[str, Any]] = json.loads(result.stdout)["result"][0]["expressions"][0][
        "value"
    ]
    return decisions


def main() -> int:
    vectors = [vector for scenario in SCENARIOS for vector in scenario()]
    names = [f"{v.scenario}/{v.name}" for v in vectors]
    if len(set(names)) != len(names):
        print("duplicate vector names", file=sys.stderr)
        return 1
    decisions = decide([v.input for v in vectors])
    problems = []
    by_scenario: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for vector, decision in zip(vectors, decisions, strict=True):
        codes = {v["code"] for v in decision["violations"]}
        obligations = {o["code"] for o in decision["obligations"]}
        expected_obligations = vector.obligations | ALWAYS
        if decision["allow"] != vector.allow or codes != vector.codes:
            problems.append(
                f"{vector.scenario}/{vector.name}: allow={decision['allow']} codes={sorted(codes)}"
            )
        elif vector.allow and obligations != expected_obligations:
            problems.append(f"{vector.scenario}/{vector.name}: obligations={sorted(obligations)}")
        by_scenario[vector.scenario].append(
            {
                "name": vector.name,
                "rule": vector.rule,
                "story": vector.story,
                "input": vector.input,
                "expected": decision,
            }
        )
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    for scenario, items in by_scenario.items():
        directory = VECTORS / scenario
        directory.mkdir(exist_ok=True)
        document = {"scenario": scenario, "vectors": items}
        (directory / "vectors.json").write_text(
            json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    allowed_count = sum(v.allow for v in vectors)
    print(
        f"{len(vectors)} vectors ({allowed_count} allowed, {len(vectors) - allowed_count} denied)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
