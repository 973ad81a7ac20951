"""Aggregate referral statistics for monitoring bodies, with small-cell suppression (R15)."""
