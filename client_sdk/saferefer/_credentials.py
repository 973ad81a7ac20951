"""Where an organisation's identity comes from: a credentials file, a key file, or the environment.

A credentials file is what ``saferefer-server org add`` / ``seed-demo`` writes::

    {"saferefer_credentials": 1, "base_url": "...", "node_id": "urn:saferefer:node:NL:demo",
     "org_id": "urn:saferefer:org:NL:demo-ngo", "kid": "...", "private_key_jwk": {...}}

A private key file is a PEM (PKCS#8 or SEC1) or a JWK (JSON) of an EC P-256 key.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from ._exceptions import ConfigurationError

__all__ = [
    "ENV_BASE_URL",
    "ENV_CREDENTIALS_FILE",
    "ENV_KEY_ID",
    "ENV_ORG_ID",
    "ENV_PRIVATE_KEY_FILE",
    "Credentials",
]

ENV_BASE_URL = "SAFEREFER_BASE_URL"
ENV_ORG_ID = "SAFEREFER_ORG_ID"
ENV_PRIVATE_KEY_FILE = "SAFEREFER_PRIVATE_KEY_FILE"
ENV_CREDENTIALS_FILE = "SAFEREFER_CREDENTIALS_FILE"
ENV_KEY_ID = "SAFEREFER_KEY_ID"

CREDENTIALS_FORMAT_VERSION = 1
#: Where the demo organisations' credentials files come from (the hint when one is missing).
DEMO_CREDENTIALS_HINT = (
    "The demo organisations' credentials are written by `make run` (to var/demo/credentials/ "
    "of the repository) or by `saferefer-server seed-demo --credentials-dir DIR`."
)
#: JSON's names for the Python types a JSON document is parsed into.
_JSON_TYPE_NAMES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


@dataclass(frozen=True)
class Credentials:
    """An organisation's identity at a node: its id, its signing key and the key id the node knows."""

    org_id: str
    key: ECKey
    kid: str
    base_url: str | None = None
    node_id: str | None = None

    def __repr__(self) -> str:  # never print key material
        return f"Credentials(org_id={self.org_id!r}, kid={self.kid!r}, node_id={self.node_id!r})"

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Credentials:
        """Read a credentials file written by ``saferefer-server org add`` or ``seed-demo``."""
        document = _read_json(Path(path), what="credentials file")
        if (
            not isinstance(document, Mapping)
            or document.get("saferefer_credentials") != CREDENTIALS_FORMAT_VERSION
        ):
            raise ConfigurationError(
                f'{path} is not a SafeRefer credentials file (expected "saferefer_credentials": 1).'
            )
        org_id = document.get("org_id")
        jwk = document.get("private_key_jwk")
        if not isinstance(org_id, str):
            raise ConfigurationError(
                _member_problem(
                    path,
                    document,
                    "org_id",
                    "a string (the organisation id, urn:saferefer:org:...)",
                )
            )
        if not isinstance(jwk, Mapping):
            raise ConfigurationError(
                _member_problem(
                    path,
                    document,
                    "private_key_jwk",
                    "a JSON object (the organisation's EC P-256 private key as a JWK)",
                )
            )
        key = _import_key(dict(jwk), source=str(path))
        kid = document.get("kid") or jwk.get("kid") or key.thumbprint()
        base_url = document.get("base_url")
        node_id = document.get("node_id")
        return cls(
            org_id=org_id,
            key=key,
            kid=str(kid),
            base_url=base_url if isinstance(base_url, str) else None,
            node_id=node_id if isinstance(node_id, str) else None,
        )

    @classmethod
    def from_private_key(
        cls,
        private_key: str | bytes | Mapping[str, Any],
        *,
        org_id: str,
        kid: str | None = None,
        node_id: str | None = None,
    ) -> Credentials:
        """Build credentials from a PEM string or a JWK dict."""
        raw: str | bytes | dict[str, Any] = (
            dict(private_key) if isinstance(private_key, Mapping) else private_key
        )
        key = _import_key(raw, source="private_key")
        jwk_kid = raw.get("kid") if isinstance(raw, dict) else None
        return cls(org_id=org_id, key=key, kid=kid or jwk_kid or key.thumbprint(), node_id=node_id)

    @classmethod
    def from_private_key_file(
        cls,
        path: str | os.PathLike[str],
        *,
        org_id: str,
        kid: str | None = None,
        node_id: str | None = None,
    ) -> Credentials:
        """Read a PEM or JWK private key file."""
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read private key file {file}: {exc.strerror}"
            ) from None
        if text.lstrip().startswith("{"):
            jwk = _read_json(file, what="JWK file")
            if not isinstance(jwk, Mapping):
                raise ConfigurationError(f"{file} is not a JWK object.")
            return cls.from_private_key(jwk, org_id=org_id, kid=kid, node_id=node_id)
        return cls.from_private_key(text, org_id=org_id, kid=kid, node_id=node_id)


