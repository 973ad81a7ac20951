"""Node signing keys: rotation keeps old tokens verifiable until they expire; an immediate
rotation (a compromise) revokes every old key at once."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from saferefer_server.auth.keys import NodeKeyError, NodeKeyStore, current_signing_key
from saferefer_server.auth.tokens import issue_access_token
from saferefer_server.cli import main
from saferefer_server.testing import TEST_PAYLOAD_KEY, TestNode, node_settings

NGO = "urn:saferefer:org:NL:demo-ngo"


def age_retired_keys(path: Path, by: timedelta) -> None:
    document = json.loads(path.read_text())
    for entry in document["keys"]:
        if entry["retired_at"]:
            entry["retired_at"] = (datetime.fromisoformat(entry["retired_at"]) - by).isoformat()
    path.write_text(json.dumps(document))


async def test_rotation_keeps_old_tokens_valid_and_publishes_both_keys(node: TestNode) -> None:
    old_headers = await node.auth(NGO)
    old_kid = node.app.state.node_keys.signing_key().kid
    new_key = node.app.state.node_keys.rotate(activate_in_s=0)
    jwks = (await node.client.get("/jwks.json")).json()
    assert [k["kid"] for k in jwks["keys"]] == [old_kid, new_key.kid]
    assert all("d" not in k for k in jwks["keys"])
    assert (await node.client.get("/v1/organisations", headers=old_headers)).status_code == 200
    node._tokens.clear()
    fresh = await node.token(NGO)
    assert fresh != old_headers["Authorization"].split()[1]
    assert (
        await node.client.get("/v1/organisations", headers=await node.auth(NGO))
    ).status_code == 200


async def test_retired_key_disappears_after_token_lifetime(node: TestNode) -> None:
    old_headers = await node.auth(NGO)
    store: NodeKeyStore = node.app.state.node_keys
    old_kid = store.signing_key().kid
    store.rotate(activate_in_s=0)
    age_retired_keys(store.path, timedelta(seconds=node.settings.access_token_ttl_s + 1))
    jwks = (await node.client.get("/jwks.json")).json()
    assert old_kid not in [k["kid"] for k in jwks["keys"]]
    response = await node.client.get("/v1/organisations", headers=old_headers)
    assert response.status_code == 401
    store.rotate()  # the next rotation also drops it from the file
    assert old_kid not in json.loads(store.path.read_text()).__repr__()


def test_key_file_is_private_and_shared_by_stores(tmp_path: Path) -> None:
    settings = node_settings(tmp_path)
    kid, key = current_signing_key(settings)
    assert settings.resolved_node_key_file.stat().st_mode & 0o777 == 0o600
    other = NodeKeyStore.open(settings.resolved_node_key_file, token_ttl_s=300, create=False)
    assert other.signing_key().kid == kid
    assert key.as_dict(private=False)["crv"] == "P-256"


def test_production_never_creates_a_key_file(tmp_path: Path) -> None:
    with pytest.raises(NodeKeyError, match="keys rotate"):
        NodeKeyStore.open(tmp_path / "missing.json", token_ttl_s=300, create=False)


def test_rotation_in_one_store_reaches_another(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    first = NodeKeyStore.open(path, token_ttl_s=300, create=True)
    second = NodeKeyStore.open(path, token_ttl_s=300, create=False)
    rotated = first.rotate(activate_in_s=0)
    assert second.signing_key().kid == rotated.kid
    assert second.verification_key(rotated.kid) is not None


def test_corrupt_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text('{"saferefer_node_keys": 1, "keys": [{"kid": "x"}]}')
    with pytest.raises(NodeKeyError):
        NodeKeyStore.open(path, token_ttl_s=300, create=False)


def test_retired_at_in_file_is_timezone_aware(tmp_path: Path) -> None:
    store = NodeKeyStore.open(tmp_path / "k.json", token_ttl_s=300, create=True)
    store.rotate(activate_in_s=0)
    entries = json.loads(store.path.read_text())["keys"]
    assert datetime.fromisoformat(entries[0]["retired_at"]).tzinfo == UTC


async def test_successor_key_is_published_before_it_signs(node: TestNode) -> None:
    store: NodeKeyStore = node.app.state.node_keys
    current = store.signing_key()
    successor = store.rotate()
    assert successor.activates_at - datetime.now(UTC) > timedelta(seconds=60)
    assert store.signing_key().kid == current.kid
    published = [k["kid"] for k in (await node.client.get("/jwks.json")).json()["keys"]]
    assert published == [current.kid, successor.kid]
    shift_activation(store.path, successor.kid, timedelta(seconds=-1))
    assert store.signing_key().kid == successor.kid


def shift_activation(path: Path, kid: str, to_now_plus: timedelta) -> None:
    """Move `kid`'s activation (and its predecessors' retirement) to now + `to_now_plus`."""
    document = json.loads(path.read_text())
    moment = (datetime.now(UTC) + to_now_plus).isoformat()
    for entry in document["keys"]:
        if entry["kid"] == kid:
            entry["activates_at"] = moment
        elif entry["retired_at"] and entry["retired_at"] > moment:
            entry["retired_at"] = moment
    path.write_text(json.dumps(document))


def run_keys_rotate(node: TestNode, monkeypatch: pytest.MonkeyPatch, *options: str) -> int:
    """`saferefer-server keys rotate` on the node's key file, as an operator runs it beside the
    served node (its own key store, like another process)."""
    for name in list(os.environ):
        if name.startswith("SAFEREFER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SAFEREFER_DATA_DIR", str(node.settings.data_dir))
    monkeypatch.setenv("SAFEREFER_NODE_KEY_FILE", str(node.settings.resolved_node_key_file))
    monkeypatch.setenv("SAFEREFER_PAYLOAD_KEYS", TEST_PAYLOAD_KEY)
    return main(["keys", "rotate", *options])


async def test_immediate_rotation_refuses_tokens_of_the_revoked_key_at_once(
    node: TestNode, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store: NodeKeyStore = node.app.state.node_keys
    old_headers = await node.auth(NGO)
    old_kid = store.signing_key().kid
    assert (await node.client.get("/v1/organisations", headers=old_headers)).status_code == 200
    stolen = tmp_path / "stolen-node-keys.json"
    shutil.copyfile(store.path, stolen)

    assert run_keys_rotate(node, monkeypatch, "--immediately") == 0

    # A token the thief signs after the revocation, with the stolen key.
    forged, _ = issue_access_token(
        keys=NodeKeyStore.open(stolen, token_ttl_s=300, create=False),
        node_id=node.settings.node_id,
        org_id=NGO,
        roles=["ngo_service_provider"],
        ttl_s=node.settings.access_token_ttl_s,
    )
    for headers in (old_headers, {"Authorization": f"Bearer {forged}"}):
        response = await node.client.get("/v1/organisations", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
    published = [k["kid"] for k in (await node.client.get("/jwks.json")).json()["keys"]]
    assert old_kid not in published
    assert published == [store.signing_key().kid]
    node._tokens.clear()
    fresh = await node.auth(NGO)
    assert (await node.client.get("/v1/organisations", headers=fresh)).status_code == 200


async def test_planned_rotation_accepts_old_tokens_until_they_expire(
    node: TestNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    store: NodeKeyStore = node.app.state.node_keys
    old_headers = await node.auth(NGO)
    old_kid = store.signing_key().kid

    assert run_keys_rotate(node, monkeypatch) == 0
    assert (await node.client.get("/v1/organisations", headers=old_headers)).status_code == 200
    successor = [k for k in json.loads(store.path.read_text())["keys"] if k["kid"] != old_kid]
    shift_activation(store.path, successor[0]["kid"], timedelta(seconds=-1))  # old key retired
    assert store.signing_key().kid != old_kid
    assert (await node.client.get("/v1/organisations", headers=old_headers)).status_code == 200
    published = [k["kid"] for k in (await node.client.get("/jwks.json")).json()["keys"]]
    assert old_kid in published
    age_retired_keys(store.path, timedelta(seconds=node.settings.access_token_ttl_s + 1))
    assert (await node.client.get("/v1/organisations", headers=old_headers)).status_code == 401


def test_revocation_reaches_a_store_that_already_holds_the_key(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    revoking = NodeKeyStore.open(path, token_ttl_s=300, create=True)
    worker = NodeKeyStore.open(path, token_ttl_s=300, create=False)  # another worker process
    old_kid = worker.signing_key().kid
    assert worker.verification_key(old_kid) is not None  # read and held in memory

    fresh, dropped = revoking.revoke_all()

    assert dropped == [old_kid]
    assert worker.verification_key(old_kid) is None
    assert [k["kid"] for k in worker.jwks()["keys"]] == [fresh.kid]
    assert worker.signing_key().kid == fresh.kid


def test_revocation_drops_a_successor_not_yet_signing(tmp_path: Path) -> None:
    # The successor of a planned rotation was in the same (exposed) file.
    store = NodeKeyStore.open(tmp_path / "keys.json", token_ttl_s=300, create=True)
    current = store.signing_key()
    successor = store.rotate()

    fresh, dropped = store.revoke_all()

    assert sorted(dropped) == sorted([current.kid, successor.kid])
    kids = [k["kid"] for k in json.loads(store.path.read_text())["keys"]]
    assert kids == [fresh.kid]
    assert store.verification_key(successor.kid) is None
