# METADATA
# title: Children (R26-R29)
# description: >-
#   A person who may be a child is treated as one; a child has an independent guardian and is
#   heard; a child's identity never reaches the public; nothing goes abroad or to the country
#   of origin without a risk and security assessment and a best-interests determination.
package saferefer.rules.children

import data.saferefer.facts

# Actions that concern the child directly.
child_action if {
	facts.child
	not input.action in {"statistics.read", "withdrawal.notify"}
}

# Everything but a risk-to-life notice, which may reach a protective service before a guardian
# is appointed or the child is heard (R16); the emergency rules keep that notice minimal.
child_record_action if {
	child_action
	input.action != "risk_notice.send"
}

identifying := {"identity", "photo_biometrics"}

# METADATA
# title: Apply every child rule until the age is established
# custom:
#   rule: R26
#   kind: obligation
#   legal_basis: CETS197 art 10(3); Dir 2011/36 art 13(2)
#   fr: Appliquer toutes les règles relatives aux enfants tant que l'âge n'est pas établi
treat_as_child if input.subject.age_status == "unknown_possible_child"

# METADATA
# title: No guardian or representative recorded for a child
# custom:
#   rule: R27
#   level: MUST
#   legal_basis: Dir 2011/36 arts 14(2), 16(3); CETS197 art 10(4)
#   fix: Record the child's guardian or representative (subject.guardian.recorded).
#   fr: Aucun tuteur ou représentant enregistré pour l'enfant
child_guardian_missing if {
	child_record_action
	not input.subject.guardian.recorded
}

# METADATA
# title: The child's views are not recorded
# custom:
#   rule: R27
#   level: MUST
#   legal_basis: Dir 2011/36 art 14(2); UNCRC art 12
#   fix: Hear the child and record their views (subject.child_views_recorded).
#   fr: L'avis de l'enfant n'est pas consigné
child_views_missing if {
	child_record_action
	not input.subject.child_views_recorded
}

# METADATA
# title: Consent for a child given by a representative with a conflict of interest
# scope: document
# custom:
#   rule: R27
#   level: MUST
#   legal_basis: Dir 2011/36 art 14(2); CETS197 art 10(4)
#   fix: Have an independent guardian or representative without a conflict of interest consent.
#   fr: Consentement donné pour l'enfant par un représentant en conflit d'intérêts
consent_by_conflicted_representative if {
	child_action
	some consent in input.consents
	consent.given_by.conflict_of_interest
}

consent_by_conflicted_representative if {
	child_action
	input.subject.guardian.conflict_of_interest
}

# METADATA
# title: Consent for a child without a recorded giver or conflict-of-interest check
# scope: document
# custom:
#   rule: R27
#   level: MUST
#   legal_basis: Dir 2011/36 arts 14(2), 16(3); CETS197 art 10(4)
#   fix: Record who gave the consent (given_by.kind) and, when someone other than the child gave
#     it, the outcome of the conflict-of-interest check (given_by.conflict_of_interest).
#   fr: Consentement pour l'enfant sans donneur enregistré ni vérification de conflit d'intérêts
child_consent_conflict_unchecked if {
	child_action
	facts.consent_action
	some consent in input.consents
	not consent.given_by.kind
}

child_consent_conflict_unchecked if {
	child_action
	facts.consent_action
	some consent in input.consents
	consent.given_by.kind != "subject"
	object.get(consent.given_by, "conflict_of_interest", null) == null
}

# METADATA
# title: A child's identity to a public- or media-facing recipient
# custom:
#   rule: R28
#   level: MUST
#   legal_basis: CETS197 art 11(2); Dir 2012/29 art 21
#   fix: Remove the listed categories; a child's identity never reaches public- or media-facing recipients.
#   fr: Identité d'un enfant transmise à un destinataire tourné vers le public ou les médias
child_identity_to_public_facing contains category if {
	child_action
	facts.discloses
	input.recipient.public_facing
	some category in facts.requested
	category in identifying
}

assessed if {
	facts.risk_assessed_no_risk
	input.context.risk_assessment.security_assessment
	input.context.best_interests_determination.done
}

abroad if facts.cross_border

abroad if facts.origin_actor

# METADATA
# title: A child's data abroad or to the country of origin without risk, security and best-interests assessments
# custom:
#   rule: R29
#   level: MUST
#   legal_basis: CETS197 art 16(7); Dir 2011/36 art 14
#   fix: Document a risk and security assessment finding no risk and a best-interests determination first.
#   fr: Données d'un enfant transmises à l'étranger sans évaluation des risques et de l'intérêt supérieur
child_return_without_assessment if {
	child_action
	facts.discloses
	abroad
	not assessed
}
