"""`saferefer-server`: run and administer a SafeRefer node.

    saferefer-server serve [--host H] [--port P] [--workers N]   migrate, then serve (uvicorn)
    saferefer-server migrate                                     upgrade every migration head
    saferefer-server org add --id URN --name N --roles a,b [--out FILE | --out-dir DIR]
    saferefer-server org suspend|activate --id URN
    saferefer-server seed-demo [--credentials-dir DIR]           demo directory (development only)
    saferefer-server keys rotate [--immediately]                 new node signing key (planned),
                                                                 or revoke every key at once
    saferefer-server audit verify                                recompute the audit hash chain
    saferefer-server federation authority-key|node-entry|sign-trust-list|outbox   (federation/cli.py)

Configuration comes from `SAFEREFER_*` environment variables (see `settings.py`). Exit status: 0
success, 1 the command failed (e.g. a broken audit chain, the database out of reach), 2 bad usage
or configuration. Failures are one `saferefer-server: ...` line on stderr, not a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from saferefer_server.organisations.models import ORG_ID_PATTERN

T = TypeVar("T")

DEFAULT_DEMO_CREDENTIALS = Path("var/demo/credentials")

KEYS_ROTATE_DESCRIPTION = (
    "Without --immediately (planned rotation): a new key is published in /jwks.json at once and "
    "signs from 2 minutes later; the old key keeps verifying the access tokens it signed until "
    "they expire (its retirement + SAFEREFER_ACCESS_TOKEN_TTL_S), so no client notices. "
    "With --immediately (a compromise: the key file was read or copied): every key in the file "
    "is dropped at once and a new key signs from now on. A dropped key is no longer published "
    "and no longer accepted by any worker of the node, so tokens it signed, including ones forged "
    "with the stolen key, are refused (401) from the next request on; clients fetch new tokens. "
    "Peer nodes verify this node through the federation trust list: ask its authority for a new "
    "list with the new key (`saferefer-server federation node-entry`)."
)


class CommandError(Exception):
    """A failure to report in one line, without a traceback."""


def _settings() -> Any:
    from saferefer_server.settings import Settings, SettingsError

    try:
        return Settings()
    except SettingsError as exc:
        raise CommandError(f"configuration refused: {exc}") from exc
    except ValidationError as exc:
        # Only the messages: pydantic's own rendering would echo the inputs, secrets included.
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'settings'}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        )
        raise CommandError(f"configuration refused: {reasons}") from None


def _with_session(settings: Any, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    from saferefer_server.db.migrate import upgrade
    from saferefer_server.db.session import build_engine, build_sessionmaker

    upgrade(settings)  # a no-op at the heads; creates the schema of a fresh database

    async def run() -> T:
        engine = build_engine(settings)
        try:
            async with build_sessionmaker(engine)() as db_session:
                return await work(db_session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def cmd_migrate(args: argparse.Namespace) -> int:
    from saferefer_server.db.migrate import upgrade

    upgrade(_settings())
    print("database is at every migration head")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from saferefer_server.auth.keys import NodeKeyError, node_key_store
    from saferefer_server.core.logging import configure_logging
    from saferefer_server.db.migrate import upgrade

    settings = _settings()
    if settings.production and settings.sqlite and args.workers > 1:
        # Each worker would queue its own writers; only PostgreSQL serves several processes well.
        raise CommandError(
            f"production mode serves SQLite with one worker only (--workers {args.workers}): "
            "set SAFEREFER_DATABASE_URL to a postgresql+psycopg:// URL for several workers"
        )
    try:
        node_key_store(settings)  # create (development) or check (production) before any worker
    except NodeKeyError as exc:
        raise CommandError(str(exc)) from exc
    configure_logging(settings.log_level)
    upgrade(settings)
    uvicorn.run(
        "saferefer_server.main:create_served_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=None,
        access_log=False,
        proxy_headers=args.proxy_headers,
        server_header=False,
    )
    return 0


# The command-line option each member of a directory entry comes from.
_ORG_ADD_OPTIONS = {
    "id": "--id",
    "country": "--id (its <CC> part)",
    "name": "--name",
    "roles": "--roles",
    "node_id": "--node-id",
}


def cmd_org_add(args: argparse.Namespace) -> int:
    from saferefer_server.organisations import service
    from saferefer_server.organisations.credentials import (
        credentials_document,
        new_client_key,
        write_credentials,
    )

    if not re.match(ORG_ID_PATTERN, args.id):
        raise CommandError(f"--id must look like urn:saferefer:org:<CC>:<local-code> ({args.id!r})")
    # In the order given, once each (the directory's roles are a set).
    roles = list(dict.fromkeys(role.strip() for role in args.roles.split(",") if role.strip()))
    if not roles:
        raise CommandError("--roles needs at least one role code")
    settings = _settings()
    private_jwk, jwks = new_client_key()
    entry: dict[str, Any] = {
        "org_id": args.id,
        "name": args.name,
        "country": args.id.split(":")[3],
        "roles": roles,
        "node_id": args.node_id or settings.node_id,
        "jwks": jwks,
    }
    problems = service.registration_problems(**entry)
    if problems:
        raise CommandError(
            "; ".join(
                f"{_ORG_ADD_OPTIONS.get(member, member)}: {detail}" for member, detail in problems
            )
        )

    async def register(db_session: AsyncSession) -> None:
        if await service.get(db_session=db_session, org_id=args.id) is not None:
            raise CommandError(f"{args.id} is already registered")
        await service.register(db_session=db_session, **entry)
        await db_session.commit()

    document = credentials_document(
        base_url=settings.base_url,
        node_id=settings.node_id,
        org_id=args.id,
        private_jwk=private_jwk,
    )
    target: Path | None = None
    if args.out:
        target = Path(args.out)
        if target.exists():
            raise CommandError(f"{target} exists; refusing to overwrite a credentials file")
    _with_session(settings, register)
    if args.out_dir:
        print(f"credentials written to {write_credentials(Path(args.out_dir), document)}")
    elif target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch(mode=0o600)
        target.write_text(json.dumps(document, indent=2) + "\n")
        print(f"credentials written to {target}")
    else:
        print(json.dumps(document, indent=2))
    return 0


def _set_status(enabled: bool) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        from saferefer_server.organisations import service
        from saferefer_server.organisations.models import OrganisationStatus

        status = OrganisationStatus.ACTIVE if enabled else OrganisationStatus.SUSPENDED

        async def update(db_session: AsyncSession) -> bool:
            org = await service.set_status(db_session=db_session, org_id=args.id, status=status)
            await db_session.commit()
            return org is not None

        if not _with_session(_settings(), update):
            raise CommandError(f"{args.id} is not registered")
        print(f"{args.id} is {status.value}")
        return 0

    return command


def cmd_seed_demo(args: argparse.Namespace) -> int:
    from saferefer_server.organisations.demo import seed_demo_directory, write_demo_credentials

    settings = _settings()
    if settings.production:
        raise CommandError("production mode refuses the demo directory")
    directory = Path(args.credentials_dir)

    async def seed(db_session: AsyncSession) -> list[dict[str, Any]]:
        documents = await seed_demo_directory(
            db_session=db_session, node_id=settings.node_id, base_url=settings.base_url
        )
        await db_session.commit()
        return documents

    documents = _with_session(settings, seed)
    for path in write_demo_credentials(directory, documents):
        print(f"credentials written to {path}")
    if not documents:
        print(f"demo directory already registered; credentials are in {directory}")
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    from saferefer_server.auth.keys import NodeKeyError, NodeKeyStore

    settings = _settings()
    path = settings.resolved_node_key_file
    path.parent.mkdir(parents=True, exist_ok=True)
    store = NodeKeyStore(path, token_ttl_s=settings.access_token_ttl_s)
    try:
        if args.immediately:
            fresh, dropped = store.revoke_all()
        else:
            fresh, dropped = store.rotate(), []
        published = [key["kid"] for key in store.jwks()["keys"]]
    except NodeKeyError as exc:
        raise CommandError(str(exc)) from exc
    print(
        f"new signing key {fresh.kid}, signing from {fresh.activates_at.isoformat()}; "
        f"published keys: {', '.join(published)}"
    )
    if dropped:
        print(
            f"revoked at once: {', '.join(dropped)} (tokens they signed are refused; "
            "clients fetch new ones)"
        )
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from saferefer_server.audit.service import ChainVerification, verify_chain

    async def verify(db_session: AsyncSession) -> ChainVerification:
        return await verify_chain(db_session=db_session)

    result = _with_session(_settings(), verify)
    print(json.dumps(dataclasses.asdict(result), indent=2, default=str))
    return 0 if result.valid else 1


def build_parser() -> argparse.ArgumentParser:
    from saferefer_server.organisations.service import role_codes

    parser = argparse.ArgumentParser(
        prog="saferefer-server", description="Run and administer a SafeRefer node."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run migrations, then serve the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (each serves its own /metrics; use PostgreSQL for more than one)",
    )
    serve.add_argument(
        "--proxy-headers",
        action="store_true",
        help="trust X-Forwarded-For/-Proto from the proxies listed in FORWARDED_ALLOW_IPS "
        "(default 127.0.0.1,::1): the token rate limit counts the client address",
    )
    serve.set_defaults(handler=cmd_serve)

    commands.add_parser("migrate", help="upgrade the database to every head").set_defaults(
        handler=cmd_migrate
    )

    org = commands.add_parser("org", help="manage the organisation directory")
    org_commands = org.add_subparsers(dest="org_command", required=True)
    add = org_commands.add_parser("add", help="register an organisation and create its key")
    add.add_argument(
        "--id",
        required=True,
        help="urn:saferefer:org:<CC>:<local-code>; <CC> is the organisation's country, a code of "
        "spec/codelists/countries.json (ISO 3166-1 alpha-2)",
    )
    add.add_argument("--name", required=True, help="display name, at most 200 characters")
    add.add_argument(
        "--roles",
        required=True,
        help="comma-separated role codes of spec/codelists/roles.json: " + ", ".join(role_codes()),
    )
    add.add_argument(
        "--node-id",
        help="node the organisation belongs to, urn:saferefer:node:<CC>:<code> (default: this node)",
    )
    where = add.add_mutually_exclusive_group()
    where.add_argument("--out", help="write the credentials file here (default: print it)")
    where.add_argument("--out-dir", help="write <CC>-<local-code>.json into this directory")
    add.set_defaults(handler=cmd_org_add)
    for name, enabled in (("suspend", False), ("activate", True)):
        status = org_commands.add_parser(name, help=f"{name} an organisation")
        status.add_argument("--id", required=True)
        status.set_defaults(handler=_set_status(enabled))

    seed = commands.add_parser("seed-demo", help="register the demo directory (development)")
    seed.add_argument("--credentials-dir", default=str(DEFAULT_DEMO_CREDENTIALS))
    seed.set_defaults(handler=cmd_seed_demo)

    keys = commands.add_parser("keys", help="node signing keys")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    rotate = keys_commands.add_parser(
        "rotate",
        help="add a new node signing key (planned), or revoke every key at once (--immediately)",
        description=KEYS_ROTATE_DESCRIPTION,
    )
    rotate.add_argument(
        "--immediately",
        action="store_true",
        help="the key file was exposed: drop every key at once and sign with a new one",
    )
    rotate.set_defaults(handler=cmd_keys_rotate)

    audit = commands.add_parser("audit", help="audit log")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    audit_commands.add_parser("verify", help="recompute the hash chain").set_defaults(
        handler=cmd_audit_verify
    )

    from saferefer_server.federation import cli as federation_cli

    federation_cli.add_commands(
        commands,
        error=CommandError,
        with_session=lambda work: _with_session(_settings(), work),
    )
    return parser


def _database_location(database_url: str) -> str:
    """Where the database is, for a message: host and port (or the SQLite file), never the
    credentials in the URL."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return f"the SQLite database {url.database}"
    host = url.host or url.query.get("host") or "the local socket"
    port = f":{url.port}" if url.port else ""
    return f"the {url.get_backend_name()} database {url.database or ''} at {host}{port}"


def _unreachable_database(exc: Exception) -> str | None:
    """One line for a command that failed because its database is busy or out of reach."""
    from saferefer_server.db.errors import unavailability

    cause = unavailability(exc)
    if cause is None:
        return None
    where = _database_location(_settings().database_url)
    return (
        f"{where} cannot be used: {cause.reason} [{cause.exception}]; "
        "check that it is running and reachable from this machine"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except CommandError as exc:
        print(f"saferefer-server: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        message = _unreachable_database(exc)
        if message is None:
            raise
        print(f"saferefer-server: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
