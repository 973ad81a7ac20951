# METADATA
# title: Risk-to-life notices (R16)
# description: >-
#   A minimal notice may go to a protective service without detailed consent when a life is at
#   risk. It is always logged with its basis: the R16 justification in the input becomes an
#   obligation of the decision.
package saferefer.rules.emergency

import data.saferefer.facts

notice if input.action == "risk_notice.send"

minimal_categories := {"contact", "language_needs", "location", "safety_risks"}

protective_services := {
	"child_protection", "health_provider", "ngo_service_provider",
	"police", "shelter", "social_services",
}

# METADATA
# title: Risk-to-life notice without a recorded basis
# custom:
#   rule: R16
#   level: SHOULD
#   legal_basis: GDPR arts 6(1)(d), 9(2)(c)
#   fix: Add a justification for R16 stating the risk to life and who assessed it.
#   fr: Signalement de danger de mort sans base juridique consignée
risk_notice_without_basis if notice

# METADATA
# title: Risk-to-life notice without an established risk to life
# custom:
#   rule: R16
#   level: MUST
#   legal_basis: GDPR arts 6(1)(d), 9(2)(c)
#   fix: Use a consent-based referral; the exception needs context.risk_to_life.
#   fr: Signalement de danger de mort sans danger établi
risk_to_life_not_established if {
	notice
	not input.context.risk_to_life
}

# METADATA
# title: Risk-to-life notice carries more than the minimum
# custom:
#   rule: R16
#   level: MUST
#   legal_basis: GDPR arts 5(1)(c), 6(1)(d)
#   fix: Remove the listed categories; a notice carries only contact, location, language needs and safety risks.
#   fr: Le signalement de danger de mort contient plus que le minimum
risk_notice_not_minimal contains category if {
	notice
	some category in facts.requested
	not category in minimal_categories
}

# METADATA
# title: Risk-to-life notice to a recipient that is not a protective service
# custom:
#   rule: R16
#   level: MUST
#   legal_basis: GDPR art 6(1)(d)
#   fix: Send the notice to police, child protection, social services, a shelter, an NGO or a health provider.
#   fr: Signalement de danger de mort à un destinataire qui n'est pas un service de protection
risk_notice_recipient_not_protective if {
	notice
	count(facts.recipient_roles & protective_services) == 0
}

# METADATA
# title: Risk-to-life notice across a border
# custom:
#   rule: R16
#   level: MUST
#   legal_basis: GDPR arts 6(1)(d), 49(1)(f)
#   fix: Send the notice to a protective service in the same country; it alerts its foreign counterparts.
#   fr: Signalement de danger de mort transfrontalier
risk_notice_cross_border if {
	notice
	facts.cross_border
}
