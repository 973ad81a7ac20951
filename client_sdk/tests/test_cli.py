"""The ``saferefer`` command against the real demo node over HTTP."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from saferefer._cli import EXIT_DENIED, EXIT_ERROR, EXIT_OK, EXIT_USAGE, main

NGO = "NL-demo-ngo.json"
SHELTER = "NL-demo-shelter.json"
SHELTER_ID = "urn:saferefer:org:NL:demo-shelter"


def saferefer(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.json"
    monkeypatch.setenv("SAFEREFER_CONFIG_FILE", str(path))
    for name in (
        "SAFEREFER_CREDENTIALS_FILE",
        "SAFEREFER_PRIVATE_KEY_FILE",
        "SAFEREFER_ORG_ID",
        "SAFEREFER_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    return path


def test_cli_round_trip(
    http_node: Any,
    tmp_path: Path,
    isolated_config: Path,
    consent_doc: Callable[..., dict[str, Any]],
    referral_doc: Callable[..., dict[str, Any]],
) -> None:
    creds = http_node.credentials_dir
    code, out, _ = saferefer("configure", "--credentials-file", str(creds / NGO))
    assert code == EXIT_OK
    assert "connected" in out
    assert json.loads(isolated_config.read_text())["credentials_file"].endswith(NGO)

    consent_file = tmp_path / "consent.json"
    consent_file.write_text(json.dumps(consent_doc(SHELTER_ID)))
    code, out, _ = saferefer("consent", "record", str(consent_file), "--json")
    assert code == EXIT_OK
    consent_id = json.loads(out)["id"]

    referral = referral_doc(SHELTER_ID, consent_id)
    allowed, denied = tmp_path / "referral.json", tmp_path / "too-much.json"
    allowed.write_text(json.dumps(referral))
    denied.write_text(
        json.dumps(
            referral | {"payload": referral["payload"] | {"immigration_status": {"s": "irregular"}}}
        )
    )

    code, out, _ = saferefer("check", str(allowed))
    assert code == EXIT_OK
    assert out.startswith("allowed")
    code, out, _ = saferefer("check", str(denied))
    assert code == EXIT_DENIED
    assert "DENIED" in out
    assert "fix:" in out
    assert "    categories: immigration_status" in out.splitlines()  # what to remove
    code, _, err = saferefer("send", str(denied))
    assert code == EXIT_DENIED
    assert "Fix:" in err
    assert "[categories: immigration_status]" in err

    code, out, _ = saferefer("send", str(allowed), "--json")
    assert code == EXIT_OK
    referral_id = json.loads(out)["id"]

    shelter = ["--credentials-file", str(creds / SHELTER)]
    code, out, _ = saferefer("inbox", *shelter, "--state", "submitted")
    assert code == EXIT_OK
    assert referral_id in out
    code, out, _ = saferefer("show", referral_id, *shelter)
    assert code == EXIT_OK
    assert "payload    present" in out
    assert "A." not in out  # values only with --payload
    code, out, _ = saferefer("show", referral_id, *shelter, "--payload")
    assert "A." in out
    code, out, err = saferefer("events", "tail", *shelter)
    assert code == EXIT_OK
    assert "org.saferefer.referral.submitted" in out
    assert "cursor:" in err
    cursor = err.split("cursor: ")[1].split()[0]
    code, out, _ = saferefer("events", "tail", *shelter, "--after", cursor)
    assert code == EXIT_OK
    assert out == ""

    code, out, _ = saferefer(
        "consent", "withdraw", consent_id, "--channel", "phone", "--received-by", "worker-2"
    )
    assert code == EXIT_OK
    assert "withdrawn" in out
    code, out, _ = saferefer("inbox", *shelter, "--json", "--limit", "0")
    assert [r["state"] for r in json.loads(out) if r["id"] == referral_id] == ["revoked"]


def test_cli_errors_and_usage(tmp_path: Path) -> None:
    code, _, err = saferefer("inbox")
    assert code == EXIT_ERROR
    assert "no credentials" in err
    code, _, _ = saferefer("no-such-command")
    assert code == EXIT_USAGE
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"recipient": "x"}))
    key = tmp_path / "k.pem"
    from joserfc.jwk import ECKey

    key.write_bytes(ECKey.generate_key("P-256", private=True).as_pem(private=True))
    code, _, _ = saferefer(
        "configure",
        "--private-key-file",
        str(key),
        "--org-id",
        "urn:saferefer:org:NL:x",
        "--base-url",
        "http://127.0.0.1:9",
        "--no-check",
    )
    assert code == EXIT_OK
    code, _, err = saferefer("check", str(bad))
    assert code == EXIT_ERROR
    assert ": required member is missing" in err
