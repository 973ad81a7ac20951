# METADATA
# title: Tests of the derived facts
package saferefer.facts_test

import data.saferefer.facts
import data.saferefer.fixtures_test as fx

test_instant_compares_at_second_resolution if {
	facts.instant("2026-11-28T12:00:00.999Z") == facts.instant("2026-11-28T12:00:00Z")
	facts.instant("2026-11-28T12:00:01Z") > facts.instant("2026-11-28T12:00:00.999Z")
}

test_child_includes_possible_child if {
	facts.child with input as {"subject": {"age_status": "unknown_possible_child"}}
	not facts.child with input as {"subject": {"age_status": "adult"}}
}

test_domestic_columns_follow_acting_roles if {
	two_roles := fx.patched(fx.base, {"recipient": {"roles": ["shelter", "health_provider"]}})
	facts.columns == {"shelter"} with input as two_roles
}

test_recipient_without_fitting_role_uses_all_roles if {
	inp := fx.patched(fx.base, {"recipient": {"roles": ["police", "prosecutor"]}})
	facts.columns == {"police", "prosecutor"} with input as inp
}

test_foreign_recipient_uses_foreign_column if {
	facts.columns == {"foreign_support"} with input as fx.referral(fx.ngo, fx.md_ngo, "assistance", ["identity"])
	to_police := fx.referral(fx.police, fx.de_police, "criminal_investigation", ["identity"])
	facts.columns == {"foreign_law_enforcement"} with input as to_police
	facts.columns == {"embassy_of_origin"} with input as fx.referral(fx.ngo, fx.md_embassy, "safe_return", ["identity"])
}

test_child_abroad_raises_cells_to_r if {
	inp := fx.patched(fx.referral(fx.ngo, fx.be_ngo, "assistance", ["identity"]), {"subject": fx.child_subject})
	facts.category_rank.identity == data.saferefer.matrix.levels.R with input as inp
	adult := fx.referral(fx.ngo, fx.be_ngo, "assistance", ["identity"])
	facts.category_rank.identity == data.saferefer.matrix.levels.C with input as adult
}

test_missing_cell_ranks_as_never if {
	inp := fx.referral(fx.ngo, fx.shelter, "shelter", ["shoe_size"])
	facts.category_rank.shoe_size == data.saferefer.matrix.levels.N with input as inp
}

test_origin_authority_includes_police_of_origin_country if {
	md_police := {"org": "urn:saferefer:org:MD:police", "roles": ["police"], "country": "MD"}
	facts.origin_authority with input as fx.referral(fx.police, md_police, "criminal_investigation", ["identity"])
	not facts.origin_authority with input as fx.referral(fx.ngo, fx.md_ngo, "assistance", ["identity"])
	facts.origin_actor with input as fx.referral(fx.ngo, fx.md_ngo, "assistance", ["identity"])
}

test_r26_unstated_age_may_be_a_child if {
	facts.child with input as {"subject": {}}
	facts.child with input as {"action": "referral.send"}
}

test_r21_domestic_recipient_is_never_in_the_origin_country if {
	national := fx.patched(fx.base, {"subject": {"age_status": "adult", "origin_country": "NL"}})
	not facts.origin_actor with input as national
}

test_r22_unknown_origin_makes_every_foreign_recipient_a_possible_origin_actor if {
	inp := fx.patched(fx.referral(fx.ngo, fx.md_ngo, "assistance", ["identity"]), {"subject": {"age_status": "adult"}})
	facts.origin_actor with input as inp
	not facts.origin_actor with input as fx.patched(fx.base, {"subject": {"age_status": "adult"}})
}

test_r14_inherited_grant_covers_a_forward_only_with_onward_sharing if {
	chain := {"context": {
		"now": fx.now,
		"based_on": [{
			"referral_id": "01937a2e-0000-7000-8000-0000000000aa",
			"sender": fx.police.org, "recipient": fx.ngo.org, "purpose": "shelter",
			"consent_ids": [fx.consent_id],
		}],
	}}
	forward := fx.patched(fx.base, object.union(chain, {"action": "referral.forward"}))
	count(facts.covering_grants) == 0 with input as forward
	onward := json.patch(forward, [{"op": "add", "path": "/consents/0/grants/0/onward_sharing", "value": true}])
	count(facts.covering_grants) == 1 with input as onward
}

test_r7_enforcement_sender_own_record_is_enforcement_recorded if {
	inp := json.patch(fx.referral(fx.police, fx.ngo, "assistance", ["identity"]), [{
		"op": "replace", "path": "/consents/0/recorded_by",
		"value": {"org": fx.police.org, "role": "ngo_service_provider"},
	}])
	facts.enforcement_recorded == {0} with input as inp
}
