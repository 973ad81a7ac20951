# METADATA
# title: Cross-border transfers and non-refoulement (R21-R25)
# description: >-
#   Nothing reaches the authorities of the country of origin without a risk assessment, a
#   consent naming them and a voluntary or court-ordered return; nothing at all while asylum is
#   pending or possible; transfers outside the EEA need a lawful basis.
package saferefer.rules.crossborder

import data.saferefer.facts

origin_disclosure if {
	facts.discloses
	facts.origin_authority
	count(facts.requested) > 0
}

asylum if input.subject.asylum_pending

asylum if input.subject.asylum_possible

# METADATA
# title: Disclosure to origin-country authorities without a risk assessment finding no risk
# custom:
#   rule: R21
#   level: MUST
#   legal_basis: CETS197 art 16(2); ODIHR Guiding Principles on return
#   fix: Document a risk assessment finding no risk (context.risk_assessment) before contacting
#     origin-country authorities.
#   fr: Communication aux autorités du pays d'origine sans évaluation des risques concluant à l'absence de risque
origin_risk_assessment_missing if {
	origin_disclosure
	not facts.risk_assessed_no_risk
}

# METADATA
# title: Disclosure to origin-country authorities without a consent naming that recipient
# custom:
#   rule: R21
#   level: MUST
#   legal_basis: CETS197 art 16(2); GDPR art 7
#   fix: Cite a consent whose grant names this organisation itself (not only its role).
#   fr: Communication aux autorités du pays d'origine sans consentement désignant ce destinataire
origin_consent_not_naming_recipient if {
	origin_disclosure
	not facts.names_recipient_org
}

# METADATA
# title: Disclosure to origin-country authorities without a voluntary or court-ordered return
# custom:
#   rule: R21
#   level: MUST
#   legal_basis: CETS197 art 16(2); ODIHR Guiding Principles on return
#   fix: Contact origin-country authorities only for a voluntary or court-ordered return (context.return.kind).
#   fr: Communication aux autorités du pays d'origine sans retour volontaire ou ordonné
origin_return_not_voluntary if {
	origin_disclosure
	not facts.consensual_return
}

# METADATA
# title: Data categories marked R in the matrix without risk assessment and voluntary return
# custom:
#   rule: R21
#   level: MUST
#   legal_basis: CETS197 art 16(2); ODIHR Guiding Principles on return
#   fix: Remove the listed categories, or document a risk assessment finding no risk and a voluntary return.
#   fr: Catégories marquées R dans la matrice sans évaluation des risques ni retour volontaire
return_safeguards_missing contains category if {
	facts.disclosure
	not facts.origin_authority
	not facts.return_safeguarded
	some category in facts.requested
	facts.category_rank[category] == data.saferefer.matrix.levels.R
}

# METADATA
# title: Disclosure to origin-country actors while asylum is pending or possible
# custom:
#   rule: R22
#   level: MUST
#   legal_basis: Reg 2024/1348 art 7(2); Refugee Convention art 33
#   fix: Do not contact anyone in the country of origin while an asylum claim is pending or possible.
#   fr: Communication à des acteurs du pays d'origine alors qu'une demande d'asile est en cours ou possible
origin_disclosure_asylum if {
	facts.discloses
	facts.origin_actor
	asylum
}

# METADATA
# title: The fact of an asylum application disclosed to origin-country actors
# scope: document
# custom:
#   rule: R22
#   level: MUST
#   legal_basis: Reg 2024/1348 art 7(2)
#   fix: Remove every mention of an asylum application from what goes to the country of origin.
#   fr: Existence d'une demande d'asile révélée à des acteurs du pays d'origine
asylum_application_disclosed if {
	facts.discloses
	facts.origin_actor
	input.payload_flags.reveals_asylum_application
}

# A disclosure for the purpose of supporting an asylum claim reveals the claim by its purpose.
asylum_application_disclosed if {
	facts.discloses
	facts.origin_actor
	input.purpose == "asylum_support"
}

lawful_transfer if data.saferefer.codes.adequate[input.recipient.country]

lawful_transfer if input.context.transfer.adequacy_decision

# Safeguards other than "none" (a false value counts as none).
lawful_transfer if {
	safeguards := input.context.transfer.safeguards
	not safeguards in {false, "none"}
}

lawful_transfer if {
	consent_derogation
	not facts.sender_public_authority
	some i in facts.covering_consents
	"third_country_transfer" in input.consents[i].risks_informed
}

consent_derogation if input.context.transfer.derogation == "explicit_consent"

# METADATA
# title: Transfer outside the EEA without adequacy, safeguards or an informed explicit consent
# custom:
#   rule: R23
#   level: MUST
#   legal_basis: GDPR arts 44-49; EDPB Guidelines 2/2018
#   fix: Rely on an adequacy decision or appropriate safeguards, or on an explicit consent given
#     after the person was told of the transfer risks.
#   fr: Transfert hors EEE sans adéquation, garanties ni consentement explicite éclairé
third_country_transfer_unsafeguarded if {
	facts.discloses
	facts.third_country_transfer
	not lawful_transfer
}

# METADATA
# title: A public authority relies on consent for a transfer outside the EEA
# custom:
#   rule: R23
#   level: MUST
#   legal_basis: GDPR art 49(3)
#   fix: Public authorities use adequacy, an international agreement or an administrative arrangement, not consent.
#   fr: Une autorité publique invoque le consentement pour un transfert hors EEE
public_authority_consent_derogation if {
	facts.discloses
	facts.third_country_transfer
	consent_derogation
	facts.sender_public_authority
	not lawful_transfer
}

# METADATA
# title: Cross-border recipient is not a registered contact point
# description: >-
#   The origin embassy is exempt: R21 governs it, and it issues travel documents rather than
#   acting as a contact point of the other country's referral mechanism.
# custom:
#   rule: R24
#   level: SHOULD
#   legal_basis: Dir 2011/36 art 11(4) as amended by Dir 2024/1712
#   fix: Refer through the other country's registered contact point, or add a justification for R24.
#   fr: Le destinataire transfrontalier n'est pas un point de contact enregistré
recipient_not_contact_point if {
	facts.discloses
	facts.cross_border
	not facts.embassy
	not input.recipient.contact_point
}

# METADATA
# title: Foreign police reached outside a Law Enforcement Directive channel
# custom:
#   rule: R25
#   level: SHOULD
#   legal_basis: Dir 2016/680 chapter V
#   fix: Use a channel compliant with Dir 2016/680 chapter V
#     (context.transfer.law_enforcement_channel), or add a justification for R25.
#   fr: Police étrangère contactée hors d'un canal conforme à la directive 2016/680
foreign_police_without_led_channel if {
	facts.discloses
	facts.cross_border
	facts.police_or_prosecutor_recipient
	not input.context.transfer.law_enforcement_channel
}
