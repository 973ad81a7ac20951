# METADATA
# title: Tests of monitoring and statistics (R15)
package saferefer.rules.monitoring_test

import data.saferefer.fixtures_test as fx
import data.saferefer.rules.monitoring

fired(inp) := fx.findings(rules) if {
	rules := monitoring with input as inp
}

stats(statistics, categories) := {
	"action": "statistics.read",
	"recipient": fx.rapporteur,
	"purpose": "statistics",
	"data_categories": categories,
	"context": {"now": fx.now, "statistics": statistics},
}

test_r15_aggregate_statistics_allowed if {
	fired(stats({"aggregation": "aggregate", "min_cell_size": 5}, [])) == set()
}

test_r15_statistics_with_zero_cells_allowed if {
	fired(stats({"aggregation": "aggregate", "min_cell_size": 0}, [])) == set()
}

test_r15_small_cell_denied if {
	fired(stats({"aggregation": "aggregate", "min_cell_size": 3}, [])) == {"statistics_small_cell"}
}

test_r15_person_level_statistics_denied if {
	fired(stats({"aggregation": "person_level", "min_cell_size": 5}, [])) == {"statistics_not_aggregate"}
}

test_r15_statistics_without_description_denied if {
	fired(json.remove(stats({}, []), ["context/statistics"])) == {"statistics_not_aggregate"}
}

test_r15_statistics_with_person_data_denied if {
	fired(stats({"aggregation": "aggregate", "min_cell_size": 5}, ["identity"])) == {"statistics_not_aggregate"}
}

test_r15_referral_to_rapporteur_denied if {
	fired(fx.referral(fx.ngo, fx.rapporteur, "assistance", ["identity"])) == {"monitoring_person_level"}
}
