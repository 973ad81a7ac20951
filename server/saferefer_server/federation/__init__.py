"""The Transnational Referral Mechanism: how national SafeRefer nodes exchange referrals.

A signed trust list (`trustlist`) names the member nodes and their keys. A referral to an
organisation of another node is decided by the egress policy on the sending node, wrapped in an
envelope signed with the node key (`envelope`), written to a durable outbox in the same
transaction as the referral (`service.enqueue_outbound`), and delivered by a background worker
with exponential backoff and jitter (`worker`, `backoff`). The receiving node verifies both
signatures against the trust list, decides the ingress policy, records the message id so a
retried delivery has no second effect, and hands the message to the domain (`inbound`, `views`).
"""
