"""Migrations: every head applies, re-applying is a no-op, and the platform's tables match its models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from saferefer_server.db.base import Base
from saferefer_server.db.migrate import current_heads, load_all_models, sync_url, upgrade
from saferefer_server.testing import PostgresCluster, node_settings
from sqlalchemy import create_engine, inspect

PLATFORM_TABLES = {
    "organisations",
    "used_client_assertions",
    "idempotency_records",
    "rate_limit_windows",
}


def _table_of(diff: Any) -> str | None:
    item = diff[0] if isinstance(diff, list) else diff
    for part in item[1:]:
        name = getattr(part, "name", None)
        table = getattr(part, "table", None)
        if table is not None and getattr(table, "name", None):
            return str(table.name)
        if isinstance(part, str) and part in PLATFORM_TABLES:
            return part
        if name in PLATFORM_TABLES:
            return str(name)
    return None


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    return cluster.create_database(f"mig_{tmp_path.name[-12:].replace('-', '_').lower()}")


def test_upgrade_applies_every_head_and_is_repeatable(fresh_url: str, tmp_path: Path) -> None:
    settings = node_settings(tmp_path, fresh_url)
    upgrade(settings)
    upgrade(settings)
    engine = create_engine(sync_url(fresh_url))
    try:
        with engine.connect() as connection:
            applied = {
                row[0]
                for row in connection.exec_driver_sql("SELECT version_num FROM alembic_version")
            }
            tables = set(inspect(connection).get_table_names())
    finally:
        engine.dispose()
    assert applied == current_heads(settings)
    assert tables >= PLATFORM_TABLES


def test_platform_models_match_their_migrations(fresh_url: str, tmp_path: Path) -> None:
    settings = node_settings(tmp_path, fresh_url)
    upgrade(settings)
    load_all_models()
    engine = create_engine(sync_url(fresh_url))
    try:
        with engine.connect() as connection:
            diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    ours = [diff for diff in diffs if _table_of(diff) in PLATFORM_TABLES]
    assert not ours, ours
