# METADATA
# title: Tests of onward sharing (R14, R34)
package saferefer.rules.onward_test

import data.saferefer.fixtures_test as fx
import data.saferefer.rules.onward

fired(inp) := fx.findings(rules) if {
	rules := onward with input as inp
}

link := {
	"referral_id": "01937a2e-0000-7000-8000-0000000000aa",
	"sender": fx.ngo.org,
	"recipient": fx.shelter.org,
	"purpose": "shelter",
}

forward := fx.patched(fx.referral(fx.shelter, fx.social, "assistance", ["identity", "contact"]), {
	"action": "referral.forward",
	"context": {"based_on": [link]},
})

test_r14_forward_with_chain_and_new_consent_allowed if {
	fired(forward) == set()
}

test_r14_forward_without_chain_denied if {
	fired(json.remove(forward, ["context/based_on"])) == {"onward_chain_missing"}
}

test_r14_forward_by_non_recipient_denied if {
	inp := fx.patched(forward, {"sender": fx.ngo})
	fired(inp) == {"onward_chain_broken"}
}

test_r14_received_data_sent_as_new_referral_denied if {
	inp := fx.patched(forward, {"action": "referral.send"})
	fired(inp) == {"onward_requires_forward"}
}

test_r34_automatic_ngo_disclosure_to_police_denied if {
	inp := fx.patched(
		fx.referral(fx.ngo, fx.police, "criminal_investigation", ["identity"]),
		{"payload_flags": {"automatic": true}},
	)
	fired(inp) == {"automatic_forward_to_police"}
}

test_r34_worker_decided_ngo_disclosure_to_police_allowed if {
	inp := fx.referral(fx.ngo, fx.police, "criminal_investigation", ["identity"])
	fired(inp) == set()
}
