from __future__ import annotations

import base64
from pathlib import Path

import pytest
from pydantic import ValidationError
from saferefer_server.settings import DEMO_NODE_ID, Settings

GOOD_KEY = "k1:" + base64.b64encode(b"\x01" * 32).decode()
PRODUCTION = {
    "production": True,
    "node_id": "urn:saferefer:node:NL:national",
    "base_url": "https://node.example.nl",
    "database_url": "postgresql+psycopg://saferefer@db/saferefer",
    "payload_keys": GOOD_KEY,
    "node_key_file": "/etc/saferefer/node-keys.json",
}


def test_defaults_fill_sqlite_url_and_key_file_in_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'saferefer.db'}"
    assert settings.resolved_node_key_file == tmp_path / "node-keys.json"
    assert settings.node_id == DEMO_NODE_ID


def test_environment_sets_fields(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SAFEREFER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SAFEREFER_POLICY_ENGINE", "opa")
    monkeypatch.setenv("SAFEREFER_OPA_URL", "http://127.0.0.1:8181")
    settings = Settings()
    assert settings.policy_engine == "opa"
    assert settings.data_dir == tmp_path


def test_production_accepts_complete_configuration() -> None:
    settings = Settings(**PRODUCTION)  # type: ignore[arg-type]
    assert settings.payload_keyring()[0][0] == "k1"


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("payload_keys", "SAFEREFER_PAYLOAD_KEYS is required"),
        ("node_key_file", "SAFEREFER_NODE_KEY_FILE is required"),
        ("database_url", "SAFEREFER_DATABASE_URL is required"),
        ("base_url", "SAFEREFER_BASE_URL"),
        ("node_id", "not the demo node"),
    ],
)
def test_production_refuses_missing_secret_or_default(missing: str, message: str) -> None:
    values = {k: v for k, v in PRODUCTION.items() if k != missing}
    with pytest.raises(ValidationError, match=message):
        Settings(**values)  # type: ignore[arg-type]


def test_production_refuses_demo_directory() -> None:
    with pytest.raises(ValidationError, match="SAFEREFER_DEMO must be false"):
        Settings(**PRODUCTION, demo=True)  # type: ignore[arg-type]


def test_production_refusal_never_echoes_the_secret() -> None:
    values = {**PRODUCTION, "payload_keys": "k1:not-base64!!", "node_id": DEMO_NODE_ID}
    with pytest.raises(ValidationError) as caught:
        Settings(**values)  # type: ignore[arg-type]
    messages = " ".join(e["msg"] for e in caught.value.errors(include_input=False))
    assert "not-base64" not in messages


@pytest.mark.parametrize(
    "value",
    ["nokid", "k1:" + base64.b64encode(b"short").decode(), "k1:%%%", ","],
)
def test_payload_keys_rejects_malformed_entries(value: str) -> None:
    with pytest.raises(ValidationError):
        Settings(payload_keys=value)  # type: ignore[arg-type]


def test_development_payload_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).payload_keyring()
    second = Settings(data_dir=tmp_path).payload_keyring()
    assert first == second
    assert len(first[0][1]) == 32
    assert (tmp_path / "payload-keys.txt").stat().st_mode & 0o777 == 0o600


def test_opa_engine_needs_url() -> None:
    with pytest.raises(ValidationError, match="SAFEREFER_OPA_URL"):
        Settings(policy_engine="opa")


def test_opa_token_is_a_secret() -> None:
    settings = Settings(policy_engine="opa", opa_url="http://127.0.0.1:8181", opa_token="t0k3n-x")
    assert settings.opa_token is not None
    assert settings.opa_token.get_secret_value() == "t0k3n-x"
    assert "t0k3n-x" not in repr(settings)


def test_production_refuses_a_plain_http_base_url() -> None:
    with pytest.raises(ValidationError, match="must be an https:// URL"):
        Settings(**{**PRODUCTION, "base_url": "http://node.example.nl"})  # type: ignore[arg-type]
