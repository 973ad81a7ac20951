from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from joserfc.jwk import KeySet
from saferefer_server.federation.errors import FederationRejected, TrustListError
from saferefer_server.federation.trustlist import (
    TrustListSource,
    TrustListStore,
    load_anchor,
    new_authority_key_files,
    sign_trust_list_file,
    verify_trust_list,
)

from .factories import (
    FAR_AHEAD,
    LONG_AGO,
    MD_NODE,
    NL_NODE,
    anchor_of,
    entry,
    new_key,
    public,
    trust_list_token,
    write_anchor,
)
from .schemas import spec_validator

NOW = datetime.now(UTC)


def test_verify_trust_list_accepts_list_signed_by_anchor() -> None:
    authority, md, nl = new_key(), new_key(), new_key()
    token = trust_list_token(authority, [entry(MD_NODE, md), entry(NL_NODE, nl)], sequence=3)
    trust_list = verify_trust_list(token, anchor_of(authority))
    assert trust_list.sequence == 3
    assert trust_list.active_node_for_country("NL") is not None
    key = trust_list.verification_key(node_id=MD_NODE, kid=md.kid or "", at=NOW)
    assert key.as_dict(private=False)["x"] == public(md)["x"]


def test_verify_trust_list_refuses_other_authority() -> None:
    token = trust_list_token(new_key(), [entry(MD_NODE, new_key())])
    with pytest.raises(TrustListError, match="not a trust anchor"):
        verify_trust_list(token, anchor_of(new_key()))


def test_verify_trust_list_refuses_tampered_document() -> None:
    authority, rogue = new_key(), new_key()
    document = json.loads(trust_list_token(authority, [entry(MD_NODE, new_key())]))
    document["peers"][0]["jwks"]["keys"] = [public(rogue)]  # swap in an attacker's key
    with pytest.raises(TrustListError, match="does not verify"):
        verify_trust_list(json.dumps(document), anchor_of(authority))


def test_verify_trust_list_refuses_unsigned_document() -> None:
    authority = new_key()
    document = json.loads(trust_list_token(authority, [entry(MD_NODE, new_key())]))
    del document["signature"]
    with pytest.raises(TrustListError, match="signed"):
        verify_trust_list(json.dumps(document), anchor_of(authority))


def test_signed_trust_list_matches_spec_schema() -> None:
    document = json.loads(trust_list_token(new_key(), [entry(MD_NODE, new_key())]))
    errors = spec_validator("trust-list.schema.json").iter_errors(document)
    assert [e.message for e in errors] == []


def test_sign_trust_list_refuses_two_active_nodes_for_one_country() -> None:
    with pytest.raises(TrustListError, match="one active node per country"):
        trust_list_token(
            new_key(),
            [entry(MD_NODE, new_key()), entry("urn:saferefer:node:MD:second", new_key())],
        )


def test_sign_trust_list_refuses_key_shared_by_two_nodes() -> None:
    shared = new_key()
    with pytest.raises(TrustListError, match="one node only"):
        trust_list_token(new_key(), [entry(MD_NODE, shared), entry(NL_NODE, shared)])


@pytest.mark.parametrize(
    ("valid_from", "valid_until", "reason"),
    [
        (NOW + timedelta(hours=1), NOW + timedelta(days=1), "key_not_yet_valid"),
        (NOW - timedelta(days=2), NOW - timedelta(seconds=1), "key_expired"),
    ],
)
def test_verification_key_refuses_key_outside_validity(
    valid_from: datetime, valid_until: datetime, reason: str
) -> None:
    authority, md = new_key(), new_key()
    token = trust_list_token(
        authority, [entry(MD_NODE, md, valid_from=valid_from, valid_until=valid_until)]
    )
    trust_list = verify_trust_list(token, anchor_of(authority))
    with pytest.raises(FederationRejected) as caught:
        trust_list.verification_key(node_id=MD_NODE, kid=md.kid or "", at=NOW)
    assert caught.value.reason == reason


