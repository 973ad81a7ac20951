# METADATA
# title: Tests of consent and legal basis (R5-R10)
package saferefer.rules.consent_test

import data.saferefer.fixtures_test as fx
import data.saferefer.rules.consent

fired(inp) := fx.findings(rules) if {
	rules := consent with input as inp
}

replaced(path, value) := json.patch(fx.base, [{"op": "replace", "path": path, "value": value}])

test_r5_consent_naming_role_and_country_allowed if {
	candidate := replaced("/consents/0/grants/0/recipient", {"role": "shelter", "country": "NL"})
	fired(candidate) == set()
}

test_r5_no_consent_denied if {
	candidate := fx.patched(fx.base, {"consents": []})
	fired(candidate) == {"consent_missing"}
}

test_r5_consent_for_other_recipient_denied if {
	candidate := replaced("/consents/0/grants/0/recipient", {"org": "urn:saferefer:org:NL:other-shelter"})
	fired(candidate) == {"consent_missing"}
}

test_r5_consent_for_other_purpose_denied if {
	candidate := replaced("/consents/0/grants/0/purposes", ["assistance"])
	fired(candidate) == {"consent_missing"}
}

test_r5_uncovered_category_denied if {
	candidate := replaced("/consents/0/grants/0/data_categories", ["identity", "contact"])
	fired(candidate) == {"consent_categories_not_covered"}
}

test_r6_withdrawn_consent_denied if {
	candidate := replaced("/consents/0/status", "withdrawn")
	fired(candidate) == {"consent_missing", "consent_not_valid"}
}

test_r6_expired_consent_denied if {
	candidate := replaced("/consents/0/valid_until", "2026-11-28T11:59:59Z")
	fired(candidate) == {"consent_missing", "consent_not_valid"}
}

test_r6_consent_not_yet_valid_denied if {
	candidate := fx.patched(
		fx.base,
		{"consents": [object.union(fx.base.consents[0], {"valid_from": "2026-12-01T00:00:00Z"})]},
	)
	fired(candidate) == {"consent_missing", "consent_not_valid"}
}

test_r6_consent_inside_validity_window_allowed if {
	candidate := fx.patched(
		fx.base,
		{"consents": [object.union(fx.base.consents[0], {"valid_from": "2026-11-01T00:00:00.250Z"})]},
	)
	fired(candidate) == set()
}

test_r6_consent_without_expiry_denied if {
	candidate := json.remove(fx.base, ["consents/0/valid_until"])
	fired(candidate) == {"consent_missing", "consent_expiry_missing"}
}

test_r7_consent_recorded_by_police_denied if {
	candidate := replaced("/consents/0/recorded_by", {"org": fx.police.org, "role": "police"})
	fired(candidate) == {"consent_missing", "consent_recorded_by_enforcement"}
}

test_r7_consent_recorded_by_social_services_allowed if {
	candidate := replaced("/consents/0/recorded_by", {"org": fx.social.org, "role": "social_services"})
	fired(candidate) == set()
}

test_r8_health_with_explicit_consent_allowed if {
	inp := fx.referral(fx.ngo, fx.shelter, "shelter", ["identity", "health"])
	fired(inp) == set()
}

test_r8_health_without_explicit_consent_denied if {
	inp := json.patch(
		fx.referral(fx.ngo, fx.shelter, "shelter", ["identity", "health"]),
		[{"op": "replace", "path": "/consents/0/grants/0/explicit_categories", "value": []}],
	)
	fired(inp) == {"special_category_not_explicit"}
}

test_r8_health_to_police_not_strictly_necessary_denied if {
	inp := fx.patched(fx.referral(fx.ngo, fx.police, "criminal_investigation", ["identity", "health"]), {
		"payload_flags": {"forensic_evidence": true},
		"context": {"decision_to_cooperate": {"recorded": true}},
	})
	"special_category_not_strictly_necessary" in fired(inp)
}

test_r8_forensic_health_evidence_to_police_allowed if {
	inp := fx.patched(
		fx.referral(fx.ngo, fx.police, "criminal_investigation", ["identity", "health"]),
		{"payload_flags": {"forensic_evidence": true, "strictly_necessary": true}},
	)
	fired(inp) == set()
}

test_r9_consent_without_language_denied if {
	candidate := json.remove(fx.base, ["consents/0/language"])
	fired(candidate) == {"consent_language_not_recorded"}
}

test_r9_consent_without_interpreter_statement_denied if {
	candidate := json.remove(fx.base, ["consents/0/interpreter"])
	fired(candidate) == {"consent_language_not_recorded"}
}

test_r9_consent_without_interpreter_allowed if {
	candidate := replaced("/consents/0/interpreter", false)
	fired(candidate) == set()
}

police_account := fx.referral(fx.ngo, fx.police, "criminal_investigation", ["identity", "exploitation_account"])

test_r10_account_to_police_after_decision_to_cooperate_allowed if {
	candidate := fx.patched(police_account, {"context": {"decision_to_cooperate": {"recorded": true}}})
	fired(candidate) == set()
}

test_r10_account_to_police_during_reflection_without_decision_denied if {
	inp := fx.patched(
		police_account,
		{"context": {"reflection_period": {"active": true, "ends_at": "2027-01-28T00:00:00Z"}}},
	)
	fired(inp) == {"exploitation_account_without_cooperation_decision"}
}

test_consent_record_action_allowed_for_valid_record if {
	inp := fx.patched(fx.base, {"action": "consent.record", "data_categories": []})
	candidate := json.remove(inp, ["purpose", "recipient"])
	fired(candidate) == set()
}

test_consent_record_without_expiry_denied if {
	inp := json.remove(
		fx.patched(fx.base, {"action": "consent.record", "data_categories": []}),
		["consents/0/valid_until"],
	)
	fired(inp) == {"consent_expiry_missing"}
}
