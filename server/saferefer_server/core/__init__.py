"""Cross-cutting infrastructure: problems, request context, logs, metrics, idempotency."""
