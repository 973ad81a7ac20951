"""Client credentials of an organisation: its ES256 key pair and the credentials file the SDK reads.

The node keeps only the public half (in the directory's JWKS); the private half goes into the
credentials file handed to the organisation, once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from saferefer_server.auth.keys import generate_es256_key
from saferefer_server.settings import write_new_secret_file

CREDENTIALS_FORMAT = 1


class CredentialsFileExists(FileExistsError):
    pass


def new_client_key() -> tuple[dict[str, Any], dict[str, Any]]:
    """(private JWK, public JWKS) of a fresh ES256 client key; kid = RFC 7638 thumbprint."""
    key = generate_es256_key()
    private_jwk: dict[str, Any] = dict(key.as_dict(private=True))
    public_jwk: dict[str, Any] = dict(key.as_dict(private=False))
    for jwk in (private_jwk, public_jwk):
        jwk.update({"kid": key.kid, "alg": "ES256", "use": "sig"})
    return private_jwk, {"keys": [public_jwk]}


def credentials_document(
    *, base_url: str, node_id: str, org_id: str, private_jwk: dict[str, Any]
) -> dict[str, Any]:
    return {
        "saferefer_credentials": CREDENTIALS_FORMAT,
        "base_url": base_url,
        "node_id": node_id,
        "org_id": org_id,
        "kid": private_jwk["kid"],
        "private_key_jwk": private_jwk,
    }


def credentials_file_name(org_id: str) -> str:
    """`urn:saferefer:org:NL:demo-ngo` → `NL-demo-ngo.json`."""
    country, local_code = org_id.split(":")[3:5]
    return f"{country}-{local_code}.json"


def write_credentials(directory: Path, document: dict[str, Any]) -> Path:
    """Write a credentials file (mode 0600); refuses to overwrite an existing one."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / credentials_file_name(document["org_id"])
    if not write_new_secret_file(path, json.dumps(document, indent=2) + "\n"):
        raise CredentialsFileExists(f"{path} already exists")
    return path
