# METADATA
# title: Onward sharing (R14, R34)
# description: >-
#   A recipient forwards only through a new decision that sees the based_on chain, and NGO-held
#   data never flows to the police automatically.
package saferefer.rules.onward

import data.saferefer.facts

chain := input.context.based_on

has_chain if chain[0]

# METADATA
# title: An onward disclosure without its based_on chain
# custom:
#   rule: R14
#   level: MUST
#   legal_basis: IOM Data Protection Principle 5; GBVIMS Information Sharing Protocol
#   fix: Send the based_on chain (every earlier referral of this data) with the forward.
#   fr: Transmission ultérieure sans la chaîne based_on
onward_chain_missing if {
	input.action == "referral.forward"
	not has_chain
}

# METADATA
# title: The forwarding organisation did not receive the data it forwards
# custom:
#   rule: R14
#   level: MUST
#   legal_basis: IOM Data Protection Principle 5; GBVIMS Information Sharing Protocol
#   fix: Only the recipient of the last referral in the based_on chain may forward it.
#   fr: L'organisation qui transmet n'a pas reçu les données transmises
onward_chain_broken if {
	input.action == "referral.forward"
	chain[count(chain) - 1].recipient != input.sender.org
}

# METADATA
# title: Received data sent on as if it were a new referral
# custom:
#   rule: R14
#   level: MUST
#   legal_basis: IOM Data Protection Principle 5; GBVIMS Information Sharing Protocol
#   fix: Use the referral.forward action so the onward disclosure is decided as such.
#   fr: Données reçues renvoyées comme une nouvelle orientation
onward_requires_forward if {
	input.action == "referral.send"
	has_chain
}

# METADATA
# title: NGO-held data sent to enforcement authorities automatically
# custom:
#   rule: R34
#   level: SHOULD
#   legal_basis: CETS197 art 12(5); datACT data protection standards
#   fix: Let a worker decide each disclosure to police with the person, or add a justification for R34.
#   fr: Données détenues par une ONG envoyées automatiquement aux autorités répressives
automatic_forward_to_police if {
	facts.discloses
	input.payload_flags.automatic
	facts.support_sender
	facts.recipient_enforcement
}