def _member_problem(path: object, document: Mapping[str, Any], member: str, expected: str) -> str:
    """Which member of a credentials file is wrong and what it should be (never its value)."""
    if member not in document:
        return f'{path}: "{member}" is missing; it must be {expected}.'
    found = _JSON_TYPE_NAMES.get(type(document[member]), "another type")
    return f'{path}: "{member}" must be {expected}, not {found}.'


def _read_json(path: Path, *, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        message = f"cannot read {what} {path}: no such file."
        if not path.is_absolute():
            message += f" A relative path is resolved against the working directory ({Path.cwd()})."
        if what == "credentials file":
            message += " " + DEMO_CREDENTIALS_HINT
        raise ConfigurationError(message) from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read {what} {path}: {exc.strerror}") from None
    except ValueError:
        raise ConfigurationError(f"{what} {path} is not valid JSON.") from None


def _import_key(raw: str | bytes | dict[str, Any], *, source: str) -> ECKey:
    try:
        key = ECKey.import_key(raw)
    except (JoseError, ValueError, TypeError, KeyError):
        raise ConfigurationError(f"{source}: not an EC private key in PEM or JWK form.") from None
    if not key.is_private or key.curve_name != "P-256":
        raise ConfigurationError(f"{source}: SafeRefer needs an EC P-256 private key (ES256).")
    return key


def resolve_credentials(
    *,
    org_id: str | None,
    private_key: str | bytes | Mapping[str, Any] | None,
    private_key_file: str | os.PathLike[str] | None,
    credentials_file: str | os.PathLike[str] | None,
    key_id: str | None,
    node_id: str | None,
    environ: Mapping[str, str] | None = None,
) -> Credentials:
    """Pick credentials from explicit arguments first, then the environment."""
    env = os.environ if environ is None else environ
    if credentials_file is None and private_key is None and private_key_file is None:
        credentials_file = env.get(ENV_CREDENTIALS_FILE) or None
        if credentials_file is None:
            private_key_file = env.get(ENV_PRIVATE_KEY_FILE) or None
    if credentials_file is not None:
        creds = Credentials.from_file(credentials_file)
        if org_id is not None and org_id != creds.org_id:
            raise ConfigurationError(
                f"org_id {org_id!r} does not match the credentials file ({creds.org_id!r})."
            )
        if node_id is not None:
            creds = Credentials(creds.org_id, creds.key, creds.kid, creds.base_url, node_id)
        return creds
    org_id = org_id or env.get(ENV_ORG_ID) or None
    key_id = key_id or env.get(ENV_KEY_ID) or None
    if private_key is None and private_key_file is None:
        raise ConfigurationError(
            "no credentials: pass credentials_file=, or private_key=/private_key_file= with org_id=, "
            f"or set {ENV_CREDENTIALS_FILE} (or {ENV_PRIVATE_KEY_FILE} and {ENV_ORG_ID})."
        )
    if org_id is None:
        raise ConfigurationError(f"no organisation id: pass org_id= or set {ENV_ORG_ID}.")
    if private_key is not None:
        return Credentials.from_private_key(private_key, org_id=org_id, kid=key_id, node_id=node_id)
    assert private_key_file is not None
    return Credentials.from_private_key_file(
        private_key_file, org_id=org_id, kid=key_id, node_id=node_id
    )
