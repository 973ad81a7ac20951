# METADATA
# title: Facts derived from a policy decision input
# description: >-
#   Derived facts shared by every rule family (who counts as a child, which consents are
#   usable, which minimisation-matrix columns apply), so that all rules read the input the
#   same way. This package produces no violations itself.
#
#   Written for two engines: OPA and rego-cpp (regopy). rego-cpp evaluates user functions far
#   more slowly than rules and builtins, so hot paths use rules and data lookups, not functions.
package saferefer.facts

# Timestamps are RFC 3339 UTC with a "Z" suffix (policy-input schema). Comparing their first
# 19 characters compares them at second resolution without time builtins, which rego-cpp lacks.
instant(timestamp) := substring(timestamp, 0, 19)

now := substring(input.context.now, 0, 19)

# Disclosures of a referral's payload, decided under a consent (R5).
disclosure if input.action in {"referral.send", "referral.forward", "referral.read"}

# Every action that moves personal data to a recipient.
discloses if disclosure

discloses if input.action == "risk_notice.send"

# Actions that cite consents as their basis or record one; a withdrawal notice cites a
# withdrawn consent on purpose and is excluded.
consent_action if input.action in {"referral.send", "referral.forward", "referral.read", "consent.record"}

requested := {category | some category in input.data_categories}

recipient_roles := {role | some role in input.recipient.roles}

sender_roles := {role | some role in input.sender.roles}

purpose_kind := data.saferefer.codes.purposes[input.purpose].kind

# R26: an uncertain age that may be a child's triggers every child rule.
child if input.subject.age_status in {"child", "unknown_possible_child"}

# An age nobody stated may be a child's (R26, R30).
child if not input.subject.age_status

cross_border if input.sender.country != input.recipient.country

recipient_enforcement if {
	some role in input.recipient.roles
	data.saferefer.codes.roles[role].enforcement
}

recipient_monitoring if {
	some role in input.recipient.roles
	data.saferefer.codes.roles[role].monitoring
}

recipient_public_authority if {
	some role in input.recipient.roles
	data.saferefer.codes.roles[role].public_authority
}

sender_enforcement if {
	some role in input.sender.roles
	data.saferefer.codes.roles[role].enforcement
}

sender_public_authority if {
	some role in input.sender.roles
	data.saferefer.codes.roles[role].public_authority
}

support_sender if {
	some role in input.sender.roles
	data.saferefer.codes.roles[role].group == "support"
}

police_or_prosecutor_recipient if count(recipient_roles & {"police", "prosecutor"}) > 0

embassy if "embassy_of_origin" in input.recipient.roles

# A recipient across the border in the person's country of origin, or across any border when
# the origin is unknown (R22, R30). A recipient in the sender's own country is never one: for a
# person who is a national of the country they are in, domestic referrals are not contacts with
# the country of origin.
in_origin_country if {
	cross_border
	input.recipient.country == input.subject.origin_country
}

in_origin_country if {
	cross_border
	not input.subject.origin_country
}

# Anyone in the person's country of origin, and that country's embassy (R22).
origin_actor if embassy

origin_actor if in_origin_country

# Public authorities of the country of origin (R21).
origin_authority if embassy

origin_authority if {
	in_origin_country
	recipient_public_authority
}

# A transfer from the EEA to a country where the GDPR does not apply (R23).
third_country_transfer if {
	cross_border
	data.saferefer.codes.eea[input.sender.country]
	not recipient_in_eea
}

recipient_in_eea if data.saferefer.codes.eea[input.recipient.country]

protection_window if input.context.reflection_period.active

protection_window if input.context.identification_ongoing

# A reflection period whose end lies ahead is running, whatever its `active` flag says.
protection_window if instant(input.context.reflection_period.ends_at) > now

against_subject if input.payload_flags.for_immigration_enforcement

against_subject if input.payload_flags.for_prosecution_of_subject

risk_assessed_no_risk if {
	input.context.risk_assessment.done
	input.context.risk_assessment.finding == "no_risk"
}

consensual_return if input.context.return.kind in {"voluntary", "court_ordered"}

# "R" cells of the matrix: a documented risk assessment finding no risk and a voluntary
# (or court-ordered) return.
return_safeguarded if {
	risk_assessed_no_risk
	consensual_return
}

# Consents and grants are referred to by their index in input.consents (and in its grants):
# sets of whole consent objects are costly to hash in rego-cpp.
enforcement_recorded contains i if {
	some i, consent in input.consents
	data.saferefer.codes.roles[consent.recorded_by.role].enforcement
}

# R7: an enforcement authority's own record, whatever role it was recorded under.
enforcement_recorded contains i if {
	sender_enforcement
	some i, consent in input.consents
	consent.recorded_by.org == input.sender.org
}

# R6: only an active consent inside its validity window covers anything; no expiry, no cover.
current contains i if {
	some i, consent in input.consents
	consent.status == "active"
	substring(consent.valid_until, 0, 19) > now
	not consent.valid_from
}

