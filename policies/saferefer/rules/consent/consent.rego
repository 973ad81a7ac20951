# METADATA
# title: Consent and legal basis (R5-R10)
# description: >-
#   A disclosure needs an active, unexpired consent that names the recipient, the purpose and
#   every category; consents recorded by enforcement authorities are no basis; special
#   categories need explicit consent; the consent record says how the person was informed.
package saferefer.rules.consent

import data.saferefer.facts

# METADATA
# title: No active consent names this recipient and purpose
# custom:
#   rule: R5
#   level: MUST
#   legal_basis: GDPR arts 4(11), 7, recital 43
#   fix: Cite an active consent with a grant naming the recipient (organisation, or role and country) and the purpose.
#   fr: Aucun consentement actif ne désigne ce destinataire et cette finalité
consent_missing if {
	facts.disclosure
	count(facts.covering_grants) == 0
}

# METADATA
# title: Data categories not covered by the consent grant
# custom:
#   rule: R5
#   level: MUST
#   legal_basis: GDPR arts 4(11), 7, recital 43
#   fix: Remove the listed categories, or record a consent grant that covers them.
#   fr: Catégories de données non couvertes par le consentement
consent_categories_not_covered contains category if {
	count(facts.covering_grants) > 0
	facts.disclosure
	some category in facts.requested
	not category in facts.covered_categories
}

# METADATA
# title: A cited consent is withdrawn, expired, superseded or not yet valid
# custom:
#   rule: R6
#   level: MUST
#   legal_basis: GDPR art 7(3)
#   fix: Cite only active consents inside their validity period; ask the person for a new consent if needed.
#   fr: Un consentement cité est retiré, expiré, remplacé ou pas encore valide
consent_not_valid if {
	facts.consent_action
	input.action != "consent.record"
	some i, consent in input.consents
	consent.valid_until
	not i in facts.current
}

# METADATA
# title: A cited consent has no expiry date
# custom:
#   rule: R6
#   level: MUST
#   legal_basis: GDPR art 7(3); GDPR art 5(1)(e)
#   fix: Record valid_until on every consent.
#   fr: Un consentement cité n'a pas de date d'expiration
consent_expiry_missing if {
	facts.consent_action
	some consent in input.consents
	not consent.valid_until
}

# METADATA
# title: A cited consent was recorded by an enforcement authority
# custom:
#   rule: R7
#   level: MUST
#   legal_basis: GDPR recital 43 (imbalance of power)
#   fix: Have an independent organisation (NGO, social services, legal aid) obtain the consent.
#   fr: Un consentement cité a été recueilli par une autorité répressive
consent_recorded_by_enforcement if {
	facts.consent_action
	count(facts.enforcement_recorded) > 0
}

# METADATA
# title: Special-category data without explicit consent for that category
# custom:
#   rule: R8
#   level: MUST
#   legal_basis: GDPR art 9(2)(a)
#   fix: Remove the listed categories, or record the person's explicit consent for each of them.
#   fr: Données sensibles sans consentement explicite pour cette catégorie
special_category_not_explicit contains category if {
	facts.disclosure
	some category in facts.requested
	data.saferefer.codes.categories[category].special
	not category in facts.explicit_categories
}

# METADATA
# title: Special-category data to police or prosecutors that is not strictly necessary
# custom:
#   rule: R8
#   level: MUST
#   legal_basis: Dir 2016/680 art 10; GDPR art 9
#   fix: Remove the listed categories unless they are strictly necessary for the declared purpose
#     (set payload_flags.strictly_necessary).
#   fr: Données sensibles transmises à la police ou au parquet sans stricte nécessité
special_category_not_strictly_necessary contains category if {
	facts.disclosure
	facts.police_or_prosecutor_recipient
	not input.payload_flags.strictly_necessary
	some category in facts.requested
	data.saferefer.codes.categories[category].special
}

# METADATA
# title: A cited consent does not record the language used or whether an interpreter took part
# scope: document
# custom:
#   rule: R9
#   level: MUST
#   legal_basis: CETS197 art 12(1)(c)-(d); GDPR art 7(2)
#   fix: Record the language of the information and consent, and whether an interpreter took part.
#   fr: Le consentement n'indique pas la langue utilisée ni la présence d'un interprète
consent_language_not_recorded if {
	facts.consent_action
	some consent in input.consents
	not consent.language
}

consent_language_not_recorded if {
	facts.consent_action
	some consent in input.consents
	not interpreter_recorded(consent)
}

interpreter_recorded(consent) if is_boolean(consent.interpreter)

# METADATA
# title: Exploitation account to police or prosecutors without a recorded decision to cooperate
# custom:
#   rule: R10
#   level: SHOULD
#   legal_basis: CETS197 art 13
#   fix: Remove the exploitation account, record the person's decision to cooperate, or add a justification for R10.
#   fr: Récit d'exploitation transmis à la police ou au parquet sans décision de coopérer
exploitation_account_without_cooperation_decision if {
	facts.disclosure
	facts.police_or_prosecutor_recipient
	"exploitation_account" in facts.requested
	not input.context.decision_to_cooperate.recorded
}
