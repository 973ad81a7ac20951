"""The signed trust list: which nodes are members of the mechanism, and with which keys.

A trust-list authority signs the list (trust-list.schema.json; detached JWS, ES256, over its JCS
form) with a key whose public half every node holds as its *trust anchor*. A node accepts a
peer's message only if the peer is listed, `active`, inside its validity, and signed with one of
its keys valid at that instant. Key rotation without downtime: the authority publishes the new
key next to the old one, nodes pick the list up by polling, the peer switches its signing key,
and a later list drops the old key or ends it with `key_validity`.

The list in force only moves forward: a list with a lower `sequence_number` than the current one
(a replayed old list) is refused, and a list past its `next_update` refuses every peer
(fail closed: a suspended node must not stay trusted because updates stopped arriving).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from saferefer_server.federation.errors import FederationRejected, TrustListError
from saferefer_server.federation.jose import (
    SignatureInvalid,
    detached_header,
    sign_detached,
    signed_bytes,
    verify_detached,
)

TRUST_LIST_VERSION = "1"
TRUST_LIST_JWS_TYPE = "saferefer-trust-list+jws"
NODE_ID_PATTERN = r"^urn:saferefer:node:[A-Z]{2}:[a-z0-9][a-z0-9-]{1,62}$"
# https, or http to a loopback host (development), as common.schema.json#/$defs/https-url.
BASE_URL_PATTERN = (
    r"^(https://[^\s/?#]+|http://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]{1,5})?)([/?#][^\s]*)?$"
)


class PublicJwk(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kty: Literal["EC"]
    crv: Literal["P-256"]
    x: str = Field(pattern=r"^[A-Za-z0-9_-]{43}$")
    y: str = Field(pattern=r"^[A-Za-z0-9_-]{43}$")
    kid: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
    use: Literal["sig"] | None = None
    alg: Literal["ES256"] | None = None

    def key(self) -> ECKey:
        return ECKey.import_key({"kty": self.kty, "crv": self.crv, "x": self.x, "y": self.y})


class Jwks(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    keys: tuple[PublicJwk, ...] = Field(min_length=1, max_length=16)


class Validity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    valid_from: datetime
    valid_until: datetime

    @model_validator(mode="after")
    def _ordered(self) -> Validity:
        if self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self


class ContactPoint(BaseModel):
    """An organisation of a member node registered to receive cross-border referrals (R24)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    org_id: str = Field(pattern=r"^urn:saferefer:org:[A-Z]{2}:[a-z0-9][a-z0-9-]{1,62}$")
    name: str = Field(min_length=1, max_length=200)
    roles: tuple[str, ...] = Field(min_length=1)


class TrustedNode(BaseModel):
    """A peer entry: a member node, its keys and the interval in which it is trusted.

    `key_validity` narrows the interval per key (kid -> valid_from/valid_until), so a rotation
    can retire one key while the node stays trusted. `contact_points` are the node's
    organisations that accept cross-border referrals, with their roles: what a sending node's
    egress policy needs to know about a recipient outside its own directory.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    node_id: str = Field(pattern=NODE_ID_PATTERN)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    base_url: str = Field(pattern=BASE_URL_PATTERN, max_length=2048)
    jwks: Jwks
    status: Literal["active", "suspended"]
    valid_from: datetime
    valid_until: datetime
    key_validity: dict[str, Validity] | None = None
    contact_points: tuple[ContactPoint, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> TrustedNode:
        if self.node_id.split(":")[3] != self.country:
            raise ValueError(f"node {self.node_id}: id country differs from country {self.country}")
        if self.valid_until <= self.valid_from:
            raise ValueError(f"node {self.node_id}: valid_until must be after valid_from")
        kids = [key.kid for key in self.jwks.keys]
        if len(set(kids)) != len(kids):
            raise ValueError(f"node {self.node_id}: duplicate key ids")
        unknown = set(self.key_validity or {}) - set(kids)
        if unknown:
            raise ValueError(f"node {self.node_id}: key_validity names keys not in jwks")
        foreign = [c.org_id for c in self.contact_points if c.org_id.split(":")[3] != self.country]
        if foreign:
            raise ValueError(f"node {self.node_id}: contact points of another country")
        return self

    def contact_point(self, org_id: str) -> ContactPoint | None:
        return next((c for c in self.contact_points if c.org_id == org_id), None)

    @property
    def messages_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/federation/v1/messages"

    def key_interval(self, kid: str) -> tuple[datetime, datetime]:
        start, end = self.valid_from, self.valid_until
        narrowed = (self.key_validity or {}).get(kid)
        if narrowed is not None:
            start, end = max(start, narrowed.valid_from), min(end, narrowed.valid_until)
        return start, end


class TrustListDocument(BaseModel):
    """The verified trust list (trust-list.schema.json)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trust_list_version: Literal["1"]
    sequence_number: int = Field(ge=1)
    issuer: str = Field(min_length=1, max_length=200)
    issued_at: datetime
    next_update: datetime
    peers: tuple[TrustedNode, ...]
    signature: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TrustListDocument:
        if self.next_update <= self.issued_at:
            raise ValueError("next_update must be after issued_at")
        ids = [node.node_id for node in self.peers]
        if len(set(ids)) != len(ids):
            raise ValueError("node ids must be unique")
        active = [node.country for node in self.peers if node.status == "active"]
        if len(set(active)) != len(active):
            raise ValueError("at most one active node per country")
        all_kids = [key.kid for node in self.peers for key in node.jwks.keys]
        if len(set(all_kids)) != len(all_kids):
            raise ValueError("a key id may belong to one node only")
        return self


