# METADATA
# title: Deny by default and accountability (R30, R31, R35)
# description: >-
#   Anything without an explicit rule is refused; every decision is recorded; a withdrawal is
#   acknowledged by each past recipient.
package saferefer.rules.accountability

import data.saferefer.facts

# Negating a rule, not a ref with an input key: OPA hoists `input.x` out of `not data.y[input.x]`,
# which makes the negation undefined instead of true when input.x is missing.
known_action if data.saferefer.codes.actions[input.action]

known_purpose if data.saferefer.codes.purposes[input.purpose]

statistics_action if input.action == "statistics.read"

consent_recording if input.action == "consent.record"

needs_purpose if not consent_recording

needs_purpose if input.purpose

# METADATA
# title: Unknown action
# custom:
#   rule: R30
#   level: MUST
#   legal_basis: GDPR arts 5(1)(a), 25 (deny by default, design)
#   fix: Use one of the actions of policy-input.schema.json.
#   fr: Action inconnue
unknown_action if not known_action

# METADATA
# title: Purpose missing or not in the purposes code list
# custom:
#   rule: R30
#   level: MUST
#   legal_basis: GDPR art 5(1)(b) (deny by default, design)
#   fix: Declare exactly one purpose from spec/codelists/purposes.json.
#   fr: Finalité absente ou hors de la liste des finalités
unknown_purpose if {
	needs_purpose
	not known_purpose
}

# METADATA
# title: Role not in the roles code list
# custom:
#   rule: R30
#   level: MUST
#   legal_basis: GDPR art 25 (deny by default, design)
#   fix: Register the organisation with roles from spec/codelists/roles.json.
#   fr: Rôle hors de la liste des rôles
unknown_role if {
	some party in ["sender", "recipient"]
	some role in input[party].roles
	not data.saferefer.codes.roles[role]
}

# METADATA
# title: Data categories not in the data-categories code list
# custom:
#   rule: R30
#   level: MUST
#   legal_basis: GDPR art 5(1)(c) (deny by default, design)
#   fix: Remove the listed categories; use only categories from spec/codelists/data-categories.json.
#   fr: Catégories de données hors de la liste
unknown_category contains category if {
	some category in facts.requested
	not data.saferefer.codes.categories[category]
}

# METADATA
# title: The purpose does not fit the action
# scope: document
# custom:
#   rule: R30
#   level: MUST
#   legal_basis: GDPR art 5(1)(b) (deny by default, design)
#   fix: Use the statistics purpose with statistics.read only, and statistics.read only for statistics.
#   fr: La finalité ne correspond pas à l'action
purpose_not_valid_for_action if {
	input.action == "statistics.read"
	input.purpose != "statistics"
}

purpose_not_valid_for_action if {
	input.action != "statistics.read"
	input.purpose == "statistics"
}

# METADATA
# title: The decision input names no sender
# custom:
#   rule: R30
#   level: MUST
#   legal_basis: GDPR art 5(2) (deny by default, design)
#   fix: Name the organisation that discloses (sender).
#   fr: L'entrée de la décision ne désigne pas d'expéditeur
sender_missing if {
	not statistics_action
	not input.sender
}

# METADATA
# title: The decision input names no recipient
# custom:
#   rule: R30
#   level: MUST
#   legal_basis: GDPR art 5(2) (deny by default, design)
#   fix: Name the organisation that receives (recipient).
#   fr: L'entrée de la décision ne désigne pas de destinataire
recipient_missing if {
	not consent_recording
	not input.recipient
}

# METADATA
# title: Record this decision in the audit log with who, when and the basis
# custom:
#   rule: R31
#   kind: obligation
#   legal_basis: GDPR arts 5(2), 7(1)
#   fr: Consigner cette décision dans le journal d'audit (qui, quand, fondement)
record_decision := true

# METADATA
# title: The recipient acknowledges deletion or restriction and passes the notice on
# custom:
#   rule: R35
#   kind: obligation
#   legal_basis: GDPR arts 17, 19
#   fr: Le destinataire confirme l'effacement ou la limitation et transmet l'avis
acknowledge_withdrawal if input.action == "withdrawal.notify"
