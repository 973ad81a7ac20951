"""`saferefer-server federation …`: the trust-list authority's tools and the node's outbox view.

    saferefer-server federation authority-key --private-out FILE --public-out FILE
    saferefer-server federation node-entry --node-id URN --base-url URL --jwks FILE
                                           [--valid-days 365] [--contact-points FILE] [--out FILE]
    saferefer-server federation sign-trust-list --nodes FILE --authority-key FILE --out FILE
                                                --sequence N [--valid-days 30] [--issuer TEXT]
    saferefer-server federation outbox                  messages to peers, by peer and status

The authority (the mechanism that admits nodes) keeps the private key and signs the list; every
member node is configured with the public JWKS (`SAFEREFER_FEDERATION_TRUST_ANCHOR`) and the
signed list (`SAFEREFER_FEDERATION_TRUST_LIST`). A node's entry is built from its published
`/jwks.json`. Each command reports a bad file in one line and exits 2, without a traceback.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from joserfc.errors import JoseError

from saferefer_server.federation.errors import TrustListError
from saferefer_server.federation.trustlist import (
    new_authority_key_files,
    node_entry,
    sign_trust_list_file,
    write_atomically,
)

ErrorFactory = Callable[[str], Exception]


def add_commands(commands: Any, *, error: ErrorFactory, with_session: Callable[..., Any]) -> None:
    """Register `federation` and its subcommands on the `saferefer-server` parser.

    `error` builds the CLI's one-line failure; `with_session(work)` runs `work(db_session)` on
    the configured database the way the other commands do.
    """
    federation = commands.add_parser("federation", help="cross-border trust list and outbox")
    sub = federation.add_subparsers(dest="federation_command", required=True)

    key = sub.add_parser("authority-key", help="create the trust-list authority's key pair")
    key.add_argument("--private-out", required=True, type=Path, help="private JWK (mode 0600)")
    key.add_argument("--public-out", required=True, type=Path, help="public JWKS: the anchor")
    key.set_defaults(handler=lambda args: _authority_key(args, error))

    entry = sub.add_parser("node-entry", help="a trust-list entry for a node, from its JWKS")
    entry.add_argument("--node-id", required=True, help="urn:saferefer:node:<CC>:<name>")
    entry.add_argument("--base-url", required=True, help="https URL the node serves on")
    entry.add_argument("--jwks", required=True, type=Path, help="the node's /jwks.json, saved")
    entry.add_argument("--valid-days", type=int, default=365)
    entry.add_argument(
        "--contact-points", type=Path, help="JSON list of {org_id, name, roles} the node offers"
    )
    entry.add_argument("--out", type=Path, help="write the entry here (default: print it)")
    entry.set_defaults(handler=lambda args: _node_entry(args, error))

    sign = sub.add_parser("sign-trust-list", help="sign node entries into a trust list")
    sign.add_argument("--nodes", required=True, type=Path, help="JSON list of node entries")
    sign.add_argument("--authority-key", required=True, type=Path, help="private authority JWK")
    sign.add_argument("--out", required=True, type=Path)
    sign.add_argument(
        "--sequence", required=True, type=int, help="higher than the last published list's"
    )
    sign.add_argument("--valid-days", type=int, default=30)
    sign.add_argument("--issuer", default="SafeRefer trust-list authority")
    sign.set_defaults(handler=lambda args: _sign(args, error))

    outbox = sub.add_parser("outbox", help="messages to peer nodes by peer and status")
    outbox.set_defaults(handler=lambda args: _outbox(with_session))


def _authority_key(args: argparse.Namespace, error: ErrorFactory) -> int:
    if args.private_out.exists():
        raise error(f"{args.private_out} exists; an authority key is never overwritten")
    kid = new_authority_key_files(private_out=args.private_out, public_out=args.public_out)
    print(f"authority key {kid}: private key {args.private_out}, anchor {args.public_out}")
    return 0


def _read_json(path: Path, error: ErrorFactory) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise error(f"{path} is not JSON (line {exc.lineno})") from None


def _node_entry(args: argparse.Namespace, error: ErrorFactory) -> int:
    jwks = _read_json(args.jwks, error)
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys:
        raise error(f'{args.jwks} must be a JWKS with at least one key ({{"keys": [...]}})')
    contact_points = _read_json(args.contact_points, error) if args.contact_points else []
    if not isinstance(contact_points, list):
        raise error(f"{args.contact_points} must hold a JSON list")
    if args.valid_days < 1:
        raise error("--valid-days must be at least 1")
    now = datetime.now(UTC).replace(microsecond=0)
    document = node_entry(
        node_id=args.node_id,
        base_url=args.base_url,
        public_keys=keys,
        valid_from=now,
        valid_until=now + timedelta(days=args.valid_days),
        contact_points=contact_points,
    )
    text = json.dumps(document, indent=2) + "\n"
    if args.out:
        write_atomically(args.out, text)
        print(f"node entry for {args.node_id} written to {args.out}")
    else:
        print(text, end="")
    return 0


def _sign(args: argparse.Namespace, error: ErrorFactory) -> int:
    if args.sequence < 1 or args.valid_days < 1:
        raise error("--sequence and --valid-days must be at least 1")
    try:
        trust_list = sign_trust_list_file(
            nodes_file=args.nodes,
            authority_key_file=args.authority_key,
            out_file=args.out,
            sequence=args.sequence,
            valid_days=args.valid_days,
            issuer=args.issuer,
        )
    except TrustListError as exc:
        raise error(str(exc)) from None
    except JoseError as exc:
        raise error(f"cannot sign: the authority key is not a usable key ({exc.error})") from None
    except (OSError, ValueError) as exc:
        # ValueError: not JSON, or not a key; the message names the problem, never key material.
        raise error(f"cannot sign: {type(exc).__name__}") from None
    print(
        f"trust list sequence {trust_list.sequence} with {len(trust_list.document.peers)} node(s) "
        f"written to {args.out}"
    )
    return 0


def _outbox(with_session: Callable[..., Any]) -> int:
    from saferefer_server.federation.service import outbox_summary

    summary = with_session(lambda db_session: outbox_summary(db_session=db_session))
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0
