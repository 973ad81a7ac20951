# METADATA
# title: SafeRefer sharing decision
# description: >-
#   The entrypoint data.saferefer.sharing.decision. It gathers the findings of every rule family
#   under data.saferefer.rules and of the overlays of the countries involved, turns justified
#   SHOULD findings into obligations, and allows only when nothing is left: an overlay can add
#   violations and obligations but can never turn a denial into an allow. Violation and
#   obligation objects come from data.saferefer.catalogue, generated from the METADATA
#   annotations of the rules by policies/tools/catalogue.py, because rego-cpp has no
#   rego.metadata.rule(); see policies/README.md for the rego-cpp constraints these rules follow.
# related_resources:
#   - ref: https://saferefer.org/spec/v0.1/schemas/policy-decision.schema.json
# entrypoint: true
package saferefer.sharing

index := data.saferefer.catalogue.index

templates := data.saferefer.catalogue.templates

default allow := false

# R30: allow only a known action with no base and no overlay violation left.
allow if {
	data.saferefer.codes.actions[input.action]
	count(base_blocking) == 0
	count(overlay_blocking) == 0
}

decision := {
	"allow": allow,
	"violations": violations,
	"permitted_categories": permitted_categories,
	"obligations": obligations,
}

# A violation rule is true, or a set of the data categories it objects to. Each catalogued
# rule is looked up once; every later step reads the codes found, never the rules again.
base_found["assistance_data_used_against_subject"] := [] if data.saferefer.rules.minimisation.assistance_data_used_against_subject == true
base_found["asylum_application_disclosed"] := [] if data.saferefer.rules.crossborder.asylum_application_disclosed == true
base_found["automatic_forward_to_police"] := [] if data.saferefer.rules.onward.automatic_forward_to_police == true
base_found["bundled_consent"] := [] if data.saferefer.rules.support.bundled_consent == true
base_found["categories_not_allowed_for_action"] := sort(data.saferefer.rules.minimisation.categories_not_allowed_for_action) if count(data.saferefer.rules.minimisation.categories_not_allowed_for_action) > 0
base_found["category_condition_unmet"] := sort(data.saferefer.rules.minimisation.category_condition_unmet) if count(data.saferefer.rules.minimisation.category_condition_unmet) > 0
base_found["category_not_needed_for_purpose"] := sort(data.saferefer.rules.minimisation.category_not_needed_for_purpose) if count(data.saferefer.rules.minimisation.category_not_needed_for_purpose) > 0
base_found["category_not_permitted"] := sort(data.saferefer.rules.minimisation.category_not_permitted) if count(data.saferefer.rules.minimisation.category_not_permitted) > 0
base_found["child_guardian_missing"] := [] if data.saferefer.rules.children.child_guardian_missing == true
base_found["child_identity_to_public_facing"] := sort(data.saferefer.rules.children.child_identity_to_public_facing) if count(data.saferefer.rules.children.child_identity_to_public_facing) > 0
base_found["child_return_without_assessment"] := [] if data.saferefer.rules.children.child_return_without_assessment == true
base_found["child_views_missing"] := [] if data.saferefer.rules.children.child_views_missing == true
base_found["consent_by_conflicted_representative"] := [] if data.saferefer.rules.children.consent_by_conflicted_representative == true
base_found["consent_categories_not_covered"] := sort(data.saferefer.rules.consent.consent_categories_not_covered) if count(data.saferefer.rules.consent.consent_categories_not_covered) > 0
base_found["consent_expiry_missing"] := [] if data.saferefer.rules.consent.consent_expiry_missing == true
base_found["consent_lacks_no_effect_statement"] := [] if data.saferefer.rules.support.consent_lacks_no_effect_statement == true
base_found["consent_language_not_recorded"] := [] if data.saferefer.rules.consent.consent_language_not_recorded == true
base_found["consent_missing"] := [] if data.saferefer.rules.consent.consent_missing == true
base_found["consent_not_valid"] := [] if data.saferefer.rules.consent.consent_not_valid == true
base_found["consent_recorded_by_enforcement"] := [] if data.saferefer.rules.consent.consent_recorded_by_enforcement == true
base_found["criminal_record_without_request"] := [] if data.saferefer.rules.firewall.criminal_record_without_request == true
base_found["exploitation_account_without_cooperation_decision"] := [] if data.saferefer.rules.consent.exploitation_account_without_cooperation_decision == true
base_found["firewall_immigration_status"] := [] if data.saferefer.rules.firewall.firewall_immigration_status == true
base_found["foreign_police_without_led_channel"] := [] if data.saferefer.rules.crossborder.foreign_police_without_led_channel == true
base_found["labour_complainant_not_shielded"] := [] if data.saferefer.rules.firewall.labour_complainant_not_shielded == true
base_found["location_without_protective_need"] := [] if data.saferefer.rules.minimisation.location_without_protective_need == true
base_found["monitoring_person_level"] := [] if data.saferefer.rules.monitoring.monitoring_person_level == true
base_found["onward_chain_broken"] := [] if data.saferefer.rules.onward.onward_chain_broken == true
base_found["onward_chain_missing"] := [] if data.saferefer.rules.onward.onward_chain_missing == true
base_found["onward_requires_forward"] := [] if data.saferefer.rules.onward.onward_requires_forward == true
base_found["origin_consent_not_naming_recipient"] := [] if data.saferefer.rules.crossborder.origin_consent_not_naming_recipient == true
base_found["origin_disclosure_asylum"] := [] if data.saferefer.rules.crossborder.origin_disclosure_asylum == true
base_found["origin_return_not_voluntary"] := [] if data.saferefer.rules.crossborder.origin_return_not_voluntary == true
base_found["origin_risk_assessment_missing"] := [] if data.saferefer.rules.crossborder.origin_risk_assessment_missing == true
base_found["prosecution_of_subject"] := [] if data.saferefer.rules.firewall.prosecution_of_subject == true
base_found["public_authority_consent_derogation"] := [] if data.saferefer.rules.crossborder.public_authority_consent_derogation == true
base_found["purpose_not_valid_for_action"] := [] if data.saferefer.rules.accountability.purpose_not_valid_for_action == true
base_found["recipient_missing"] := [] if data.saferefer.rules.accountability.recipient_missing == true
base_found["recipient_not_contact_point"] := [] if data.saferefer.rules.crossborder.recipient_not_contact_point == true
base_found["recipient_role_not_permitted"] := [] if data.saferefer.rules.minimisation.recipient_role_not_permitted == true
base_found["referral_refused"] := [] if data.saferefer.rules.support.referral_refused == true
base_found["reflection_period_end_missing"] := [] if data.saferefer.rules.firewall.reflection_period_end_missing == true
base_found["removal_during_reflection"] := [] if data.saferefer.rules.firewall.removal_during_reflection == true
base_found["retain_until_missing"] := [] if data.saferefer.rules.minimisation.retain_until_missing == true
base_found["retain_until_past"] := [] if data.saferefer.rules.minimisation.retain_until_past == true
base_found["return_safeguards_missing"] := sort(data.saferefer.rules.crossborder.return_safeguards_missing) if count(data.saferefer.rules.crossborder.return_safeguards_missing) > 0
base_found["risk_notice_cross_border"] := [] if data.saferefer.rules.emergency.risk_notice_cross_border == true
base_found["risk_notice_not_minimal"] := sort(data.saferefer.rules.emergency.risk_notice_not_minimal) if count(data.saferefer.rules.emergency.risk_notice_not_minimal) > 0
base_found["risk_notice_recipient_not_protective"] := [] if data.saferefer.rules.emergency.risk_notice_recipient_not_protective == true
base_found["risk_notice_without_basis"] := [] if data.saferefer.rules.emergency.risk_notice_without_basis == true
base_found["risk_to_life_not_established"] := [] if data.saferefer.rules.emergency.risk_to_life_not_established == true
base_found["sender_missing"] := [] if data.saferefer.rules.accountability.sender_missing == true
base_found["special_category_not_explicit"] := sort(data.saferefer.rules.consent.special_category_not_explicit) if count(data.saferefer.rules.consent.special_category_not_explicit) > 0
base_found["special_category_not_strictly_necessary"] := sort(data.saferefer.rules.consent.special_category_not_strictly_necessary) if count(data.saferefer.rules.consent.special_category_not_strictly_necessary) > 0
base_found["statistics_not_aggregate"] := [] if data.saferefer.rules.monitoring.statistics_not_aggregate == true
base_found["statistics_small_cell"] := [] if data.saferefer.rules.monitoring.statistics_small_cell == true
base_found["support_conditional_on_cooperation"] := [] if data.saferefer.rules.support.support_conditional_on_cooperation == true
base_found["support_conditional_on_identification"] := [] if data.saferefer.rules.support.support_conditional_on_identification == true
base_found["third_country_transfer_unsafeguarded"] := [] if data.saferefer.rules.crossborder.third_country_transfer_unsafeguarded == true
base_found["unknown_action"] := [] if data.saferefer.rules.accountability.unknown_action == true
base_found["unknown_category"] := sort(data.saferefer.rules.accountability.unknown_category) if count(data.saferefer.rules.accountability.unknown_category) > 0
base_found["unknown_purpose"] := [] if data.saferefer.rules.accountability.unknown_purpose == true
base_found["unknown_role"] := [] if data.saferefer.rules.accountability.unknown_role == true

