"""Referrals: create under a policy decision, inbox/outbox, read (re-decided), state machine, erasure."""