current contains i if {
	some i, consent in input.consents
	consent.status == "active"
	substring(consent.valid_until, 0, 19) > now
	substring(consent.valid_from, 0, 19) <= now
}

# R6 and R7: the consents that can be a legal basis at all.
usable_consents := current - enforcement_recorded

names_recipient(grant) if grant.recipient.org == input.recipient.org

names_recipient(grant) if {
	grant.recipient.role in input.recipient.roles
	grant.recipient.country == input.recipient.country
}

# [consent index, grant index] of the usable grants naming the recipient and the purpose.
naming_grants contains [i, j] if {
	some i in usable_consents
	some j, grant in input.consents[i].grants
	grant.recipient.org == input.recipient.org
	input.purpose in grant.purposes
}

naming_grants contains [i, j] if {
	some i in usable_consents
	some j, grant in input.consents[i].grants
	grant.recipient.role in input.recipient.roles
	grant.recipient.country == input.recipient.country
	input.purpose in grant.purposes
}

# R14: on a forward, the grants of the consents the data arrived under cover it only when they
# allow onward sharing; otherwise the forward needs a consent of its own.
inherited_grants contains [i, j] if {
	input.action == "referral.forward"
	some link in input.context.based_on
	some i, consent in input.consents
	consent.id in link.consent_ids
	some j, grant in consent.grants
	not grant.onward_sharing
}

covering_grants := naming_grants - inherited_grants

covering_consents contains pair[0] if some pair in covering_grants

covered_categories contains category if {
	some pair in covering_grants
	some category in input.consents[pair[0]].grants[pair[1]].data_categories
}

explicit_categories contains category if {
	some pair in covering_grants
	some category in input.consents[pair[0]].grants[pair[1]].explicit_categories
}

# R21: a grant that names the recipient organisation itself, not just its role.
names_recipient_org if {
	some pair in covering_grants
	input.consents[pair[0]].grants[pair[1]].recipient.org == input.recipient.org
}

# The roles in which the recipient acts for this purpose; all its roles when none fits
# (R32 then denies anyway).
fitting_roles := recipient_roles & {role | some role in data.saferefer.matrix.purpose_roles[input.purpose]}

# An organisation holding an enforcement role is judged by every role it holds: an
# enforcement body never receives as an NGO (R11, R17).
acting_roles := fitting_roles if {
	count(fitting_roles) > 0
	not recipient_enforcement
}

acting_roles := recipient_roles if {
	count(fitting_roles) == 0
	not recipient_enforcement
}

acting_roles := recipient_roles if recipient_enforcement

# Minimisation-matrix columns: the origin embassy, a foreign column for cross-border
# recipients, otherwise one column per acting role.
columns contains "embassy_of_origin" if embassy

columns contains column if {
	not embassy
	cross_border
	some role in acting_roles
	column := data.saferefer.matrix.foreign_columns[role]
}

columns contains role if {
	not embassy
	not cross_border
	some role in acting_roles
}

# The ranks of the matrix cells, by column and category (data.saferefer.ranks, generated from
# the matrix by policies/tools/ranks.py): for a child every foreign-recipient cell is at least
# "R" (R26-R29).
ranks := data.saferefer.ranks.child if child

ranks := data.saferefer.ranks.adult if not child

# [category, column, rank] for every requested category and applicable column; a missing cell
# ranks as "N": no explicit rule, no disclosure (R30).
ranked contains [category, column, rank] if {
	some category in requested
	some column in columns
	rank := object.get(ranks, [column, category], data.saferefer.matrix.levels.N)
}

# The most restrictive cell over the applicable columns.
category_rank[category] := max(ranks) if {
	some category in requested
	ranks := [entry[2] | some entry in ranked; entry[0] == category]
	count(ranks) > 0
}

# [category, condition] pairs the matrix attaches to the applicable cells.
conditions contains [category, condition] if {
	some category in requested
	some column in columns
	some condition in data.saferefer.matrix.conditions[category][column]
}

# Footnote 1 of the matrix: an application the person chose to make, never one used against them.
met contains "own_application" if {
	purpose_kind == "status_application"
	not against_subject
}

met contains "forensic" if {
	input.payload_flags.forensic_evidence
	input.payload_flags.strictly_necessary
}

met contains "labour_facts" if input.payload_flags.labour_facts_only

met contains "reception" if input.purpose in {"assistance", "shelter", "safe_return"}

met contains "travel_document" if input.payload_flags.travel_document_only

met contains "purpose_legal_aid" if input.purpose == "legal_aid"

met contains "purpose_compensation" if input.purpose == "compensation_claim"

met contains "purpose_labour_claim" if input.purpose == "labour_rights_claim"

matrix_obligations contains obligation if {
	some category in requested
	some column in columns
	obligation := data.saferefer.matrix.obligations[category][column]
}