@dataclass(frozen=True)
class TrustList:
    """A verified trust list together with the exact JSON text it came from."""

    document: TrustListDocument
    text: str

    @property
    def sequence(self) -> int:
        return self.document.sequence_number

    def node(self, node_id: str) -> TrustedNode | None:
        return next((n for n in self.document.peers if n.node_id == node_id), None)

    def active_node_for_country(self, country: str) -> TrustedNode | None:
        return next(
            (n for n in self.document.peers if n.country == country and n.status == "active"),
            None,
        )

    def stale(self, at: datetime) -> bool:
        return at >= self.document.next_update

    def verification_key(self, *, node_id: str, kid: str, at: datetime) -> ECKey:
        """The key of `node_id` called `kid`, if the node may sign with it at `at`.

        Raises FederationRejected with the precise reason otherwise.
        """
        if self.stale(at):
            raise FederationRejected("trust_list_stale", f"trust list {self.sequence} is stale")
        node = self.node(node_id)
        if node is None:
            raise FederationRejected("unknown_node", f"{node_id} is not in the trust list")
        if node.status != "active":
            raise FederationRejected("node_suspended", f"{node_id} is {node.status}")
        key = next((k for k in node.jwks.keys if k.kid == kid), None)
        if key is None:
            raise FederationRejected("unknown_key", f"{node_id} has no key {kid}")
        start, end = node.key_interval(kid)
        if at < start:
            raise FederationRejected("key_not_yet_valid", f"key {kid} of {node_id}")
        if at >= end:
            raise FederationRejected("key_expired", f"key {kid} of {node_id}")
        return key.key()


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def sign_trust_list(
    *,
    nodes: Sequence[Mapping[str, Any]],
    authority_key: ECKey,
    sequence: int,
    issuer: str,
    issued_at: datetime | None = None,
    valid_for: timedelta = timedelta(days=30),
) -> str:
    """Build, check and sign a trust list; returns the JSON text to publish.

    `nodes` are peer entries (see `node_entry`). The result is validated exactly as a node will
    validate it, so an authority cannot publish a list that members would refuse.
    """
    if not authority_key.kid:
        raise TrustListError("the authority key needs a kid")
    issued = (issued_at or datetime.now(UTC)).replace(microsecond=0)
    document: dict[str, Any] = {
        "trust_list_version": TRUST_LIST_VERSION,
        "sequence_number": sequence,
        "issuer": issuer,
        "issued_at": _utc(issued),
        "next_update": _utc(issued + valid_for),
        "peers": [dict(node) for node in nodes],
    }
    try:
        TrustListDocument.model_validate(document)
    except ValidationError as exc:
        raise TrustListError(f"invalid trust list: {_summarise(exc)}") from exc
    document["signature"] = sign_detached(
        signed_bytes(document), authority_key, typ=TRUST_LIST_JWS_TYPE
    )
    return json.dumps(document, indent=2, sort_keys=True)