involved_countries := {country |
	some party in ["sender", "recipient"]
	country := input[party].country
}

overlay_found[code] := [] if {
	some pair in index.overlay_violations
	country := pair[0]
	country in involved_countries
	code := pair[1]
	data.overlays[country][code] == true
}

overlay_found[code] := categories if {
	some pair in index.overlay_violations
	country := pair[0]
	country in involved_countries
	code := pair[1]
	value := data.overlays[country][code]
	is_set(value)
	count(value) > 0
	categories := sort(value)
}

found := object.union(base_found, overlay_found)

justification_text[rule] := concat(" | ", texts) if {
	some given in input.justifications
	rule := given.rule
	texts := sort({j.text | some j in input.justifications; j.rule == rule})
}

# A SHOULD finding with a documented justification becomes an obligation (RIGHTS.md levels).
justified contains code if {
	some pair in index.should_violations
	code := pair[0]
	found[code]
	justification_text[pair[1]]
}

base_codes := [code | some pair in index.base_violations; code := pair[1]; base_found[code]]

overlay_codes := [code | some pair in index.overlay_violations; code := pair[1]; overlay_found[code]]

base_blocking := {code | some code in base_codes; not code in justified}

overlay_blocking := {code | some code in overlay_codes; not code in justified}

blocking := sort(base_blocking | overlay_blocking)