def test_verification_key_refuses_unknown_node_unknown_key_and_suspended_node() -> None:
    authority, md, nl = new_key(), new_key(), new_key()
    token = trust_list_token(
        authority, [entry(MD_NODE, md), entry(NL_NODE, nl, status="suspended")]
    )
    trust_list = verify_trust_list(token, anchor_of(authority))
    cases = [
        ("urn:saferefer:node:DE:national", md.kid, "unknown_node"),
        (MD_NODE, nl.kid, "unknown_key"),
        (NL_NODE, nl.kid, "node_suspended"),
    ]
    for node_id, kid, reason in cases:
        with pytest.raises(FederationRejected) as caught:
            trust_list.verification_key(node_id=node_id, kid=kid or "", at=NOW)
        assert caught.value.reason == reason


def test_verification_key_accepts_both_keys_during_rotation_overlap() -> None:
    authority, old, new = new_key(), new_key(), new_key()
    switch = NOW + timedelta(hours=1)
    validity = {
        old.kid or "": (LONG_AGO, switch + timedelta(hours=1)),
        new.kid or "": (switch - timedelta(hours=2), FAR_AHEAD),
    }
    nodes = [entry(MD_NODE, old, new, key_validity=validity)]
    trust_list = verify_trust_list(trust_list_token(authority, nodes), anchor_of(authority))
    for kid in (old.kid, new.kid):
        trust_list.verification_key(node_id=MD_NODE, kid=kid or "", at=switch)
    with pytest.raises(FederationRejected) as caught:
        trust_list.verification_key(
            node_id=MD_NODE, kid=old.kid or "", at=switch + timedelta(hours=2)
        )
    assert caught.value.reason == "key_expired"
    trust_list.verification_key(node_id=MD_NODE, kid=new.kid or "", at=switch + timedelta(hours=2))


def test_verification_key_refuses_everything_when_list_is_stale() -> None:
    authority, md = new_key(), new_key()
    token = trust_list_token(
        authority,
        [entry(MD_NODE, md)],
        issued_at=NOW - timedelta(days=2),
        valid_for=timedelta(days=1),
    )
    trust_list = verify_trust_list(token, anchor_of(authority))
    with pytest.raises(FederationRejected) as caught:
        trust_list.verification_key(node_id=MD_NODE, kid=md.kid or "", at=NOW)
    assert caught.value.reason == "trust_list_stale"


