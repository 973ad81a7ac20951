# METADATA
# title: Netherlands overlay
# description: >-
#   Additional Dutch rules, applied when the sender or the recipient is in NL. An overlay only
#   adds violations and obligations: data.saferefer.sharing.decision allows only when neither the
#   base rules nor any overlay found a violation, and it reads nothing else from an overlay.
# related_resources:
#   - ref: https://wetten.overheid.nl/BWBR0012289
#     description: Vreemdelingencirculaire 2000 (B8/3 residence for victims of trafficking)
package overlays.NL

# METADATA
# title: Data revealing irregular stay to the Dutch police
# description: >-
#   Under the Dutch "free in, free out" practice (Vrij in, vrij uit) a person without legal
#   stay can report a crime without the report being used for immigration enforcement; this
#   overlay keeps data revealing irregular stay away from the police altogether.
# custom:
#   rule: NL-1
#   level: MUST
#   legal_basis: Dutch police safe-reporting practice "Vrij in, vrij uit" (2020); ILO C81 art 3(2)
#   fix: Remove anything revealing irregular stay (payload_flags.reveals_irregular_status) from what goes to the police.
#   fr: Données révélant un séjour irrégulier transmises à la police néerlandaise
irregular_status_to_police if {
	input.recipient.country == "NL"
	"police" in input.recipient.roles
	input.payload_flags.reveals_irregular_status
}

# METADATA
# title: Apply for the B8/3 reflection period and temporary residence
# description: >-
#   A reflection-period referral to the Dutch immigration service follows chapter B8/3 of the
#   Aliens Circular (Vreemdelingencirculaire 2000): up to three months of reflection.
# custom:
#   rule: NL-2
#   kind: obligation
#   legal_basis: Vreemdelingencirculaire 2000, chapter B8/3
#   fr: Demander le délai de réflexion et le séjour temporaire B8/3
b8_3_reflection_period if {
	input.recipient.country == "NL"
	"immigration_authority" in input.recipient.roles
	input.purpose == "recovery_reflection_period"
}
