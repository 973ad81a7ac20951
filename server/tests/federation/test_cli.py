"""`saferefer-server federation …`: from an authority key and two nodes' JWKS to a trust list a
node accepts, and one-line refusals of bad files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from joserfc.jwk import ECKey
from saferefer_server.cli import main
from saferefer_server.federation.trustlist import load_anchor, verify_trust_list
from saferefer_server.testing import TEST_PAYLOAD_KEY

MD_NODE = "urn:saferefer:node:MD:national"
NL_NODE = "urn:saferefer:node:NL:national"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def node_jwks(path: Path) -> Path:
    key = ECKey.generate_key("P-256", auto_kid=True, private=True)
    path.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    return path


def test_authority_signs_a_trust_list_that_verifies_against_its_anchor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    private, anchor = tmp_path / "authority.jwk", tmp_path / "anchor.jwks"
    code, out, _ = run(
        capsys, "federation", "authority-key", "--private-out", str(private), "--public-out",
        str(anchor),
    )  # fmt: skip
    assert code == 0
    assert private.stat().st_mode & 0o777 == 0o600
    private_d = json.loads(private.read_text())["d"]
    assert private_d not in out  # the private key is never printed

    contact = tmp_path / "contacts.json"
    contact.write_text(
        json.dumps([{"org_id": "urn:saferefer:org:NL:demo-ngo", "name": "NGO", "roles": ["ngo_service_provider"]}])
    )  # fmt: skip
    entries = []
    for node_id, url in ((MD_NODE, "https://md.example"), (NL_NODE, "https://nl.example")):
        jwks = node_jwks(tmp_path / f"{node_id.split(':')[3]}.jwks")
        extra = ["--contact-points", str(contact)] if node_id == NL_NODE else []
        code, out, _ = run(
            capsys, "federation", "node-entry", "--node-id", node_id, "--base-url", url,
            "--jwks", str(jwks), "--valid-days", "90", *extra,
        )  # fmt: skip
        assert code == 0
        entries.append(json.loads(out))
    nodes = tmp_path / "nodes.json"
    nodes.write_text(json.dumps(entries))

    out_file = tmp_path / "trust-list.jws"
    code, out, _ = run(
        capsys, "federation", "sign-trust-list", "--nodes", str(nodes), "--authority-key",
        str(private), "--out", str(out_file), "--sequence", "7",
    )  # fmt: skip
    assert code == 0
    assert "sequence 7 with 2 node(s)" in out
    trust_list = verify_trust_list(out_file.read_text(), load_anchor(anchor))
    assert trust_list.sequence == 7
    assert trust_list.active_node_for_country("MD") is not None
    nl = trust_list.node(NL_NODE)
    assert nl is not None
    assert [point.org_id for point in nl.contact_points] == ["urn:saferefer:org:NL:demo-ngo"]


def test_authority_key_is_never_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    private = tmp_path / "authority.jwk"
    private.write_text("{}")
    code, _, err = run(
        capsys, "federation", "authority-key", "--private-out", str(private), "--public-out",
        str(tmp_path / "anchor.jwks"),
    )  # fmt: skip
    assert code == 2
    assert "never overwritten" in err
    assert private.read_text() == "{}"


@pytest.mark.parametrize(
    ("nodes_text", "key_text", "expected"),
    [
        ("not json", None, "cannot sign"),
        ('{"node_id": "x"}', None, "must hold a JSON list"),
        ("[]", '{"kty": "EC"}', "cannot sign"),
    ],
)
def test_sign_refuses_bad_files_in_one_line_and_writes_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    nodes_text: str,
    key_text: str | None,
    expected: str,
) -> None:
    private = tmp_path / "authority.jwk"
    if key_text is None:
        assert main(["federation", "authority-key", "--private-out", str(private),
                     "--public-out", str(tmp_path / "anchor.jwks")]) == 0  # fmt: skip
        capsys.readouterr()
    else:
        private.write_text(key_text)
    nodes = tmp_path / "nodes.json"
    nodes.write_text(nodes_text)
    out_file = tmp_path / "trust-list.jws"
    code, _, err = run(
        capsys, "federation", "sign-trust-list", "--nodes", str(nodes), "--authority-key",
        str(private), "--out", str(out_file), "--sequence", "1",
    )  # fmt: skip
    assert code == 2
    assert expected in err
    assert len(err.strip().splitlines()) == 1
    assert not out_file.exists()


def test_node_entry_refuses_a_file_without_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jwks = tmp_path / "empty.jwks"
    jwks.write_text('{"keys": []}')
    code, _, err = run(
        capsys, "federation", "node-entry", "--node-id", NL_NODE, "--base-url",
        "https://nl.example", "--jwks", str(jwks),
    )  # fmt: skip
    assert code == 2
    assert "at least one key" in err


def test_outbox_summary_of_a_fresh_node_is_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("SAFEREFER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SAFEREFER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SAFEREFER_PAYLOAD_KEYS", TEST_PAYLOAD_KEY)
    code, out, _ = run(capsys, "federation", "outbox")
    assert code == 0
    assert json.loads(out) == {}