def _bump_mtime(path: Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


async def test_store_refresh_picks_up_new_list_and_refuses_rollback(tmp_path: Path) -> None:
    authority, md, nl = new_key(), new_key(), new_key()
    path = tmp_path / "trust-list.jws"
    path.write_text(trust_list_token(authority, [entry(MD_NODE, md)], sequence=2))
    store = TrustListStore(TrustListSource(str(path)), anchor_of(authority))
    assert await store.refresh() is True
    assert await store.refresh() is False  # unchanged file: not even re-verified
    assert store.current is not None
    assert store.current.node(NL_NODE) is None

    path.write_text(
        trust_list_token(authority, [entry(MD_NODE, md), entry(NL_NODE, nl)], sequence=3)
    )
    _bump_mtime(path)
    assert await store.refresh() is True
    assert store.current is not None
    assert store.current.node(NL_NODE) is not None

    path.write_text(trust_list_token(authority, [entry(MD_NODE, md)], sequence=2))
    _bump_mtime(path)
    with pytest.raises(TrustListError, match="older"):
        await store.refresh()
    assert store.current is not None
    assert store.current.sequence == 3


async def test_store_refresh_keeps_list_in_force_when_new_one_is_forged(tmp_path: Path) -> None:
    authority, md = new_key(), new_key()
    path = tmp_path / "trust-list.jws"
    path.write_text(trust_list_token(authority, [entry(MD_NODE, md)], sequence=1))
    store = TrustListStore(TrustListSource(str(path)), anchor_of(authority))
    await store.refresh()
    path.write_text(trust_list_token(new_key(), [entry(MD_NODE, md)], sequence=9))
    _bump_mtime(path)
    with pytest.raises(TrustListError):
        await store.refresh()
    assert store.current is not None
    assert store.current.sequence == 1
    assert store.last_error is not None


async def test_store_refresh_refuses_same_sequence_with_other_content(tmp_path: Path) -> None:
    authority, md, nl = new_key(), new_key(), new_key()
    path = tmp_path / "trust-list.jws"
    path.write_text(trust_list_token(authority, [entry(MD_NODE, md)], sequence=4))
    store = TrustListStore(TrustListSource(str(path)), anchor_of(authority))
    await store.refresh()
    path.write_text(trust_list_token(authority, [entry(NL_NODE, nl)], sequence=4))
    _bump_mtime(path)
    with pytest.raises(TrustListError, match="without a new sequence"):
        await store.refresh()


async def test_url_source_uses_etag_and_treats_304_as_unchanged() -> None:
    authority, md = new_key(), new_key()
    token = trust_list_token(authority, [entry(MD_NODE, md)])
    seen_headers: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen_headers.append(request.headers.get("If-None-Match"))
        if request.headers.get("If-None-Match") == '"v1"':
            return httpx.Response(304)
        return httpx.Response(200, text=token, headers={"ETag": '"v1"'})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        source = TrustListSource("https://authority.example/trust-list.jws", http_client=client)
        store = TrustListStore(source, anchor_of(authority))
        assert await store.refresh() is True
        assert await store.refresh() is False
    assert seen_headers == [None, '"v1"']


async def test_url_source_error_keeps_list_in_force() -> None:
    authority, md = new_key(), new_key()
    token = trust_list_token(authority, [entry(MD_NODE, md)])
    answers = iter([httpx.Response(200, text=token), httpx.Response(503)])
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda request: next(answers))
    ) as client:
        store = TrustListStore(
            TrustListSource("https://authority.example/tl", http_client=client),
            anchor_of(authority),
        )
        await store.refresh()
        with pytest.raises(TrustListError, match="503"):
            await store.refresh()
    assert store.current is not None


def test_sign_trust_list_refuses_contact_point_of_another_country() -> None:
    point = {"org_id": "urn:saferefer:org:RO:ngo", "name": "x", "roles": ["shelter"]}
    with pytest.raises(TrustListError, match="another country"):
        trust_list_token(new_key(), [entry(MD_NODE, new_key(), contact_points=[point])])


def test_load_anchor_refuses_private_key(tmp_path: Path) -> None:
    key = new_key()
    path = tmp_path / "anchor.jwks"
    path.write_text(json.dumps({"keys": [key.as_dict(private=True)]}))
    with pytest.raises(TrustListError, match="private"):
        load_anchor(path)
    assert isinstance(load_anchor(write_anchor(tmp_path / "ok.jwks", key)), KeySet)


def test_sign_trust_list_file_round_trip(tmp_path: Path) -> None:
    kid = new_authority_key_files(
        private_out=tmp_path / "authority.jwk", public_out=tmp_path / "anchor.jwks"
    )
    assert (tmp_path / "authority.jwk").stat().st_mode & 0o777 == 0o600
    nodes_file = tmp_path / "nodes.json"
    nodes_file.write_text(json.dumps([entry(MD_NODE, new_key()), entry(NL_NODE, new_key())]))
    sign_trust_list_file(
        nodes_file=nodes_file,
        authority_key_file=tmp_path / "authority.jwk",
        out_file=tmp_path / "trust-list.jws",
        sequence=5,
    )
    token = (tmp_path / "trust-list.jws").read_text()
    trust_list = verify_trust_list(token, load_anchor(tmp_path / "anchor.jwks"))
    assert trust_list.sequence == 5
    signature = json.loads(token)["signature"]
    header = json.loads(base64.urlsafe_b64decode(signature.split(".")[0] + "=="))
    assert header["kid"] == kid
