# METADATA
# title: SafeRefer sharing decision
# description: >-
#   The entrypoint data.saferefer.sharing.decision. It gathers the findings of every rule family
#   under data.saferefer.rules and of the overlays of the countries involved, turns justified
#   SHOULD findings into obligations, and allows only when nothing is left: an overlay can add
#   violations and obligations but can never turn a denial into an allow. Violation and
#   obligation objects come from data.saferefer.catalogue, generated from the METADATA
#   annotations of the rules by policies/tools/catalogue.py, because rego-cpp has no
#   rego.metadata.rule(); see policies/README.md for the rego-cpp constraints these rules follow.
# related_resources:
#   - ref: https://saferefer.org/spec/v0.1/schemas/policy-decision.schema.json
# entrypoint: true
package saferefer.sharing

default allow := false

# R30: allow only a known action with no base and no overlay violation left.
allow if {
	data.saferefer.codes.actions[input.action]
	count(base_blocking) == 0
	count(overlay_blocking) == 0
}

decision := {
	"allow": allow,
	"violations": violations,
	"permitted_categories": permitted_categories,
	"obligations": obligations,
}

# What every catalogued rule found, each rule read once by its constant path (the generated
# package saferefer.findings): code -> [] for a flag, or the sorted categories objected to.
base_found := data.saferefer.findings.base

overlay_found := data.saferefer.findings.overlay

found := object.union(base_found, overlay_found)

justification_text[rule] := concat(" | ", texts) if {
	some given in input.justifications
	rule := given.rule
	texts := sort({j.text | some j in input.justifications; j.rule == rule})
}

# A SHOULD finding with a documented justification becomes an obligation (RIGHTS.md levels).
justified contains code if {
	some pair in data.saferefer.catalogue.index.should_violations
	code := pair[0]
	found[code]
	justification_text[pair[1]]
}

base_codes := [pair[1] |
	some pair in data.saferefer.catalogue.index.base_violations
	base_found[pair[1]]
]

overlay_codes := [pair[1] |
	some pair in data.saferefer.catalogue.index.overlay_violations
	overlay_found[pair[1]]
]

base_blocking contains code if {
	some code in base_codes
	not code in justified
}

overlay_blocking contains code if {
	some code in overlay_codes
	not code in justified
}

blocking := sort(base_blocking | overlay_blocking)

fired_obligations := data.saferefer.findings.obligations

# The violation and obligation objects are the catalogue's templates, with the categories
# found or the justification given added.
violation[code] := data.saferefer.catalogue.templates.violations[code] if {
	some code in blocking
	count(found[code]) == 0
}

violation[code] := object.union(data.saferefer.catalogue.templates.violations[code], {"categories": categories}) if {
	some code in blocking
	categories := found[code]
	count(categories) > 0
}

violations := [entry | some code in blocking; entry := violation[code]]

obligation[code] := data.saferefer.catalogue.templates.obligations[code] if {
	some code in fired_obligations
}

obligation[code] := object.union(data.saferefer.catalogue.templates.obligations[code], {"justification": text}) if {
	some pair in data.saferefer.catalogue.index.should_violations
	code := pair[0]
	code in justified
	text := justification_text[pair[1]]
}

obligations := [entry | some code in sort(fired_obligations | justified); entry := obligation[code]]

requested := sort({category | some category in input.data_categories})

flagged contains category if {
	some code in blocking
	some category in found[code]
}

request_level contains code if {
	some code in blocking
	count(found[code]) == 0
}

default permitted_categories := []

permitted_categories := requested if allow

# Denied only for category-level reasons: the categories no violation names.
permitted_categories := [category | some category in requested; not category in flagged] if {
	not allow
	count(blocking) > 0
	count(request_level) == 0
}
