# METADATA
# title: Tests of the child rules (R26-R29)
package saferefer.rules.children_test

import data.saferefer.fixtures_test as fx
import data.saferefer.rules.children

fired(inp) := fx.findings(rules) if {
	rules := children with input as inp
}

obliged(inp) := fx.obligations(rules) if {
	rules := children with input as inp
}

child_referral := fx.patched(fx.base, {"subject": fx.child_subject})

test_r26_possible_child_gets_child_rules if {
	inp := fx.patched(fx.base, {"subject": {"age_status": "unknown_possible_child"}})
	fired(inp) == {"child_guardian_missing", "child_views_missing"}
	obliged(inp) == {"treat_as_child"}
}

test_r26_adult_has_no_child_rules if {
	fired(fx.base) == set()
	obliged(fx.base) == set()
}

test_r27_child_with_guardian_and_views_allowed if {
	fired(child_referral) == set()
}

test_r27_child_without_guardian_denied if {
	fired(json.remove(child_referral, ["subject/guardian"])) == {"child_guardian_missing"}
}

test_r27_child_views_not_recorded_denied if {
	fired(fx.patched(child_referral, {"subject": {"child_views_recorded": false}})) == {"child_views_missing"}
}

test_r27_conflicted_parent_consent_denied if {
	inp := json.patch(
		child_referral,
		[{"op": "replace", "path": "/consents/0/given_by", "value": {"kind": "parent", "conflict_of_interest": true}}],
	)
	fired(inp) == {"consent_by_conflicted_representative"}
}

test_r27_conflicted_guardian_denied if {
	inp := fx.patched(child_referral, {"subject": {"guardian": {"conflict_of_interest": true}}})
	fired(inp) == {"consent_by_conflicted_representative"}
}

test_r28_child_identity_to_public_facing_recipient_denied if {
	inp := fx.patched(child_referral, {"recipient": {"public_facing": true}})
	rules := children with input as inp
	rules.child_identity_to_public_facing == {"identity"}
}

test_r28_adult_identity_rule_does_not_apply if {
	fired(fx.patched(fx.base, {"recipient": {"public_facing": true}})) == set()
}

child_abroad := fx.patched(fx.referral(fx.ngo, fx.md_ngo, "family_tracing", ["identity", "family"]), {
	"subject": fx.child_subject,
	"context": fx.return_context,
})

test_r29_child_family_tracing_with_assessments_allowed if {
	fired(child_abroad) == set()
}

test_r29_child_family_tracing_without_best_interests_denied if {
	inp := json.remove(child_abroad, ["context/best_interests_determination"])
	fired(inp) == {"child_return_without_assessment"}
}

test_r29_child_return_without_security_assessment_denied if {
	inp := fx.patched(child_abroad, {"context": {"risk_assessment": {"security_assessment": false}}})
	fired(inp) == {"child_return_without_assessment"}
}

test_r27_parent_consent_without_conflict_check_denied if {
	inp := json.patch(child_referral, [{"op": "add", "path": "/consents/0/given_by", "value": {"kind": "parent"}}])
	fired(inp) == {"child_consent_conflict_unchecked"}
}

test_r27_parent_consent_after_conflict_check_allowed if {
	inp := json.patch(child_referral, [{
		"op": "add", "path": "/consents/0/given_by",
		"value": {"kind": "parent", "conflict_of_interest": false},
	}])
	fired(inp) == set()
}

test_r16_child_risk_notice_needs_no_guardian_yet if {
	inp := fx.patched(fx.base, {
		"action": "risk_notice.send",
		"consents": [],
		"subject": {"age_status": "child"},
	})
	fired(inp) == set()
}
