# METADATA
# title: Tests of risk-to-life notices (R16)
package saferefer.rules.emergency_test

import data.saferefer.fixtures_test as fx
import data.saferefer.rules.emergency

fired(inp) := fx.findings(rules) if {
	rules := emergency with input as inp
}

notice := fx.patched(fx.referral(fx.ngo, fx.police, "risk_assessment", ["location", "safety_risks"]), {
	"action": "risk_notice.send",
	"consents": [],
	"context": {"risk_to_life": true},
})

test_r16_notice_fires_should_rule_for_justification if {
	fired(notice) == {"risk_notice_without_basis"}
}

test_r16_notice_without_risk_to_life_denied if {
	inp := fx.patched(notice, {"context": {"risk_to_life": false}})
	fired(inp) == {"risk_notice_without_basis", "risk_to_life_not_established"}
}

test_r16_notice_with_account_denied if {
	rules := emergency with input as fx.patched(notice, {"data_categories": ["location", "exploitation_account"]})
	rules.risk_notice_not_minimal == {"exploitation_account"}
}

test_r16_notice_to_non_protective_recipient_denied if {
	"risk_notice_recipient_not_protective" in fired(fx.patched(notice, {"recipient": fx.labour}))
}

test_r16_notice_across_border_denied if {
	"risk_notice_cross_border" in fired(fx.patched(notice, {"recipient": fx.md_ngo}))
}

test_r16_referral_is_not_a_notice if {
	fired(fx.base) == set()
}