fired_obligations contains "acknowledge_withdrawal" if data.saferefer.rules.accountability.acknowledge_withdrawal == true
fired_obligations contains "delete_by_retain_until" if data.saferefer.rules.minimisation.delete_by_retain_until == true
fired_obligations contains "minimal_immigration_status" if data.saferefer.rules.minimisation.minimal_immigration_status == true
fired_obligations contains "pseudonymise_identity" if data.saferefer.rules.minimisation.pseudonymise_identity == true
fired_obligations contains "record_decision" if data.saferefer.rules.accountability.record_decision == true
fired_obligations contains "treat_as_child" if data.saferefer.rules.children.treat_as_child == true

fired_obligations contains code if {
	some pair in index.overlay_obligations
	country := pair[0]
	country in involved_countries
	code := pair[1]
	data.overlays[country][code] == true
}

# The violation and obligation objects are the catalogue's templates, with the categories
# found or the justification given added.
violation[code] := templates.violations[code] if {
	some code in blocking
	count(found[code]) == 0
}

violation[code] := object.union(templates.violations[code], {"categories": categories}) if {
	some code in blocking
	categories := found[code]
	count(categories) > 0
}

violations := [entry | some code in blocking; entry := violation[code]]

obligation[code] := templates.obligations[code] if {
	some code in fired_obligations
}

obligation[code] := object.union(templates.obligations[code], {"justification": text}) if {
	some pair in index.should_violations
	code := pair[0]
	code in justified
	text := justification_text[pair[1]]
}

obligations := [entry | some code in sort(fired_obligations | justified); entry := obligation[code]]

requested := sort({category | some category in input.data_categories})

flagged := {category | some code in blocking; some category in found[code]}

request_level := {code | some code in blocking; count(found[code]) == 0}

default permitted_categories := []

permitted_categories := requested if allow

# Denied only for category-level reasons: the categories no violation names.
permitted_categories := [category | some category in requested; not category in flagged] if {
	not allow
	count(blocking) > 0
	count(request_level) == 0
}
