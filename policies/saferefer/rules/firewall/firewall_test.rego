# METADATA
# title: Tests of the firewall and non-punishment (R17-R20)
package saferefer.rules.firewall_test

import data.saferefer.fixtures_test as fx
import data.saferefer.rules.firewall

fired(inp) := fx.findings(rules) if {
	rules := firewall with input as inp
}

permit := fx.referral(fx.ngo, fx.immigration, "residence_permit", ["identity", "nationality", "immigration_status"])

test_r17_ngo_supports_persons_own_permit_application if {
	fired(permit) == set()
}

test_r17_ngo_status_to_immigration_outside_application_denied if {
	fired(fx.patched(permit, {"purpose": "assistance"})) == {"firewall_immigration_status"}
}

labour_permit := fx.referral(fx.labour, fx.immigration, "residence_permit", ["identity", "immigration_status"])

test_r17_labour_status_to_immigration_for_residence_permit_denied if {
	fired(labour_permit) == {"firewall_immigration_status"}
}

test_r17_labour_status_to_immigration_for_any_application_denied if {
	every purpose in ["asylum_support", "recovery_reflection_period"] {
		fired(fx.patched(labour_permit, {"purpose": purpose})) == {"firewall_immigration_status"}
	}
}

test_r17_labour_revealing_irregular_work_to_immigration_for_permit_denied if {
	inp := fx.patched(labour_permit, {
		"data_categories": ["identity"],
		"payload_flags": {"reveals_irregular_status": true},
	})
	fired(inp) == {"firewall_immigration_status"}
}

test_r17_labour_permit_support_without_immigration_data_allowed if {
	fired(fx.patched(labour_permit, {"data_categories": ["identity"]})) == set()
}

test_r17_labour_status_to_ngo_allowed if {
	fired(fx.referral(fx.labour, fx.ngo, "assistance", ["identity", "immigration_status"])) == set()
}

test_r17_irregular_work_revealed_for_enforcement_denied if {
	inp := fx.patched(fx.referral(fx.labour, fx.police, "criminal_investigation", ["identity"]), {"payload_flags": {
		"reveals_irregular_status": true,
		"for_immigration_enforcement": true,
		"complainant_identity_shielded": true,
	}})
	fired(inp) == {"firewall_immigration_status", "labour_referral_reveals_irregular_status"}
}

test_r17_police_to_immigration_is_outside_the_firewall if {
	inp := fx.referral(fx.police, fx.immigration, "recovery_reflection_period", ["identity", "immigration_status"])
	fired(inp) == set()
}

test_r18_removal_during_reflection_period_denied if {
	inp := fx.patched(fx.referral(fx.police, fx.immigration, "residence_permit", ["identity"]), {
		"payload_flags": {"for_immigration_enforcement": true},
		"context": {"reflection_period": {"active": true, "ends_at": "2027-02-01T00:00:00Z"}},
	})
	fired(inp) == {"removal_during_reflection"}
}

test_r18_removal_during_identification_denied if {
	inp := fx.patched(fx.referral(fx.police, fx.immigration, "residence_permit", ["identity"]), {
		"payload_flags": {"for_immigration_enforcement": true},
		"context": {"identification_ongoing": true},
	})
	fired(inp) == {"removal_during_reflection"}
}

test_r18_reflection_period_without_end_date_denied if {
	inp := fx.patched(fx.base, {"context": {"reflection_period": {"active": true}}})
	fired(inp) == {"reflection_period_end_missing"}
}

test_r18_referral_during_reflection_period_allowed if {
	inp := fx.patched(fx.base, {"context": {"reflection_period": {"active": true, "ends_at": "2027-02-01T00:00:00Z"}}})
	fired(inp) == set()
}

test_r19_disclosure_to_prosecute_the_person_denied if {
	inp := fx.patched(
		fx.referral(fx.police, fx.prosecutor, "criminal_investigation", ["identity"]),
		{"payload_flags": {"for_prosecution_of_subject": true}},
	)
	fired(inp) == {"prosecution_of_subject"}
}

test_r19_criminal_record_without_request_denied if {
	inp := fx.referral(fx.ngo, fx.prosecutor, "criminal_investigation", ["identity", "criminal_record"])
	fired(inp) == {"criminal_record_without_request"}
}

test_r19_criminal_record_for_non_punishment_allowed if {
	inp := fx.patched(
		fx.referral(fx.ngo, fx.prosecutor, "criminal_investigation", ["identity", "criminal_record"]),
		{"payload_flags": {"non_punishment_request": true}},
	)
	fired(inp) == set()
}

test_r20_labour_referral_to_police_exposing_complainant_denied if {
	fired(fx.referral(fx.labour, fx.police, "criminal_investigation", ["identity"])) == {"labour_complainant_not_shielded"}
}

test_r20_labour_referral_to_police_shielding_complainant_allowed if {
	inp := fx.patched(
		fx.referral(fx.labour, fx.police, "criminal_investigation", ["identity"]),
		{"payload_flags": {"complainant_identity_shielded": true}},
	)
	fired(inp) == set()
}

test_r20_labour_to_police_revealing_irregular_work_denied if {
	to_police := fx.referral(fx.labour, fx.police, "criminal_investigation", ["nationality"])
	inp := fx.patched(to_police, {"payload_flags": {"reveals_irregular_status": true}})
	fired(inp) == {"labour_referral_reveals_irregular_status"}
}

test_r20_labour_to_police_without_irregular_work_allowed if {
	inp := fx.referral(fx.labour, fx.police, "criminal_investigation", ["nationality"])
	fired(inp) == set()
}
