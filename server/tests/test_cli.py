"""`saferefer-server` commands."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest
from saferefer_server.cli import main
from saferefer_server.main import create_app
from saferefer_server.policy import PolicyEngine
from saferefer_server.settings import Settings
from saferefer_server.testing import (
    TEST_PAYLOAD_KEY,
    OrgCredentials,
    asgi_client,
    fetch_token,
    free_port,
    running_server_process,
    server_command,
    started,
)

ORG = "urn:saferefer:org:NL:cli-shelter"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("SAFEREFER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SAFEREFER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SAFEREFER_PAYLOAD_KEYS", TEST_PAYLOAD_KEY)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def test_org_add_registers_an_org_that_can_get_tokens(
    env: Path, capsys: pytest.CaptureFixture[str], policy_engine: PolicyEngine
) -> None:
    argv = ["org", "add", "--id", ORG, "--name", "CLI Shelter", "--roles", "shelter,legal_aid"]
    code = await asyncio.to_thread(main, argv)
    out = capsys.readouterr().out
    assert code == 0
    document = json.loads(out)
    assert document["saferefer_credentials"] == 1
    assert document["org_id"] == ORG
    assert document["private_key_jwk"]["d"]
    app = create_app(Settings(), policy_engine=policy_engine)
    async with started(app), asgi_client(app) as client:
        token = await fetch_token(client, OrgCredentials.from_document(document))
        response = await client.get(
            f"/v1/organisations/{ORG}", headers={"Authorization": f"Bearer {token}"}
        )
    assert response.json()["roles"] == ["shelter", "legal_aid"]
    assert "d" not in response.json()["jwks"]["keys"][0]


def test_org_add_writes_private_credentials_file_once(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = env / "creds"
    code, _, _ = run(
        capsys,
        "org",
        "add",
        "--id",
        ORG,
        "--name",
        "S",
        "--roles",
        "shelter",
        "--out-dir",
        str(out_dir),
    )
    assert code == 0
    path = out_dir / "NL-cli-shelter.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text())["org_id"] == ORG
    again, _, err = run(capsys, "org", "add", "--id", ORG, "--name", "S", "--roles", "shelter")
    assert again == 2
    assert "already registered" in err


def test_org_add_refuses_malformed_id(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "org", "add", "--id", "acme", "--name", "S", "--roles", "shelter")
    assert code == 2
    assert "urn:saferefer:org" in err


def test_org_add_refuses_unknown_role_and_lists_the_valid_codes(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["org", "add", "--id", ORG, "--name", "S", "--roles", "shelter,policeman"]
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "--roles: unknown role code(s) policeman" in err
    assert "spec/codelists/roles.json" in err
    assert "ngo_service_provider" in err
    assert "national_rapporteur" in err
    # Nothing was registered: the same id with valid roles goes through.
    assert run(capsys, "org", "add", "--id", ORG, "--name", "S", "--roles", "shelter")[0] == 0


def test_org_add_refuses_country_not_in_the_code_list(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["org", "add", "--id", "urn:saferefer:org:ZZ:x-ngo", "--name", "S", "--roles", "shelter"]
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "--id (its <CC> part): ZZ is not a country code of spec/codelists/countries.json" in err


def test_org_add_refuses_name_and_node_id_the_directory_cannot_publish(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["org", "add", "--id", ORG, "--name", "N" * 201, "--roles", "shelter"]
    code, _, err = run(capsys, *argv, "--node-id", "node-1")
    assert code == 2
    assert "--name: violates maxLength 200" in err
    assert "--node-id: does not match the required pattern" in err


def test_org_add_help_says_where_the_codes_are(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["org", "add", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "spec/codelists/roles.json: ngo_service_provider, shelter," in help_text
    assert "spec/codelists/countries.json" in help_text


def test_org_suspend_and_activate(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "org", "add", "--id", ORG, "--name", "S", "--roles", "shelter")
    assert run(capsys, "org", "suspend", "--id", ORG)[1].strip().endswith("suspended")
    assert run(capsys, "org", "activate", "--id", ORG)[1].strip().endswith("active")
    assert run(capsys, "org", "suspend", "--id", "urn:saferefer:org:NL:none")[0] == 2


def test_seed_demo_writes_every_credentials_file_and_is_idempotent(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = env / "demo"
    code, out, _ = run(capsys, "seed-demo", "--credentials-dir", str(directory))
    assert code == 0
    files = sorted(p.name for p in directory.iterdir())
    assert len(files) == 11
    assert "NL-demo-ngo.json" in files
    assert "MD-demo-embassy.json" in files
    code, out, _ = run(capsys, "seed-demo", "--credentials-dir", str(directory))
    assert code == 0
    assert "already registered" in out


def test_seed_demo_refused_in_production(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    production_env(env, monkeypatch)
    code, _, err = run(capsys, "seed-demo", "--credentials-dir", str(env / "demo"))
    assert code == 2
    assert "production" in err


def test_keys_rotate_adds_a_key_and_keeps_the_old_one_published(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "keys", "rotate")
    assert code == 0
    code, out, _ = run(capsys, "keys", "rotate")
    published = out.strip().split("published keys: ")[1].split(", ")
    assert len(published) == 2
    document = json.loads((env / "data" / "node-keys.json").read_text())
    assert [k["kid"] for k in document["keys"]] == published


def test_audit_verify_reports_an_intact_chain(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "audit", "verify")
    assert code == 0
    assert json.loads(out)["valid"] is True


def test_bad_configuration_is_refused_without_echoing_secrets(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAFEREFER_PAYLOAD_KEYS", "k1:c2VjcmV0LXNob3J0")
    code, _, err = run(capsys, "migrate")
    assert code == 2
    assert "32 bytes" in err
    assert "c2VjcmV0LXNob3J0" not in err


@pytest.mark.parametrize("command", [["migrate"], ["serve", "--port", "0"]])
def test_unreachable_database_is_one_line_naming_the_host_not_the_password(
    env: Path, command: list[str]
) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql+psycopg://saferefer:pw-MARKER-9q@127.0.0.1:{port}/saferefer"
    server_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SAFEREFER_")},
        "SAFEREFER_DATA_DIR": str(env / "data"),
        "SAFEREFER_PAYLOAD_KEYS": TEST_PAYLOAD_KEY,
        "SAFEREFER_DATABASE_URL": url,
    }
    finished = subprocess.run(
        [*server_command(), *command], env=server_env, capture_output=True, text=True, timeout=60
    )
    assert finished.returncode == 1
    assert finished.stdout == ""
    (line,) = finished.stderr.splitlines()
    assert line.startswith(
        f"saferefer-server: the postgresql database saferefer at 127.0.0.1:{port} cannot be used: "
        "cannot connect to the database"
    )
    assert "pw-MARKER-9q" not in finished.stderr


def production_env(root: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "SAFEREFER_PRODUCTION": "true",
        "SAFEREFER_NODE_ID": "urn:saferefer:node:NL:national",
        "SAFEREFER_BASE_URL": "https://node.example.nl",
        "SAFEREFER_DATABASE_URL": f"sqlite+aiosqlite:///{root / 'data' / 'saferefer.db'}",
        "SAFEREFER_NODE_KEY_FILE": str(root / "node-keys.json"),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def test_production_serve_refuses_demo_directory(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(capsys, "seed-demo", "--credentials-dir", str(env / "demo"))
    values = production_env(env, monkeypatch)
    assert run(capsys, "keys", "rotate")[0] == 0
    server_env = {
        **values,
        "SAFEREFER_DATA_DIR": str(env / "data"),
        "SAFEREFER_PAYLOAD_KEYS": TEST_PAYLOAD_KEY,
    }
    with (
        pytest.raises(RuntimeError, match="demo directory"),
        running_server_process(server_env, startup_timeout_s=30),
    ):
        pass


def test_production_serve_refuses_missing_node_key_file(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    values = production_env(env, monkeypatch)
    code, _, err = run(capsys, "serve", "--port", "1")
    assert code == 2
    assert "keys rotate" in err
    assert not Path(values["SAFEREFER_NODE_KEY_FILE"]).exists()


def test_production_serve_refuses_several_workers_on_sqlite(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    production_env(env, monkeypatch)
    monkeypatch.setenv("SAFEREFER_PAYLOAD_KEYS", TEST_PAYLOAD_KEY)
    code, _, err = run(capsys, "serve", "--port", "1", "--workers", "2")
    assert code == 2
    assert "postgresql+psycopg://" in err


def test_served_node_answers(env: Path) -> None:
    server_env = {
        "SAFEREFER_DATA_DIR": str(env / "data"),
        "SAFEREFER_PAYLOAD_KEYS": TEST_PAYLOAD_KEY,
    }
    with running_server_process(server_env) as server:
        assert httpx.get(f"{server.base_url}/readyz").json()["status"] == "ok"
