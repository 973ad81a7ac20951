# METADATA
# title: Tests of the decision entrypoint
package saferefer.sharing_test

import data.saferefer.fixtures_test as fx
import data.saferefer.sharing

test_decision_allows_consented_ngo_to_shelter_referral if {
	d := sharing.decision with input as fx.base
	d.allow
	d.violations == []
	d.permitted_categories == ["contact", "identity", "language_needs", "safety_risks"]
	fx.obligation_codes(d) == {"record_decision", "delete_by_retain_until"}
}

test_decision_denies_empty_input if {
	d := sharing.decision with input as {}
	not d.allow
	{"unknown_action", "sender_missing", "recipient_missing", "unknown_purpose"} == fx.codes(d)
	d.permitted_categories == []
}

test_violation_built_from_rule_annotations if {
	d := sharing.decision with input as fx.patched(fx.base, {"subject": {"refused_referral": true}})
	d.violations == [{
		"code": "referral_refused",
		"rule": "R4",
		"level": "MUST",
		"message": "The person refused the referral",
		"legal_basis": "CETS197 art 12(7); Dir 2011/36 recital 21",
		"fix": "Do not send anything; the person's refusal stands until they say otherwise.",
	}]
}

test_permitted_categories_lists_what_survives_category_violations if {
	inp := fx.patched(fx.base, {"data_categories": ["identity", "contact", "exploitation_account"]})
	d := sharing.decision with input as inp
	not d.allow
	d.permitted_categories == ["contact", "identity"]
	some v in d.violations
	v.code == "category_not_permitted"
	v.categories == ["exploitation_account"]
}

test_permitted_categories_empty_when_a_request_level_violation_remains if {
	inp := fx.patched(
		fx.base,
		{"data_categories": ["identity", "exploitation_account"], "subject": {"refused_referral": true}},
	)
	d := sharing.decision with input as inp
	d.permitted_categories == []
}

test_should_violation_denies_without_justification if {
	inp := json.remove(fx.base, ["context/retain_until"])
	d := sharing.decision with input as inp
	not d.allow
	fx.codes(d) == {"retain_until_missing"}
}

test_should_violation_with_justification_becomes_obligation if {
	inp := object.union(json.remove(fx.base, ["context/retain_until"]), {"justifications": [
		{"rule": "R13", "text": "Emergency placement; retention set on acceptance."},
		{"rule": "R13", "text": "Approved by the duty coordinator."},
	]})
	d := sharing.decision with input as inp
	d.allow
	some o in d.obligations
	o.code == "retain_until_missing"
	o.rule == "R13"
	o.justification == "Approved by the duty coordinator. | Emergency placement; retention set on acceptance."
}

test_justification_never_waives_must_violation if {
	inp := object.union(
		fx.patched(fx.base, {"subject": {"refused_referral": true}}),
		{"justifications": [{"rule": "R4", "text": "The worker thinks it is better for her."}]},
	)
	d := sharing.decision with input as inp
	not d.allow
	"referral_refused" in fx.codes(d)
}

test_unknown_action_denied_even_without_other_findings if {
	d := sharing.decision with input as fx.patched(fx.base, {"action": "referral.broadcast"})
	not d.allow
	"unknown_action" in fx.codes(d)
}

test_overlay_violation_denies_an_otherwise_allowed_flow if {
	inp := fx.patched(fx.referral(fx.ngo, fx.police, "criminal_investigation", ["identity"]), {
		"payload_flags": {"reveals_irregular_status": true},
		"subject": {"refused_referral": false},
	})
	d := sharing.decision with input as inp
	not d.allow
	some v in d.violations
	v.code == "irregular_status_to_police"
	v.overlay == "NL"
	v.rule == "NL-1"
}

test_overlay_ignored_when_no_party_in_its_country if {
	inp := fx.patched(
		fx.referral(fx.be_ngo, fx.be_ngo, "assistance", ["identity"]),
		{"payload_flags": {"reveals_irregular_status": true}},
	)
	d := sharing.decision with input as inp
	not "irregular_status_to_police" in fx.codes(d)
}

