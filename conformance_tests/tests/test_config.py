"""Configuration files: TOML or JSON, credentials files or inline keys, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from joserfc.jwk import ECKey
from saferefer_conformance._config import ConfigError, load_config


def _jwk(kid: str) -> dict[str, object]:
    key = ECKey.generate_key("P-256", private=True)
    return {**key.as_dict(private=True), "kid": kid}


def _credentials(path: Path, org_id: str) -> Path:
    path.write_text(
        json.dumps(
            {
                "saferefer_credentials": 1,
                "org_id": org_id,
                "kid": "k1",
                "private_key_jwk": _jwk("k1"),
            }
        )
    )
    return path


def test_load_toml_with_credentials_files_and_inline_keys(tmp_path: Path) -> None:
    _credentials(tmp_path / "ngo.json", "urn:saferefer:org:NL:test-ngo")
    (tmp_path / "shelter.jwk").write_text(json.dumps(_jwk("s1")))
    (tmp_path / "conformance.toml").write_text(
        'base_url = "http://node.test/"\n'
        '[organisations.sender]\ncredentials_file = "ngo.json"\n'
        '[organisations.recipient]\norg_id = "urn:saferefer:org:NL:test-shelter"\n'
        'private_key_file = "shelter.jwk"\n'
    )
    config = load_config(tmp_path / "conformance.toml")
    assert config.base_url == "http://node.test"
    assert config.organisations["sender"].org_id == "urn:saferefer:org:NL:test-ngo"
    assert config.organisations["recipient"].kid == "s1"
    assert "d" not in config.organisations["recipient"].public_jwk
    assert "private_key_jwk" not in repr(config.organisations["sender"])


def test_load_json_with_inline_jwk(tmp_path: Path) -> None:
    path = tmp_path / "conformance.json"
    path.write_text(
        json.dumps(
            {
                "organisations": {
                    "sender": {"org_id": "urn:saferefer:org:NL:a1", "private_key_jwk": _jwk("a")},
                    "recipient": {
                        "org_id": "urn:saferefer:org:NL:b1",
                        "private_key_jwk": _jwk("b"),
                    },
                }
            }
        )
    )
    config = load_config(path).with_base_url("http://other.test")
    assert config.base_url == "http://other.test"


@pytest.mark.parametrize(
    ("organisations", "message"),
    [
        (
            {"sender": {"org_id": "urn:saferefer:org:NL:a1", "private_key_jwk": {}}},
            "recipient are required",
        ),
        ({"sender": {}, "recipient": {}, "auditor": {}}, "unknown organisation slot"),
        ({"sender": {"org_id": "nobody"}, "recipient": {}}, "org_id must be"),
        (
            {"sender": {"org_id": "urn:saferefer:org:NL:a1"}, "recipient": {}},
            "give credentials_file",
        ),
    ],
)
def test_load_reports_what_to_fix(
    tmp_path: Path, organisations: dict[str, object], message: str
) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"organisations": organisations}))
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_load_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")
