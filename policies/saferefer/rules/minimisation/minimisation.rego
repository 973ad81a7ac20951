# METADATA
# title: Purpose limitation and data minimisation (R11-R13, R32, R33)
# description: >-
#   Every category must fit the minimisation-matrix cell for the purpose and the recipient's
#   role (data.saferefer.matrix), the recipient must hold a role permitted for the purpose,
#   assistance data is never turned against the person, and referrals carry a deletion date.
package saferefer.rules.minimisation

import data.saferefer.facts

protective_roles := {"ngo_service_provider", "shelter", "social_services", "child_protection"}

# METADATA
# title: Data categories the minimisation matrix never allows for this recipient
# custom:
#   rule: R11
#   level: MUST
#   legal_basis: GDPR art 5(1)(b)-(c)
#   fix: Remove the listed categories; the matrix marks them N for this recipient role.
#   fr: Catégories de données que la matrice de minimisation interdit pour ce destinataire
category_not_permitted contains category if {
	facts.disclosure
	some category in facts.requested
	facts.category_rank[category] == data.saferefer.matrix.levels.N
}

# METADATA
# title: Data categories whose matrix condition is not met
# custom:
#   rule: R11
#   level: MUST
#   legal_basis: GDPR art 5(1)(b)-(c)
#   fix: Remove the listed categories, or meet the condition of the matrix cell (see policies/README.md).
#   fr: Catégories de données dont la condition de la matrice n'est pas remplie
category_condition_unmet contains category if {
	facts.disclosure
	some [category, condition] in facts.conditions
	facts.category_rank[category] < data.saferefer.matrix.levels.N
	not condition in facts.met
}

# METADATA
# title: Data categories the declared purpose does not need
# custom:
#   rule: R11
#   level: MUST
#   legal_basis: GDPR art 5(1)(c)
#   fix: Remove the listed categories; the purpose does not need them.
#   fr: Catégories de données inutiles pour la finalité déclarée
category_not_needed_for_purpose contains category if {
	facts.disclosure
	some category in facts.requested
	not needed_for_purpose(category)
}

# A function, so that a missing purpose makes every category unneeded in OPA and rego-cpp alike.
needed_for_purpose(category) if category in data.saferefer.matrix.purpose_categories[input.purpose]

# METADATA
# title: This action carries no personal data
# custom:
#   rule: R11
#   level: MUST
#   legal_basis: GDPR art 5(1)(c)
#   fix: Send consent records and withdrawal notices without payload data categories.
#   fr: Cette action ne transporte aucune donnée personnelle
categories_not_allowed_for_action contains category if {
	input.action in {"consent.record", "withdrawal.notify"}
	some category in facts.requested
}

# METADATA
# title: Assistance data used for immigration enforcement or prosecution of the person
# custom:
#   rule: R12
#   level: MUST
#   legal_basis: GDPR art 5(1)(b); CETS197 art 26; OHCHR Principle 7
#   fix: Do not disclose; data collected to assist the person cannot be used against them.
#   fr: Données d'assistance utilisées contre la personne (éloignement ou poursuites)
assistance_data_used_against_subject if {
	facts.discloses
	facts.against_subject
	collected_for_support
}

collected_for_support if data.saferefer.codes.purposes[input.context.collected_for].kind == "support"

collected_for_support if facts.purpose_kind == "support"

collected_for_support if facts.support_sender

# METADATA
# title: The referral has no retain_until date
# custom:
#   rule: R13
#   level: SHOULD
#   legal_basis: GDPR art 5(1)(e)
#   fix: Set context.retain_until, or add a justification for R13.
#   fr: L'orientation n'a pas de date de conservation maximale
retain_until_missing if {
	input.action in {"referral.send", "referral.forward"}
	not input.context.retain_until
}

# METADATA
# title: The retain_until date is already past
# custom:
#   rule: R13
#   level: SHOULD
#   legal_basis: GDPR art 5(1)(e)
#   fix: Set a retain_until date in the future, or add a justification for R13.
#   fr: La date de conservation maximale est déjà dépassée
retain_until_past if {
	input.action in {"referral.send", "referral.forward"}
	facts.instant(input.context.retain_until) <= facts.now
}

# METADATA
# title: Delete the referral by its retain_until date
# custom:
#   rule: R13
#   kind: obligation
#   legal_basis: GDPR art 5(1)(e)
#   fr: Supprimer l'orientation à sa date de conservation maximale
delete_by_retain_until if {
	input.action in {"referral.send", "referral.forward"}
	input.context.retain_until
}

# METADATA
# title: Use a pseudonym for the person's identity where the inspection allows it
# custom:
#   rule: R11
#   kind: obligation
#   legal_basis: GDPR arts 5(1)(c), 25
#   fr: Utiliser un pseudonyme pour l'identité lorsque l'inspection le permet
pseudonymise_identity if {
	facts.disclosure
	"pseudonymise_identity" in facts.matrix_obligations
}

# METADATA
# title: Share only the immigration status the shelter placement needs
# custom:
#   rule: R11
#   kind: obligation
#   legal_basis: GDPR art 5(1)(c)
#   fr: Ne communiquer que le statut migratoire nécessaire à l'hébergement
minimal_immigration_status if {
	facts.disclosure
	"minimal_immigration_status" in facts.matrix_obligations
}

# METADATA
# title: The recipient holds no role permitted to receive this purpose
# custom:
#   rule: R32
#   level: MUST
#   legal_basis: GDPR art 5(1)(b); Primero user_can_receive (design)
#   fix: Choose a recipient whose role may receive this purpose (policies/README.md, purpose roles).
#   fr: Le destinataire n'a aucun rôle autorisé pour cette finalité
recipient_role_not_permitted if {
	input.action in {"referral.send", "referral.forward", "referral.read", "statistics.read"}
	not permitted_recipient
}

permitted_recipient if {
	some role in data.saferefer.matrix.purpose_roles[input.purpose]
	role in facts.recipient_roles
}

# METADATA
# title: Location or shelter address to a recipient without a protective need
# custom:
#   rule: R33
#   level: SHOULD
#   legal_basis: CETS197 arts 12(1)(a), 28
#   fix: Remove location, set context.protective_need when the recipient protects the person, or
#     add a justification for R33.
#   fr: Localisation transmise à un destinataire sans besoin de protection
location_without_protective_need if {
	facts.disclosure
	"location" in facts.requested
	count(facts.recipient_roles & protective_roles) == 0
	not input.context.protective_need
}
