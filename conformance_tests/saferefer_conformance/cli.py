"""``saferefer-conformance``: run the conformance suite against a server, or show coverage.

    saferefer-conformance run --base-url URL --config FILE [--profile core|events|federation|all]
                              [--check NAME ...] [--junit FILE] [--json FILE]
    saferefer-conformance list [--profile ...]
    saferefer-conformance coverage

Exit status of ``run``: 0 when every selected MUST check passed (skips are not failures), 1 when a
MUST check failed or crashed, 2 for a usage or configuration error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._config import ConfigError, load_config
from ._context import Context
from ._coverage import format_static, static_coverage
from ._registry import PROFILES, Registry, load_registry
from ._reporters import ConsoleReporter, JSONReporter, JUnitReporter
from ._runner import Reporter, run

EXIT_OK = 0
EXIT_NOT_CONFORMANT = 1
EXIT_USAGE = 2


def _profiles(value: str) -> list[str]:
    return list(PROFILES) if value == "all" else [value]


def _outside_profiles(registry: Registry, names: Sequence[str], profiles: Sequence[str]) -> str:
    """Why ``--check`` names a check the selected profiles leave out, and what to add ('' if none)."""
    outside = {
        name: registry.get(name).profile
        for name in names
        if name in registry and registry.get(name).profile not in profiles
    }
    if not outside:
        return ""
    needed = {registry.get(name).profile for name in names if name in registry}
    option = f"--profile {needed.pop()}" if len(needed) == 1 else "--profile all"
    selected = " or ".join(profiles)
    if len(outside) == 1:
        ((name, profile),) = outside.items()
        return f"{name} is a check of the {profile} profile, not of {selected}: run with {option}"
    listed = ", ".join(f"{name} ({profile})" for name, profile in outside.items())
    return f"checks outside the {selected} profile: {listed}; run with {option}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="saferefer-conformance",
        description="Prove that a SafeRefer server keeps the standard's promises.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="run checks against a server")
    run_parser.add_argument(
        "--base-url", help="the server's base URL (overrides base_url in the config)"
    )
    run_parser.add_argument(
        "--config", required=True, help="TOML or JSON file naming the test organisations"
    )
    run_parser.add_argument("--profile", choices=[*PROFILES, "all"], default="core")
    run_parser.add_argument(
        "--check",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this check (repeatable)",
    )
    run_parser.add_argument("--junit", metavar="FILE", help="write a JUnit XML report")
    run_parser.add_argument("--json", metavar="FILE", help="write a JSON report")
    list_parser = sub.add_parser("list", help="list the registered checks")
    list_parser.add_argument("--profile", choices=[*PROFILES, "all"], default="all")
    sub.add_parser("coverage", help="print which requirements the checks cover")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    registry = load_registry()
    if args.command == "coverage":
        statuses = static_coverage(registry)
        print(format_static(statuses))
        return (
            EXIT_OK
            if not any(s.status == "uncovered" and s.requirement.level == "MUST" for s in statuses)
            else EXIT_NOT_CONFORMANT
        )
    if args.command == "list":
        for c in registry.select(profiles=_profiles(args.profile)):
            print(
                f"{c.id}  {c.name:<58} {c.profile:<10} {c.severity:<6} {' '.join(c.requirements)}"
            )
        return EXIT_OK
    try:
        config = load_config(args.config).with_base_url(args.base_url)
        checks = registry.select(profiles=_profiles(args.profile), names=args.check)
    except (ConfigError, KeyError) as exc:
        print(f"saferefer-conformance: {exc.args[0]}", file=sys.stderr)
        return EXIT_USAGE
    if problem := _outside_profiles(registry, args.check, _profiles(args.profile)):
        print(f"saferefer-conformance: {problem}", file=sys.stderr)
        return EXIT_USAGE
    if not config.base_url:
        print("saferefer-conformance: give --base-url or base_url in the config", file=sys.stderr)
        return EXIT_USAGE
    if not checks:
        print("saferefer-conformance: no check matches the selection", file=sys.stderr)
        return EXIT_USAGE
    reporters: list[Reporter] = [ConsoleReporter(registry)]
    if args.junit:
        reporters.append(JUnitReporter(args.junit))
    if args.json:
        reporters.append(JSONReporter(args.json, registry))
    ctx = Context(config)
    try:
        finished = run(checks, ctx, _profiles(args.profile), reporters)
    finally:
        ctx.close()
    return EXIT_OK if finished.conformant else EXIT_NOT_CONFORMANT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
