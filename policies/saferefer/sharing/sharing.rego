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

catalogue := data.saferefer.catalogue.entries

index := data.saferefer.catalogue.index

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

# A violation rule is true, or a set of the data categories it objects to.
base_found[code] := [] if {
	some pair in index.base_violations
	family := pair[0]
	code := pair[1]
	data.saferefer.rules[family][code] == true
}

base_found[code] := categories if {
	some pair in index.base_violations
	family := pair[0]
	code := pair[1]
	value := data.saferefer.rules[family][code]
	is_set(value)
	count(value) > 0
	categories := sort(value)
}

involved_countries := {country |
	some party in ["sender", "recipient"]
	country := input[party].country
}

overlay_found[code] := [] if {
	some pair in index.overlay_violations
	country := pair[0]
	country in involved_countries
	code := pair[1]
	data.overlays[country][code] == true
}

overlay_found[code] := categories if {
	some pair in index.overlay_violations
	country := pair[0]
	country in involved_countries
	code := pair[1]
	value := data.overlays[country][code]
	is_set(value)
	count(value) > 0
	categories := sort(value)
}

found := object.union(base_found, overlay_found)

justification_text[rule] := concat(" | ", texts) if {
	some given in input.justifications
	rule := given.rule
	texts := sort({j.text | some j in input.justifications; j.rule == rule})
}

# A SHOULD finding with a documented justification becomes an obligation (RIGHTS.md levels).
found_codes := [code | some pair in array.concat(index.base_violations, index.overlay_violations); code := pair[1]; found[code]]

justified contains code if {
	some code in found_codes
	catalogue[code].level == "SHOULD"
	rule := catalogue[code].rule
	justification_text[rule]
}

base_blocking := {code | some code in found_codes; base_found[code]; not code in justified}

overlay_blocking := {code | some code in found_codes; overlay_found[code]; not code in justified}

blocking := sort(base_blocking | overlay_blocking)

fired_obligations contains code if {
	some pair in index.base_obligations
	family := pair[0]
	code := pair[1]
	data.saferefer.rules[family][code] == true
}

fired_obligations contains code if {
	some pair in index.overlay_obligations
	country := pair[0]
	country in involved_countries
	code := pair[1]
	data.overlays[country][code] == true
}

violations := [violation |
	some code in blocking
	entry := catalogue[code]
	categories := found[code]
	violation := object.union(
		object.union(
			{
				"code": code,
				"rule": entry.rule,
				"level": entry.level,
				"message": entry.message,
				"legal_basis": entry.legal_basis,
				"fix": entry.fix,
			},
			object.filter(entry, ["overlay"]),
		),
		object.filter({"categories": categories}, [key | count(categories) > 0; key := "categories"]),
	)
]

obligations := [obligation |
	some code in sort(fired_obligations | justified)
	entry := catalogue[code]
	obligation := object.union(
		object.union(
			{"code": code, "rule": entry.rule, "message": entry.message, "legal_basis": entry.legal_basis},
			object.filter(entry, ["overlay"]),
		),
		object.filter({"justification": object.get(justification_text, entry.rule, "")}, [key | code in justified; key := "justification"]),
	)
]

requested := sort({category | some category in input.data_categories})

flagged := {category | some code in blocking; some category in found[code]}

request_level := {code | some code in blocking; count(found[code]) == 0}

default permitted_categories := []

permitted_categories := requested if allow

# Denied only for category-level reasons: the categories no violation names.
permitted_categories := [category | some category in requested; not category in flagged] if {
	not allow
	count(blocking) > 0
	count(request_level) == 0
}
