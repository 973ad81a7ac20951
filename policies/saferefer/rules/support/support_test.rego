# METADATA
# title: Tests of support without conditions (R1-R4)
package saferefer.rules.support_test

import data.saferefer.fixtures_test as fx
import data.saferefer.rules.support

fired(inp) := fx.findings(rules) if {
	rules := support with input as inp
}

test_r1_unconditional_support_referral_allowed if {
	candidate := fx.base
	fired(candidate) == set()
}

test_r1_support_conditional_on_cooperation_denied if {
	candidate := fx.patched(fx.base, {"payload_flags": {"support_conditional_on_cooperation": true}})
	fired(candidate) == {"support_conditional_on_cooperation"}
}

test_r1_consent_without_no_effect_statement_denied if {
	inp := json.patch(
		fx.base,
		[{"op": "replace", "path": "/consents/0/refusal_does_not_affect_assistance", "value": false}],
	)
	fired(inp) == {"consent_lacks_no_effect_statement"}
}

test_r2_grant_mixing_support_and_investigation_denied if {
	inp := json.patch(
		fx.base,
		[{"op": "replace", "path": "/consents/0/grants/0/purposes", "value": ["shelter", "criminal_investigation"]}],
	)
	fired(inp) == {"bundled_consent"}
}

test_r2_support_consent_carrying_police_grant_denied if {
	police_grant := {
		"recipient": {"role": "police", "country": "NL"},
		"purposes": ["criminal_investigation"],
		"data_categories": ["identity"],
	}
	inp := json.patch(fx.base, [{"op": "add", "path": "/consents/0/grants/-", "value": police_grant}])
	fired(inp) == {"bundled_consent"}
}

test_r2_separate_police_consent_record_allowed if {
	police_consent := fx.consent(
		"01937a2e-0000-7000-8000-000000000002",
		[{
			"recipient": {"role": "police", "country": "NL"},
			"purposes": ["criminal_investigation"],
			"data_categories": ["identity"],
		}],
	)
	inp := json.patch(fx.base, [{"op": "add", "path": "/consents/-", "value": police_consent}])
	fired(inp) == set()
}

test_r3_presumed_victim_referred_without_identification if {
	inp := fx.patched(fx.base, {"subject": {"identification_status": "reasonable_grounds"}})
	fired(inp) == set()
}

test_r3_assistance_conditional_on_identification_denied if {
	candidate := fx.patched(fx.base, {"payload_flags": {"requires_formal_identification": true}})
	fired(candidate) == {"support_conditional_on_identification"}
}

test_r4_refused_referral_denied if {
	candidate := fx.patched(fx.base, {"subject": {"refused_referral": true}})
	fired(candidate) == {"referral_refused"}
}

test_r4_refusal_does_not_block_withdrawal_notice if {
	inp := fx.patched(
		fx.base,
		{"action": "withdrawal.notify", "data_categories": [], "subject": {"refused_referral": true}},
	)
	fired(inp) == set()
}
