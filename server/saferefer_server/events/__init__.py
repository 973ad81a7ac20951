"""Durable outbox: per-organisation gap-free event feeds and signed webhook deliveries."""
