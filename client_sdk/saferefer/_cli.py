"""The ``saferefer`` command: send and receive referrals from a shell.

    saferefer configure --credentials-file var/demo/credentials/NL-demo-ngo.json
    saferefer check referral.json          # dry-run: may I send this?
    saferefer send referral.json
    saferefer inbox
    saferefer show <referral-id>
    saferefer events tail [--after CURSOR] [--follow]
    saferefer consent record consent.json
    saferefer consent withdraw <consent-id> --channel phone --received-by worker-7

Every command prints for people, or JSON with ``--json``. Exit codes: 0 done, 1 error,
2 usage, 3 the policy refused (violations printed with their fixes).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import pydantic

from ._client import Client
from ._credentials import ENV_BASE_URL, ENV_CREDENTIALS_FILE, ENV_ORG_ID, ENV_PRIVATE_KEY_FILE
from ._exceptions import (
    ConfigurationError,
    InvalidRequestError,
    PolicyViolationError,
    SafeReferError,
    ValidationError,
)
from .types import Event, PolicyDecision

__all__ = ["main"]

ENV_CONFIG_FILE = "SAFEREFER_CONFIG_FILE"
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_DENIED = 0, 1, 2, 3


def config_path() -> Path:
    explicit = os.environ.get(ENV_CONFIG_FILE)
    if explicit:
        return Path(explicit)
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "saferefer" / "config.json"


class Output:
    """Where results go: human lines, or one JSON document per result with ``--json``."""

    def __init__(self, *, as_json: bool, out: TextIO, err: TextIO) -> None:
        self.as_json = as_json
        self.out = out
        self.err = err

    def result(self, value: Any, human: Callable[[], Iterator[str]]) -> None:
        if self.as_json:
            print(json.dumps(_plain(value), ensure_ascii=False), file=self.out)
        else:
            for line in human():
                print(line, file=self.out)

    def note(self, line: str) -> None:
        print(line, file=self.err)


def _plain(value: Any) -> Any:
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _read_json(path: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from None
    try:
        document = json.loads(text)
    except ValueError:
        raise ConfigurationError(f"{path} is not valid JSON") from None
    if not isinstance(document, dict):
        raise ConfigurationError(f"{path} must hold one JSON object")
    return document


def _client(args: argparse.Namespace) -> Client:
    """Flags first, then the environment, then the file ``saferefer configure`` wrote."""
    saved: dict[str, Any] = {}
    if config_path().exists():
        saved = json.loads(config_path().read_text(encoding="utf-8"))
    env_has_identity = any(os.environ.get(v) for v in (ENV_CREDENTIALS_FILE, ENV_PRIVATE_KEY_FILE))
    credentials_file = args.credentials_file or (
        None if env_has_identity else saved.get("credentials_file")
    )
    private_key_file = (
        None if env_has_identity or credentials_file else saved.get("private_key_file")
    )
    return Client(
        base_url=args.base_url or os.environ.get(ENV_BASE_URL) or saved.get("base_url"),
        org_id=None if credentials_file else (os.environ.get(ENV_ORG_ID) or saved.get("org_id")),
        credentials_file=credentials_file,
        private_key_file=private_key_file,
    )


# --- commands --------------------------------------------------------------------------------


def cmd_configure(args: argparse.Namespace, output: Output) -> int:
    config: dict[str, str] = {}
    if args.credentials_file:
        config["credentials_file"] = str(Path(args.credentials_file).resolve())
    if args.private_key_file:
        config["private_key_file"] = str(Path(args.private_key_file).resolve())
    if args.org_id:
        config["org_id"] = args.org_id
    if args.base_url:
        config["base_url"] = args.base_url
    if not config.get("credentials_file") and not (
        config.get("private_key_file") and config.get("org_id")
    ):
        raise ConfigurationError(
            "configure needs --credentials-file, or --private-key-file with --org-id"
        )
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    os.chmod(path, 0o600)
    with _client(argparse.Namespace(credentials_file=None, base_url=None)) as client:
        organisation = client.organisations.retrieve(client.org_id) if args.check else None
    output.result(
        {
            "config_file": str(path),
            "org_id": client.org_id,
            "base_url": client.base_url,
            "checked": args.check,
        },
        lambda: iter(
            [
                f"saved {path}",
                f"organisation {client.org_id} at {client.base_url}"
                + (f": connected ({organisation.name})" if organisation is not None else ""),
            ]
        ),
    )
    return EXIT_OK


def _decision_lines(decision: PolicyDecision) -> Iterator[str]:
    yield "allowed" if decision.allow else "DENIED"
    if decision.permitted_categories:
        yield "permitted categories: " + ", ".join(decision.permitted_categories)
    for violation in decision.violations:
        where = ", ".join(
            part for part in (violation.rule, violation.level, violation.overlay) if part
        )
        yield f"  {violation.code} ({where}): {violation.message}"
        if violation.categories:
            yield f"    categories: {', '.join(violation.categories)}"
        yield f"    fix: {violation.fix}"
    for obligation in decision.obligations:
        yield f"  obligation {obligation.code}: {obligation.message}"


def cmd_check(args: argparse.Namespace, output: Output) -> int:
    with _client(args) as client:
        decision = client.policy.check(_read_json(args.file))
    output.result(decision, lambda: _decision_lines(decision))
    return EXIT_OK if decision.allow else EXIT_DENIED


def cmd_send(args: argparse.Namespace, output: Output) -> int:
    with _client(args) as client:
        referral = client.referrals.create(
            _read_json(args.file), idempotency_key=args.idempotency_key
        )
    output.result(
        referral,
        lambda: iter(
            [
                f"sent {referral.id} to {referral.recipient}: {referral.state}",
                "categories: " + ", ".join(referral.data_categories),
            ]
        ),
    )
    return EXIT_OK


def cmd_inbox(args: argparse.Namespace, output: Output) -> int:
    referrals = []
    with _client(args) as client:
        for referral in client.referrals.list(box=args.box, state=args.state):
            referrals.append(referral)
            if args.limit and len(referrals) >= args.limit:
                break

    def lines() -> Iterator[str]:
        if not referrals:
            yield f"{args.box} is empty"
        for r in referrals:
            other = r.sender if args.box == "inbox" else r.recipient
            yield f"{r.id}  {r.state:<10} {r.purpose:<22} {r.urgency:<9} {other}"

    output.result(referrals, lines)
    return EXIT_OK


def cmd_show(args: argparse.Namespace, output: Output) -> int:
    with _client(args) as client:
        referral = client.referrals.retrieve(args.referral_id)

    def lines() -> Iterator[str]:
        yield f"referral {referral.id}"
        yield f"  state      {referral.state} (since {referral.state_changed_at})"
        yield f"  from       {referral.sender}"
        yield f"  to         {referral.recipient}"
        yield f"  purpose    {referral.purpose}, urgency {referral.urgency}"
        yield f"  services   {', '.join(referral.requested_services)}"
        yield f"  categories {', '.join(referral.data_categories) or '-'}"
        if referral.withheld_categories:
            yield f"  withheld   {', '.join(referral.withheld_categories)}"
        if referral.payload is not None and args.payload:
            yield "  payload    " + json.dumps(referral.payload, ensure_ascii=False)
        elif referral.payload is not None:
            yield "  payload    present (show it with --payload)"

    output.result(referral, lines)
    return EXIT_OK


def _event_line(event: Event) -> Callable[[], Iterator[str]]:
    def lines() -> Iterator[str]:
        yield f"{event.sequence}  {event.time}  {event.type}  {event.subject}"

    return lines


def cmd_events_tail(args: argparse.Namespace, output: Output) -> int:
    with _client(args) as client:
        events = (
            client.events.follow(after=args.after)
            if args.follow
            else client.events.iterate(after=args.after)
        )
        try:
            for event in events:
                output.result(event, _event_line(event))
        except KeyboardInterrupt:
            pass
    if events.cursor is not None:
        output.note(f"cursor: {events.cursor}  (resume with --after {events.cursor})")
    return EXIT_OK


def cmd_consent_record(args: argparse.Namespace, output: Output) -> int:
    with _client(args) as client:
        consent = client.consents.record(_read_json(args.file))
    output.result(
        consent,
        lambda: iter(
            [f"recorded consent {consent.id}: {consent.status} until {consent.valid_until}"]
        ),
    )
    return EXIT_OK


def cmd_consent_withdraw(args: argparse.Namespace, output: Output) -> int:
    with _client(args) as client:
        consent = client.consents.withdraw(
            args.consent_id, channel=args.channel, received_by=args.received_by
        )
    output.result(
        consent,
        lambda: iter([f"consent {consent.id} is {consent.status}; its referrals are revoked"]),
    )
    return EXIT_OK


# --- wiring ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON instead of text")
    common.add_argument(
        "--credentials-file",
        help=f"credentials file (default: ${ENV_CREDENTIALS_FILE} or configure)",
    )
    common.add_argument(
        "--base-url", help=f"node URL (default: ${ENV_BASE_URL} or the credentials file)"
    )

    parser = argparse.ArgumentParser(
        prog="saferefer", description="Send and receive SafeRefer referrals."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    configure = commands.add_parser(
        "configure", parents=[common], help="save who you are and where the node is"
    )
    configure.add_argument("--private-key-file", help="PEM or JWK private key (with --org-id)")
    configure.add_argument("--org-id", help="your organisation id")
    configure.add_argument(
        "--no-check", dest="check", action="store_false", help="do not contact the node"
    )
    configure.set_defaults(handler=cmd_configure)

    check = commands.add_parser(
        "check", parents=[common], help="dry-run a referral file against the policy"
    )
    check.add_argument("file", help="referral-create JSON document ('-' for stdin)")
    check.set_defaults(handler=cmd_check)

    send = commands.add_parser("send", parents=[common], help="send a referral file")
    send.add_argument("file", help="referral-create JSON document ('-' for stdin)")
    send.add_argument("--idempotency-key", help="reuse to retry a send safely")
    send.set_defaults(handler=cmd_send)

    inbox = commands.add_parser("inbox", parents=[common], help="list received (or sent) referrals")
    inbox.add_argument("--box", choices=["inbox", "outbox"], default="inbox")
    inbox.add_argument("--state", help="only referrals in this state")
    inbox.add_argument("--limit", type=int, default=50, help="at most this many (0: all)")
    inbox.set_defaults(handler=cmd_inbox)

    show = commands.add_parser("show", parents=[common], help="show one referral")
    show.add_argument("referral_id")
    show.add_argument("--payload", action="store_true", help="print the payload values too")
    show.set_defaults(handler=cmd_show)

    events = commands.add_parser("events", help="the event feed")
    events_commands = events.add_subparsers(dest="events_command", required=True)
    tail = events_commands.add_parser("tail", parents=[common], help="print events after a cursor")
    tail.add_argument("--after", help="cursor printed by an earlier run")
    tail.add_argument(
        "--follow", action="store_true", help="keep waiting for new events (Ctrl-C stops)"
    )
    tail.set_defaults(handler=cmd_events_tail)

    consent = commands.add_parser("consent", help="consent records")
    consent_commands = consent.add_subparsers(dest="consent_command", required=True)
    record = consent_commands.add_parser("record", parents=[common], help="record a consent file")
    record.add_argument("file", help="consent-create JSON document ('-' for stdin)")
    record.set_defaults(handler=cmd_consent_record)
    withdraw = consent_commands.add_parser("withdraw", parents=[common], help="record a withdrawal")
    withdraw.add_argument("consent_id")
    withdraw.add_argument("--channel", required=True, help="withdrawal-channels code, e.g. phone")
    withdraw.add_argument(
        "--received-by", required=True, help="pseudonym of the worker who took it"
    )
    withdraw.set_defaults(handler=cmd_consent_withdraw)
    return parser


def main(
    argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    stdout, stderr = out or sys.stdout, err or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    output = Output(as_json=args.json, out=stdout, err=stderr)
    handler: Callable[[argparse.Namespace, Output], int] = args.handler
    try:
        return handler(args, output)
    except PolicyViolationError as exc:
        output.note(str(exc))
        if args.json:
            print(json.dumps(exc.problem, ensure_ascii=False), file=stdout)
        return EXIT_DENIED
    except (InvalidRequestError, ValidationError) as exc:
        output.note(f"error: {exc}")
        errors = exc.errors
        for error in errors:
            output.note(f"  {error.path}: {error.message}")
        return EXIT_ERROR
    except SafeReferError as exc:
        output.note(f"error: {exc}")
        return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
