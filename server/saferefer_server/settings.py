"""Configuration of a SafeRefer node, read from `SAFEREFER_*` environment variables.

Development mode (the default) fills in everything a local node needs: a SQLite database and a
payload key in the data directory. Production mode (`SAFEREFER_PRODUCTION=true`) refuses to start
with any secret it would otherwise have to invent, and refuses the demo directory.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

NODE_ID_PATTERN = r"^urn:saferefer:node:[A-Z]{2}:[a-z0-9][a-z0-9-]{1,62}$"
DEMO_NODE_ID = "urn:saferefer:node:NL:demo"
DEMO_BASE_URL = "http://127.0.0.1:8000"
PAYLOAD_KEY_BYTES = 32  # AES-256-GCM
_DEV_PAYLOAD_KEY_FILE = "payload-keys.txt"


def write_new_secret_file(path: Path, content: str) -> bool:
    """Create `path` (mode 0600) atomically unless it exists; False if another writer won.

    The content is written to a private temporary file first and hard-linked into place, so a
    concurrent reader never sees a half-written secret.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        tmp.unlink(missing_ok=True)


class SettingsError(ValueError):
    """The configuration cannot be used (named setting, never its value)."""


def _parse_payload_keys(raw: str) -> list[tuple[str, bytes]]:
    keys: list[tuple[str, bytes]] = []
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        kid, sep, encoded = item.partition(":")
        if not sep or not kid:
            raise SettingsError("SAFEREFER_PAYLOAD_KEYS entries must look like 'kid:base64key'")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SettingsError(f"SAFEREFER_PAYLOAD_KEYS key {kid!r} is not base64") from exc
        if len(key) != PAYLOAD_KEY_BYTES:
            raise SettingsError(
                f"SAFEREFER_PAYLOAD_KEYS key {kid!r} must be {PAYLOAD_KEY_BYTES} bytes (AES-256)"
            )
        keys.append((kid, key))
    return keys


class Settings(BaseSettings):
    """Every knob of the node. Field `x` is set by the environment variable `SAFEREFER_X`."""

    model_config = SettingsConfigDict(env_prefix="SAFEREFER_", extra="ignore")

    data_dir: Path = Path("var")
    # Empty means `sqlite+aiosqlite:///<data_dir>/saferefer.db`.
    database_url: str = ""
    database_pool_size: int = Field(default=10, ge=1)
    policy_engine: Literal["embedded", "opa"] = "embedded"
    opa_url: str | None = None
    # Bearer token the node sends to OPA (`opa run --authentication=token --authorization=basic`
    # with a `system.authz` policy that admits only this token).
    opa_token: SecretStr | None = None
    policy_timeout_ms: int = Field(default=500, ge=1)
    node_id: str = Field(default=DEMO_NODE_ID, pattern=NODE_ID_PATTERN)
    country: str = Field(default="NL", pattern=r"^[A-Z]{2}$")
    base_url: str = DEMO_BASE_URL
    production: bool = False
    demo: bool = False
    # `kid:base64key,...`; the first key encrypts, all of them decrypt.
    payload_keys: SecretStr | None = None
    # JSON file holding the node's ES256 signing keys (current + retired); empty means
    # `<data_dir>/node-keys.json`.
    node_key_file: Path | None = None
    access_token_ttl_s: int = Field(default=300, ge=30, le=3600)
    client_assertion_max_age_s: int = Field(default=300, ge=30, le=3600)
    # Token requests a minute per client address and per organisation (0: unlimited).
    token_rate_per_address: int = Field(default=600, ge=0)
    token_rate_per_org: int = Field(default=120, ge=0)
    log_level: str = "INFO"
    max_body_bytes: int = Field(default=1_048_576, ge=1024)

    @field_validator("base_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _fill_defaults_and_refuse_unsafe(self) -> Settings:
        explicit = set(self.model_fields_set)  # before the defaults below are filled in
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir / 'saferefer.db'}"
        if self.node_key_file is None:
            self.node_key_file = self.data_dir / "node-keys.json"
        if self.policy_engine == "opa" and not self.opa_url:
            raise SettingsError("SAFEREFER_POLICY_ENGINE=opa needs SAFEREFER_OPA_URL")
        if self.payload_keys is not None and not _parse_payload_keys(
            self.payload_keys.get_secret_value()
        ):
            raise SettingsError("SAFEREFER_PAYLOAD_KEYS is set but holds no key")
        if self.production:
            self._refuse_unsafe_production(explicit)
        return self

    def _refuse_unsafe_production(self, explicit: set[str]) -> None:
        problems: list[str] = []
        if self.demo:
            problems.append("SAFEREFER_DEMO must be false (the demo directory is for development)")
        if self.node_id == DEMO_NODE_ID:
            problems.append("SAFEREFER_NODE_ID must be this node's own id, not the demo node")
        if self.payload_keys is None:
            problems.append("SAFEREFER_PAYLOAD_KEYS is required (no generated keys in production)")
        if "node_key_file" not in explicit:
            problems.append("SAFEREFER_NODE_KEY_FILE is required (create it with `keys rotate`)")
        if "database_url" not in explicit:
            problems.append("SAFEREFER_DATABASE_URL is required")
        if "base_url" not in explicit or self.base_url == DEMO_BASE_URL:
            problems.append("SAFEREFER_BASE_URL must be this node's public URL")
        elif not self.base_url.startswith("https://"):
            # Tokens name it as their audience and clients send credentials to it.
            problems.append(
                "SAFEREFER_BASE_URL must be an https:// URL (put TLS in front of the node)"
            )
        if problems:
            raise SettingsError(
                "production mode refuses this configuration: " + "; ".join(problems)
            )

    @property
    def sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def resolved_node_key_file(self) -> Path:
        assert self.node_key_file is not None  # filled in by the validator
        return self.node_key_file

    @property
    def token_endpoint(self) -> str:
        return f"{self.base_url}/oauth/token"

    def payload_keyring(self) -> list[tuple[str, bytes]]:
        """AES-256-GCM keys as (kid, key); the first one encrypts.

        In development, a key is generated once and kept in the data directory so a local node
        can restart without losing its stored payloads; production refuses to start without
        SAFEREFER_PAYLOAD_KEYS (see `_refuse_unsafe_production`).
        """
        if self.payload_keys is not None:
            return _parse_payload_keys(self.payload_keys.get_secret_value())
        key_file = self.data_dir / _DEV_PAYLOAD_KEY_FILE
        if not key_file.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            encoded = base64.b64encode(secrets.token_bytes(PAYLOAD_KEY_BYTES)).decode()
            write_new_secret_file(key_file, f"dev-1:{encoded}\n")
        return _parse_payload_keys(key_file.read_text().strip())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings from the environment (the app takes its own copy at start)."""
    return Settings()
