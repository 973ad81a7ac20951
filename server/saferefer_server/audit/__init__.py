"""Append-only, hash-chained audit log: every decision, disclosure, consent change and state change."""