test_overlay_obligation_added if {
	inp := fx.referral(fx.ngo, fx.immigration, "recovery_reflection_period", ["identity", "nationality"])
	d := sharing.decision with input as inp
	d.allow
	some o in d.obligations
	o.code == "b8_3_reflection_period"
	o.overlay == "NL"
}

# An overlay that tries to allow, to clear violations or to replace the decision has no
# effect: the decision reads only the catalogued violation and obligation rules of overlays.
test_overlay_cannot_turn_a_base_denial_into_an_allow if {
	denied := fx.patched(fx.base, {"subject": {"refused_referral": true}})
	rogue := {
		"allow": true,
		"decision": {"allow": true, "violations": [], "permitted_categories": [], "obligations": []},
		"violations": set(),
		"irregular_status_to_police": false,
		"b8_3_reflection_period": false,
	}
	d := sharing.decision with input as denied with data.overlays.NL as rogue
	not d.allow
	fx.codes(d) == {"referral_refused"}
}

test_overlay_cannot_remove_base_violations_by_redefining_rules if {
	denied := fx.patched(fx.base, {"subject": {"refused_referral": true}})
	d := sharing.decision with input as denied with data.overlays.NL.referral_refused as false
	not d.allow
}

test_allowed_base_stays_allowed_with_silent_overlay if {
	d := sharing.decision with input as fx.base with data.overlays.NL as {"allow": false}
	d.allow
}

# Whole-decision checks of the flows the mechanism exists for (the vectors cover many more).
test_labour_inspectorate_to_ngo_allowed if {
	inp := fx.referral(fx.labour, fx.ngo, "assistance", ["identity", "contact", "language_needs"])
	d := sharing.decision with input as inp
	d.allow
}

test_police_to_ngo_support_referral_allowed if {
	inp := fx.referral(fx.police, fx.ngo, "assistance", ["identity", "contact", "safety_risks"])
	d := sharing.decision with input as inp
	d.allow
}

test_cross_border_ngo_to_ngo_allowed if {
	inp := fx.referral(fx.ngo, fx.be_ngo, "assistance", ["identity", "contact", "exploitation_account"])
	d := sharing.decision with input as inp
	d.allow
}

test_voluntary_return_with_risk_assessment_allowed if {
	inp := fx.patched(
		fx.referral(fx.ngo, fx.md_ngo, "safe_return", ["identity", "contact"]),
		{"context": object.union(fx.return_context, {"transfer": {"derogation": "explicit_consent"}})},
	)
	d := sharing.decision with input as inp
	d.allow
}

test_voluntary_return_without_risk_assessment_denied if {
	inp := fx.patched(
		fx.referral(fx.ngo, fx.md_embassy, "safe_return", ["identity"]),
		{"context": {"return": {"kind": "voluntary"}, "transfer": {"derogation": "explicit_consent"}}},
	)
	d := sharing.decision with input as inp
	not d.allow
	"origin_risk_assessment_missing" in fx.codes(d)
}

test_child_cross_border_needs_assessments if {
	inp := fx.patched(fx.referral(fx.ngo, fx.be_ngo, "assistance", ["identity"]), {"subject": fx.child_subject})
	d := sharing.decision with input as inp
	fx.codes(d) == {"child_return_without_assessment", "return_safeguards_missing"}
	allowed := sharing.decision with input as fx.patched(inp, {"context": fx.return_context})
	allowed.allow
}

# Every decision vector (policies/vectors/*/vectors.json, which `opa test policies/` loads as
# data.vectors) decides as it expects; findings are compared as sets, their order carries no
# meaning. The count guards against a run that loaded no vectors and so compared nothing.
test_every_decision_vector_decides_as_expected if {
	vectors := [[scenario, vector] | some scenario, document in data.vectors; some vector in document.vectors]
	count(vectors) >= 200
	mismatched := [sprintf("%s/%s", [pair[0], pair[1].name]) | some pair in vectors; not decides_as_expected(pair[1])]
	mismatched == []
}

decides_as_expected(vector) if {
	d := sharing.decision with input as vector.input
	d.allow == vector.expected.allow
	as_set(d.violations) == as_set(vector.expected.violations)
	as_set(d.obligations) == as_set(vector.expected.obligations)
	as_set(d.permitted_categories) == as_set(vector.expected.permitted_categories)
}

as_set(items) := {item | some item in items}