def verify_trust_list(text: str, anchor: KeySet) -> TrustList:
    """Verify the authority's signature and the document; raises TrustListError."""
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise TrustListError("trust list is not JSON") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("signature"), str):
        raise TrustListError("trust list is not a signed JSON object")
    try:
        header = detached_header(raw["signature"])
    except SignatureInvalid as exc:
        raise TrustListError(f"trust list signature: {exc}") from exc
    kid = header["kid"]
    key = next((k for k in anchor.keys if k.kid == kid), None)
    if not isinstance(key, ECKey):
        raise TrustListError(f"trust list signed by key {kid!r}, which is not a trust anchor")
    try:
        verify_detached(raw["signature"], signed_bytes(raw), key)
    except SignatureInvalid as exc:
        raise TrustListError("trust list signature does not verify") from exc
    try:
        document = TrustListDocument.model_validate(raw)
    except ValidationError as exc:
        raise TrustListError(f"invalid trust list: {_summarise(exc)}") from exc
    return TrustList(document=document, text=text)


def _summarise(exc: ValidationError) -> str:
    return "; ".join(
        f"{'/'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
        for err in exc.errors()[:5]
    )


def load_anchor(path: Path) -> KeySet:
    """Read the authority's public keys (a JWKS file); private members are refused."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise TrustListError(f"trust anchor {path} is not a readable JWKS") from exc
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, list) or not keys:
        raise TrustListError(f"trust anchor {path} holds no keys")
    if any("d" in key for key in keys):
        raise TrustListError(f"trust anchor {path} holds a private key; give it the public half")
    try:
        return KeySet.import_key_set({"keys": keys})
    except (JoseError, ValueError) as exc:
        raise TrustListError(f"trust anchor {path} holds an unusable key") from exc


class TrustListSource:
    """Reads the signed list from a file or an http(s) URL and reports whether it changed.

    Change detection is cheap: file mtime and size, or the HTTP `ETag` / `Last-Modified`
    validators (a 304 answer means unchanged).
    """

    def __init__(self, location: str, *, http_client: httpx.AsyncClient | None = None) -> None:
        self.location = location
        self._http = http_client
        self._file_stamp: tuple[int, int, int] | None = None
        self._etag: str | None = None
        self._last_modified: str | None = None

    @property
    def is_url(self) -> bool:
        return self.location.startswith(("http://", "https://"))

    async def read_if_changed(self) -> str | None:
        """The list text if it changed since the last successful read, else None."""
        if self.is_url:
            return await self._read_url()
        return await asyncio.to_thread(self._read_file)

    def _read_file(self) -> str | None:
        path = Path(self.location)
        try:
            stat = path.stat()
            stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if stamp == self._file_stamp:
                return None
            text = path.read_text()
        except OSError as exc:
            raise TrustListError(f"trust list file {path} cannot be read") from exc
        self._file_stamp = stamp
        return text

    async def _read_url(self) -> str | None:
        headers: dict[str, str] = {}
        if self._etag:
            headers["If-None-Match"] = self._etag
        if self._last_modified:
            headers["If-Modified-Since"] = self._last_modified
        client = self._http or httpx.AsyncClient(timeout=10.0)
        try:
            response = await client.get(self.location, headers=headers)
        except httpx.HTTPError as exc:
            raise TrustListError(f"trust list URL {self.location} unreachable") from exc
        finally:
            if self._http is None:
                await client.aclose()
        if response.status_code == 304:
            return None
        if response.status_code != 200:
            raise TrustListError(f"trust list URL {self.location} answered {response.status_code}")
        self._etag = response.headers.get("ETag")
        self._last_modified = response.headers.get("Last-Modified")
        return response.text


class TrustListStore:
    """Holds the trust list in force and replaces it only with a verified, newer one."""

    def __init__(self, source: TrustListSource, anchor: KeySet) -> None:
        self.source = source
        self.anchor = anchor
        self._current: TrustList | None = None
        self.last_error: str | None = None

    @property
    def current(self) -> TrustList | None:
        return self._current

    async def refresh(self) -> bool:
        """Re-read the source; True if a new list came into force.

        A list that fails verification, or goes back in sequence, is refused and the one in force
        stays; the reason is kept in `last_error` (the poller logs it).
        """
        try:
            text = await self.source.read_if_changed()
            if text is None:
                return False
            candidate = verify_trust_list(text, self.anchor)
        except TrustListError as exc:
            self.last_error = str(exc)
            raise
        current = self._current
        if current is not None:
            if candidate.sequence < current.sequence:
                self.last_error = (
                    f"trust list sequence {candidate.sequence} is older than {current.sequence}"
                )
                raise TrustListError(self.last_error)
            if candidate.sequence == current.sequence:
                if candidate.document.model_copy(update={"signature": None}) != (
                    current.document.model_copy(update={"signature": None})
                ):
                    self.last_error = (
                        f"trust list {candidate.sequence} changed without a new sequence"
                    )
                    raise TrustListError(self.last_error)
                return False
        self._current = candidate
        self.last_error = None
        return True

    def require(self) -> TrustList:
        if self._current is None:
            raise FederationRejected("trust_list_unavailable", "this node has no trust list loaded")
        return self._current


def node_entry(
    *,
    node_id: str,
    base_url: str,
    public_keys: Sequence[Mapping[str, Any]],
    valid_from: datetime,
    valid_until: datetime,
    status: Literal["active", "suspended"] = "active",
    key_validity: Mapping[str, tuple[datetime, datetime]] | None = None,
    contact_points: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A trust-list peer entry from a node's public JWKs (e.g. its /jwks.json keys) and the
    organisations it registers as cross-border contact points (`org_id`, `name`, `roles`)."""
    keys = [
        {k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y", "kid", "use", "alg")}
        for jwk in public_keys
    ]
    entry: dict[str, Any] = {
        "node_id": node_id,
        "country": node_id.split(":")[3],
        "base_url": base_url,
        "jwks": {"keys": keys},
        "status": status,
        "valid_from": _utc(valid_from),
        "valid_until": _utc(valid_until),
    }
    if contact_points:
        entry["contact_points"] = [dict(point) for point in contact_points]
    if key_validity:
        entry["key_validity"] = {
            kid: {"valid_from": _utc(start), "valid_until": _utc(end)}
            for kid, (start, end) in key_validity.items()
        }
    return entry


def new_authority_key_files(*, private_out: Path, public_out: Path) -> str:
    """Create a trust-list authority key pair; returns its kid.

    The private key is written with mode 0600 and must stay with the authority; the public
    JWKS is the trust anchor every member node is configured with.
    """
    key = ECKey.generate_key("P-256", auto_kid=True, private=True)
    private_out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(key.as_dict(private=True), fh)
    public_out.write_text(json.dumps({"keys": [key.as_dict(private=False)]}, indent=2))
    assert key.kid is not None  # auto_kid
    return key.kid


def sign_trust_list_file(
    *,
    nodes_file: Path,
    authority_key_file: Path,
    out_file: Path,
    sequence: int,
    valid_days: int = 30,
    issuer: str = "SafeRefer trust-list authority",
) -> TrustList:
    """CLI entry: sign the peer entries in `nodes_file` (a JSON list) into `out_file`.

    The output is written to a temporary file and renamed into place, so a node polling the
    file never reads half a list.
    """
    nodes = json.loads(nodes_file.read_text())
    if not isinstance(nodes, list):
        raise TrustListError(f"{nodes_file} must hold a JSON list of node entries")
    key = ECKey.import_key(json.loads(authority_key_file.read_text()))
    if not key.is_private:
        raise TrustListError(f"{authority_key_file} holds no private key")
    text = sign_trust_list(
        nodes=nodes,
        authority_key=key,
        sequence=sequence,
        issuer=issuer,
        valid_for=timedelta(days=valid_days),
    )
    write_atomically(out_file, text + "\n")
    public = KeySet.import_key_set({"keys": [key.as_dict(private=False)]})
    return verify_trust_list(text, public)


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
