# METADATA
# title: Support without conditions (R1-R4)
# description: >-
#   Assistance never depends on cooperating with the authorities, consent to support is never
#   bundled with consent to enforcement, presumed victims are referred without formal
#   identification, and a refusal stops everything.
package saferefer.rules.support

import data.saferefer.facts

# METADATA
# title: Support is made conditional on cooperation with the authorities
# custom:
#   rule: R1
#   level: MUST
#   legal_basis: CETS197 art 12(6); Dir 2011/36 art 11(3); Dir 2012/29 art 8(5)
#   fix: Remove the condition; assistance must not depend on cooperating, testifying or filing a complaint.
#   fr: L'assistance est subordonnée à la coopération avec les autorités
support_conditional_on_cooperation if input.payload_flags.support_conditional_on_cooperation

# METADATA
# title: A cited consent does not state that refusing it leaves assistance unaffected
# custom:
#   rule: R1
#   level: MUST
#   legal_basis: CETS197 art 12(6); Dir 2011/36 art 11(3); GDPR art 7(4)
#   fix: Record the consent again with the statement that refusing or withdrawing does not affect assistance.
#   fr: Le consentement ne précise pas que le refus n'affecte pas l'assistance
consent_lacks_no_effect_statement if {
	facts.consent_action
	some consent in input.consents
	not consent.refusal_does_not_affect_assistance
}

# METADATA
# title: Consent to a support referral is bundled with consent to share with enforcement authorities
# scope: document
# custom:
#   rule: R2
#   level: MUST
#   legal_basis: GDPR art 7(4), recital 43
#   fix: Record support and enforcement consents as separate consent records, one grant per recipient and purpose.
#   fr: Le consentement à l'orientation vers l'assistance est groupé avec un partage vers les autorités répressives
bundled_consent if {
	facts.consent_action
	some consent in input.consents
	some grant in consent.grants
	some support in grant.purposes
	data.saferefer.codes.purposes[support].kind == "support"
	some enforcement in grant.purposes
	data.saferefer.codes.purposes[enforcement].kind == "enforcement"
}

# A consent record holding a support grant and a grant to an enforcement authority is bundled
# whichever of the two a disclosure relies on.
bundled_consent if {
	facts.consent_action
	some consent in input.consents
	some support_grant in consent.grants
	some support in support_grant.purposes
	data.saferefer.codes.purposes[support].kind == "support"
	some enforcement_grant in consent.grants
	enforcement_grant != support_grant
	enforcement_grantee(enforcement_grant)
}

enforcement_grantee(grant) if data.saferefer.codes.roles[grant.recipient.role].enforcement

enforcement_grantee(grant) if {
	some purpose in grant.purposes
	data.saferefer.codes.purposes[purpose].kind == "enforcement"
}

# A grant naming the enforcement recipient of this disclosure by its organisation id.
enforcement_grantee(grant) if {
	grant.recipient.org == input.recipient.org
	facts.recipient_enforcement
}

# METADATA
# title: Assistance is made conditional on formal identification as a victim
# custom:
#   rule: R3
#   level: MUST
#   legal_basis: Dir 2011/36 art 11(2); CETS197 art 10(2)
#   fix: Remove the condition; reasonable grounds are enough for an assistance referral.
#   fr: L'assistance est subordonnée à l'identification formelle comme victime
support_conditional_on_identification if input.payload_flags.requires_formal_identification

# METADATA
# title: The person refused the referral
# custom:
#   rule: R4
#   level: MUST
#   legal_basis: CETS197 art 12(7); Dir 2011/36 recital 21
#   fix: Do not send anything; the person's refusal stands until they say otherwise.
#   fr: La personne a refusé l'orientation
referral_refused if {
	not input.action in {"statistics.read", "withdrawal.notify"}
	input.subject.refused_referral
}
