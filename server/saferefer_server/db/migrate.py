"""Alembic, driven by the app's settings: `upgrade heads` at start-up and from `saferefer-server
migrate`.

Each part of the node keeps its tables in its own Alembic branch (`down_revision=None` plus a
`branch_labels` name), so the migration graph has several heads and we always upgrade them all.
Scripts live in `db/migrations/versions/` and in any `saferefer_server/<package>/migrations/`.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

import saferefer_server
from saferefer_server.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
PACKAGE_DIR = Path(saferefer_server.__file__).resolve().parent

_SYNC_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}


def sync_url(database_url: str) -> str:
    """The same database through a blocking driver (Alembic runs outside the event loop)."""
    url = make_url(database_url)
    driver = _SYNC_DRIVERS.get(url.get_backend_name())
    if driver is None:
        raise ValueError(f"unsupported database backend {url.get_backend_name()!r}")
    return url.set(drivername=driver).render_as_string(hide_password=False)


def version_locations() -> list[Path]:
    locations = [MIGRATIONS_DIR / "versions"]
    locations += sorted(p for p in PACKAGE_DIR.glob("*/migrations") if p != MIGRATIONS_DIR)
    return locations


def load_all_models() -> None:
    """Import every `saferefer_server.<package>.models` so `Base.metadata` knows every table."""
    for module in pkgutil.iter_modules([str(PACKAGE_DIR)]):
        if module.ispkg and (PACKAGE_DIR / module.name / "models.py").exists():
            importlib.import_module(f"saferefer_server.{module.name}.models")


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Alembic splits this option on the separator; paths never contain newlines.
    config.set_main_option("path_separator", "newline")
    config.set_main_option("version_locations", "\n".join(str(p) for p in version_locations()))
    config.set_main_option("sqlalchemy.url", sync_url(settings.database_url).replace("%", "%%"))
    return config


def upgrade(settings: Settings) -> None:
    if settings.sqlite:
        database = make_url(settings.database_url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings), "heads")


def current_heads(settings: Settings) -> set[str]:
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config(settings)).get_heads())
