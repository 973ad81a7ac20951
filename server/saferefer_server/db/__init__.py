"""Persistence: the declarative base, engine and session factory, and the Alembic migrations."""
