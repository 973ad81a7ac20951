# METADATA
# title: Tests of the Netherlands overlay
package overlays.NL_test

import data.overlays.NL
import data.saferefer.fixtures_test as fx

to_police := fx.patched(
	fx.referral(fx.ngo, fx.police, "criminal_investigation", ["identity"]),
	{"payload_flags": {"reveals_irregular_status": true}},
)

test_nl1_irregular_status_to_dutch_police_denied if {
	NL.irregular_status_to_police with input as to_police
}

test_nl1_report_without_irregular_status_allowed if {
	not NL.irregular_status_to_police with input as fx.referral(fx.ngo, fx.police, "criminal_investigation", ["identity"])
}

test_nl1_foreign_police_not_covered if {
	not NL.irregular_status_to_police with input as fx.patched(to_police, {"recipient": fx.de_police})
}

test_nl2_reflection_period_referral_follows_b8_3 if {
	NL.b8_3_reflection_period with input as fx.referral(fx.ngo, fx.immigration, "recovery_reflection_period", ["identity"])
}

test_nl2_other_purposes_unaffected if {
	not NL.b8_3_reflection_period with input as fx.referral(fx.ngo, fx.immigration, "residence_permit", ["identity"])
}
