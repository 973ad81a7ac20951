"""The node's ES256 signing keys: a JSON file of the current key, its successor and retired ones.

`rotate()` adds a new key that is published in `/jwks.json` at once but signs only from
`activates_at` (`PUBLISH_LEAD_S` later, longer than clients cache the JWKS), when the current key
retires (SR-SEC-003: published before it signs). A retired key stays published, and keeps
verifying the access tokens it signed, until every one of them has expired (retired_at + token
lifetime); it is dropped from the file at the next rotation.

`revoke_all()` is for a compromise: whoever read the key file holds every key in it, so every key
is dropped at once (no longer published, no longer accepted, including tokens forged with it
later) and a new key signs from now on. Tokens issued before are refused; clients fetch new ones.

Every worker checks the file on each use (one `stat`) and re-reads it when it changed, so a
rotation or a revocation reaches all processes of a node at once, without a restart.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey

from saferefer_server.settings import Settings, write_new_secret_file

KEY_FILE_FORMAT = 1
JWKS_MAX_AGE_S = 60  # Cache-Control of /jwks.json
PUBLISH_LEAD_S = 2 * JWKS_MAX_AGE_S


class NodeKeyError(RuntimeError):
    pass


@dataclass(frozen=True)
class NodeKey:
    kid: str
    key: ECKey
    created_at: datetime
    activates_at: datetime
    retired_at: datetime | None

    def signs_at(self, now: datetime) -> bool:
        return self.activates_at <= now and (self.retired_at is None or now < self.retired_at)

    def public_jwk(self) -> dict[str, Any]:
        jwk = dict(self.key.as_dict(private=False))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "ES256"})
        return jwk


def generate_es256_key() -> ECKey:
    """A fresh P-256 key whose kid is its RFC 7638 thumbprint."""
    return ECKey.generate_key("P-256", auto_kid=True)


def _serialise(keys: list[NodeKey]) -> str:
    return json.dumps(
        {
            "saferefer_node_keys": KEY_FILE_FORMAT,
            "keys": [
                {
                    "kid": k.kid,
                    "private_jwk": k.key.as_dict(private=True),
                    "created_at": k.created_at.isoformat(),
                    "activates_at": k.activates_at.isoformat(),
                    "retired_at": k.retired_at.isoformat() if k.retired_at else None,
                }
                for k in keys
            ],
        },
        indent=2,
    )


def _parse(text: str) -> list[NodeKey]:
    try:
        document = json.loads(text)
        keys = [
            NodeKey(
                kid=entry["kid"],
                key=ECKey.import_key(entry["private_jwk"]),
                created_at=datetime.fromisoformat(entry["created_at"]),
                activates_at=datetime.fromisoformat(
                    entry.get("activates_at") or entry["created_at"]
                ),
                retired_at=datetime.fromisoformat(entry["retired_at"])
                if entry["retired_at"]
                else None,
            )
            for entry in document["keys"]
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise NodeKeyError("the node key file is not a valid SafeRefer node key file") from exc
    if document.get("saferefer_node_keys") != KEY_FILE_FORMAT or not keys:
        raise NodeKeyError("the node key file is not a valid SafeRefer node key file")
    for k in keys:
        if k.key.as_dict(private=False).get("crv") != "P-256" or not k.key.is_private:
            raise NodeKeyError(f"node key {k.kid} is not a P-256 private key")
    return keys


def _write_atomically(path: Path, content: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(content)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class NodeKeyStore:
    """Reads (and, in development, creates) the key file; hands out the signing key and JWKS."""

    def __init__(self, path: Path, *, token_ttl_s: int) -> None:
        self.path = path
        self.token_ttl = timedelta(seconds=token_ttl_s)
        self._lock = threading.Lock()
        self._file_version: tuple[int, int, int] | None = None
        self._keys: list[NodeKey] = []

    @classmethod
    def open(cls, path: Path, *, token_ttl_s: int, create: bool) -> NodeKeyStore:
        if not path.exists():
            if not create:
                raise NodeKeyError(
                    f"node key file {path} does not exist; "
                    "create it with `saferefer-server keys rotate`"
                )
            path.parent.mkdir(parents=True, exist_ok=True)
            first = generate_es256_key()
            now = datetime.now(UTC)
            write_new_secret_file(
                path, _serialise([NodeKey(first.kid or "", first, now, now, None)])
            )
        store = cls(path, token_ttl_s=token_ttl_s)
        store.reload()
        return store

    def reload(self) -> None:
        """Re-read the file if it was replaced or changed since the last read."""
        with self._lock:
            stat = self.path.stat()
            # The inode too: every write replaces the file, and two writes can fall within one
            # tick of the file system's clock (same mtime).
            version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if version == self._file_version:
                return
            self._keys = _parse(self.path.read_text())
            self._file_version = version

    def signing_key(self) -> NodeKey:
        self.reload()
        now = datetime.now(UTC)
        active = [k for k in self._keys if k.signs_at(now)]
        if not active:
            raise NodeKeyError("the node key file has no key that signs now")
        return max(active, key=lambda k: k.activates_at)

    def verification_key(self, kid: str) -> ECKey | None:
        """The public key for `kid` if it may still verify tokens, else None.

        The file is checked first, every time: a key revoked by another process must not go on
        verifying here from memory.
        """
        self.reload()
        now = datetime.now(UTC)
        for k in self._keys:
            if k.kid == kid and self._publishable(k, now):
                return k.key
        return None

    def jwks(self) -> dict[str, Any]:
        self.reload()
        now = datetime.now(UTC)
        return {"keys": [k.public_jwk() for k in self._keys if self._publishable(k, now)]}

    def _publishable(self, key: NodeKey, now: datetime) -> bool:
        return key.retired_at is None or key.retired_at + self.token_ttl > now

    def rotate(self, *, activate_in_s: float = PUBLISH_LEAD_S) -> NodeKey:
        """Add a successor key signing from `activate_in_s` on; the keys it replaces retire then.

        Keys no unexpired token can need any more are dropped from the file. Without a key that
        signs now (a fresh file), the new key signs at once.
        """
        with self._lock:
            now = datetime.now(UTC)
            keys = _parse(self.path.read_text()) if self.path.exists() else []
            if not any(k.signs_at(now) for k in keys):
                activate_in_s = 0
            activates_at = now + timedelta(seconds=activate_in_s)
            kept = [
                NodeKey(
                    k.kid,
                    k.key,
                    k.created_at,
                    min(k.activates_at, activates_at),
                    min(k.retired_at or activates_at, activates_at),
                )
                for k in keys
                if self._publishable(k, now)
            ]
            new_key = generate_es256_key()
            fresh = NodeKey(new_key.kid or "", new_key, now, activates_at, None)
            _write_atomically(self.path, _serialise([*kept, fresh]))
            self._file_version = None
        self.reload()
        return fresh

    def revoke_all(self) -> tuple[NodeKey, list[str]]:
        """Drop every key of the file and sign with a new one from now on (a compromised key).

        Returns the new key and the kids dropped. Nothing signed with a dropped key verifies
        any more, in any worker: it is neither published nor accepted.
        """
        with self._lock:
            now = datetime.now(UTC)
            dropped = [k.kid for k in _parse(self.path.read_text())] if self.path.exists() else []
            new_key = generate_es256_key()
            fresh = NodeKey(new_key.kid or "", new_key, now, now, None)
            _write_atomically(self.path, _serialise([fresh]))
            self._file_version = None
        self.reload()
        return fresh, dropped


_stores: dict[Path, NodeKeyStore] = {}
_stores_lock = threading.Lock()


def node_key_store(settings: Settings) -> NodeKeyStore:
    """The key store of the node `settings` describe (one per key file in this process).

    Development creates the key file on first use; production requires it to exist.
    """
    path = settings.resolved_node_key_file.resolve()
    with _stores_lock:
        store = _stores.get(path)
        if store is None:
            store = NodeKeyStore.open(
                path, token_ttl_s=settings.access_token_ttl_s, create=not settings.production
            )
            _stores[path] = store
        return store


def current_signing_key(settings: Settings) -> tuple[str, ECKey]:
    """(kid, private key) the node signs with now; its public half is in /jwks.json."""
    key = node_key_store(settings).signing_key()
    return key.kid, key.key
