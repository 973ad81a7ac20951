# METADATA
# title: Monitoring and statistics (R15)
# description: >-
#   Rapporteurs and coordinators receive anonymous aggregates only, with small cells
#   (below data.saferefer.matrix.min_cell_size) suppressed.
package saferefer.rules.monitoring

import data.saferefer.facts

# METADATA
# title: Statistics that are not anonymous aggregates
# scope: document
# custom:
#   rule: R15
#   level: MUST
#   legal_basis: Dir 2011/36 art 19; GBVIMS Information Sharing Protocol
#   fix: Request aggregate statistics without person-level data categories.
#   fr: Statistiques qui ne sont pas des agrégats anonymes
statistics_not_aggregate if {
	input.action == "statistics.read"
	input.context.statistics.aggregation != "aggregate"
}

statistics_not_aggregate if {
	input.action == "statistics.read"
	not input.context.statistics
}

statistics_not_aggregate if {
	input.action == "statistics.read"
	count(facts.requested) > 0
}

# METADATA
# title: Statistics with a cell below the minimum size
# custom:
#   rule: R15
#   level: MUST
#   legal_basis: Dir 2011/36 art 19; GBVIMS Information Sharing Protocol; k >= 5 (design)
#   fix: Suppress or merge every cell counting fewer than 5 persons.
#   fr: Statistiques avec une cellule trop petite
statistics_small_cell if {
	input.action == "statistics.read"
	input.context.statistics.min_cell_size > 0
	input.context.statistics.min_cell_size < data.saferefer.matrix.min_cell_size
}

# METADATA
# title: Person-level data to a monitoring body
# custom:
#   rule: R15
#   level: MUST
#   legal_basis: Dir 2011/36 art 19; GBVIMS Information Sharing Protocol
#   fix: Monitoring bodies receive statistics only; do not refer persons to them.
#   fr: Données individuelles transmises à un organe de suivi
monitoring_person_level if {
	facts.discloses
	facts.recipient_monitoring
}
