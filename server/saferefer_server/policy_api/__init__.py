"""`POST /v1/policy/decisions`: the dry run of a referral send ("may I send this?")."""
