# METADATA
# title: Tests of cross-border transfers and non-refoulement (R21-R25)
package saferefer.rules.crossborder_test

import data.saferefer.fixtures_test as fx
import data.saferefer.rules.crossborder

fired(inp) := fx.findings(rules) if {
	rules := crossborder with input as inp
}

embassy_return := fx.patched(
	fx.referral(fx.ngo, fx.md_embassy, "safe_return", ["identity", "nationality", "photo_biometrics"]),
	{
		"payload_flags": {"travel_document_only": true},
		"context": object.union(fx.return_context, {"transfer": {"derogation": "explicit_consent"}}),
	},
)

md_ngo_referral := fx.patched(
	fx.referral(fx.ngo, fx.md_ngo, "safe_return", ["identity", "contact", "language_needs"]),
	{"context": object.union(fx.return_context, {"transfer": {"derogation": "explicit_consent"}})},
)

test_r21_voluntary_return_with_risk_assessment_allowed if {
	fired(embassy_return) == set()
}

test_r21_embassy_without_risk_assessment_denied if {
	inp := json.remove(embassy_return, ["context/risk_assessment"])
	fired(inp) == {"origin_risk_assessment_missing"}
}

test_r21_embassy_with_risk_found_denied if {
	inp := fx.patched(embassy_return, {"context": {"risk_assessment": {"finding": "risk"}}})
	fired(inp) == {"origin_risk_assessment_missing"}
}

test_r21_embassy_named_by_role_only_denied if {
	inp := json.patch(
		embassy_return,
		[{
			"op": "replace",
			"path": "/consents/0/grants/0/recipient",
			"value": {"role": "embassy_of_origin", "country": "MD"},
		}],
	)
	fired(inp) == {"origin_consent_not_naming_recipient"}
}

test_r21_embassy_without_voluntary_return_denied if {
	inp := fx.patched(embassy_return, {"context": {"return": {"kind": "none"}}})
	fired(inp) == {"origin_return_not_voluntary"}
}

test_r21_foreign_police_identity_needs_return_safeguards if {
	inp := fx.patched(
		fx.referral(fx.police, fx.de_police, "criminal_investigation", ["identity"]),
		{"context": {"transfer": {"law_enforcement_channel": true}}},
	)
	rules := crossborder with input as inp
	rules.return_safeguards_missing == {"identity"}
}

test_r22_asylum_pending_blocks_origin_country if {
	inp := fx.patched(md_ngo_referral, {"subject": {"asylum_pending": true}})
	fired(inp) == {"origin_disclosure_asylum"}
}

test_r22_possible_asylum_claim_blocks_embassy if {
	inp := fx.patched(embassy_return, {"subject": {"asylum_possible": true}})
	fired(inp) == {"origin_disclosure_asylum"}
}

test_r22_asylum_application_never_revealed_to_origin if {
	inp := fx.patched(embassy_return, {"payload_flags": {"reveals_asylum_application": true}})
	fired(inp) == {"asylum_application_disclosed"}
}

test_r22_asylum_seeker_referred_within_eu_allowed if {
	inp := fx.patched(
		fx.referral(fx.ngo, fx.be_ngo, "assistance", ["identity", "contact"]),
		{"subject": {"asylum_pending": true}},
	)
	fired(inp) == set()
}

test_r23_transfer_on_informed_explicit_consent_allowed if {
	fired(md_ngo_referral) == set()
}

test_r23_transfer_without_basis_denied if {
	fired(json.remove(md_ngo_referral, ["context/transfer"])) == {"third_country_transfer_unsafeguarded"}
}

test_r23_consent_without_risk_information_denied if {
	inp := json.patch(md_ngo_referral, [{"op": "replace", "path": "/consents/0/risks_informed", "value": []}])
	fired(inp) == {"third_country_transfer_unsafeguarded"}
}

test_r23_public_authority_cannot_rely_on_consent if {
	inp := fx.patched(md_ngo_referral, {"sender": fx.social})
	fired(inp) == {"third_country_transfer_unsafeguarded", "public_authority_consent_derogation"}
}

test_r23_public_authority_with_safeguards_allowed if {
	inp := fx.patched(
		md_ngo_referral,
		{"sender": fx.social, "context": {"transfer": {"derogation": "none", "safeguards": "administrative_arrangement"}}},
	)
	fired(inp) == set()
}

test_r23_adequate_country_allowed if {
	ch_ngo := {
		"org": "urn:saferefer:org:CH:fiz",
		"roles": ["ngo_service_provider"],
		"country": "CH",
		"contact_point": true,
	}
	fired(fx.referral(fx.ngo, ch_ngo, "assistance", ["identity"])) == set()
}

test_r23_adequacy_decision_in_context_allowed if {
	inp := fx.patched(md_ngo_referral, {"context": {"transfer": {"derogation": "none", "adequacy_decision": true}}})
	fired(inp) == set()
}

test_r24_foreign_recipient_not_contact_point_denied if {
	inp := fx.patched(fx.referral(fx.ngo, fx.be_ngo, "assistance", ["identity"]), {"recipient": {"contact_point": false}})
	fired(inp) == {"recipient_not_contact_point"}
}

test_r25_foreign_police_outside_led_channel_denied if {
	inp := fx.patched(
		fx.referral(fx.police, fx.de_police, "criminal_investigation", ["nationality"]),
		{"recipient": {"contact_point": true}},
	)
	fired(inp) == {"foreign_police_without_led_channel"}
}
