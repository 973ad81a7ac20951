# METADATA
# title: Tests of purpose limitation and minimisation (R11-R13, R32, R33)
package saferefer.rules.minimisation_test

import data.saferefer.fixtures_test as fx
import data.saferefer.rules.minimisation

fired(inp) := fx.findings(rules) if {
	rules := minimisation with input as inp
}

obliged(inp) := fx.obligations(rules) if {
	rules := minimisation with input as inp
}

test_r11_matrix_allows_shelter_categories if {
	fired(fx.base) == set()
}

test_r11_exploitation_account_to_shelter_denied if {
	inp := fx.referral(fx.ngo, fx.shelter, "shelter", ["identity", "exploitation_account"])
	fired(inp) == {"category_not_permitted", "category_not_needed_for_purpose"}
}

test_r11_category_not_needed_for_purpose_denied if {
	inp := fx.referral(fx.ngo, fx.shelter, "shelter", ["identity", "financial"])
	fired(inp) == {"category_not_permitted", "category_not_needed_for_purpose"}
}

test_r11_labour_facts_to_inspectorate_allowed if {
	inp := fx.patched(
		fx.referral(fx.ngo, fx.labour, "labour_rights_claim", ["exploitation_account", "financial"]),
		{"payload_flags": {"labour_facts_only": true}},
	)
	fired(inp) == set()
}

test_r11_full_account_to_inspectorate_denied if {
	inp := fx.referral(fx.ngo, fx.labour, "labour_rights_claim", ["exploitation_account"])
	rules := minimisation with input as inp
	rules.category_condition_unmet == {"exploitation_account"}
}

test_r11_pseudonymise_identity_obligation_for_inspectorate if {
	inp := fx.referral(fx.ngo, fx.labour, "labour_rights_claim", ["identity"])
	obliged(inp) == {"pseudonymise_identity", "delete_by_retain_until"}
}

test_r11_minimal_immigration_status_obligation_for_shelter if {
	inp := fx.referral(fx.ngo, fx.shelter, "shelter", ["immigration_status"])
	"minimal_immigration_status" in obliged(inp)
}

test_r11_unknown_category_has_no_cell if {
	inp := fx.referral(fx.ngo, fx.shelter, "shelter", ["shoe_size"])
	"category_not_permitted" in fired(inp)
}

test_r11_consent_record_without_payload_allowed if {
	inp := fx.patched(fx.base, {"action": "consent.record", "data_categories": []})
	fired(inp) == set()
}

test_r11_consent_record_with_payload_denied if {
	inp := fx.patched(fx.base, {"action": "consent.record"})
	fired(inp) == {"categories_not_allowed_for_action"}
}

test_r12_assistance_data_for_removal_denied if {
	inp := fx.patched(
		fx.referral(fx.ngo, fx.immigration, "residence_permit", ["identity"]),
		{"payload_flags": {"for_immigration_enforcement": true}},
	)

	# Footnote 1: a permit purpose used for enforcement is not the person's own application.
	fired(inp) == {"assistance_data_used_against_subject", "category_condition_unmet"}
}

test_r12_data_collected_for_assistance_to_police_against_subject_denied if {
	inp := fx.patched(fx.referral(fx.police, fx.prosecutor, "criminal_investigation", ["identity"]), {
		"payload_flags": {"for_prosecution_of_subject": true},
		"context": {"collected_for": "assistance"},
	})
	fired(inp) == {"assistance_data_used_against_subject"}
}

test_r12_police_evidence_to_prosecutor_allowed if {
	inp := fx.referral(fx.police, fx.prosecutor, "criminal_investigation", ["identity"])
	fired(inp) == set()
}

test_r13_missing_retain_until_denied if {
	fired(json.remove(fx.base, ["context/retain_until"])) == {"retain_until_missing"}
}

test_r13_past_retain_until_denied if {
	fired(fx.patched(fx.base, {"context": {"retain_until": "2026-01-01T00:00:00Z"}})) == {"retain_until_past"}
}

test_r32_role_not_permitted_for_purpose_denied if {
	inp := fx.referral(fx.ngo, fx.police, "shelter", ["identity"])
	"recipient_role_not_permitted" in fired(inp)
}

test_r32_statistics_reader_must_be_monitoring_body if {
	inp := {
		"action": "statistics.read",
		"recipient": fx.ngo,
		"purpose": "statistics",
		"data_categories": [],
		"context": {"now": fx.now},
	}
	fired(inp) == {"recipient_role_not_permitted"}
}

test_r33_location_to_shelter_allowed if {
	fired(fx.referral(fx.ngo, fx.shelter, "shelter", ["identity", "location"])) == set()
}

test_r33_location_to_police_without_protective_need_denied if {
	inp := fx.referral(fx.ngo, fx.police, "criminal_investigation", ["identity", "location"])
	fired(inp) == {"location_without_protective_need"}
}

test_r33_location_to_police_for_protection_allowed if {
	inp := fx.patched(
		fx.referral(fx.ngo, fx.police, "criminal_investigation", ["identity", "location"]),
		{"context": {"protective_need": true}},
	)
	fired(inp) == set()
}
