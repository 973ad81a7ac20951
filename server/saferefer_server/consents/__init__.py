"""Consent records: record, read, list, withdraw (with notice to every past recipient), receipts."""
