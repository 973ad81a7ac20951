# METADATA
# title: Firewall and non-punishment (R17-R20)
# description: >-
#   Support services and labour inspectors never become a channel to immigration enforcement;
#   nothing serves removal during identification or the reflection period; nothing serves the
#   prosecution of the person for what they were compelled to do.
package saferefer.rules.firewall

import data.saferefer.facts

# Senders the firewall keeps from becoming a channel to immigration enforcement (R17).
senders_behind_firewall := {
	"child_protection", "health_provider", "labour_inspectorate", "legal_aid",
	"ngo_service_provider", "shelter", "social_services",
}

immigration_data if "immigration_status" in facts.requested

immigration_data if input.payload_flags.reveals_irregular_status

# An application the person chose to make (reflection period, residence permit, asylum).
own_application if {
	facts.purpose_kind == "status_application"
	not input.payload_flags.for_immigration_enforcement
}

# METADATA
# title: Immigration status from a support service or labour inspectorate to immigration enforcement
# scope: document
# custom:
#   rule: R17
#   level: MUST
#   legal_basis: ILO C81 art 3(2) and supervisory comments; PICUM/FLEX firewall (design, above the EU minimum)
#   fix: Remove immigration status and anything revealing irregular stay or work.
#   fr: Statut migratoire transmis par un service d'aide ou l'inspection du travail aux autorités d'immigration
firewall_immigration_status if {
	facts.discloses
	count(facts.sender_roles & senders_behind_firewall) > 0
	immigration_data
	"immigration_authority" in input.recipient.roles
	not own_application
}

firewall_immigration_status if {
	facts.discloses
	count(facts.sender_roles & senders_behind_firewall) > 0
	immigration_data
	input.payload_flags.for_immigration_enforcement
}

# Labour inspection is not immigration enforcement (ILO C81 art 3(2)): a labour inspectorate
# never discloses immigration data to an immigration authority, whatever the purpose. The
# person's own application (footnote ¹) goes through an NGO or legal aid, not the inspectorate.
firewall_immigration_status if {
	facts.discloses
	"labour_inspectorate" in facts.sender_roles
	immigration_data
	"immigration_authority" in input.recipient.roles
}

# METADATA
# title: Disclosure for removal, expulsion or detention during identification or the reflection period
# custom:
#   rule: R18
#   level: MUST
#   legal_basis: CETS197 arts 10(2), 13(1)
#   fix: Do not disclose for removal, expulsion or detention while identification or the reflection period runs.
#   fr: Communication en vue d'un éloignement pendant l'identification ou le délai de réflexion
removal_during_reflection if {
	facts.discloses
	facts.protection_window
	input.payload_flags.for_immigration_enforcement
}

# METADATA
# title: Reflection period active without an end date
# custom:
#   rule: R18
#   level: MUST
#   legal_basis: CETS197 art 13(1)
#   fix: Record the end date of the reflection period (context.reflection_period.ends_at).
#   fr: Délai de réflexion en cours sans date de fin
reflection_period_end_missing if {
	facts.discloses
	input.context.reflection_period.active
	not input.context.reflection_period.ends_at
}

# METADATA
# title: Disclosure to prosecute or penalise the person
# custom:
#   rule: R19
#   level: MUST
#   legal_basis: CETS197 art 26; OHCHR Guideline 4.5
#   fix: Do not disclose; victims are not punished for offences they were compelled to commit.
#   fr: Communication en vue de poursuivre ou sanctionner la personne
prosecution_of_subject if {
	facts.discloses
	input.payload_flags.for_prosecution_of_subject
}

# METADATA
# title: Criminal record to police or prosecutors without the person's request
# custom:
#   rule: R19
#   level: MUST
#   legal_basis: CETS197 art 26; GDPR art 10
#   fix: Remove criminal_record unless the person asked for a non-punishment assessment.
#   fr: Casier judiciaire transmis à la police ou au parquet sans demande de la personne
criminal_record_without_request if {
	facts.discloses
	"criminal_record" in facts.requested
	facts.police_or_prosecutor_recipient
	not input.payload_flags.non_punishment_request
}

# METADATA
# title: Labour inspectorate referral to police that does not shield the complainant
# custom:
#   rule: R20
#   level: SHOULD
#   legal_basis: ILO C81 art 15(c)
#   fix: Shield the complainant's identity from the employer
#     (payload_flags.complainant_identity_shielded), or add a justification for R20.
#   fr: Signalement de l'inspection du travail à la police sans protection de l'identité du plaignant
labour_complainant_not_shielded if {
	facts.discloses
	"labour_inspectorate" in input.sender.roles
	facts.police_or_prosecutor_recipient
	"identity" in facts.requested
	not input.payload_flags.complainant_identity_shielded
}

# METADATA
# title: Labour inspectorate referral to police that reveals irregular stay or work
# custom:
#   rule: R20
#   level: SHOULD
#   legal_basis: ILO C81 art 15(c)
#   fix: Leave out whatever reveals irregular stay or work (payload_flags.reveals_irregular_status),
#     or add a justification for R20.
#   fr: Signalement de l'inspection du travail à la police révélant un séjour ou un travail irréguliers
labour_referral_reveals_irregular_status if {
	facts.discloses
	"labour_inspectorate" in input.sender.roles
	facts.police_or_prosecutor_recipient
	input.payload_flags.reveals_irregular_status
}
