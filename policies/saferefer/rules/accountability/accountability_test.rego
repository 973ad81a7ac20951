# METADATA
# title: Tests of deny by default and accountability (R30, R31, R35)
package saferefer.rules.accountability_test

import data.saferefer.fixtures_test as fx
import data.saferefer.rules.accountability

fired(inp) := fx.findings(rules) if {
	rules := accountability with input as inp
}

obliged(inp) := fx.obligations(rules) if {
	rules := accountability with input as inp
}

test_r30_known_action_purpose_roles_categories_pass if {
	fired(fx.base) == set()
}

test_r30_unknown_action_denied if {
	fired(fx.patched(fx.base, {"action": "referral.publish"})) == {"unknown_action"}
}

test_r30_unknown_purpose_denied if {
	fired(fx.patched(fx.base, {"purpose": "marketing"})) == {"unknown_purpose"}
}

test_r30_missing_purpose_denied if {
	fired(json.remove(fx.base, ["purpose"])) == {"unknown_purpose"}
}

test_r30_consent_record_needs_no_purpose if {
	fired(json.remove(fx.patched(fx.base, {"action": "consent.record"}), ["purpose", "recipient"])) == set()
}

test_r30_consent_record_with_unknown_purpose_denied if {
	fired(fx.patched(fx.base, {"action": "consent.record", "purpose": "marketing"})) == {"unknown_purpose"}
}

test_r30_unknown_recipient_role_denied if {
	fired(fx.patched(fx.base, {"recipient": {"roles": ["journalist"]}})) == {"unknown_role"}
}

test_r30_unknown_sender_role_denied if {
	fired(fx.patched(fx.base, {"sender": {"roles": ["employer"]}})) == {"unknown_role"}
}

test_r30_unknown_category_denied if {
	rules := accountability with input as fx.patched(fx.base, {"data_categories": ["identity", "religion"]})
	rules.unknown_category == {"religion"}
}

test_r30_statistics_purpose_on_referral_denied if {
	fired(fx.patched(fx.base, {"purpose": "statistics"})) == {"purpose_not_valid_for_action"}
}

test_r30_statistics_read_for_other_purpose_denied if {
	inp := {
		"action": "statistics.read",
		"recipient": fx.rapporteur,
		"purpose": "assistance",
		"data_categories": [],
		"context": {"now": fx.now},
	}
	fired(inp) == {"purpose_not_valid_for_action"}
}

test_r30_statistics_read_needs_no_sender if {
	inp := {
		"action": "statistics.read",
		"recipient": fx.rapporteur,
		"purpose": "statistics",
		"data_categories": [],
		"context": {"now": fx.now},
	}
	fired(inp) == set()
}

test_r30_referral_without_parties_denied if {
	fired(json.remove(fx.base, ["sender", "recipient"])) == {"sender_missing", "recipient_missing"}
}

test_r31_every_decision_is_recorded if {
	obliged(fx.base) == {"record_decision"}
	obliged({}) == {"record_decision"}
}

test_r35_withdrawal_notice_asks_for_acknowledgement if {
	obliged(fx.patched(fx.base, {"action": "withdrawal.notify"})) == {"record_decision", "acknowledge_withdrawal"}
}
