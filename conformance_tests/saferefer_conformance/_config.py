"""The suite's configuration: which server, and the test organisations the implementer provisioned.

A configuration file is TOML (``.toml``) or JSON (anything else)::

    base_url = "https://node.example.org"          # optional; --base-url overrides it
    timeout_seconds = 15                            # optional, per HTTP request

    [organisations.sender]                          # required
    credentials_file = "credentials/NL-test-ngo.json"

    [organisations.recipient]                       # required
    org_id = "urn:saferefer:org:NL:test-shelter"
    private_key_file = "keys/test-shelter.jwk"      # or an inline private_key_jwk = {...}

    [organisations.police]                          # optional, more roles unlock more checks:
    # immigration_authority, embassy_of_origin, national_rapporteur, outsider

A ``credentials_file`` is the file ``saferefer-server org add`` writes
(``{"saferefer_credentials": 1, "org_id", "kid", "private_key_jwk", ...}``). Relative paths are read
relative to the configuration file. Each slot names an organisation *as the suite uses it*: the
``sender`` must hold a role that may send assistance referrals (an NGO), the ``recipient`` a
role that
may receive them (a shelter or another NGO), ``police`` / ``immigration_authority`` /
``embassy_of_origin`` / ``national_rapporteur`` the role of that name, and ``outsider`` any
organisation that is neither sender nor recipient (if absent, another configured one is used).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey

SLOTS = (
    "sender",
    "recipient",
    "police",
    "immigration_authority",
    "embassy_of_origin",
    "national_rapporteur",
    "outsider",
)
REQUIRED_SLOTS = ("sender", "recipient")


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or incomplete (the message says what
    to fix)."""


@dataclass(frozen=True)
class OrgCredentials:
    slot: str
    org_id: str
    kid: str
    private_key_jwk: Mapping[str, Any] = field(repr=False)

    @property
    def key(self) -> ECKey:
        return ECKey.import_key(dict(self.private_key_jwk))

    @property
    def public_jwk(self) -> dict[str, Any]:
        return {k: v for k, v in self.private_key_jwk.items() if k != "d"}

    @property
    def country(self) -> str:
        return self.org_id.split(":")[3]


@dataclass(frozen=True)
class FederationPeer:
    """A test node the implementer put on the server's trust list (for the federation profile)."""

    node_id: str
    kid: str
    private_key_jwk: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True)
class WebhookReceiver:
    """Where the suite listens for webhook deliveries, and the URL the server must call."""

    listen_host: str
    listen_port: int
    public_url: str


@dataclass(frozen=True)
class Config:
    base_url: str | None
    organisations: Mapping[str, OrgCredentials]
    timeout_seconds: float = 15.0
    federation_peer: FederationPeer | None = None
    webhook: WebhookReceiver | None = None

    def with_base_url(self, base_url: str | None) -> Config:
        if base_url is None:
            return self
        return Config(
            base_url=base_url.rstrip("/"),
            organisations=self.organisations,
            timeout_seconds=self.timeout_seconds,
            federation_peer=self.federation_peer,
            webhook=self.webhook,
        )


def _read_document(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from None
    try:
        document = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"{path} is not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {exc}"
        ) from None
    if not isinstance(document, Mapping):
        raise ConfigError(f"{path}: the top level must be a table/object")
    return document


def _jwk_from(entry: Mapping[str, Any], base: Path, where: str) -> Mapping[str, Any]:
    if "private_key_jwk" in entry:
        jwk = entry["private_key_jwk"]
    elif "private_key_file" in entry:
        jwk = _read_document(base / str(entry["private_key_file"]))
    else:
        raise ConfigError(f"{where}: give credentials_file, private_key_jwk or private_key_file")
    if (
        not isinstance(jwk, Mapping)
        or jwk.get("kty") != "EC"
        or jwk.get("crv") != "P-256"
        or "d" not in jwk
    ):
        raise ConfigError(f"{where}: the private key must be an EC P-256 private JWK")
    return jwk


def _organisation(slot: str, entry: Any, base: Path) -> OrgCredentials:
    where = f"organisations.{slot}"
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where} must be a table/object")
    if "credentials_file" in entry:
        path = base / str(entry["credentials_file"])
        document = _read_document(path)
        if document.get("saferefer_credentials") != 1:
            raise ConfigError(f"{path} is not a SafeRefer credentials file")
        entry = {**document, **{k: v for k, v in entry.items() if k != "credentials_file"}}
    org_id = entry.get("org_id")
    if not isinstance(org_id, str) or not org_id.startswith("urn:saferefer:org:"):
        raise ConfigError(
            f"{where}.org_id must be an organisation id urn:saferefer:org:<CC>:<code>"
        )
    jwk = _jwk_from(entry, base, where)
    kid = entry.get("kid") or jwk.get("kid")
    if not isinstance(kid, str) or not kid:
        raise ConfigError(f"{where}: the key id is missing (set kid, or a kid in the JWK)")
    return OrgCredentials(slot=slot, org_id=org_id, kid=kid, private_key_jwk=dict(jwk))


def load_config(path: str | Path) -> Config:
    """Read and check a configuration file."""
    path = Path(path)
    document = _read_document(path)
    base = path.resolve().parent
    raw_orgs = document.get("organisations")
    if not isinstance(raw_orgs, Mapping):
        raise ConfigError(f"{path}: an [organisations] table is required")
    unknown = sorted(set(raw_orgs) - set(SLOTS))
    if unknown:
        raise ConfigError(
            f"{path}: unknown organisation slot(s) {', '.join(unknown)}; known: {', '.join(SLOTS)}"
        )
    missing = [slot for slot in REQUIRED_SLOTS if slot not in raw_orgs]
    if missing:
        raise ConfigError(f"{path}: organisations {', '.join(missing)} are required")
    organisations = {slot: _organisation(slot, raw_orgs[slot], base) for slot in raw_orgs}
    if organisations["sender"].org_id == organisations["recipient"].org_id:
        raise ConfigError(f"{path}: sender and recipient must be different organisations")

    peer = None
    raw_peer = document.get("federation_peer")
    if isinstance(raw_peer, Mapping):
        jwk = _jwk_from(raw_peer, base, "federation_peer")
        peer = FederationPeer(
            node_id=str(raw_peer["node_id"]),
            kid=str(raw_peer.get("kid") or jwk.get("kid")),
            private_key_jwk=dict(jwk),
        )
    webhook = None
    raw_hook = document.get("webhook")
    if isinstance(raw_hook, Mapping):
        webhook = WebhookReceiver(
            listen_host=str(raw_hook.get("listen_host", "127.0.0.1")),
            listen_port=int(raw_hook.get("listen_port", 0)),
            public_url=str(raw_hook["public_url"]) if "public_url" in raw_hook else "",
        )
    base_url = document.get("base_url")
    return Config(
        base_url=str(base_url).rstrip("/") if base_url else None,
        organisations=organisations,
        timeout_seconds=float(document.get("timeout_seconds", 15.0)),
        federation_peer=peer,
        webhook=webhook,
    )
