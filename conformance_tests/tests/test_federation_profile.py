"""The federation profile against the reference server running as a member of a trust list.

The trust list names the node itself and one more peer whose key only this test holds. The suite
plays an untrusted node, a forger and an unsigned sender against the node's federation endpoint,
and, holding the peer's key (``federation_peer`` in its configuration), sends correctly signed
messages that are stale, misaddressed, speak for a foreign organisation or concern a referral the
node does not share.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from joserfc.jwk import ECKey
from saferefer_conformance.cli import main

from .conftest import NODE_ENV, seed_demo, write_config

PEER_NODE = "urn:saferefer:node:MD:conformance-peer"


def _trust_list(
    directory: Path, node_id: str, node_jwks: dict[str, object], peer: ECKey
) -> tuple[Path, Path]:
    from saferefer_server.federation.trustlist import (
        new_authority_key_files,
        node_entry,
        sign_trust_list_file,
    )

    now = datetime.now(UTC)
    nodes = [
        node_entry(
            node_id=node_id,
            base_url="http://127.0.0.1:9",
            public_keys=node_jwks["keys"],  # type: ignore[arg-type]
            valid_from=now - timedelta(hours=1),
            valid_until=now + timedelta(days=30),
        ),
        node_entry(
            node_id=PEER_NODE,
            base_url="http://127.0.0.1:9",
            public_keys=[peer.as_dict(private=False)],
            valid_from=now - timedelta(hours=1),
            valid_until=now + timedelta(days=30),
        ),
    ]
    nodes_file = directory / "nodes.json"
    nodes_file.write_text(json.dumps(nodes))
    private, public = directory / "authority.jwk", directory / "anchor.jwks"
    new_authority_key_files(private_out=private, public_out=public)
    trust_list = directory / "trust-list.jws"
    sign_trust_list_file(
        nodes_file=nodes_file, authority_key_file=private, out_file=trust_list, sequence=1
    )
    return trust_list, public


def test_federation_profile_passes_on_a_federated_node(tmp_path: Path) -> None:
    from saferefer_server.testing import running_server_process

    data_dir = tmp_path / "node"
    data_dir.mkdir()
    credentials = seed_demo(data_dir)
    env = {"SAFEREFER_DATA_DIR": str(data_dir), "SAFEREFER_DEMO": "true", **NODE_ENV}
    with running_server_process(env) as server:  # first start creates the node's signing key
        node_id = httpx.get(f"{server.base_url}/.well-known/saferefer").json()["node_id"]
        jwks = httpx.get(f"{server.base_url}/jwks.json").json()
    peer = ECKey.generate_key("P-256", private=True, auto_kid=True)
    trust_list, anchor = _trust_list(tmp_path, node_id, jwks, peer)
    federated = {
        **env,
        "SAFEREFER_FEDERATION_TRUST_LIST": str(trust_list),
        "SAFEREFER_FEDERATION_TRUST_ANCHOR": str(anchor),
    }
    config = write_config(tmp_path / "conformance.json", credentials, webhook=False)
    document = json.loads(config.read_text())
    document["federation_peer"] = {
        "node_id": PEER_NODE,
        "private_key_jwk": peer.as_dict(private=True),
    }
    config.write_text(json.dumps(document))
    report = tmp_path / "report.json"
    with running_server_process(federated) as server:
        deadline = time.monotonic() + 30
        while (
            "federation"
            not in httpx.get(f"{server.base_url}/.well-known/saferefer").json()["profiles"]
        ):
            federation_log = [line for line in server.log_lines() if "federation" in line]
            assert time.monotonic() < deadline, (
                f"the node never claimed federation: {federation_log}"
            )
            time.sleep(0.5)
        code = main(
            [
                "run",
                "--base-url",
                server.base_url,
                "--config",
                str(config),
                "--profile",
                "federation",
                "--json",
                str(report),
            ]
        )
    checks = json.loads(report.read_text())["checks"]
    outcomes = {
        c["name"]: (
            c["outcome"],
            [f["title"] + ": " + f["message"] for f in c["failures"]] or c["reason"],
        )
        for c in checks
    }
    assert all(outcome == "passed" for outcome, _ in outcomes.values()), outcomes
    assert len(outcomes) == 3, outcomes
    assert code == 0
